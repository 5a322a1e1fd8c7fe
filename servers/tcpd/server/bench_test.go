package server_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libproto/prototest"
	"armos/servers/tcpd/server"
	"armos/servers/tcpd/tcp"
)

// TCP benchmarks, hosted: the same two workloads over armos's TCP and over
// Linux's loopback TCP, as sub-benchmarks of one run.
//
//   - armos: two hosted netds joined by prototest's in-memory Ethernet
//     link (MTU 1500), a tcpd Server (the engine's defaults) on each, the
//     applications on libsocket: every byte crosses libsocket → tcpd →
//     netd → link → netd → tcpd → libsocket, each hop over in-memory IPC.
//     All of it runs in this process, so allocs/op counts the whole path.
//   - linux: net.Listen and net.Dial on 127.0.0.1 (loopback, MTU 65536);
//     allocs/op counts the applications' side only.
//
// BenchmarkTCPBulk moves tcpBulkWrite bytes per op one way over one
// connection (b.SetBytes: MB/s), the reader draining as fast as it can.
// BenchmarkTCPRequestResponse is one transaction per op: a
// tcpRRSize-byte request, a tcpRRSize-byte response, one in flight
// (transactions/s). The armos sub-benchmarks also report the losses on
// the way (reportLosses): the link adds no faults, but netd drops a
// datagram when its tcpd's channel is full, and tcpd recovers.

const (
	tcpBulkWrite = 64 << 10
	tcpRRSize    = 64
	tcpBenchPort = 5001
)

// tcpBenchNet is one of the two systems: connect returns a listener and
// a dialer to it, and a function reporting the losses (armos: its
// tcpds' retransmissions and timeouts, the drops on the way).
type tcpBenchNet struct {
	name    string
	connect func(b *testing.B) (net.Listener, func() net.Conn, func(b *testing.B))
}

// reportLosses reports what the tcpds retransmitted and what was dropped
// on the way, per op, and their retransmission timeouts over the
// benchmark (not per op: each is a stall): a segment lost at the
// tail of a window costs a 1 s stall (the engine's RFC 6298 minimum RTO),
// seen here as a timeout, not only as a slow op.
func reportLosses(b *testing.B, a, bTCPD *tcpd, p *prototest.Pair) {
	var ca, cb tcp.Counters
	a.do(b, func(st *tcp.Stack) { ca = st.Counters() })
	bTCPD.do(b, func(st *tcp.Stack) { cb = st.Counters() })
	n := float64(b.N)
	b.ReportMetric(float64(ca.TxRetransSegs+cb.TxRetransSegs)/n, "retransmits/op")
	b.ReportMetric(float64(ca.Timeouts+cb.Timeouts), "rto-timeouts")
	// Segments netd dropped because its tcpd's channel was full (netd's
	// protocol service, or libipc's receive queue under libproto).
	handoff := p.A.Protocol(6).DroppedFull + p.B.Protocol(6).DroppedFull +
		a.client.Stats().ConnDropped + bTCPD.client.Stats().ConnDropped +
		a.Stats().DatagramsDropped + bTCPD.Stats().DatagramsDropped
	b.ReportMetric(float64(handoff)/n, "handoff-drops/op")
	b.ReportMetric(float64(p.LinkA.Counters().QueueFull)/n, "link-drops/op")
}

var tcpBenchNets = []tcpBenchNet{{
	name: "armos",
	connect: func(b *testing.B) (net.Listener, func() net.Conn, func(b *testing.B)) {
		// Real timers: the engine's defaults, as tcpd runs (the link
		// adds no faults; its queues are bounded).
		p := prototest.NewPair(b, prototest.Options{})
		ta := startTCPD(b, p.A, server.Config{})
		tb := startTCPD(b, p.B, server.Config{})
		ln, err := p.B.Sockets(b).ListenTCP(benchCtx(b), netip.AddrPortFrom(netip.IPv4Unspecified(), tcpBenchPort), 4)
		require.NoError(b, err)
		app := p.A.Sockets(b)
		return ln, func() net.Conn {
			c, err := app.DialTCP(benchCtx(b), netip.AddrPortFrom(p.B.Addr, tcpBenchPort))
			require.NoError(b, err)
			return c
		}, func(b *testing.B) { reportLosses(b, ta, tb, p) }
	},
}, {
	name: "linux",
	connect: func(b *testing.B) (net.Listener, func() net.Conn, func(b *testing.B)) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		return ln, func() net.Conn {
			c, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(b, err)
			return c
		}, func(*testing.B) {}
	},
}}

func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// connected returns both ends of a fresh connection of sys: the dialer's
// and the listener's.
func connected(b *testing.B, sys tcpBenchNet) (client, srv net.Conn, losses func(b *testing.B)) {
	ln, dial, losses := sys.connect(b)
	b.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	failed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			failed <- err
			return
		}
		accepted <- c
	}()
	client = dial()
	select {
	case srv = <-accepted:
	case err := <-failed:
		b.Fatalf("accept: %v", err)
	case <-time.After(prototest.Wait):
		b.Fatal("no connection accepted")
	}
	b.Cleanup(func() { client.Close(); srv.Close() })
	return client, srv, losses
}

func BenchmarkTCPBulk(b *testing.B) {
	for _, sys := range tcpBenchNets {
		b.Run(sys.name, func(b *testing.B) {
			client, srv, losses := connected(b, sys)
			read := make(chan int64, 1)
			go func() {
				n, _ := io.Copy(io.Discard, srv) // until the client's CloseWrite
				read <- n
			}()
			buf := make([]byte, tcpBulkWrite)
			b.SetBytes(tcpBulkWrite)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, err := client.Write(buf)
				require.NoError(b, err)
			}
			require.NoError(b, client.(interface{ CloseWrite() error }).CloseWrite())
			n := <-read // every byte arrived: the time covers the transfer
			b.StopTimer()
			require.Equal(b, int64(b.N)*tcpBulkWrite, n, "bytes read")
			losses(b)
		})
	}
}

func BenchmarkTCPRequestResponse(b *testing.B) {
	for _, sys := range tcpBenchNets {
		b.Run(sys.name, func(b *testing.B) {
			client, srv, losses := connected(b, sys)
			served := make(chan error, 1)
			go func() {
				buf := make([]byte, tcpRRSize)
				for {
					if _, err := io.ReadFull(srv, buf); err != nil {
						if err == io.EOF {
							err = nil
						}
						served <- err
						return
					}
					if _, err := srv.Write(buf); err != nil {
						served <- err
						return
					}
				}
			}()
			req, resp := make([]byte, tcpRRSize), make([]byte, tcpRRSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req[0] = byte(i)
				_, err := client.Write(req)
				require.NoError(b, err)
				_, err = io.ReadFull(client, resp)
				require.NoError(b, err)
				if resp[0] != req[0] {
					b.Fatalf("transaction %d: response %d", i, resp[0])
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transactions/s")
			require.NoError(b, client.(interface{ CloseWrite() error }).CloseWrite())
			require.NoError(b, <-served)
			losses(b)
		})
	}
}
