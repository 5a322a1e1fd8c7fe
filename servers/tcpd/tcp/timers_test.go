package tcp_test

import (
	"errors"
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

// A SYN nobody answers is sent again 1, 2, 4 ... seconds apart (RFC 6298
// 5.5, capped at MaxRTO), and the attempt fails after SynRetries.
func TestSynBackoff(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	iss := f.expect(SYN, c.Info().ISS, 0, "").Repr.Seq
	for _, want := range []time.Duration{1, 2, 4, 8, 16, 32, 60} {
		assert.Equal(t, want*time.Second, f.untilSent(time.Hour))
		f.expect(SYN, iss, 0, "")
	}
	f.advance(60*time.Second - time.Millisecond)
	assert.Equal(t, tcp.SynSent, c.State())
	f.advance(time.Millisecond)
	assert.Equal(t, tcp.Closed, c.State())
	assert.ErrorIs(t, c.Err(), tcp.ErrTimedOut)
	f.expectNone()
	counters := f.s.Counters()
	assert.Equal(t, uint64(1), counters.AttemptFails)
	assert.Equal(t, uint64(8), counters.Timeouts)
	assert.Equal(t, uint64(7), counters.TxRetransSegs)
}

// Data nobody acknowledges is retransmitted with the RTO doubling each
// time from 1 s (the minimum) to MaxRTO; after MaxRetries the connection
// fails with ErrTimedOut, 243 s after the first transmission.
func TestDataBackoff(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.write(c, "hello")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "hello")
	start := f.clock.Now()
	for _, want := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60} {
		assert.Equal(t, want*time.Second, f.untilSent(time.Hour))
		s := f.take()
		require.Len(t, s, 1)
		assert.Equal(t, "hello", string(s[0].Payload))
		assert.Equal(t, min(2*want*time.Second, tcp.DefaultMaxRTO), c.Info().RTO)
	}
	f.advance(60*time.Second - time.Millisecond)
	assert.Equal(t, tcp.Established, c.State())
	f.advance(time.Millisecond)
	assert.Equal(t, tcp.Closed, c.State())
	assert.ErrorIs(t, c.Err(), tcp.ErrTimedOut)
	assert.Equal(t, 243*time.Second, f.clock.Now().Sub(start))
	assert.Equal(t, uint64(1), f.s.Counters().ConnTimeouts)
}

// SRTT, RTTVAR and RTO follow RFC 6298 2.2 and 2.3 over measured round
// trips, and Karn's rule keeps a retransmitted segment's ACK out of them.
func TestRTTEstimate(t *testing.T) {
	f := newFixture(t, tcp.Config{MinRTO: 10 * time.Millisecond})
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	syn := f.expect(SYN, c.Info().ISS, 0, "")
	f.pAck = syn.Repr.Seq + 1
	f.advance(300 * time.Millisecond)
	f.send(SYN|ACK, "")
	f.take()
	// First sample R = 300 ms: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR.
	i := c.Info()
	assert.Equal(t, 300*time.Millisecond, i.SRTT)
	assert.Equal(t, 150*time.Millisecond, i.RTTVar)
	assert.Equal(t, 900*time.Millisecond, i.RTO)

	// measure sends data answered after rtt.
	measure := func(data string, rtt time.Duration) {
		f.write(c, data)
		f.expect(ACK|PSH, f.pAck, f.pSeq, data)
		f.advance(rtt)
		f.send(ACK, "")
	}
	// Second sample R' = 100 ms: RTTVAR = 3/4 150 + 1/4 |300-100| = 162.5,
	// SRTT = 7/8 300 + 1/8 100 = 275, RTO = 275 + 650 = 925 ms.
	measure("a", 100*time.Millisecond)
	i = c.Info()
	assert.Equal(t, 275*time.Millisecond, i.SRTT)
	assert.Equal(t, 162500*time.Microsecond, i.RTTVar)
	assert.Equal(t, 925*time.Millisecond, i.RTO)

	// A retransmitted segment is not timed (Karn): its late ACK leaves
	// SRTT alone, and the backed-off RTO stays until a new sample.
	f.write(c, "b")
	f.take()
	f.advance(925 * time.Millisecond)
	f.expect(ACK|PSH, f.pAck, f.pSeq, "b")
	f.advance(5 * time.Second / 10)
	f.send(ACK, "")
	i = c.Info()
	assert.Equal(t, 275*time.Millisecond, i.SRTT)
	assert.Equal(t, 1850*time.Millisecond, i.RTO)
	measure("c", 50*time.Millisecond)
	assert.Less(t, c.Info().RTO, 1850*time.Millisecond, "a fresh sample recomputes it")
}

