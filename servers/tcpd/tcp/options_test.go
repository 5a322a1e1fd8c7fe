package tcp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/wire"
)

// Timestamps (RFC 7323) and selective acknowledgments (RFC 2018), as a
// Linux peer offers them.

// tsPeer is the SYN options of a peer offering both, its clock at val.
func tsPeer(val uint32) wire.Options {
	return wire.Options{MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: val}
}

// sendAt injects a segment from the peer at pSeq+off carrying payload and
// timestamps val (echoing ecr), without moving pSeq.
func (f *fixture) sendAt(off uint32, payload string, val, ecr uint32) {
	f.t.Helper()
	f.inject(wire.Repr{Seq: f.pSeq + off, Ack: f.pAck, Flags: ACK, Window: f.pWnd,
		Options: wire.Options{HasTimestamps: true, TSVal: val, TSEcr: ecr}}, payload)
}

// Both offered: every later segment of ours carries timestamps echoing
// the peer's, and the data each carries is one MSS less their 12 bytes.
// Either not offered, or turned off in Config: no options after the SYNs.
func TestTimestampsAndSACKNegotiated(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.pOpt = tsPeer(1000)
	c := f.active()
	assert.Equal(t, 1460-12, c.Info().SndMSS)
	f.write(c, "hello")
	s := f.expect(ACK|PSH, f.pAck, f.pSeq, "hello")
	assert.True(t, s.Repr.Options.HasTimestamps)
	assert.Equal(t, uint32(1000), s.Repr.Options.TSEcr, "the peer's SYN-ACK timestamp echoed")

	f = newFixture(t, tcp.Config{})
	c = f.active() // the peer's SYN-ACK offers nothing
	assert.Equal(t, 1460, c.Info().SndMSS)
	f.write(c, "hello")
	assert.Equal(t, wire.Options{}, f.expect(ACK|PSH, f.pAck, f.pSeq, "hello").Repr.Options)

	f = newFixture(t, tcp.Config{NoTimestamps: true, NoSACK: true})
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	syn := f.expect(SYN, c.Info().ISS, 0, "")
	assert.False(t, syn.Repr.Options.HasTimestamps || syn.Repr.Options.SACKPermitted, "nothing offered")

	f = newFixture(t, tcp.Config{NoTimestamps: true})
	f.listen(1)
	f.pOpt = tsPeer(5)
	f.send(SYN, "")
	segs := f.take()
	require.Len(t, segs, 1)
	sa := segs[0]
	require.Equal(t, SYN|ACK, sa.Repr.Flags)
	assert.False(t, sa.Repr.Options.HasTimestamps, "timestamps refused")
	assert.True(t, sa.Repr.Options.SACKPermitted, "SACK accepted")
}

// TS.Recent, the timestamp we echo, follows only segments that reach the
// left edge of the window (RFC 7323 4.3): an out-of-order segment's does
// not replace it, the one that fills the hole does.
func TestTimestampEchoFollowsLeftEdge(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.pOpt = tsPeer(1000)
	f.active()
	f.sendAt(0, "aaaa", 2000, 0)
	f.sendAt(4, "bbbb", 2001, 0) // the second segment: ACKed at once
	ack := f.expect(ACK, f.pAck, f.pSeq+8, "")
	assert.Equal(t, uint32(2000), ack.Repr.Options.TSEcr, "the earliest unacknowledged segment's (RFC 7323 4.3, delayed ACKs)")
	f.sendAt(12, "dddd", 3000, 0) // out of order
	ack = f.expect(ACK, f.pAck, f.pSeq+8, "")
	assert.Equal(t, uint32(2000), ack.Repr.Options.TSEcr, "not the out-of-order segment's")
	f.sendAt(8, "cccc", 2500, 0) // fills the hole
	ack = f.expect(ACK, f.pAck, f.pSeq+16, "")
	assert.Equal(t, uint32(2500), ack.Repr.Options.TSEcr)
}

// PAWS (RFC 7323 5.3): a segment in the window whose timestamp is older
// than TS.Recent is an old duplicate: dropped, answered with an ACK. After
// 24 days of silence TS.Recent is forgotten.
func TestPAWS(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.pOpt = tsPeer(1000)
	c := f.active()
	f.sendAt(0, "new", 2000, 0)
	f.sendAt(3, "old", 1999, 0)
	ack := f.expect(ACK, f.pAck, f.pSeq+3, "")
	assert.Equal(t, uint32(2000), ack.Repr.Options.TSEcr)
	assert.Equal(t, 3, c.Info().RecvQueued, "the old segment's data not taken")
	assert.Equal(t, uint64(1), f.s.Counters().RxPAWS)

	f.advance(25 * 24 * time.Hour)
	f.take()
	f.sendAt(3, "old", 1999, 0)
	f.advance(tcp.DefaultDelayedACK)
	f.expect(ACK, f.pAck, f.pSeq+6, "")
	assert.Equal(t, 6, c.Info().RecvQueued, "taken once TS.Recent expired")
	assert.Equal(t, uint64(1), f.s.Counters().RxPAWS)
}

