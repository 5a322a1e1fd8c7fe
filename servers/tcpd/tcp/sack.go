package tcp

import (
	"time"

	"armos/servers/tcpd/tcp/wire"
)

// Loss recovery with the peer's SACK blocks (RFC 6675), on connections
// where both SYNs carried SACK-permitted. The scoreboard keeps which
// bytes past SND.UNA the peer holds; with it fast recovery repairs every
// hole the SACKs reveal in a round trip, where NewReno (RFC 6582, still
// used without SACK) repairs one per partial ACK, and sending in recovery
// is bounded by the estimate of what is in the network (pipe) instead of
// an inflated cwnd. After a timeout the go-back-N skips what the peer
// holds.

// scoreboard keeps the runs of our data past SND.UNA the peer reported
// holding: the receiver's assembler over the send sequence space, its
// offsets counted from SND.UNA. A block that would need more than
// maxOutOfOrder runs is ignored (SACKIgnored): the data it covers is
// retransmitted as if it were not held.
type scoreboard struct{ assembler }

// acked moves the scoreboard past the k bytes an ACK acknowledged. It
// reports false, forgetting everything, when a run reaches from at or
// below the new SND.UNA past it: the peer dropped data it had SACKed (RFC
// 2018 section 8 allows it), or its cumulative ACK would have covered it.
func (b *scoreboard) acked(k int) bool {
	if b.advance(k) > k {
		b.reset()
		return false
	}
	return true
}

// holding returns the end of the run holding offset off, or false.
func (b *scoreboard) holding(off int) (int, bool) {
	for _, r := range b.s[:b.n] {
		if r.start <= off && off < r.end {
			return r.end, true
		}
		if off < r.start {
			break
		}
	}
	return 0, false
}

// nextAfter returns the start of the first run beginning after offset
// off, or false.
func (b *scoreboard) nextAfter(off int) (int, bool) {
	for _, r := range b.s[:b.n] {
		if r.start > off {
			return r.start, true
		}
	}
	return 0, false
}

// heldIn returns how many bytes of [from, to) the peer holds.
func (b *scoreboard) heldIn(from, to int) int {
	n := 0
	for _, r := range b.s[:b.n] {
		n += max(0, min(r.end, to)-max(r.start, from))
	}
	return n
}

// lostBelow returns the offset below which every byte the peer does not
// hold counts as lost (RFC 6675 IsLost: more than DupThresh-1 segments'
// worth of bytes held above it), or false when nothing is.
func (b *scoreboard) lostBelow(mss int) (int, bool) {
	above := 0
	for i := b.n - 1; i >= 0; i-- {
		above += b.s[i].end - b.s[i].start
		if above > (DupACKThreshold-1)*mss {
			return b.s[i].start, true
		}
	}
	return 0, false
}

// sackArrived records the SACK blocks of an ACK (those within SND.UNA
// and SND.MAX; others, D-SACKs among them, are ignored) and reports
// whether they told anything new.
func (c *Conn) sackArrived(seg wire.Segment) bool {
	if seg.HeaderLen() <= wire.HeaderLen+c.optionsLen() {
		return false // no room for a block beside the timestamps
	}
	o := seg.Options()
	grew := false
	for _, k := range o.SACK[:o.NSACK] {
		l, r := seq(k.Left), seq(k.Right)
		if !inFlight(l, r, c.sndUna, c.sndMax) {
			continue
		}
		lo, hi := l.sub(c.sndUna), r.sub(c.sndUna)
		fresh := hi - lo - c.sb.heldIn(lo, hi)
		if !c.sb.add(lo, hi) {
			c.s.c.SACKIgnored++
			continue
		}
		grew = grew || fresh > 0
	}
	return grew
}

// inFlight reports una < l < r <= max, as offsets from una: pairwise
// comparisons of sequence numbers are not transitive across 2^31, and a
// hostile block must not pass them.
func inFlight(l, r, una, max seq) bool {
	lo, hi := uint32(l-una), uint32(r-una)
	return lo != 0 && lo < hi && hi <= uint32(max-una)
}