// A lone segment is acknowledged after DefaultDelayedACK; the second of
// two at once; an out-of-order one at once (a duplicate ACK).
func TestDelayedACK(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.send(ACK|PSH, "one")
	f.expectNone()
	f.advance(tcp.DefaultDelayedACK - time.Millisecond)
	f.expectNone()
	f.advance(time.Millisecond)
	f.expect(ACK, f.pAck, f.pSeq, "")
	assert.Equal(t, uint64(1), f.s.Counters().TxDelayedACKs)

	f.send(ACK, "two")
	f.expectNone()
	f.send(ACK, "three")
	f.expect(ACK, f.pAck, f.pSeq, "")

	f.pSeq += 10 // a hole
	f.send(ACK, "later")
	hole := f.pSeq - 10 - 5
	f.expect(ACK, f.pAck, hole, "")
	// Filling the hole is acknowledged at once too.
	f.inject(wire.Repr{Seq: hole, Ack: f.pAck, Flags: ACK, Window: f.pWnd}, "0123456789")
	f.expect(ACK, f.pAck, f.pSeq, "")
	assert.Equal(t, "onetwothree0123456789later", f.read(c))

	// Data of our own carries the ACK: the delayed ACK is not sent.
	f.send(ACK|PSH, "ping")
	f.write(c, "pong")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "pong")
	f.send(ACK, "")
	f.advance(time.Second)
	f.expectNone()
}

// A segment carrying two full-sized segments' data or more (coalesced by
// the receiving host, GRO) is acknowledged at once, as two segments would
// be; one of less than two waits for the delayed ACK.
func TestCoalescedSegmentAckedAtOnce(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.active()
	f.send(ACK, strings.Repeat("c", 2*1460))
	f.expect(ACK, f.pAck, f.pSeq, "")
	f.send(ACK, strings.Repeat("c", 1460+700))
	f.expectNone()
	f.advance(tcp.DefaultDelayedACK)
	f.expect(ACK, f.pAck, f.pSeq, "")
}

// Nagle: a small segment waits while data is unacknowledged; with
// SetNoDelay it does not. Full segments never wait.
func TestNagle(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.write(c, "a")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "a")
	f.write(c, "b")
	f.write(c, "c")
	f.expectNone()
	f.send(ACK, "")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "bc")
	f.send(ACK, "")

	full := strings.Repeat("x", 1460)
	f.write(c, "d")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "d")
	f.write(c, "e")
	f.expectNone()
	f.write(c, full)
	f.expect(ACK, f.pAck, f.pSeq, "e"+full[:1459]) // full: it goes; the 1-byte tail waits
	f.send(ACK, "")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "x")
	f.send(ACK, "")

	c.SetNoDelay(true)
	f.write(c, "f")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "f")
	f.write(c, "g")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "g") // although "f" is unacknowledged
	assert.True(t, c.Info().NoDelay)
}

// Zero window: the sender probes with one octet past the window, the RTO
// apart and backing off; the receiver's answers keep the connection alive
// however long it lasts; when the window opens the data flows.
func TestZeroWindowProbe(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.write(c, "0123456789")
	f.expect(ACK|PSH, f.pAck, f.pSeq, "0123456789")
	f.pWnd = 0
	f.send(ACK, "")
	f.write(c, "abcdef")
	f.expectNone()
	una := f.pAck
	for i, want := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60, 60} {
		assert.Equal(t, want*time.Second, f.untilSent(time.Hour), "probe %d", i)
		s := f.take()
		require.Len(t, s, 1)
		assert.Equal(t, una, s[0].Repr.Seq)
		assert.Equal(t, "a", string(s[0].Payload))
		f.send(ACK, "") // still zero: the probe's octet is not acknowledged
	}
	assert.Equal(t, tcp.Established, c.State(), "answered probes never time out")
	assert.True(t, c.Info().Persisting)
	assert.Equal(t, uint64(12), f.s.Counters().TxWindowProbes)

	f.pWnd = 100
	f.send(ACK, "")
	f.expect(ACK|PSH, una, f.pSeq, "abcdef")
	assert.False(t, c.Info().Persisting)
}

// Unanswered zero-window probes end the connection after MaxRetries.
func TestZeroWindowProbesUnanswered(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.pWnd = 0
	f.send(ACK, "")
	f.write(c, "x")
	f.advance(time.Hour)
	assert.Equal(t, tcp.Closed, c.State())
	assert.ErrorIs(t, c.Err(), tcp.ErrTimedOut)
	assert.Equal(t, uint64(tcp.DefaultMaxRetries), f.s.Counters().TxWindowProbes)
}

