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
// (transactions/s).

const (
	tcpBulkWrite = 64 << 10
	tcpRRSize    = 64
	tcpBenchPort = 5001
)

// tcpBenchNet is one of the two systems: connect returns a listener and
// a dialer to it.
type tcpBenchNet struct {
	name    string
	connect func(b *testing.B) (net.Listener, func() net.Conn)
}

var tcpBenchNets = []tcpBenchNet{{
	name: "armos",
	connect: func(b *testing.B) (net.Listener, func() net.Conn) {
		// Real timers: the engine's defaults, as tcpd runs (the link
		// loses nothing).
		p := prototest.NewPair(b, prototest.Options{})
		startTCPD(b, p.A, server.Config{})
		startTCPD(b, p.B, server.Config{})
		ln, err := p.B.Sockets(b).ListenTCP(benchCtx(b), netip.AddrPortFrom(netip.IPv4Unspecified(), tcpBenchPort), 4)
		require.NoError(b, err)
		app := p.A.Sockets(b)
		return ln, func() net.Conn {
			c, err := app.DialTCP(benchCtx(b), netip.AddrPortFrom(p.B.Addr, tcpBenchPort))
			require.NoError(b, err)
			return c
		}
	},
}, {
	name: "linux",
	connect: func(b *testing.B) (net.Listener, func() net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		return ln, func() net.Conn {
			c, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(b, err)
			return c
		}
	},
}}

func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// connected returns both ends of a fresh connection of sys: the dialer's
// and the listener's.
func connected(b *testing.B, sys tcpBenchNet) (client, srv net.Conn) {
	ln, dial := sys.connect(b)
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
	return client, srv
}

func BenchmarkTCPBulk(b *testing.B) {
	for _, sys := range tcpBenchNets {
		b.Run(sys.name, func(b *testing.B) {
			client, srv := connected(b, sys)
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
		})
	}
}

func BenchmarkTCPRequestResponse(b *testing.B) {
	for _, sys := range tcpBenchNets {
		b.Run(sys.name, func(b *testing.B) {
			client, srv := connected(b, sys)
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
		})
	}
}