// pipe estimates the bytes in the network in SACK recovery (RFC 6675
// SetPipe): each byte between SND.UNA and SND.MAX the peer does not hold
// counts once if it is not lost, and once more if it was retransmitted.
func (c *Conn) pipe() int {
	flight := c.sndMax.sub(c.sndUna)
	notHeld := flight - c.sb.bytes()
	if l, ok := c.lostPoint(); ok {
		notHeld -= l - c.sb.heldIn(0, l)
	}
	if h := c.highRxt.sub(c.sndUna); h > 0 {
		notHeld += h - c.sb.heldIn(0, h)
	}
	return max(notHeld, 0)
}

// sackRetransmit sends, while the congestion window has room beyond
// pipe, the next lost bytes the peer does not hold (RFC 6675 NextSeg,
// rule 1), one MSS at a time from HighRxt upwards. It reports whether it
// sent anything.
func (c *Conn) sackRetransmit(now time.Time) bool {
	lost, ok := c.lostPoint()
	if !ok {
		return false
	}
	sent := false
	for c.cwnd-c.pipe() >= c.sndMSS {
		off := max(c.highRxt.sub(c.sndUna), 0)
		if end, held := c.sb.holding(off); held {
			off = end
		}
		if off >= lost || off >= c.sndMax.sub(c.sndUna) {
			break
		}
		n := min(c.sndMSS, lost-off)
		if next, ok := c.sb.nextAfter(off); ok {
			n = min(n, next-off)
		}
		s := c.sndUna.add(off)
		end := c.dataEnd()
		n = min(n, max(end.sub(s), 0))
		fin := c.finQueued && c.sndMax.gt(end) && s.add(n) == end
		if n == 0 && !fin {
			break
		}
		c.s.c.SACKRetransmits++
		c.sendSegment(s, n, fin, now)
		c.highRxt = s.add(n)
		if fin {
			c.highRxt = c.highRxt.add(1)
		}
		sent = true
	}
	return sent
}

// lostPoint returns the offset from SND.UNA below which every byte the
// peer does not hold counts as lost: by the SACKed bytes above it
// (IsLost), or as a tail loss probe's SACK showed (tlp.go), whichever is
// higher.
func (c *Conn) lostPoint() (int, bool) {
	l, ok := c.sb.lostBelow(c.sndMSS)
	if m := c.lossMark.sub(c.sndUna); c.lossMarked && m > 0 && (!ok || m > l) {
		return m, true
	}
	return l, ok
}

// sackEnterRecovery starts SACK-based fast recovery (RFC 6675 section 5,
// step 4): cwnd and ssthresh to half the flight, the recovery point at
// the highest byte sent, and the first unacknowledged segment sent again
// at once.
func (c *Conn) sackEnterRecovery(now time.Time) {
	mss := c.sndMSS
	c.s.c.FastRetransmits++
	c.stats.FastRetransmits++
	c.ssthresh = max(c.sndMax.sub(c.sndUna)/2, 2*mss)
	c.cwnd = c.ssthresh
	c.recover = c.sndMax.add(-1)
	c.inRecovery, c.partialSeen = true, false
	c.rttTiming = false
	c.ptoAt = time.Time{}
	c.highRxt = c.sndUna
	c.retransmitFirst(now)
	c.highRxt = maxSeq(c.highRxt, c.sndUna.add(min(mss, c.sndMax.sub(c.sndUna))))
	c.sackRetransmit(now)
}

// sackLossDetected reports whether the scoreboard shows the first
// unacknowledged byte lost (RFC 6675 IsLost(HighACK+1)), which starts
// recovery without waiting for a third duplicate ACK.
func (c *Conn) sackLossDetected() bool {
	l, ok := c.lostPoint()
	return ok && l > 0
}
