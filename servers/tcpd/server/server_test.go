package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libproto"
	"armos/libproto/protoproto"
	"armos/libproto/prototest"
	"armos/libsocket/sockproto"
	sp "armos/libsocket/streamproto"
	"armos/servers/netd/link"
	"armos/servers/netd/stack"
	"armos/servers/tcpd/server"
	"armos/servers/tcpd/tcp"
)

// testTCP shortens the engine's timers for an in-memory link whose round
// trip is well under a millisecond: losses cost 20 ms, not RFC 6298's 1 s.
func testTCP() tcp.Config {
	return tcp.Config{MinRTO: 20 * time.Millisecond, InitialRTO: 200 * time.Millisecond,
		TimeWait: time.Second, Secret: []byte("tcpd server test")}
}

// tcpd is a Server on one netd of the pair, with its libproto client.
type tcpd struct {
	*server.Server
	client *libproto.Client
	ran    chan error
}

// startTCPD registers protocol 6 on h and runs a Server on it until the
// test ends.
func startTCPD(t testing.TB, h *prototest.Host, cfg server.Config) *tcpd {
	t.Helper()
	c := h.Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), prototest.Wait)
	defer cancel()
	p, err := c.Register(ctx, protoproto.ProtoTCP)
	require.NoError(t, err)
	s, err := server.New(p, cfg)
	require.NoError(t, err)
	d := &tcpd{Server: s, client: c, ran: make(chan error, 1)}
	rctx, stop := context.WithCancel(context.Background())
	go func() { d.ran <- s.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-d.ran:
			assert.NoError(t, err)
		case <-time.After(prototest.Wait):
			t.Error("tcpd's loop did not stop")
		}
	})
	return d
}

// do runs fn on d's loop.
func (d *tcpd) do(t testing.TB, fn func(st *tcp.Stack)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), prototest.Wait)
	defer cancel()
	require.NoError(t, d.Do(ctx, fn))
}

// transfer is one connection from A's tcpd to B's carrying data; progress
// reports the bytes B has read so far.
type transfer struct {
	received chan []byte // B's bytes, once it read the end of the stream
	progress chan int    // B's count, after each read (latest wins)
	failed   chan error
	cli, srv *tcp.Conn
	limit    int    // A writes data[:limit] (on A's loop)
	kick     func() // A's notification: writes up to limit
}

// startTransfer listens on B, connects from A, and streams data: A writes
// data[:limit] (then the rest once release is called) and shuts its side;
// B reads to the end and closes; A closes on B's FIN. Everything runs in
// the loops' notification callbacks.
func startTransfer(t *testing.T, a, b *tcpd, data []byte, limit int) *transfer {
	tr := &transfer{limit: limit, received: make(chan []byte, 1), progress: make(chan int, 1), failed: make(chan error, 2)}
	fail := func(err error) {
		select {
		case tr.failed <- err:
		default:
		}
	}
	srvAddr := netip.AddrPortFrom(b.Addr(), 5001)
	connected := make(chan *tcp.Conn, 1)
	b.do(t, func(st *tcp.Stack) {
		l, err := st.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), srvAddr.Port()), 4)
		require.NoError(t, err)
		l.SetNotify(func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			l.Close()
			connected <- c
			var got bytes.Buffer
			buf := make([]byte, 32<<10)
			c.SetNotify(func() {
				for {
					n, err := c.Read(buf)
					got.Write(buf[:n])
					if n > 0 {
						select {
						case <-tr.progress:
						default:
						}
						tr.progress <- got.Len()
						continue
					}
					switch {
					case errors.Is(err, tcp.ErrWouldBlock):
					case err == io.EOF:
						c.Close()
						tr.received <- got.Bytes()
					case errors.Is(err, tcp.ErrClosed):
					default:
						fail(err)
					}
					return
				}
			})
		})
	})
	a.do(t, func(st *tcp.Stack) {
		c, err := st.Connect(netip.AddrPortFrom(a.Addr(), 0), srvAddr)
		require.NoError(t, err)
		tr.cli = c
		off, shut := 0, false
		tr.kick = func() {
			r := c.Readiness()
			if r&tcp.Errored != 0 {
				fail(c.Err())
				return
			}
			for off < tr.limit && r&tcp.Writable != 0 {
				n, err := c.Write(data[off:tr.limit])
				off += n
				if err != nil || n == 0 {
					break
				}
			}
			if off == len(data) && !shut {
				shut = true
				require.NoError(t, c.CloseWrite())
			}
			if r&tcp.ReadClosed != 0 {
				if _, err := c.Read(make([]byte, 1)); err == io.EOF {
					c.Close()
				}
			}
		}
		c.SetNotify(tr.kick)
	})
	select {
	case tr.srv = <-connected:
	case err := <-tr.failed:
		t.Fatalf("connect: %v", err)
	case <-time.After(prototest.Wait):
		t.Fatal("no connection accepted")
	}
	return tr
}

