package tcp_test

import (
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

// Sending with the peer's SACK blocks (RFC 6675).

const sackMSS = 1460

// sackSender opens a connection to a peer that offered SACK (and no
// timestamps, so segments carry a whole 1460-byte MSS) and grows cwnd to
// twelve segments; it returns the connection and the sequence number of
// the next byte it sends.
func sackSender(t *testing.T, cfg tcp.Config) (*fixture, *tcp.Conn, uint32) {
	f := newFixture(t, cfg)
	f.pOpt = wire.Options{MSS: sackMSS, SACKPermitted: true}
	c := f.active()
	for _, k := range []int{3, 6} { // slow start: one MSS per ACK
		f.write(c, strings.Repeat("a", k*sackMSS))
		segs := f.take()
		require.Len(t, segs, k)
		for _, s := range segs {
			f.pAck = s.Repr.Seq + uint32(len(s.Payload))
			f.send(ACK, "")
		}
	}
	require.Equal(t, 12*sackMSS, c.Info().Cwnd)
	return f, c, f.pAck
}

// sendSegs writes k segments and returns their sequence numbers.
func (f *fixture) sendSegs(c *tcp.Conn, k int) []uint32 {
	f.t.Helper()
	f.write(c, strings.Repeat("b", k*sackMSS))
	segs := f.take()
	require.Len(f.t, segs, k)
	seqs := make([]uint32, k+1)
	for i, s := range segs {
		seqs[i] = s.Repr.Seq
	}
	seqs[k] = seqs[k-1] + sackMSS
	return seqs
}

// dupSACK injects a duplicate ACK of una carrying the blocks (pairs of
// segment indexes into seqs: from, to exclusive).
func (f *fixture) dupSACK(una uint32, seqs []uint32, blocks ...[2]int) {
	f.t.Helper()
	o := wire.Options{NSACK: len(blocks)}
	for i, b := range blocks {
		o.SACK[i] = wire.SACKBlock{Left: seqs[b[0]], Right: seqs[b[1]]}
	}
	f.inject(wire.Repr{Seq: f.pSeq, Ack: una, Flags: ACK, Window: f.pWnd, Options: o}, "")
}

// retransmitted takes what was sent and returns the sequence numbers.
func (f *fixture) retransmitted() []uint32 {
	var out []uint32
	for _, s := range f.take() {
		out = append(out, s.Repr.Seq)
	}
	return out
}

// Two holes in one window: both go again within the round trip the SACKs
// reveal them in, the second before any ACK of the first's
// retransmission (NewReno, without SACK, would wait for that partial
// ACK); cwnd is half the flight and is not inflated.
func TestSACKRecoveryRepairsEveryHole(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	s := f.sendSegs(c, 8) // 0 and 2 are lost
	una := s[0]
	f.dupSACK(una, s, [2]int{1, 2})
	f.dupSACK(una, s, [2]int{3, 4}, [2]int{1, 2})
	assert.Empty(t, f.retransmitted(), "two duplicates: nothing yet")
	f.dupSACK(una, s, [2]int{3, 5}, [2]int{1, 2}) // the third
	assert.Equal(t, []uint32{s[0]}, f.retransmitted(), "fast retransmit")
	assert.True(t, c.Info().InRecovery)
	assert.Equal(t, 4*sackMSS, c.Info().Cwnd, "half the flight of 8")
	f.dupSACK(una, s, [2]int{3, 6}, [2]int{1, 2}) // three held above hole 2: lost
	assert.Equal(t, []uint32{s[2]}, f.retransmitted(), "the second hole, at once")
	assert.Equal(t, 4*sackMSS, c.Info().Cwnd)
	f.dupSACK(una, s, [2]int{3, 8}, [2]int{1, 2})
	assert.Empty(t, f.retransmitted(), "nothing else is missing")
	// The first retransmission arrives: a partial ACK up to hole 2, which
	// went already.
	f.pAck = s[2]
	f.send(ACK, "")
	assert.Empty(t, f.retransmitted())
	f.pAck = s[8]
	f.send(ACK, "")
	assert.False(t, c.Info().InRecovery)
	assert.Equal(t, uint64(1), f.s.Counters().SACKRetransmits)
	assert.Zero(t, f.s.Counters().Timeouts)
}

// The same losses without SACK: NewReno repairs the second hole only
// after the partial ACK.
func TestNewRenoWaitsForThePartialACK(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{NoSACK: true})
	s := f.sendSegs(c, 8)
	for range 5 {
		f.dupSACK(s[0], s) // no blocks: plain duplicates
	}
	assert.Equal(t, []uint32{s[0]}, f.retransmitted())
	f.pAck = s[2]
	f.send(ACK, "")
	assert.Equal(t, []uint32{s[2]}, f.retransmitted())
}

