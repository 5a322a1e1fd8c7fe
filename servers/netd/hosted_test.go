package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libsocket"
	"armos/libsocket/sockproto"
	"armos/servers/netd/link"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
)

// hostedWait bounds each blocking step of the hosted tests.
const hostedWait = 10 * time.Second

var (
	echoAddr   = netip.MustParsePrefix("10.99.0.2/24")
	clientAddr = netip.MustParsePrefix("10.99.0.1/24")
)

func hostedConfig(p netip.Prefix) stack.Config {
	a := p.Addr().As4()
	return stack.Config{MAC: stack.MAC{0x02, 0, a[0], a[1], a[2], a[3]}, Addr: p, Dev: 1}
}

// hostedPair runs two netd instances on the ends of an in-memory link: one
// with the echo app (10.99.0.2), one for a test client (10.99.0.1), both
// reading time from clock. It returns the client-side instance, the
// echo-side one and the client end of the link (for fault injection on
// client->echo frames).
//
// With a fake clock no netd timer ever fires (no ARP retransmission or
// expiry, no reassembly timeout), so only a fault-free link completes every
// exchange; tests that lose frames need stack.SystemClock{}.
func hostedPair(t testing.TB, clock stack.Clock) (client, server *instance, clientEnd *link.Mem) {
	ctx, cancel := context.WithCancel(context.Background())
	a, b := link.NewMemPair(nil)
	server, err := start(ctx, hostedConfig(echoAddr), clock, a, []string{"echo"})
	require.NoError(t, err)
	client, err = start(ctx, hostedConfig(clientAddr), clock, b, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		server.wait(ctx)
		client.wait(ctx)
		server.stop()
		client.stop()
	})
	return client, server, b
}

// dialClient opens a UDP socket on the client instance.
func dialClient(t testing.TB, n *instance) net.PacketConn {
	ctx, cancel := context.WithTimeout(context.Background(), hostedWait)
	defer cancel()
	cl, err := libsocket.Dial(ctx, n.broker)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	pc, err := cl.ListenPacket(ctx, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	return pc
}

var echoUDP = &net.UDPAddr{IP: net.IP(echoAddr.Addr().AsSlice()), Port: 7}

// roundTrip sends msg to the echo app and waits for a reply whose first 4
// bytes match msg's (stale duplicates are skipped), retrying up to tries
// times with a per-try timeout.
func roundTrip(t *testing.T, pc net.PacketConn, msg []byte, tries int, per time.Duration) ([]byte, error) {
	buf := make([]byte, 65536)
	for range tries {
		if _, err := pc.WriteTo(msg, echoUDP); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(per)
		for {
			require.NoError(t, pc.SetReadDeadline(deadline))
			n, from, err := pc.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return nil, err
			}
			assert.Equal(t, echoUDP.String(), from.String())
			if n >= 4 && bytes.Equal(buf[:4], msg[:4]) {
				return bytes.Clone(buf[:n]), nil
			}
		}
	}
	return nil, os.ErrDeadlineExceeded
}

func payload(seq uint32, size int) []byte {
	p := make([]byte, max(size, 4))
	binary.BigEndian.PutUint32(p, seq)
	for i := 4; i < len(p); i++ {
		p[i] = byte(i*7 + int(seq))
	}
	return p
}

// TestHostedEchoOverMemLink: the echo app inside one hosted netd answers a
// libsocket client of another across an in-memory Ethernet link, for
// datagrams up to well beyond the MTU (fragmented and reassembled both ways).
// Both netds run on a fake clock that never moves: every exchange completes
// without a single timer (ARP is resolved by request and reply alone).
func TestHostedEchoOverMemLink(t *testing.T) {
	client, server, _ := hostedPair(t, stacktest.NewFakeClock())
	pc := dialClient(t, client)
	sizes := []int{4, 64, 1472, 1473, 3000, 8000, 65507} // 65507: the largest legal datagram, whole
	for i, size := range sizes {
		msg := payload(uint32(i), size)
		got, err := roundTrip(t, pc, msg, 1, hostedWait)
		require.NoError(t, err, "size %d", size)
		assert.Equal(t, msg, got, "size %d", size)
	}
	// The echo app counts a datagram after its reply is sent: the client
	// may have it first.
	require.Eventually(t, func() bool { return server.echo.Stats().Echoed == uint64(len(sizes)) }, hostedWait, time.Millisecond)

	// A closed port answers with ICMP port unreachable.
	ctx, cancel := context.WithTimeout(context.Background(), hostedWait)
	defer cancel()
	_, err := pc.WriteTo([]byte("anyone?"), &net.UDPAddr{IP: echoUDP.IP, Port: 9})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		c, err := client.counters(ctx)
		return err == nil && c.ICMP.RxDestUnreachable == 1
	}, hostedWait, time.Millisecond)
	c, err := server.counters(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), c.UDP.RxNoPort)
	assert.Equal(t, uint64(1), c.ICMP.TxDestUnreachable)
}

