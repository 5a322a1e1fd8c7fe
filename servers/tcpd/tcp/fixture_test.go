package tcp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack/stacktest"
	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
	"armos/servers/tcpd/tcp/wire"
)

// The fixture's two ends: the engine under test and the peer the test
// plays by hand.
var (
	ourAddr  = netip.MustParseAddr("10.0.0.1")
	peerAddr = netip.MustParseAddr("10.0.0.2")
)

// Flag shorthands for the scripts.
const (
	SYN = wire.FlagSYN
	ACK = wire.FlagACK
	FIN = wire.FlagFIN
	RST = wire.FlagRST
	PSH = wire.FlagPSH
)

// fixture is one engine whose segments a Recorder keeps, and a scripted
// peer: the test injects the peer's segments and checks the answers.
type fixture struct {
	t     *testing.T
	clock *stacktest.FakeClock
	rec   *tcptest.Recorder
	s     *tcp.Stack
	us    netip.AddrPort // the engine's end
	peer  netip.AddrPort // the scripted end

	// The peer's side of the connection.
	pSeq uint32 // the next sequence number the peer sends
	pAck uint32 // the next it expects from us
	pWnd uint16 // the window it advertises (unscaled field)
	pOpt wire.Options
}

// newFixture returns an engine with cfg (a fixed ISN secret unless set),
// checked for invariants after the test.
func newFixture(t *testing.T, cfg tcp.Config) *fixture {
	return newFixtureWith(t, cfg, nil)
}

// newFixtureWith is newFixture with the engine's Output made by out from
// the fixture's recorder (nil: the recorder itself).
func newFixtureWith(t *testing.T, cfg tcp.Config, out func(*tcptest.Recorder) tcp.Output) *fixture {
	if cfg.Secret == nil {
		cfg.Secret = []byte("fixture")
	}
	f := &fixture{
		t:     t,
		clock: stacktest.NewFakeClock(),
		rec:   &tcptest.Recorder{},
		us:    netip.AddrPortFrom(ourAddr, 5000),
		peer:  netip.AddrPortFrom(peerAddr, 40000),
		pSeq:  100000,
		pWnd:  65535,
		pOpt:  wire.Options{MSS: 1460},
	}
	var o tcp.Output = f.rec
	if out != nil {
		o = out(f.rec)
	}
	s, err := tcp.New(cfg, o, f.clock)
	require.NoError(t, err)
	f.s = s
	t.Cleanup(func() {
		require.NoError(t, f.s.CheckInvariants())
		require.NoError(t, f.rec.Err)
	})
	return f
}

// inject delivers a segment from the peer with header r and payload.
func (f *fixture) inject(r wire.Repr, payload string) {
	f.t.Helper()
	f.s.Input(peerAddr, ourAddr, tcptest.Segment(f.peer, f.us, r, []byte(payload)))
	require.NoError(f.t, f.s.CheckInvariants())
}

// send injects a segment from the peer at its next sequence number,
// acknowledging pAck (with ACK in flags), and advances pSeq.
func (f *fixture) send(flags wire.Flags, payload string) {
	f.t.Helper()
	r := wire.Repr{Seq: f.pSeq, Flags: flags, Window: f.pWnd}
	if flags&ACK != 0 {
		r.Ack = f.pAck
	}
	if flags&SYN != 0 {
		r.Options = f.pOpt
	}
	f.inject(r, payload)
	f.pSeq += uint32(len(payload))
	if flags&(SYN) != 0 {
		f.pSeq++
	}
	if flags&FIN != 0 {
		f.pSeq++
	}
}

// take returns what the engine sent since the last take.
func (f *fixture) take() []tcptest.Sent { return f.rec.Take() }

