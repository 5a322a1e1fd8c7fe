package tcp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/wire"
)

// RST generation and acceptance (RFC 9293 3.5.2, 3.10.7) and RFC 5961's
// defences, state by state.

// A segment to a port nobody uses is answered per RFC 9293 3.10.7.1.
func TestResetToClosedPort(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.send(SYN, "")
	f.expect(RST|ACK, 0, f.pSeq, "") // <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
	f.send(PSH, "data")
	f.expect(RST|ACK, 0, f.pSeq, "")
	f.inject(wire.Repr{Seq: 1, Ack: 12345, Flags: ACK}, "")
	f.expect(RST, 12345, 0, "") // <SEQ=SEG.ACK>
	f.inject(wire.Repr{Seq: 1, Ack: 12345, Flags: RST | ACK}, "")
	f.expectNone() // a RST is never answered
	assert.Equal(t, uint64(4), f.s.Counters().RxNoConnection)
	assert.Equal(t, uint64(3), f.s.Counters().TxRSTs)
}

// LISTEN: a RST is ignored, an ACK answered with a RST, anything else
// without SYN dropped.
func TestResetInListen(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	l := f.listen(1)
	f.inject(wire.Repr{Seq: 1, Flags: RST}, "")
	f.expectNone()
	f.inject(wire.Repr{Seq: 1, Ack: 777, Flags: ACK}, "")
	f.expect(RST, 777, 0, "")
	f.inject(wire.Repr{Seq: 1, Flags: FIN}, "")
	f.expectNone()
	assert.Equal(t, uint64(3), f.s.Counters().RxListenOther)
	assert.Equal(t, 0, l.HalfOpen())
}

// SYN-SENT: a RST counts only with an ACK of our SYN; a bad ACK is
// answered with a RST; an acceptable RST refuses the connection.
func TestResetInSynSent(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	iss := f.expect(SYN, c.Info().ISS, 0, "").Repr.Seq

	f.inject(wire.Repr{Seq: 5, Flags: RST}, "")
	f.expectNone()
	assert.Equal(t, tcp.SynSent, c.State(), "a RST without ACK is dropped")
	f.inject(wire.Repr{Seq: 5, Ack: iss + 5, Flags: SYN | ACK}, "")
	f.expect(RST, iss+5, 0, "")
	assert.Equal(t, tcp.SynSent, c.State())
	f.inject(wire.Repr{Seq: 5, Ack: iss + 5, Flags: RST | ACK}, "")
	f.expectNone()
	assert.Equal(t, tcp.SynSent, c.State(), "a RST with a bad ACK is dropped")

	f.inject(wire.Repr{Seq: 0, Ack: iss + 1, Flags: RST | ACK}, "")
	assert.Equal(t, tcp.Closed, c.State())
	assert.ErrorIs(t, c.Err(), tcp.ErrConnRefused)
	assert.Equal(t, tcp.Readable|tcp.Writable|tcp.Errored|tcp.Done, c.Readiness())
	_, err = c.Write([]byte("x"))
	assert.ErrorIs(t, err, tcp.ErrConnRefused)
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, tcp.ErrConnRefused)
	assert.Equal(t, uint64(1), f.s.Counters().AttemptFails)
	assert.Equal(t, uint64(4), f.s.Counters().RxSynSentDrop+f.s.Counters().RxReset)
}

// ESTABLISHED: a RST at exactly RCV.NXT resets; one elsewhere in the
// window draws a challenge ACK; one outside it is dropped silently.
func TestResetEstablished(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.inject(wire.Repr{Seq: f.pSeq + 10, Flags: RST}, "")
	f.expect(ACK, f.pAck, f.pSeq, "")
	assert.Equal(t, tcp.Established, c.State())
	f.inject(wire.Repr{Seq: f.pSeq - 10, Flags: RST}, "")
	f.expectNone()
	f.inject(wire.Repr{Seq: f.pSeq + 1<<20, Flags: RST}, "")
	f.expectNone()
	assert.Equal(t, tcp.Established, c.State())
	counters := f.s.Counters()
	assert.Equal(t, uint64(1), counters.RxChallenged)
	assert.Equal(t, uint64(1), counters.TxChallengeACKs)
	assert.Equal(t, uint64(2), counters.RxOutOfWindow)

	f.inject(wire.Repr{Seq: f.pSeq, Flags: RST}, "")
	f.expectNone()
	assert.Equal(t, tcp.Closed, c.State())
	assert.ErrorIs(t, c.Err(), tcp.ErrConnReset)
	assert.Equal(t, uint64(1), f.s.Counters().EstabResets)
}

