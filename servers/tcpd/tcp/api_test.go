package tcp_test

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
	"armos/servers/tcpd/tcp/wire"
)

func TestNewConfig(t *testing.T) {
	rec := &tcptest.Recorder{}
	clock := tcp.SystemClock{}
	for _, cfg := range []tcp.Config{
		{MTU: -1}, {MTU: 67}, {SendBuffer: 100}, {RecvBuffer: tcp.MaxBuffer + 1},
		{MinRTO: -time.Second}, {MinRTO: 2 * time.Minute}, {InitialRTO: time.Hour},
	} {
		_, err := tcp.New(cfg, rec, clock)
		assert.ErrorIs(t, err, tcp.ErrInvalidConfig, "%+v", cfg)
	}
	_, err := tcp.New(tcp.Config{}, nil, clock)
	assert.ErrorIs(t, err, tcp.ErrInvalidConfig)
	s, err := tcp.New(tcp.Config{MTU: 576}, rec, clock)
	require.NoError(t, err)
	cfg := s.Config()
	assert.Equal(t, tcp.DefaultSendBuffer, cfg.SendBuffer)
	assert.Equal(t, tcp.DefaultMinRTO, cfg.MinRTO)
	assert.Len(t, cfg.Secret, 16, "drawn at random")
	c, err := s.Connect(netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"))
	require.NoError(t, err)
	assert.Equal(t, uint16(536), rec.Segs[0].Repr.Options.MSS, "MTU 576 less 40")
	assert.Equal(t, 536, c.Info().RcvMSS)
}

// The send buffer is bounded: Write takes what fits and then would block;
// acknowledgments make room again.
func TestSendBufferBound(t *testing.T) {
	f := newFixture(t, tcp.Config{SendBuffer: 4096})
	c := f.active()
	n, err := c.Write(make([]byte, 10000))
	require.NoError(t, err)
	assert.Equal(t, 4096, n)
	_, err = c.Write([]byte("x"))
	assert.ErrorIs(t, err, tcp.ErrWouldBlock)
	assert.Zero(t, c.Readiness()&tcp.Writable)
	segs := f.take()
	f.pAck = segs[len(segs)-1].Repr.Seq + uint32(len(segs[len(segs)-1].Payload))
	f.send(ACK, "")
	assert.NotZero(t, c.Readiness()&tcp.Writable)
	assert.Equal(t, 4096-2*1460, c.Info().SendQueued, "Nagle held the tail back")
	n, err = c.Write(make([]byte, 10000))
	require.NoError(t, err)
	assert.Equal(t, 2*1460, n, "the room the ACK made")
}

// The receive buffer is bounded and the window follows it: a sender
// that ignores our zero window has its data dropped and acknowledged
// with the window again.
func TestReceiveBufferBound(t *testing.T) {
	f := newFixture(t, tcp.Config{RecvBuffer: 4096})
	c := f.active()
	assert.Equal(t, 4096, c.Info().RcvWnd)
	for range 2 {
		f.send(ACK, strings.Repeat("a", 1460))
	}
	f.send(ACK, strings.Repeat("a", 1176))
	f.advance(tcp.DefaultDelayedACK)
	segs := f.take()
	last := segs[len(segs)-1]
	assert.Equal(t, uint16(0), last.Repr.Window)
	assert.Equal(t, 0, c.Info().RcvWnd)
	f.send(ACK, "overflow")
	f.expect(ACK, f.pAck, f.pSeq-8, "")
	assert.Equal(t, uint64(1), f.s.Counters().RxWindowProbe)
	assert.Equal(t, 4096, c.Info().RecvQueued)
	f.pSeq -= 8
	// Reading opens the window: a window update.
	assert.Len(t, f.read(c), 4096)
	f.expect(ACK, f.pAck, f.pSeq, "")
	assert.Equal(t, 4096, c.Info().RcvWnd)
}

// The receive window never shrinks, and grows only by a meaningful step
// (receiver silly-window avoidance, RFC 9293 3.8.6.2.2).
func TestReceiverSWS(t *testing.T) {
	f := newFixture(t, tcp.Config{RecvBuffer: 8192})
	c := f.active()
	f.send(ACK, strings.Repeat("a", 8000)) // five full-sized segments' worth: ACKed at once
	f.take()
	assert.Equal(t, 192, c.Info().RcvWnd)
	buf := make([]byte, 100)
	_, err := c.Read(buf)
	require.NoError(t, err)
	f.send(ACK, "b")
	f.advance(tcp.DefaultDelayedACK)
	s := f.take()
	require.NotEmpty(t, s)
	assert.Equal(t, uint16(191), s[len(s)-1].Repr.Window, "100 bytes read: too little to move the edge")
	_, err = c.Read(make([]byte, 2000))
	require.NoError(t, err)
	f.advance(time.Second)
	s = f.take()
	require.NotEmpty(t, s)
	assert.Equal(t, uint16(8192-(8001-2100)), s[len(s)-1].Repr.Window)
}

// Out-of-order data waits in the receive buffer and is delivered once the
// hole fills; overlapping retransmissions are trimmed.
func TestOutOfOrderAndOverlap(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	base := f.pSeq
	seg := func(off int, data string) {
		f.inject(wire.Repr{Seq: base + uint32(off), Ack: f.pAck, Flags: ACK, Window: f.pWnd}, data)
	}
	seg(10, "klmno")
	seg(20, "uvwxyz")
	seg(3, "defghijklm")
	assert.Equal(t, 18, c.Info().RecvOutOfOrder, "[3,15) and [20,26)")
	_, err := c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, tcp.ErrWouldBlock)
	seg(0, "abcdefghij") // fills the start, overlaps the rest
	assert.Equal(t, "abcdefghijklmno", f.read(c))
	seg(14, "opqrstu")
	assert.Equal(t, "pqrstuvwxyz", f.read(c))
	assert.Zero(t, c.Info().RecvOutOfOrder)
	assert.NotZero(t, f.s.Counters().RxOutOfOrder)
	assert.NotZero(t, f.s.Counters().RxTrimmed)
}