// After a timeout the go-back-N skips what the peer holds.
func TestGoBackSkipsSACKedData(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	s := f.sendSegs(c, 5) // the peer holds 1 and 3 only
	f.dupSACK(s[0], s, [2]int{1, 2})
	f.dupSACK(s[0], s, [2]int{3, 4}, [2]int{1, 2})
	assert.Empty(t, f.retransmitted())
	f.lostProbe(s[4])
	f.advance(c.Info().RTO)
	assert.Equal(t, []uint32{s[0]}, f.retransmitted(), "the timeout")
	f.pAck = s[2] // 0 arrived, 1 was held: up to hole 2
	f.send(ACK, "")
	assert.Equal(t, []uint32{s[2], s[4]}, f.retransmitted(), "3 is held: not sent")
	f.pAck = s[5]
	f.send(ACK, "")
	assert.Zero(t, c.Info().SACKed)
}

// A peer that drops what it SACKed (RFC 2018 section 8) gets it again:
// its cumulative ACK stopping at a block it reported is taken as that.
func TestSACKReneging(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	s := f.sendSegs(c, 4)
	f.dupSACK(s[0], s, [2]int{1, 3})
	assert.Equal(t, 2*sackMSS, c.Info().SACKed)
	f.pAck = s[1] // 0 arrived, but not past 1 and 2, which it SACKed
	f.send(ACK, "")
	assert.Equal(t, uint64(1), f.s.Counters().SACKReneging)
	assert.Zero(t, c.Info().SACKed)
	f.lostProbe(s[3])
	f.advance(c.Info().RTO)
	assert.Equal(t, []uint32{s[1]}, f.retransmitted())
	f.pAck = s[2]
	f.send(ACK, "")
	assert.Equal(t, []uint32{s[2], s[3]}, f.retransmitted(), "2 goes again too")
}

// Blocks outside SND.UNA..SND.MAX (D-SACKs, stale or forged ones) are
// not recorded.
func TestSACKBlocksValidated(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	s := f.sendSegs(c, 3)
	f.dupSACK(s[0], s, [2]int{0, 1})                                       // at SND.UNA: would mean it was ACKed
	f.inject(wire.Repr{Seq: f.pSeq, Ack: s[0], Flags: ACK, Window: f.pWnd, // past SND.MAX
		Options: wire.Options{NSACK: 1, SACK: [4]wire.SACKBlock{{Left: s[2], Right: s[3] + 1}}}}, "")
	f.inject(wire.Repr{Seq: f.pSeq, Ack: s[0], Flags: ACK, Window: f.pWnd, // empty
		Options: wire.Options{NSACK: 1, SACK: [4]wire.SACKBlock{{Left: s[2], Right: s[2]}}}}, "")
	assert.Zero(t, c.Info().SACKed)
	f.advance(time.Hour)
}

// A block wider than 2^31 passes pairwise sequence comparisons (they are
// not transitive that far): it must not be recorded, nor drive the
// recovery loop into sending for ever.
func TestSACKBlockAcrossHalfTheSpace(t *testing.T) {
	const limit = 1000
	sent := 0
	f := newFixtureWith(t, tcp.Config{}, func(r *tcptest.Recorder) tcp.Output {
		return tcp.OutputFunc(func(src, dst netip.Addr, seg []byte) error {
			if sent++; sent > limit {
				panic("runaway output")
			}
			return r.SendSegment(src, dst, seg)
		})
	})
	f.pOpt = wire.Options{MSS: sackMSS, SACKPermitted: true}
	c := f.active()
	f.write(c, strings.Repeat("a", 2*sackMSS))
	require.NoError(t, c.CloseWrite())
	f.take()
	una := c.Info().SndUna
	bad := wire.SACKBlock{Left: una + 1<<30, Right: una + 1<<31 + 1<<29}
	f.inject(wire.Repr{Seq: f.pSeq, Ack: una, Flags: ACK, Window: f.pWnd,
		Options: wire.Options{NSACK: 1, SACK: [4]wire.SACKBlock{bad}}}, "")
	f.take()
	assert.Zero(t, c.Info().SACKed, "a block outside SND.UNA..SND.MAX recorded")
}