// expect takes exactly one segment and checks its flags, sequence and
// acknowledgment numbers and payload; the peer's pAck follows it.
func (f *fixture) expect(flags wire.Flags, sq, ack uint32, payload string) tcptest.Sent {
	f.t.Helper()
	segs := f.take()
	require.Len(f.t, segs, 1, "segments: %v", segs)
	s := segs[0]
	require.Equal(f.t, flags, s.Repr.Flags, "flags of %v", s)
	require.Equal(f.t, sq, s.Repr.Seq, "seq of %v", s)
	if flags&ACK != 0 {
		require.Equal(f.t, ack, s.Repr.Ack, "ack of %v", s)
	}
	require.Equal(f.t, payload, string(s.Payload), "payload of %v", s)
	require.Equal(f.t, ourAddr, s.Src)
	require.Equal(f.t, peerAddr, s.Dst)
	end := s.Repr.Seq + uint32(len(s.Payload))
	if flags&(SYN|FIN) != 0 {
		end++
	}
	if int32(end-f.pAck) > 0 && flags&RST == 0 {
		f.pAck = end
	}
	return s
}

// expectNone checks that nothing was sent.
func (f *fixture) expectNone() {
	f.t.Helper()
	segs := f.take()
	require.Empty(f.t, segs, "segments: %v", segs)
}

// advance moves the clock by d, running each timer at its own time.
func (f *fixture) advance(d time.Duration) {
	f.t.Helper()
	end := f.clock.Now().Add(d)
	for {
		t, ok := f.s.NextDeadline()
		if !ok || t.After(end) {
			break
		}
		f.clock.Set(t)
		f.s.Tick()
		require.NoError(f.t, f.s.CheckInvariants())
	}
	f.clock.Set(end)
}

// untilSent runs timers until the engine sends something, at most limit
// ahead, and returns how long that took.
func (f *fixture) untilSent(limit time.Duration) time.Duration {
	f.t.Helper()
	start := f.clock.Now()
	for len(f.rec.Segs) == 0 {
		t, ok := f.s.NextDeadline()
		require.True(f.t, ok, "no timer running")
		require.False(f.t, t.Sub(start) > limit, "nothing sent within %v", limit)
		f.clock.Set(t)
		f.s.Tick()
	}
	return f.clock.Now().Sub(start)
}

// active opens a connection from us to the peer and completes the
// handshake: our SYN, the peer's SYN-ACK (with pOpt), our ACK.
func (f *fixture) active() *tcp.Conn {
	f.t.Helper()
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(f.t, err)
	require.Equal(f.t, tcp.SynSent, c.State())
	syn := f.expect(SYN, c.Info().ISS, 0, "")
	f.pAck = syn.Repr.Seq + 1
	f.send(SYN|ACK, "")
	require.Equal(f.t, tcp.Established, c.State())
	f.expect(ACK, f.pAck, f.pSeq, "")
	return c
}

// listen opens a listener on our end.
func (f *fixture) listen(backlog int) *tcp.Listener {
	f.t.Helper()
	l, err := f.s.Listen(f.us, backlog)
	require.NoError(f.t, err)
	return l
}

// passive has the peer connect to listener l and accepts the connection.
func (f *fixture) passive(l *tcp.Listener) *tcp.Conn {
	f.t.Helper()
	f.handshake()
	c, err := l.Accept()
	require.NoError(f.t, err)
	require.Equal(f.t, tcp.Established, c.State())
	return c
}

// handshake has the peer connect to our listening port.
func (f *fixture) handshake() {
	f.t.Helper()
	f.send(SYN, "")
	synack := f.take()
	require.Len(f.t, synack, 1)
	require.Equal(f.t, SYN|ACK, synack[0].Repr.Flags)
	require.Equal(f.t, f.pSeq, synack[0].Repr.Ack)
	f.pAck = synack[0].Repr.Seq + 1
	f.send(ACK, "")
	f.expectNone()
}

// write writes p and requires all of it to be taken.
func (f *fixture) write(c *tcp.Conn, p string) {
	f.t.Helper()
	n, err := c.Write([]byte(p))
	require.NoError(f.t, err)
	require.Equal(f.t, len(p), n)
}

// read reads what c has and returns it.
func (f *fixture) read(c *tcp.Conn) string {
	f.t.Helper()
	buf := make([]byte, 1<<20)
	n, err := c.Read(buf)
	if n == 0 {
		require.Error(f.t, err)
	}
	return string(buf[:n])
}
