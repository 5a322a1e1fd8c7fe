package tcp_test

import (
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
	"armos/servers/tcpd/tcp/wire"
)

// Every transition of RFC 9293's state diagram (section 3.3.2, figure 5),
// one test each, with the segments exchanged checked field by field.

// CLOSED -> SYN-SENT -> ESTABLISHED: our SYN carries MSS and window scale;
// the peer's SYN-ACK sets the send MSS, and without a window scale option
// turns scaling off both ways.
func TestActiveOpen(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	assert.Equal(t, tcp.SynSent, c.State())
	syn := f.expect(SYN, c.Info().ISS, 0, "")
	o := syn.Repr.Options
	assert.Equal(t, wire.Options{MSS: 1460, HasWindowScale: true, WindowScale: 3, SACKPermitted: true,
		HasTimestamps: true, TSVal: o.TSVal}, o, "SACK and timestamps offered, nothing echoed")
	assert.Equal(t, uint16(65535), syn.Repr.Window)
	assert.Zero(t, c.Readiness()&tcp.Writable, "not writable while connecting")

	f.pAck = syn.Repr.Seq + 1
	f.pOpt = wire.Options{MSS: 1000}
	f.send(SYN|ACK, "")
	assert.Equal(t, tcp.Established, c.State())
	ack := f.expect(ACK, f.pAck, f.pSeq, "")
	assert.Empty(t, ack.Repr.Options)
	assert.Equal(t, uint16(65535), ack.Repr.Window, "unscaled: the window field's maximum")
	i := c.Info()
	assert.Equal(t, 1000, i.SndMSS)
	assert.Equal(t, uint8(0), i.SndShift)
	assert.Equal(t, uint8(0), i.RcvShift)
	assert.Equal(t, 65535, i.SndWnd)
	assert.NotZero(t, c.Readiness()&tcp.Writable)
	assert.Equal(t, uint64(1), f.s.Counters().ActiveOpens)
	assert.Equal(t, uint64(1), f.s.Counters().CurrEstab)
}

// CLOSED -> LISTEN -> SYN-RECEIVED -> ESTABLISHED, with window scaling
// negotiated: the SYN-ACK answers the peer's option with ours.
func TestPassiveOpen(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	l := f.listen(4)
	f.pOpt = wire.Options{MSS: 1200, HasWindowScale: true, WindowScale: 7}
	f.send(SYN, "")
	assert.Equal(t, 1, l.HalfOpen())
	synack := f.take()
	require.Len(t, synack, 1)
	r := synack[0].Repr
	assert.Equal(t, SYN|ACK, r.Flags)
	assert.Equal(t, f.pSeq, r.Ack)
	assert.Equal(t, wire.Options{MSS: 1460, HasWindowScale: true, WindowScale: 3}, r.Options)
	f.pAck = r.Seq + 1
	_, err := l.Accept()
	assert.ErrorIs(t, err, tcp.ErrWouldBlock, "not before the handshake completes")

	f.pWnd = 1000 // scaled by 2^7 from now on
	f.send(ACK, "")
	f.expectNone()
	assert.Equal(t, 0, l.HalfOpen())
	assert.Equal(t, 1, l.Pending())
	c, err := l.Accept()
	require.NoError(t, err)
	i := c.Info()
	assert.Equal(t, tcp.Established, i.State)
	assert.Equal(t, 1200, i.SndMSS)
	assert.Equal(t, uint8(7), i.SndShift)
	assert.Equal(t, uint8(3), i.RcvShift)
	assert.Equal(t, 128000, i.SndWnd)
	assert.Equal(t, f.peer, c.RemoteAddr())
	assert.Equal(t, f.us, c.LocalAddr())

	// Our window, scaled: 256 KiB less the unread byte, >> 3.
	f.send(ACK|PSH, "x")
	f.advance(tcp.DefaultDelayedACK)
	ack := f.expect(ACK, f.pAck, f.pSeq, "")
	assert.Equal(t, uint16((256<<10-1)>>3), ack.Repr.Window)
	assert.Equal(t, uint64(1), f.s.Counters().PassiveOpens)
}