// A partial ACK in SACK recovery that stops at a hole not yet resent
// resends it at once (three holes: 0, 5 and 7).
func TestSACKPartialACKResendsTheHole(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	s := f.sendSegs(c, 9)
	f.dupSACK(s[0], s, [2]int{1, 2})
	f.dupSACK(s[0], s, [2]int{1, 3})
	f.dupSACK(s[0], s, [2]int{1, 4})
	require.Equal(t, []uint32{s[0]}, f.retransmitted())
	f.dupSACK(s[0], s, [2]int{1, 5})
	f.dupSACK(s[0], s, [2]int{6, 7}, [2]int{1, 5})
	f.dupSACK(s[0], s, [2]int{8, 9}, [2]int{6, 7}, [2]int{1, 5})
	f.retransmitted()
	f.dupSACK(s[5], s, [2]int{8, 9}, [2]int{6, 7})
	require.Equal(t, []uint32{s[5]}, f.retransmitted())
	f.dupSACK(s[7], s, [2]int{8, 9})
	assert.Equal(t, []uint32{s[7]}, f.retransmitted(), "the last hole, on this partial ACK")
}

// After a timeout, a hole smaller than an MSS before a SACKed run goes
// at once: Nagle does not hold a retransmission (nothing else in flight
// would bring the ACK it waits for).
func TestGoBackSmallHoleNotHeldByNagle(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	c.SetNoDelay(true)
	var s []uint32
	for _, n := range []int{sackMSS, 500, sackMSS, sackMSS, sackMSS} {
		f.write(c, strings.Repeat("m", n))
		s = append(s, f.take()[0].Repr.Seq)
	}
	s = append(s, s[4]+sackMSS) // 0 and 1 (500 bytes) lost
	f.dupSACK(s[0], s, [2]int{2, 3})
	f.dupSACK(s[0], s, [2]int{2, 4})
	f.lostProbe(s[4])
	f.advance(c.Info().RTO)
	require.Equal(t, []uint32{s[0]}, f.retransmitted())
	f.dupSACK(s[1], s, [2]int{2, 4})
	assert.Contains(t, f.retransmitted(), s[1], "the 500-byte hole, at once")
}

// lostProbe lets the tail loss probe go (the flight's last segment, at
// last) and be lost: what follows is the retransmission timeout's.
func (f *fixture) lostProbe(last uint32) {
	f.t.Helper()
	f.advance(tcp.MinPTO)
	require.Equal(f.t, []uint32{last}, f.retransmitted(), "the tail loss probe")
}

// Tail loss probes (RFC 8985 7). The last segment lost, no duplicate ACK
// to tell: the probe resends it after two round trips (the fake clock's
// are 0) and, the flight being one segment whose ACK may be delayed, the
// delayed-ACK time; its ACK ends the episode, where the RTO would have
// waited a second.
func TestTailLossProbeRepairsTheTail(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	s := f.sendSegs(c, 3) // 2 lost
	f.pAck = s[2]
	f.send(ACK, "")
	f.expectNone()
	f.advance(tcp.DefaultDelayedACK - time.Millisecond)
	f.expectNone()
	f.advance(time.Millisecond)
	assert.Equal(t, []uint32{s[2]}, f.retransmitted())
	f.pAck = s[3]
	f.send(ACK, "")
	f.advance(time.Hour)
	f.expectNone()
	assert.Equal(t, uint64(1), f.s.Counters().TxTailProbes)
	assert.Zero(t, f.s.Counters().Timeouts)
}

