package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libsocket/adminproto"
	"armos/servers/netd/capture"
	"armos/servers/netd/stack"
)

// fakePort is a console port in memory: what was written, and a gate a
// test can close to make the port stall (a slow host).
type fakePort struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	gate  chan struct{} // nil: writes go through; else they wait for it to close
	opens int
}

func (p *fakePort) dial(context.Context, string) (io.WriteCloser, uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opens++
	return portWriter{p}, uint64(p.buf.Len()), nil
}

func (p *fakePort) bytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.buf.Bytes())
}

type portWriter struct{ p *fakePort }

func (w portWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	gate := w.p.gate
	w.p.mu.Unlock()
	if gate != nil {
		<-gate
	}
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.buf.Write(b)
}

func (portWriter) Close() error { return nil }

// adminConn connects to n's operators' service as the shell does.
func adminConn(t *testing.T, n *instance) *libipc.Conn {
	srv := adminServer(n, "test", nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = srv.Serve(ctx) }()
	b := libipc.NewBroker()
	b.Register(adminproto.NetdService, srv.Accept)
	ep, err := b.Connect(ctx, adminproto.NetdService)
	require.NoError(t, err)
	c := libipc.NewConn(ep)
	t.Cleanup(func() { c.Close() })
	return c
}

func capStart(t *testing.T, c *libipc.Conn, req adminproto.CaptureStart) (*adminproto.CaptureStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hostedWait)
	defer cancel()
	var st adminproto.CaptureStatus
	err := c.Call(ctx, adminproto.OpCaptureStart, &req, &st)
	return &st, err
}

func capOp(t *testing.T, c *libipc.Conn, op libipc.Op) (*adminproto.CaptureStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hostedWait)
	defer cancel()
	var st adminproto.CaptureStatus
	err := c.Call(ctx, op, &adminproto.Empty{}, &st)
	return &st, err
}

// udpPorts returns a captured frame's UDP ports (ok false for others).
func udpPorts(f []byte) (src, dst uint16, payload []byte, ok bool) {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 17 {
		return 0, 0, nil, false
	}
	ihl := int(f[14]&15) * 4
	u := f[14+ihl:]
	return binary.BigEndian.Uint16(u), binary.BigEndian.Uint16(u[2:]), u[8:], true
}

// TestCaptureThroughAdmin: the shell's pcap operations on a hosted netd
// running the echo app: a filtered capture holds exactly each request as
// received and each reply as sent, in order, byte-exact, as one pcap
// stream; a second capture appends to the same stream without a second
// header; mistakes get errors.
func TestCaptureThroughAdmin(t *testing.T) {
	client, server, _ := hostedPair(t, stack.SystemClock{})
	port := &fakePort{}
	server.pcap.dial = port.dial
	c := adminConn(t, server)
	pc := dialClient(t, client)

	_, err := capOp(t, c, adminproto.OpCaptureStop)
	assert.ErrorContains(t, err, "no capture is running")
	_, err = capStart(t, c, adminproto.CaptureStart{Filter: "tcp"})
	assert.ErrorContains(t, err, "unknown word")

	st, err := capStart(t, c, adminproto.CaptureStart{Filter: "udp port 7"})
	require.NoError(t, err)
	assert.Equal(t, adminproto.CaptureStatus{Running: true, Filter: "udp port 7", SnapLen: capture.DefaultSnapLen, Port: "hvc0"}, *st)
	_, err = capStart(t, c, adminproto.CaptureStart{})
	assert.ErrorContains(t, err, "a capture is running")

	var sent [][]byte
	for i := range 5 {
		msg := payload(uint32(i), 100+i)
		got, err := roundTrip(t, pc, msg, 3, hostedWait)
		require.NoError(t, err)
		require.Equal(t, msg, got)
		sent = append(sent, msg)
	}
	st, err = capOp(t, c, adminproto.OpCaptureStop)
	require.NoError(t, err)
	assert.False(t, st.Running)
	assert.Equal(t, uint64(10), st.Captured, "5 requests and 5 replies")
	assert.Equal(t, uint64(10), st.Written)
	assert.Zero(t, st.Dropped)
	assert.Empty(t, st.Error)

	recs, err := capture.ReadPcap(port.bytes())
	require.NoError(t, err)
	require.Len(t, recs, 10)
	for i, r := range recs {
		src, dst, p, ok := udpPorts(r.Data)
		require.True(t, ok, "record %d is UDP", i)
		assert.Equal(t, len(r.Data), r.OrigLen, "whole frames")
		if i%2 == 0 {
			assert.Equal(t, uint16(7), dst, "record %d: a request", i)
		} else {
			assert.Equal(t, uint16(7), src, "record %d: its reply", i)
		}
		assert.Equal(t, sent[i/2], p, "record %d: the payload", i)
	}
	assert.Equal(t, recs[0].Data[6:12], recs[1].Data[0:6], "the reply goes back to the requester's MAC")

	// A second capture (ARP only, after a flush makes some) appends.
	n0 := len(port.bytes())
	_, err = capStart(t, c, adminproto.CaptureStart{Filter: "arp", SnapLen: 30})
	require.NoError(t, err)
	require.True(t, server.svc.Post(func() { server.st.FlushARP() }))
	_, err = roundTrip(t, pc, payload(9, 10), 3, hostedWait)
	require.NoError(t, err)
	st, err = capOp(t, c, adminproto.OpCaptureStop)
	require.NoError(t, err)
	assert.True(t, st.Appended)
	assert.GreaterOrEqual(t, st.Captured, uint64(1), "the server's ARP request or reply")
	all, err := capture.ReadPcap(port.bytes())
	require.NoError(t, err, "the two captures make one stream")
	require.Len(t, all, 10+int(st.Written))
	for _, r := range all[10:] {
		assert.Equal(t, []byte{0x08, 0x06}, r.Data[12:14], "ARP")
		assert.Len(t, r.Data, 30, "cut at the snap length")
	}
	assert.Greater(t, len(port.bytes()), n0)
}

// TestCaptureSlowPort: a port that stalls never slows the packet path:
// echoes keep coming back, the ring fills, and the frames that found it
// full are counted as dropped; once the port moves, what the ring held is
// written.
func TestCaptureSlowPort(t *testing.T) {
	client, server, _ := hostedPair(t, stack.SystemClock{})
	gate := make(chan struct{})
	port := &fakePort{gate: gate}
	server.pcap.dial = port.dial
	c := adminConn(t, server)
	pc := dialClient(t, client)
	_, err := capStart(t, c, adminproto.CaptureStart{Filter: "udp port 7", SnapLen: 64})
	require.NoError(t, err)
	const echoes = capture.MaxRecords + 100 // the drain can take at most a full ring before it stalls
	for i := range echoes {
		_, err := roundTrip(t, pc, payload(uint32(i), 16), 3, hostedWait)
		require.NoError(t, err, "echo %d with the port stalled", i)
	}
	st, err := capOp(t, c, adminproto.OpCaptureStatus)
	require.NoError(t, err)
	assert.True(t, st.Running)
	assert.Equal(t, uint64(2*echoes), st.Captured+st.Dropped, "every frame kept or counted")
	assert.Greater(t, st.Dropped, uint64(0))
	close(gate)
	st, err = capOp(t, c, adminproto.OpCaptureStop)
	require.NoError(t, err)
	recs, err := capture.ReadPcap(port.bytes())
	require.NoError(t, err)
	assert.Len(t, recs, int(st.Captured))
	assert.Equal(t, st.Captured, st.Written)
}