// release lets A write the rest of data.
func (tr *transfer) release(t *testing.T, a *tcpd, n int) {
	a.do(t, func(*tcp.Stack) { tr.limit = n; tr.kick() })
}

// wait waits for B to have read the whole stream and checks it, then for
// both ends to close cleanly: A in TIME-WAIT (the active closer), B
// CLOSED, no resets.
func (tr *transfer) wait(t *testing.T, a, b *tcpd, data []byte) {
	t.Helper()
	select {
	case got := <-tr.received:
		require.Equal(t, len(data), len(got))
		require.True(t, bytes.Equal(data, got), "the bytes differ")
	case err := <-tr.failed:
		t.Fatalf("transfer: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the transfer did not end")
	}
	require.Eventually(t, func() bool {
		var cs, ss tcp.State
		a.do(t, func(*tcp.Stack) { cs = tr.cli.State() })
		b.do(t, func(*tcp.Stack) { ss = tr.srv.State() })
		return (cs == tcp.TimeWait || cs == tcp.Closed) && ss == tcp.Closed
	}, prototest.Wait, 10*time.Millisecond)
	for _, d := range []*tcpd{a, b} {
		var c tcp.Counters
		d.do(t, func(st *tcp.Stack) { c = st.Counters() })
		assert.Zero(t, c.TxRSTs, "RSTs sent")
		assert.Zero(t, c.AttemptFails+c.EstabResets+c.Aborts+c.ConnTimeouts, "connections failed, reset, aborted or timed out")
		assert.Equal(t, c.RxSegments, d.Stats().Datagrams, "every datagram reached the engine")
	}
}

func payload(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestTransferOverNetd: 1 MiB from a tcpd on netd A to a tcpd on netd B,
// through libproto and the in-memory link, clean and with loss,
// duplication and corruption on A's side of the link, and with a 576-byte
// MTU (the MSS follows the interface's MTU; DF is set, nothing fragments).
func TestTransferOverNetd(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mtu       int
		faults    link.Faults
		noOffload bool
	}{
		{"clean", 1500, link.Faults{}, false},
		{"loss", 1500, link.Faults{DropPct: 2, Seed: 7}, false},
		{"faults", 1500, link.Faults{DropPct: 1, DuplicatePct: 2, CorruptPct: 1, Seed: 9}, false},
		{"mtu576-loss", 576, link.Faults{DropPct: 2, Seed: 11}, false},
		{"no-offload-faults", 1500, link.Faults{DropPct: 1, DuplicatePct: 2, CorruptPct: 1, Seed: 9}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := prototest.NewPair(t, prototest.Options{MTU: tc.mtu})
			p.LinkA.SetFaults(tc.faults)
			a := startTCPD(t, p.A, server.Config{TCP: testTCP(), NoOffload: tc.noOffload})
			b := startTCPD(t, p.B, server.Config{TCP: testTCP(), NoOffload: tc.noOffload})
			data := payload(1 << 20)
			tr := startTransfer(t, a, b, data, len(data))
			tr.wait(t, a, b, data)
			c := p.LinkA.Counters()
			t.Logf("link A: %+v; tcpd A: %+v; tcpd B: %+v", c, a.Stats(), b.Stats())
			// Segments mostly ran on libproto's reader while the loops
			// waited (SetHandler), the bytes still whole and in order.
			assert.NotZero(t, a.Stats().Direct+b.Stats().Direct, "no segment's input ran directly")
			if tc.faults.DropPct > 0 {
				var ca tcp.Counters
				a.do(t, func(st *tcp.Stack) { ca = st.Counters() })
				assert.NotZero(t, c.Dropped)
				assert.NotZero(t, ca.TxRetransSegs, "losses were recovered by retransmission")
			}
			// The engine's MTU is the interface's, from registration.
			a.do(t, func(st *tcp.Stack) { assert.Equal(t, tc.mtu, st.Config().MTU) })
			var ip stack.IPv4Counters
			p.A.Do(func(st *stack.Stack) { ip = st.Counters().IPv4 })
			assert.Zero(t, ip.TxFragmented, "segments fit the MTU: nothing was fragmented")
			// Segmentation offload: A's engine sends segments of many MSS,
			// which netd A cuts (the in-memory link has no device to).
			var ca tcp.Counters
			a.do(t, func(st *tcp.Stack) { ca = st.Counters() })
			if tc.noOffload {
				assert.Zero(t, ca.TxOffloaded)
				assert.Zero(t, ip.TxTSOSoftware)
			} else {
				assert.NotZero(t, ca.TxOffloaded, "the engine offloaded segments")
				assert.Equal(t, ca.TxOffloaded, ip.TxTSOSoftware, "netd cut each one")
				assert.Greater(t, ip.TxTSOPieces, 2*ip.TxTSOSoftware)
				assert.Zero(t, ip.TxTSOBad)
			}
		})
	}
}