// SYN-SENT -> SYN-RECEIVED -> ESTABLISHED: both ends send a SYN at once.
func TestSimultaneousOpen(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.pOpt = wire.Options{MSS: 1400, HasWindowScale: true, WindowScale: 1, SACKPermitted: true, HasTimestamps: true, TSVal: 77}
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	syn := f.expect(SYN, c.Info().ISS, 0, "")
	// The peer's own SYN crosses ours.
	f.send(SYN, "")
	assert.Equal(t, tcp.SynReceived, c.State())
	f.pAck = syn.Repr.Seq // the peer has not seen our SYN yet
	sa := f.expect(SYN|ACK, syn.Repr.Seq, f.pSeq, "")
	want := syn.Repr.Options
	want.TSEcr = 77 // the peer's timestamp, echoed
	assert.Equal(t, want, sa.Repr.Options, "the same SYN, now with an ACK")
	// Our first SYN reaches the peer, which answers SYN-ACK (figure 8,
	// line 6); nothing more needs saying.
	f.pSeq--
	f.send(SYN|ACK, "")
	assert.Equal(t, tcp.Established, c.State())
	f.expectNone()
	i := c.Info()
	assert.Equal(t, 1400-12, i.SndMSS, "the peer's MSS less the timestamps every segment carries")
	assert.Equal(t, uint8(1), i.SndShift)
	assert.Equal(t, uint8(3), i.RcvShift)
	f.write(c, "hi")
	f.expect(ACK|PSH, syn.Repr.Seq+1, f.pSeq, "hi")
}

// Simultaneous open between two engines over the link.
func TestSimultaneousOpenTwoStacks(t *testing.T) {
	l := tcptest.NewLink(tcptest.Faults{Delay: 10 * time.Millisecond, Seed: 3})
	a := l.NewStack(addrA, tcp.Config{})
	b := l.NewStack(addrB, tcp.Config{})
	pa, pb := netip.AddrPortFrom(addrA, 7001), netip.AddrPortFrom(addrB, 7002)
	ca, err := a.Connect(pa, pb)
	require.NoError(t, err)
	cb, err := b.Connect(pb, pa)
	require.NoError(t, err)
	var sawSynRcvd bool
	require.True(t, l.Run(time.Minute, func() bool {
		sawSynRcvd = sawSynRcvd || ca.State() == tcp.SynReceived
		return ca.State() == tcp.Established && cb.State() == tcp.Established
	}))
	assert.True(t, sawSynRcvd)
	_, err = ca.Write([]byte("both ways"))
	require.NoError(t, err)
	_, err = cb.Write([]byte("at once"))
	require.NoError(t, err)
	buf := make([]byte, 100)
	var ga, gb string
	require.True(t, l.Run(time.Minute, func() bool {
		if n, _ := ca.Read(buf); n > 0 {
			ga += string(buf[:n])
		}
		if n, _ := cb.Read(buf); n > 0 {
			gb += string(buf[:n])
		}
		return ga == "at once" && gb == "both ways"
	}))
}

// ESTABLISHED -> FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT -> CLOSED: our FIN
// first; TIME-WAIT lasts 2*MSL to the nanosecond.
func TestActiveClose(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	require.NoError(t, c.CloseWrite())
	assert.Equal(t, tcp.FinWait1, c.State())
	f.expect(FIN|ACK, f.pAck, f.pSeq, "")
	_, err := c.Write([]byte("x"))
	assert.ErrorIs(t, err, tcp.ErrClosed)

	f.send(ACK, "")
	assert.Equal(t, tcp.FinWait2, c.State())
	f.expectNone()
	f.advance(time.Hour) // no timer in FIN-WAIT-2 while the user may still read
	assert.Equal(t, tcp.FinWait2, c.State())

	f.send(FIN|ACK, "")
	assert.Equal(t, tcp.TimeWait, c.State())
	f.expect(ACK, f.pAck, f.pSeq, "")
	_, err = c.Read(make([]byte, 1))
	assert.Equal(t, io.EOF, err)
	f.advance(tcp.DefaultTimeWait - time.Nanosecond)
	assert.Equal(t, tcp.TimeWait, c.State())
	f.advance(time.Nanosecond)
	assert.Equal(t, tcp.Closed, c.State())
	assert.NoError(t, c.Err())
	assert.Equal(t, uint64(1), f.s.Counters().TimeWaitExpired)
	assert.Empty(t, f.s.Conns())
}