// An exact RST in every synchronized state: a reset where the user may
// still exchange data, a quiet end in CLOSING and LAST-ACK, and nothing
// in TIME-WAIT (RFC 1337).
func TestResetInEachState(t *testing.T) {
	for _, c := range []struct {
		state tcp.State
		err   error
	}{
		{tcp.Established, tcp.ErrConnReset},
		{tcp.FinWait1, tcp.ErrConnReset},
		{tcp.FinWait2, tcp.ErrConnReset},
		{tcp.CloseWait, tcp.ErrConnReset},
		{tcp.Closing, nil},
		{tcp.LastAck, nil},
		{tcp.TimeWait, nil},
	} {
		t.Run(c.state.String(), func(t *testing.T) {
			f := newFixture(t, tcp.Config{})
			conn := f.active()
			driveTo(f, conn, c.state)
			require.Equal(t, c.state, conn.State())
			f.inject(wire.Repr{Seq: f.pSeq, Flags: RST}, "")
			f.expectNone()
			if c.state == tcp.TimeWait {
				assert.Equal(t, tcp.TimeWait, conn.State())
				assert.Equal(t, uint64(1), f.s.Counters().RxTimeWaitRST)
				return
			}
			assert.Equal(t, tcp.Closed, conn.State())
			if c.err == nil {
				assert.NoError(t, conn.Err())
			} else {
				assert.ErrorIs(t, conn.Err(), c.err)
			}
		})
	}
}

// driveTo takes an established connection to st with the scripted peer.
func driveTo(f *fixture, c *tcp.Conn, st tcp.State) {
	f.t.Helper()
	switch st {
	case tcp.Established:
	case tcp.FinWait1:
		require.NoError(f.t, c.CloseWrite())
		f.take()
	case tcp.FinWait2:
		require.NoError(f.t, c.CloseWrite())
		f.expect(FIN|ACK, f.pAck, f.pSeq, "")
		f.send(ACK, "")
	case tcp.CloseWait:
		f.send(FIN|ACK, "")
		f.take()
	case tcp.Closing:
		require.NoError(f.t, c.CloseWrite())
		fin := f.expect(FIN|ACK, f.pAck, f.pSeq, "")
		f.pAck = fin.Repr.Seq
		f.send(FIN|ACK, "")
		f.take()
		f.pAck = fin.Repr.Seq + 1
	case tcp.LastAck:
		f.send(FIN|ACK, "")
		f.take()
		require.NoError(f.t, c.CloseWrite())
		f.expect(FIN|ACK, f.pAck, f.pSeq, "")
	case tcp.TimeWait:
		require.NoError(f.t, c.CloseWrite())
		f.expect(FIN|ACK, f.pAck, f.pSeq, "")
		f.send(FIN|ACK, "")
		f.take()
	}
	require.Equal(f.t, st, c.State())
}

// A SYN on a synchronized connection draws a challenge ACK and changes
// nothing (RFC 5961 4.2), in or out of the window.
func TestSynInEstablished(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.inject(wire.Repr{Seq: f.pSeq + 5, Flags: SYN}, "")
	f.expect(ACK, f.pAck, f.pSeq, "")
	f.advance(time.Second)
	f.inject(wire.Repr{Seq: f.pSeq - 5000, Flags: SYN}, "")
	f.expect(ACK, f.pAck, f.pSeq, "")
	assert.Equal(t, tcp.Established, c.State())
	f.send(ACK|PSH, "still here")
	assert.Equal(t, "still here", f.read(c))
}

// An ACK of data never sent is answered with an ACK and the segment
// dropped, data included (RFC 9293; RFC 5961 5.2); so is one older than
// the window the peer could have seen.
func TestBadAckDropped(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.inject(wire.Repr{Seq: f.pSeq, Ack: f.pAck + 1000, Flags: ACK}, "ignored")
	f.expect(ACK, f.pAck, f.pSeq, "")
	_, err := c.Read(make([]byte, 10))
	assert.ErrorIs(t, err, tcp.ErrWouldBlock)
	f.advance(time.Second)
	f.inject(wire.Repr{Seq: f.pSeq, Ack: f.pAck - 70000, Flags: ACK}, "ignored too")
	f.expect(ACK, f.pAck, f.pSeq, "")
	assert.Equal(t, uint64(2), f.s.Counters().RxBadACK)
	// An old ACK within the window is only a duplicate: its data counts.
	f.inject(wire.Repr{Seq: f.pSeq, Ack: f.pAck - 1, Flags: ACK}, "kept")
	assert.Equal(t, "kept", f.read(c))
}