// TestConnectionSurvivesNetdRestart: both netds restart in the middle of
// a transfer (B has read the first half; A writes the second after) (fresh stacks, nothing registered): libproto reconnects and
// registers 6 again, the engines keep their connection, and the transfer
// ends byte-exact (issue 10 item 4).
func TestConnectionSurvivesNetdRestart(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	a := startTCPD(t, p.A, server.Config{TCP: testTCP()})
	b := startTCPD(t, p.B, server.Config{TCP: testTCP()})
	data := payload(1 << 20)
	half := len(data) / 2
	tr := startTransfer(t, a, b, data, half)
	deadline := time.After(prototest.Wait)
	for n := 0; n < half; {
		select {
		case n = <-tr.progress:
		case err := <-tr.failed:
			t.Fatalf("before the restart: %v", err)
		case <-deadline:
			t.Fatal("no progress before the restart")
		}
	}
	p.Restart()
	tr.release(t, a, len(data)) // the second half through the new netds
	tr.wait(t, a, b, data)
	for _, d := range []*tcpd{a, b} {
		s := d.client.Stats()
		assert.EqualValues(t, 1, s.Reconnects)
		assert.EqualValues(t, 1, s.ReRegisters)
		assert.NoError(t, d.Protocol().Err())
	}
	// The second half went through the new netd B.
	assert.Greater(t, p.B.Protocol(protoproto.ProtoTCP).Delivered, uint64(half/1460))
	t.Logf("tcpd A: %+v; tcpd B: %+v", a.Stats(), b.Stats())
}

// TestICMPErrorReachesEngine: a SYN to a netd where nobody owns 6 draws
// protocol unreachable, which libproto hands to the Server and the engine
// takes as a hard error: the attempt fails with ErrConnRefused.
func TestICMPErrorReachesEngine(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	a := startTCPD(t, p.A, server.Config{TCP: testTCP()})
	failed := make(chan error, 1)
	a.do(t, func(st *tcp.Stack) {
		c, err := st.Connect(netip.AddrPortFrom(a.Addr(), 0), netip.AddrPortFrom(p.B.Addr, 80))
		require.NoError(t, err)
		c.SetNotify(func() {
			if c.Readiness()&tcp.Errored != 0 {
				select {
				case failed <- c.Err():
				default:
				}
			}
		})
	})
	select {
	case err := <-failed:
		assert.ErrorIs(t, err, tcp.ErrConnRefused)
	case <-time.After(prototest.Wait):
		t.Fatal("the attempt did not fail")
	}
	assert.EqualValues(t, 1, a.Stats().ICMPErrors)
	var c tcp.Counters
	a.do(t, func(st *tcp.Stack) { c = st.Counters() })
	assert.EqualValues(t, 1, c.ICMPHard)
}