// A FIN after a hole waits for the hole.
func TestFinAfterHole(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	base := f.pSeq
	f.inject(wire.Repr{Seq: base + 5, Ack: f.pAck, Flags: ACK | FIN, Window: f.pWnd}, "world")
	assert.Equal(t, tcp.Established, c.State())
	f.inject(wire.Repr{Seq: base, Ack: f.pAck, Flags: ACK, Window: f.pWnd}, "hello")
	assert.Equal(t, tcp.CloseWait, c.State())
	assert.Equal(t, "helloworld", f.read(c))
	_, err := c.Read(make([]byte, 1))
	assert.Equal(t, io.EOF, err)
}

// Writing during the handshake queues the data for after it, and a
// CloseWrite in SYN-SENT sends the FIN then.
func TestWriteDuringHandshake(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	syn := f.take()[0]
	f.write(c, "early")
	require.NoError(t, c.CloseWrite())
	assert.Equal(t, tcp.SynSent, c.State())
	f.expectNone()
	f.pAck = syn.Repr.Seq + 1
	f.send(SYN|ACK, "")
	f.expect(ACK|PSH|FIN, f.pAck, f.pSeq, "early")
	assert.Equal(t, tcp.FinWait1, c.State())
}

// Window scaling: the peer's window field is shifted by its scale, ours by
// ours, in both directions.
func TestWindowScaling(t *testing.T) {
	f := newFixture(t, tcp.Config{RecvBuffer: 1 << 20})
	f.pOpt = wire.Options{MSS: 1460, HasWindowScale: true, WindowScale: 14}
	f.pWnd = 4 // 64 KiB at 2^14
	c := f.active()
	i := c.Info()
	assert.Equal(t, uint8(14), i.SndShift)
	assert.Equal(t, uint8(5), i.RcvShift)
	f.send(ACK, "")
	assert.Equal(t, 4<<14, c.Info().SndWnd)
	f.write(c, "x")
	s := f.take()[0]
	assert.Equal(t, uint16((1<<20)>>5), s.Repr.Window)
	assert.Equal(t, 1<<20, c.Info().RcvWnd)
	// A shift above 14 is used as 14 (RFC 7323 2.3).
	f2 := newFixture(t, tcp.Config{})
	f2.pOpt = wire.Options{MSS: 1460, HasWindowScale: true, WindowScale: 20}
	assert.Equal(t, uint8(14), f2.active().Info().SndShift)
}

// A malformed segment is counted and dropped before any connection sees
// it; every segment lands in exactly one terminal counter.
func TestMalformedInput(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	good := tcptest.Segment(f.peer, f.us, wire.Repr{Seq: f.pSeq, Ack: f.pAck, Flags: ACK, Window: 100}, []byte("x"))
	f.s.Input(peerAddr, ourAddr, good[:10])
	bad := append([]byte(nil), good...)
	bad[20] ^= 0xff
	f.s.Input(peerAddr, ourAddr, bad)
	f.s.Input(netip.MustParseAddr("224.0.0.1"), ourAddr, good)
	f.s.Input(peerAddr, netip.MustParseAddr("255.255.255.255"), good)
	f.s.Input(netip.MustParseAddr("::1"), ourAddr, good)
	zero := tcptest.Segment(netip.AddrPortFrom(peerAddr, 0), f.us, wire.Repr{Flags: SYN}, nil)
	f.s.Input(peerAddr, ourAddr, zero)
	f.expectNone()
	assert.Equal(t, tcp.Established, c.State())
	counters := f.s.Counters()
	assert.Equal(t, uint64(1), counters.RxMalformed)
	assert.Equal(t, uint64(1), counters.RxBadChecksum)
	assert.Equal(t, uint64(4), counters.RxBadAddress)
	require.NoError(t, f.s.CheckInvariants())
	assert.Contains(t, counters.String(), "RxBadChecksum")
	v, ok := counters.Get("RxBadAddress")
	assert.True(t, ok)
	assert.Equal(t, uint64(4), v)
	_, ok = counters.Get("Nope")
	assert.False(t, ok)
	assert.NotEmpty(t, counters.Rows())
}

func TestStrings(t *testing.T) {
	assert.Equal(t, "SYN-RECEIVED", tcp.SynReceived.String())
	assert.Equal(t, "TIME-WAIT", tcp.TimeWait.String())
	assert.Equal(t, "UNKNOWN", tcp.State(99).String())
	l, err := newFixture(t, tcp.Config{}).s.Listen(netip.MustParseAddrPort("0.0.0.0:1"), 1)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	_, err = l.Accept()
	assert.Equal(t, "accept tcp 0.0.0.0:1: use of closed connection", err.Error())
}