// Challenge ACKs are limited to ChallengeACKsPerSecond for the stack.
func TestChallengeACKLimit(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.active()
	for range tcp.ChallengeACKsPerSecond + 500 {
		f.inject(wire.Repr{Seq: f.pSeq + 1, Flags: RST}, "")
	}
	assert.Len(t, f.take(), tcp.ChallengeACKsPerSecond)
	assert.Equal(t, uint64(500), f.s.Counters().ChallengeLimited)
	f.advance(time.Second)
	f.inject(wire.Repr{Seq: f.pSeq + 1, Flags: RST}, "")
	assert.Len(t, f.take(), 1)
}

// Out-of-window segments are answered with at most one ACK per
// InvalidACKInterval, so two confused ends cannot loop.
func TestOutOfWindowACKRateLimit(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.active()
	old := f.pSeq - 100
	f.inject(wire.Repr{Seq: old, Ack: f.pAck, Flags: ACK}, "")
	f.expect(ACK, f.pAck, f.pSeq, "")
	f.inject(wire.Repr{Seq: old, Ack: f.pAck, Flags: ACK}, "")
	f.expectNone()
	f.advance(tcp.InvalidACKInterval)
	f.inject(wire.Repr{Seq: old, Ack: f.pAck, Flags: ACK}, "")
	f.expect(ACK, f.pAck, f.pSeq, "")
	assert.Equal(t, uint64(1), f.s.Counters().InvalidLimited)
	// Data we hold already is a retransmission because our ACK was lost:
	// each one is answered, however close together (as Linux does), or
	// its sender can only time out again.
	for range 3 {
		f.inject(wire.Repr{Seq: old, Ack: f.pAck, Flags: ACK}, "old")
		f.expect(ACK, f.pAck, f.pSeq, "")
	}
	assert.Equal(t, uint64(1), f.s.Counters().InvalidLimited)
	assert.Equal(t, uint64(6), f.s.Counters().RxOutOfWindow)
}

// Abort sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK> and closes.
func TestAbort(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.write(c, "unacked")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "unacked")
	c.Abort()
	f.expect(RST|ACK, f.pAck, f.pSeq, "")
	assert.Equal(t, tcp.Closed, c.State())
	_, err := c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, tcp.ErrClosed)
	_, err = c.Write([]byte("x"))
	assert.ErrorIs(t, err, tcp.ErrClosed)
	assert.Equal(t, uint64(1), f.s.Counters().Aborts)
	f.advance(time.Hour)
	f.expectNone()
}

// Close with received data unread resets the connection (RFC 2525 2.17).
func TestCloseWithUnreadDataResets(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.send(ACK|PSH, "never read")
	require.NoError(t, c.Close())
	segs := f.take()
	require.Len(t, segs, 1)
	assert.Equal(t, RST|ACK, segs[0].Repr.Flags)
	assert.Equal(t, tcp.Closed, c.State())
}

// Data arriving after Close is answered with a RST.
func TestDataAfterCloseResets(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	require.NoError(t, c.Close())
	f.expect(FIN|ACK, f.pAck, f.pSeq, "")
	f.send(ACK, "")
	require.Equal(t, tcp.FinWait2, c.State())
	f.send(ACK|PSH, "too late")
	f.expect(RST|ACK, f.pAck, f.pSeq-uint32(len("too late")), "")
	assert.Equal(t, tcp.Closed, c.State())
	assert.Equal(t, uint64(1), f.s.Counters().RxAfterClose)
}

// A pure ACK at the right edge of our receive window (the peer has sent
// all the window allows and that data was lost) is acceptable, as in
// Linux: its acknowledgement of our data counts. Beyond the edge it is
// not.
func TestPureACKAtWindowEdge(t *testing.T) {
	f := newFixture(t, tcp.Config{RecvBuffer: 4096})
	c := f.active()
	_, err := c.Write([]byte("our data"))
	require.NoError(t, err)
	f.take()
	f.inject(wire.Repr{Seq: f.pSeq + 4097, Ack: f.pAck + 4, Flags: ACK}, "")
	assert.Equal(t, 8, c.Info().SendQueued, "beyond the edge: dropped")
	f.take()
	f.inject(wire.Repr{Seq: f.pSeq + 4096, Ack: f.pAck + 8, Flags: ACK}, "")
	assert.Equal(t, 0, c.Info().SendQueued, "at the edge: our data acknowledged")
	assert.Equal(t, c.Info().SndMax, c.Info().SndUna)
}