// Two engines: a receiver that stops reading closes its window; the
// sender probes; reading opens the window again (a window update) and the
// whole transfer arrives.
func TestZeroWindowTwoStacks(t *testing.T) {
	l := tcptest.NewLink(tcptest.Faults{Delay: 5 * time.Millisecond, Seed: 5})
	a := l.NewStack(addrA, tcp.Config{})
	b := l.NewStack(addrB, tcp.Config{RecvBuffer: 16 << 10})
	ln, err := b.Listen(netip.AddrPortFrom(addrB, 80), 1)
	require.NoError(t, err)
	ca, err := a.Connect(netip.AddrPortFrom(addrA, 0), netip.AddrPortFrom(addrB, 80))
	require.NoError(t, err)
	data := pattern(100<<10, 9)
	sent := 0
	var cb *tcp.Conn
	require.True(t, l.Run(time.Minute, func() bool {
		n, _ := ca.Write(data[sent:])
		sent += n
		if cb == nil {
			cb, _ = ln.Accept()
		}
		return cb != nil && cb.Info().RcvWnd == 0 && ca.Info().Persisting
	}))
	l.RunFor(30 * time.Second) // probes, answered with a zero window
	assert.Equal(t, tcp.Established, ca.State())
	assert.NotZero(t, a.Counters().TxWindowProbes)
	var got []byte
	buf := make([]byte, 1000)
	require.True(t, l.Run(time.Minute, func() bool {
		n, _ := ca.Write(data[sent:])
		sent += n
		for {
			n, err := cb.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		return len(got) == len(data)
	}))
	assert.Equal(t, data, got)
	assert.NotZero(t, b.Counters().TxWindowUpdates)
}

// Keep-alive: after KeepAliveIdle of silence a probe at SND.UNA-1; an
// answer restarts the idle time; unanswered probes KeepAliveInterval
// apart end the connection with a RST after KeepAliveProbes.
func TestKeepAlive(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	c.SetKeepAlive(true)
	assert.True(t, c.Info().KeepAlive)
	assert.Equal(t, tcp.DefaultKeepAliveIdle, f.untilSent(3*time.Hour))
	f.expect(ACK, f.pAck-1, f.pSeq, "")
	f.send(ACK, "") // the peer answers
	assert.Equal(t, tcp.DefaultKeepAliveIdle, f.untilSent(3*time.Hour))
	f.expect(ACK, f.pAck-1, f.pSeq, "")
	for range tcp.DefaultKeepAliveProbes - 1 {
		assert.Equal(t, tcp.DefaultKeepAliveInterval, f.untilSent(time.Hour))
		f.expect(ACK, f.pAck-1, f.pSeq, "")
	}
	assert.Equal(t, tcp.DefaultKeepAliveInterval, f.untilSent(time.Hour))
	f.expect(RST|ACK, f.pAck, f.pSeq, "")
	assert.Equal(t, tcp.Closed, c.State())
	assert.ErrorIs(t, c.Err(), tcp.ErrTimedOut)
	assert.Equal(t, uint64(1), f.s.Counters().KeepAliveTimeouts)
	assert.Equal(t, uint64(tcp.DefaultKeepAliveProbes+1), f.s.Counters().TxKeepAlives)
}

// Keep-alive is off by default and turns off again.
func TestKeepAliveOff(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	_, ok := f.s.NextDeadline()
	assert.False(t, ok)
	c.SetKeepAlive(true)
	c.SetKeepAlive(false)
	f.advance(10 * time.Hour)
	f.expectNone()
}

// The probe between two engines is answered by the other engine.
func TestKeepAliveTwoStacks(t *testing.T) {
	l := tcptest.NewLink(tcptest.Faults{Delay: 5 * time.Millisecond, Seed: 6})
	a := l.NewStack(addrA, tcp.Config{KeepAliveIdle: time.Minute})
	b := l.NewStack(addrB, tcp.Config{})
	ln, err := b.Listen(netip.AddrPortFrom(addrB, 80), 1)
	require.NoError(t, err)
	ca, err := a.Connect(netip.AddrPortFrom(addrA, 0), netip.AddrPortFrom(addrB, 80))
	require.NoError(t, err)
	require.True(t, l.Run(time.Minute, func() bool { return ca.State() == tcp.Established }))
	ca.SetKeepAlive(true)
	l.RunFor(time.Hour)
	assert.Equal(t, tcp.Established, ca.State())
	assert.InDelta(t, 60, a.Counters().TxKeepAlives, 1)
	_, err = ln.Accept()
	assert.NoError(t, err)
	assert.False(t, errors.Is(ca.Err(), tcp.ErrTimedOut))
}