// ESTABLISHED -> CLOSE-WAIT -> LAST-ACK -> CLOSED: the peer's FIN first.
func TestPassiveClose(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.send(FIN|ACK, "bye")
	assert.Equal(t, tcp.CloseWait, c.State())
	f.expect(ACK, f.pAck, f.pSeq, "") // a FIN is acknowledged at once
	assert.Equal(t, tcp.Readable|tcp.Writable|tcp.ReadClosed, c.Readiness())
	assert.Equal(t, "bye", f.read(c))
	_, err := c.Read(make([]byte, 1))
	assert.Equal(t, io.EOF, err)
	f.write(c, "still talking")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "still talking")

	require.NoError(t, c.Close())
	assert.Equal(t, tcp.LastAck, c.State())
	f.expect(FIN|ACK, f.pAck, f.pSeq, "")
	f.send(ACK, "")
	assert.Equal(t, tcp.Closed, c.State())
	assert.Empty(t, f.s.Conns())
}

// FIN-WAIT-1 -> CLOSING -> TIME-WAIT: both FINs cross.
func TestSimultaneousClose(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	require.NoError(t, c.CloseWrite())
	fin := f.expect(FIN|ACK, f.pAck, f.pSeq, "")
	// The peer's FIN does not acknowledge ours.
	f.pAck = fin.Repr.Seq
	f.send(FIN|ACK, "")
	assert.Equal(t, tcp.Closing, c.State())
	f.expect(ACK, fin.Repr.Seq+1, f.pSeq, "")
	f.pAck = fin.Repr.Seq + 1
	f.send(ACK, "")
	assert.Equal(t, tcp.TimeWait, c.State())
	f.advance(tcp.DefaultTimeWait)
	assert.Equal(t, tcp.Closed, c.State())
}

// Simultaneous close between two engines over the link.
func TestSimultaneousCloseTwoStacks(t *testing.T) {
	l := tcptest.NewLink(tcptest.Faults{Delay: 10 * time.Millisecond, Seed: 4})
	a := l.NewStack(addrA, tcp.Config{})
	b := l.NewStack(addrB, tcp.Config{})
	ln, err := b.Listen(netip.AddrPortFrom(addrB, 80), 1)
	require.NoError(t, err)
	ca, err := a.Connect(netip.AddrPortFrom(addrA, 0), netip.AddrPortFrom(addrB, 80))
	require.NoError(t, err)
	var cb *tcp.Conn
	require.True(t, l.Run(time.Minute, func() bool {
		cb, _ = ln.Accept()
		return cb != nil
	}))
	require.NoError(t, ca.Close())
	require.NoError(t, cb.Close())
	var closing [2]bool
	require.True(t, l.Run(time.Minute, func() bool {
		closing[0] = closing[0] || ca.State() == tcp.Closing
		closing[1] = closing[1] || cb.State() == tcp.Closing
		return ca.State() == tcp.TimeWait && cb.State() == tcp.TimeWait
	}))
	assert.Equal(t, [2]bool{true, true}, closing)
	l.RunFor(tcp.DefaultTimeWait)
	assert.Equal(t, tcp.Closed, ca.State())
	assert.Equal(t, tcp.Closed, cb.State())
}

// FIN-WAIT-1 -> TIME-WAIT: the peer's FIN acknowledges ours.
func TestFinWait1ToTimeWait(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	require.NoError(t, c.CloseWrite())
	f.expect(FIN|ACK, f.pAck, f.pSeq, "")
	f.send(FIN|ACK, "")
	assert.Equal(t, tcp.TimeWait, c.State())
	f.expect(ACK, f.pAck, f.pSeq, "")
}

// SYN-SENT -> CLOSED on Close: nothing is sent.
func TestCloseInSynSent(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	f.take()
	require.NoError(t, c.Close())
	assert.Equal(t, tcp.Closed, c.State())
	f.expectNone()
	f.advance(time.Hour)
	f.expectNone()
	assert.ErrorIs(t, c.Close(), tcp.ErrClosed)
}