// TestReportAndStop: the report names the connections and counters; the
// loop ends when the protocol's channels close, and reports still work.
func TestReportAndStop(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	a := startTCPD(t, p.A, server.Config{TCP: testTCP()})
	a.do(t, func(st *tcp.Stack) {
		_, err := st.Listen(netip.MustParseAddrPort("0.0.0.0:7"), 1)
		require.NoError(t, err)
	})
	var b strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), prototest.Wait)
	defer cancel()
	require.NoError(t, a.Report(ctx, &b))
	assert.Contains(t, b.String(), "tcpd: datagrams 0")
	assert.Contains(t, b.String(), "libproto: received 0")
	// The loop ends when the protocol's channels close.
	require.NoError(t, a.client.Close())
	select {
	case err := <-a.ran:
		assert.Error(t, err)
		a.ran <- nil // for the cleanup
	case <-time.After(prototest.Wait):
		t.Fatal("the loop did not end with its protocol")
	}
	assert.ErrorIs(t, a.Post(func(*tcp.Stack) {}), server.ErrStopped)
	b.Reset()
	require.NoError(t, a.Report(ctx, &b), "a stopped server still reports")
}

// streamSocket asks h's socket service for a SOCK_STREAM socket, as an
// application would, and returns the application's end.
func streamSocket(t testing.TB, h *prototest.Host) libipc.Endpoint {
	ctx, cancel := context.WithTimeout(context.Background(), prototest.Wait)
	defer cancel()
	ep, err := h.Broker.Connect(ctx, sockproto.ServiceName)
	require.NoError(t, err)
	app := libipc.NewConn(ep)
	t.Cleanup(func() { app.Close() })
	var resp sockproto.SocketResp
	caps, err := app.CallCaps(ctx, libipc.Op(sockproto.OpSocket), &sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockStream}, &resp, nil)
	require.NoError(t, err)
	require.True(t, resp.Stream)
	require.Len(t, caps, 1)
	mine, ok := caps[0].(libipc.Endpoint)
	require.True(t, ok)
	return mine
}

// TestStreamSockets: the stream sockets netd hands to the owner of 6 go to
// Config.Streams on the loop; without it they are served with the stream
// protocol, whose first message grants the application its send credit.
func TestStreamSockets(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	a := startTCPD(t, p.A, server.Config{TCP: testTCP()})
	mine := streamSocket(t, p.A)
	ctx, cancel := context.WithTimeout(context.Background(), prototest.Wait)
	defer cancel()
	m, err := mine.Recv(ctx)
	require.NoError(t, err)
	var credit sp.Credit
	h, err := libipc.DecodeMessage(m.Data, &credit)
	require.NoError(t, err)
	assert.Equal(t, sp.OpCredit, h.Op)
	assert.Equal(t, sp.Credit{Bytes: sp.InitialSendCreditBytes, Msgs: sp.InitialSendCreditMsgs}, credit)
	assert.EqualValues(t, 1, a.Stats().Streams)
	assert.EqualValues(t, 1, a.Stats().Stream.Open)
	require.NoError(t, mine.Close())
	require.Eventually(t, func() bool { return a.Stats().Stream.Open == 0 }, prototest.Wait, 5*time.Millisecond)

	got := make(chan libipc.Endpoint, 1)
	b := startTCPD(t, p.B, server.Config{TCP: testTCP(), Streams: func(st *tcp.Stack, ep libipc.Endpoint) {
		assert.NotNil(t, st)
		got <- ep
	}})
	mine = streamSocket(t, p.B)
	select {
	case theirs := <-got:
		require.NoError(t, mine.Send(ctx, libipc.Message{Data: []byte("hello")}))
		m, err := theirs.Recv(ctx)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(m.Data))
		theirs.Close()
	case <-time.After(prototest.Wait):
		t.Fatal("Config.Streams got no socket")
	}
	assert.EqualValues(t, 1, b.Stats().Streams)
}

// TestMTUFromRegistration: the engine takes the interface's MTU from the
// registration, and never a larger one (DF would make netd refuse it).
func TestMTUFromRegistration(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{MTU: 1280})
	for _, tc := range []struct{ cfg, want int }{{0, 1280}, {9000, 1280}, {576, 576}} {
		cfg := testTCP()
		cfg.MTU = tc.cfg
		s, err := server.New(p.A.Register(t, protoproto.ProtoTCP), server.Config{TCP: cfg})
		require.NoError(t, err)
		assert.Equal(t, tc.want, s.Config().MTU, "config %d", tc.cfg)
		require.NoError(t, s.Protocol().Close(context.Background()))
	}
}