// TestHostedEchoSurvivesLossAndDuplication: with a fifth of the client's
// frames lost and a fifth duplicated, every datagram still gets echoed after
// retries (UDP's contract is the application's job).
func TestHostedEchoSurvivesLossAndDuplication(t *testing.T) {
	client, _, clientEnd := hostedPair(t, stack.SystemClock{})
	clientEnd.SetFaults(link.Faults{DropPct: 20, DuplicatePct: 20, Seed: 7})
	pc := dialClient(t, client)
	for i := range 20 {
		msg := payload(uint32(i), 100+i*50)
		got, err := roundTrip(t, pc, msg, 20, 300*time.Millisecond)
		require.NoError(t, err, "datagram %d", i)
		assert.Equal(t, msg, got)
	}
	c := clientEnd.Counters()
	assert.NotZero(t, c.Dropped)
	assert.NotZero(t, c.Duplicated)
}

// TestHostedCorruptionIsNeverDelivered: with a third of the client's frames
// corrupted once ARP has resolved, a datagram either comes back intact or
// not at all, and the echo side counts what it threw away.
func TestHostedCorruptionIsNeverDelivered(t *testing.T) {
	client, server, clientEnd := hostedPair(t, stack.SystemClock{})
	pc := dialClient(t, client)
	_, err := roundTrip(t, pc, payload(999, 16), 1, hostedWait) // resolve ARP first
	require.NoError(t, err)
	clientEnd.SetFaults(link.Faults{CorruptPct: 33, Seed: 3})
	intact := 0
	for i := range 60 {
		msg := payload(uint32(i), 200)
		got, err := roundTrip(t, pc, msg, 1, 100*time.Millisecond)
		if err == nil {
			assert.Equal(t, msg, got, "datagram %d came back changed", i)
			intact++
		}
	}
	assert.NotZero(t, intact)
	corrupted := clientEnd.Counters().Corrupted
	assert.NotZero(t, corrupted)

	ctx, cancel := context.WithTimeout(context.Background(), hostedWait)
	defer cancel()
	c, err := server.counters(ctx)
	require.NoError(t, err)
	var discarded uint64
	for _, r := range c.Rows() {
		if strings.HasPrefix(r.Name, "RxBad") || r.Name == "RxNotForUs" || r.Name == "RxUnknownType" ||
			r.Name == "RxTruncated" || r.Name == "RxMalformed" || r.Name == "RxBadSender" {
			discarded += r.Value
		}
	}
	assert.NotZero(t, discarded, "the echo side counted corrupted frames it threw away:\n%v", c)
}

// TestHostedPing: a libsocket client of one netd pings the other across
// the link: small and fragmented echo requests come back with their
// sequence numbers and a round-trip time; a host nobody answers for times
// out; bad requests are refused.
func TestHostedPing(t *testing.T) {
	client, _, _ := hostedPair(t, stack.SystemClock{})
	ctx, cancel := context.WithTimeout(context.Background(), hostedWait)
	defer cancel()
	cl, err := libsocket.Dial(ctx, client.broker)
	require.NoError(t, err)
	defer cl.Close()
	for seq, size := range []int{56, 0, 3000} {
		r, err := cl.Ping(ctx, echoAddr.Addr(), uint16(seq+1), size, 5*time.Second)
		require.NoError(t, err, "size %d", size)
		assert.Equal(t, echoAddr.Addr(), r.From)
		assert.Equal(t, uint16(seq+1), r.Seq)
		assert.Equal(t, size, r.Len)
		assert.Equal(t, uint8(64), r.TTL)
		assert.Positive(t, r.RTT)
	}
	_, err = cl.Ping(ctx, netip.MustParseAddr("10.99.0.9"), 1, 8, 200*time.Millisecond)
	require.ErrorIs(t, err, sockproto.ETIMEDOUT, "nobody answers for 10.99.0.9")
	_, err = cl.Ping(ctx, netip.MustParseAddr("::1"), 1, 8, time.Second)
	require.ErrorIs(t, err, sockproto.EAFNOSUPPORT)
	_, err = cl.Ping(ctx, echoAddr.Addr(), 1, sockproto.MaxPingSize+1, time.Second)
	require.ErrorIs(t, err, sockproto.EINVAL)
}