// SYN-RECEIVED -> FIN-WAIT-1 on close (after a simultaneous open): the
// FIN follows once our SYN is acknowledged.
func TestSynReceivedClose(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	syn := f.expect(SYN, c.Info().ISS, 0, "")
	f.send(SYN, "")
	f.pAck = syn.Repr.Seq
	f.expect(SYN|ACK, syn.Repr.Seq, f.pSeq, "")
	require.Equal(t, tcp.SynReceived, c.State())
	require.NoError(t, c.CloseWrite())
	assert.Equal(t, tcp.FinWait1, c.State())
	f.expectNone()
	f.pSeq--
	f.send(SYN|ACK, "")
	f.expect(FIN|ACK, syn.Repr.Seq+1, f.pSeq, "")
	assert.Equal(t, tcp.FinWait1, c.State())
	f.send(ACK, "")
	assert.Equal(t, tcp.FinWait2, c.State())
}

// SYN-RECEIVED -> LISTEN: a RST to a passive half-open connection; the
// listener goes on.
func TestSynReceivedResetReturnsToListen(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	l := f.listen(4)
	f.send(SYN, "")
	sa := f.take()
	require.Len(t, sa, 1)
	require.Equal(t, 1, l.HalfOpen())
	f.inject(wire.Repr{Seq: f.pSeq, Flags: RST}, "")
	assert.Equal(t, 0, l.HalfOpen())
	assert.Empty(t, f.s.Conns())
	f.expectNone()
	f.advance(time.Minute)
	f.expectNone()
	c := f.passive(l)
	assert.Equal(t, tcp.Established, c.State())
}

// LISTEN -> CLOSED: the port is free, and SYNs to it are reset.
func TestListenClose(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	l := f.listen(4)
	require.NoError(t, l.Close())
	assert.ErrorIs(t, l.Close(), tcp.ErrClosed)
	_, err := l.Accept()
	assert.ErrorIs(t, err, tcp.ErrClosed)
	f.send(SYN, "")
	f.expect(RST|ACK, 0, f.pSeq, "")
	_, err = f.s.Listen(f.us, 1)
	assert.NoError(t, err)
}

// LAST-ACK and CLOSING also end by timeout if the peer never ACKs our FIN.
func TestLastAckTimesOut(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.send(FIN|ACK, "")
	f.take()
	require.NoError(t, c.Close())
	f.take()
	f.advance(10 * time.Minute)
	assert.Equal(t, tcp.Closed, c.State())
	assert.ErrorIs(t, c.Err(), tcp.ErrTimedOut)
	assert.Equal(t, uint64(1), f.s.Counters().ConnTimeouts)
}

// A closed connection stuck in FIN-WAIT-2 (the peer never sends its FIN)
// goes away after FinWait2Timeout.
func TestFinWait2Timeout(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	require.NoError(t, c.Close())
	f.expect(FIN|ACK, f.pAck, f.pSeq, "")
	f.send(ACK, "")
	require.Equal(t, tcp.FinWait2, c.State())
	f.advance(tcp.DefaultFinWait2Timeout - time.Millisecond)
	assert.Equal(t, tcp.FinWait2, c.State())
	f.advance(time.Millisecond)
	assert.Equal(t, tcp.Closed, c.State())
	assert.Equal(t, uint64(1), f.s.Counters().FinWait2Timeouts)
}

// TIME-WAIT: the peer's FIN again is acknowledged and restarts the wait; a
// new SYN above the old sequence numbers reopens the pair through the
// listener (RFC 1122 4.2.2.13).
func TestTimeWait(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	l := f.listen(4)
	c := f.passive(l)
	require.NoError(t, c.Close())
	f.expect(FIN|ACK, f.pAck, f.pSeq, "")
	f.send(FIN|ACK, "")
	f.expect(ACK, f.pAck, f.pSeq, "")
	require.Equal(t, tcp.TimeWait, c.State())

	f.advance(30 * time.Second)
	f.pSeq--
	f.send(FIN|ACK, "") // our ACK was lost
	f.expect(ACK, f.pAck, f.pSeq, "")
	f.advance(tcp.DefaultTimeWait - time.Millisecond)
	assert.Equal(t, tcp.TimeWait, c.State(), "the wait restarted")

	f.pSeq += 100000
	f.send(SYN, "")
	assert.Equal(t, tcp.Closed, c.State())
	sa := f.take()
	require.Len(t, sa, 1)
	assert.Equal(t, SYN|ACK, sa[0].Repr.Flags)
	assert.Equal(t, 1, l.HalfOpen())
	assert.Equal(t, uint64(1), f.s.Counters().TimeWaitReopened)
}