// After a retransmission timeout Karn's rule times nothing, and without
// timestamps the doubled RTO stays until new data is timed. The echo of
// the retransmission's timestamp measures the round trip at once and
// brings the RTO back (RFC 7323 4.1).
func TestRTOComesBackFromTheEcho(t *testing.T) {
	for _, ts := range []bool{true, false} {
		f := newFixture(t, tcp.Config{MinRTO: 200 * time.Millisecond})
		if ts {
			f.pOpt = tsPeer(1000)
		}
		c := f.active()
		f.write(c, "data")
		first := f.expect(ACK|PSH, f.pAck, f.pSeq, "data")
		rto := c.Info().RTO
		f.advance(rto)
		again := f.expect(ACK|PSH, first.Repr.Seq, f.pSeq, "data")
		require.Equal(t, 2*rto, c.Info().RTO, "backed off")
		f.clock.Advance(10 * time.Millisecond)
		f.inject(wire.Repr{Seq: f.pSeq, Ack: f.pAck, Flags: ACK, Window: f.pWnd,
			Options: wire.Options{HasTimestamps: ts, TSVal: 1001, TSEcr: again.Repr.Options.TSVal}}, "")
		if ts {
			assert.Less(t, c.Info().RTO, 2*rto, "measured from the echo")
			assert.Equal(t, uint64(1), f.s.Counters().RTTFromEcho)
		} else {
			assert.Equal(t, 2*rto, c.Info().RTO, "nothing to measure")
		}
	}
}

// SACK blocks (RFC 2018 section 4) on the ACKs for data held out of
// order: the block holding the newest segment first, then those of the
// segments before it; three beside the timestamps; none once in order;
// none for a peer that did not offer SACK.
func TestSACKBlocks(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.pOpt = tsPeer(1000)
	c := f.active()
	base := f.pSeq
	block := func(from, to uint32) wire.SACKBlock { return wire.SACKBlock{Left: base + from, Right: base + to} }
	sack := func(want ...wire.SACKBlock) {
		t.Helper()
		o := f.expect(ACK, f.pAck, base, "").Repr.Options
		require.Equal(t, want, o.SACK[:o.NSACK])
	}
	f.sendAt(100, "B", 1001, 0) // [0, 100) lost
	sack(block(100, 101))
	f.sendAt(102, "D", 1002, 0)
	sack(block(102, 103), block(100, 101))
	f.sendAt(101, "C", 1003, 0) // joins B and D
	sack(block(100, 103))
	f.sendAt(200, "E", 1004, 0)
	f.take()
	f.sendAt(300, "F", 1005, 0)
	f.take()
	f.sendAt(400, "G", 1006, 0)
	sack(block(400, 401), block(300, 301), block(200, 201))
	f.sendAt(150, "x", 1007, 0) // a new block: the oldest reported gives way
	sack(block(150, 151), block(400, 401), block(300, 301))
	assert.Equal(t, uint64(7), f.s.Counters().TxSACKs)

	f.sendAt(0, string(make([]byte, 100)), 1009, 0) // the hole filled: up to 103
	o := f.expect(ACK, f.pAck, base+103, "").Repr.Options
	assert.Equal(t, []wire.SACKBlock{block(150, 151), block(400, 401), block(300, 301)}, o.SACK[:o.NSACK])
	require.Equal(t, 103, c.Info().RecvQueued)

	f = newFixture(t, tcp.Config{})
	f.active() // no SACK-permitted from the peer
	f.sendAt(100, "B", 1008, 0)
	assert.Zero(t, f.expect(ACK, f.pAck, f.pSeq, "").Repr.Options.NSACK)
}

// TS.Recent moves only for a segment found good: not for one whose ACK
// is refused (here, of data never sent), after which genuine segments
// would all fail PAWS.
func TestTSRecentNotFromARefusedSegment(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.pOpt = tsPeer(1000)
	c := f.active()
	f.inject(wire.Repr{Seq: f.pSeq, Ack: f.pAck + 100000, Flags: ACK, Window: f.pWnd,
		Options: wire.Options{HasTimestamps: true, TSVal: 1000 + 1<<30}}, "")
	f.take()
	f.sendAt(0, "data", 1001, 0)
	assert.Equal(t, 4, c.Info().RecvQueued, "genuine data dropped by PAWS")
	assert.Zero(t, f.s.Counters().RxPAWS)
}

// After 24 idle days PAWS is skipped, but an out-of-window segment still
// does not set TS.Recent.
func TestTSRecentNotFromOutOfWindowAfterIdle(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	f.pOpt = tsPeer(1000)
	c := f.active()
	f.advance(25 * 24 * time.Hour)
	f.take()
	f.inject(wire.Repr{Seq: f.pSeq + 1<<30, Ack: f.pAck, Flags: ACK, Window: f.pWnd,
		Options: wire.Options{HasTimestamps: true, TSVal: 1000 + 1<<31 + 1}}, "x")
	f.take()
	f.sendAt(0, "data", 2000, 0)
	assert.Equal(t, 4, c.Info().RecvQueued, "genuine data dropped by PAWS")
}