// The probe's SACK shows a hole below it (2, with 4 also lost and 3 held:
// one duplicate only): everything not SACKed below the probe was sent
// two round trips before it and is lost (RACK's rule); SACK recovery
// resends it at once.
func TestTailLossProbeStartsRecovery(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	s := f.sendSegs(c, 5)
	f.pAck = s[2]
	f.send(ACK, "")
	f.dupSACK(s[2], s, [2]int{3, 4})
	assert.Empty(t, f.retransmitted())
	f.advance(tcp.MinPTO)
	assert.Equal(t, []uint32{s[4]}, f.retransmitted(), "the probe")
	f.dupSACK(s[2], s, [2]int{3, 5})
	assert.Equal(t, []uint32{s[2]}, f.retransmitted(), "the hole, at once")
	assert.True(t, c.Info().InRecovery)
	f.pAck = s[5]
	f.send(ACK, "")
	assert.False(t, c.Info().InRecovery)
	assert.Equal(t, uint64(1), f.s.Counters().TailProbeRecoveries)
	assert.Zero(t, f.s.Counters().Timeouts)
}

// With one segment out its ACK may be delayed: the probe waits the
// delayed-ACK time more. Without SACK there is no probe at all.
func TestTailLossProbeTiming(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	f.write(c, "x")
	f.take()
	f.advance(tcp.DefaultDelayedACK - time.Millisecond)
	f.expectNone()
	f.advance(time.Millisecond)
	assert.Len(t, f.retransmitted(), 1)

	f, c, _ = sackSender(t, tcp.Config{NoSACK: true})
	f.sendSegs(c, 3)
	f.advance(c.Info().RTO - time.Millisecond)
	f.expectNone()
	assert.Zero(t, f.s.Counters().TxTailProbes)
}

// No probe while the go-back after a timeout runs: it would jump to the
// top and cut the go-back short, and its SACK could not start recovery.
func TestNoProbeDuringGoBack(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	s := f.sendSegs(c, 6) // all lost
	f.lostProbe(s[5])
	f.advance(c.Info().RTO)
	require.Equal(t, []uint32{s[0]}, f.retransmitted(), "the timeout")
	f.pAck = s[1]
	f.send(ACK, "")
	require.Equal(t, []uint32{s[1], s[2]}, f.retransmitted(), "the go-back, cwnd 2")
	f.advance(tcp.MinPTO)
	assert.Empty(t, f.retransmitted(), "no probe while the timeout's go-back runs")
	f.dupSACK(s[3], s, [2]int{5, 6})
	assert.Contains(t, f.retransmitted(), s[3], "the go-back goes on")
}

// With the top SACKed, the probe is the highest segment the peer lacks,
// and its SACK starts recovery.
func TestProbeSkipsSACKedTail(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	s := f.sendSegs(c, 5) // 0 to 3 lost, 4 held
	f.dupSACK(s[0], s, [2]int{4, 5})
	f.advance(tcp.MinPTO)
	require.Equal(t, []uint32{s[3]}, f.retransmitted(), "the highest segment the peer does not hold")
	f.dupSACK(s[0], s, [2]int{3, 5})
	assert.Contains(t, f.retransmitted(), s[0], "recovery before the RTO")
}

// Only a SACK of the probe's own bytes marks what lies below it lost: a
// late ACK of the first flight SACKing one segment shows nothing.
func TestOnlyTheProbesSACKMarksLoss(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	s := f.sendSegs(c, 5)
	f.advance(tcp.MinPTO)
	require.Equal(t, []uint32{s[4]}, f.retransmitted(), "the probe")
	f.dupSACK(s[0], s, [2]int{2, 3})
	assert.Empty(t, f.retransmitted(), "one segment SACKed, sent with 0 and 1: nothing shown lost")
	assert.False(t, c.Info().InRecovery)
	assert.Zero(t, f.s.Counters().TailProbeRecoveries)
}

// A flight that ends with our FIN is probed too, the FIN with the last
// segment.
func TestProbeWithFIN(t *testing.T) {
	f, c, _ := sackSender(t, tcp.Config{})
	f.write(c, strings.Repeat("b", 3*sackMSS))
	require.NoError(t, c.CloseWrite())
	segs := f.take()
	require.Len(t, segs, 4)   // three segments, then the FIN
	f.pAck = segs[2].Repr.Seq // 2 and the FIN lost
	f.send(ACK, "")
	f.advance(c.Info().RTO / 2)
	probe := f.take()
	require.Len(t, probe, 1, "a probe of the tail before the RTO")
	assert.Equal(t, segs[2].Repr.Seq, probe[0].Repr.Seq)
	assert.True(t, probe[0].Repr.Flags.Has(FIN), "with the FIN")
	assert.Equal(t, uint64(1), f.s.Counters().TxTailProbes)
}
