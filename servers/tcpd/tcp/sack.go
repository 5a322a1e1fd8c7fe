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

// maxSACKRanges bounds the scoreboard's separate runs; a block that would
// need one more is ignored (SACKIgnored): the data it covers is
// retransmitted as if it were not held.
const maxSACKRanges = 32

// seqRange is a run of sequence space [start, end).
type seqRange struct{ start, end seq }

// scoreboard is the runs of our data the peer reported holding, past
// SND.UNA: sorted, disjoint, not touching.
type scoreboard struct {
	r [maxSACKRanges]seqRange
	n int
}

// add records [start, end), merging the runs it overlaps or touches. It
// reports whether any byte was new, and ok false when it needed one run
// too many (nothing recorded).
func (b *scoreboard) add(start, end seq) (grew, ok bool) {
	fresh := end.sub(start) - b.heldIn(start, end)
	var out [maxSACKRanges + 1]seqRange
	m, placed := 0, false
	for _, r := range b.r[:b.n] {
		switch {
		case r.end.lt(start):
			out[m] = r
			m++
		case end.lt(r.start):
			if !placed {
				out[m] = seqRange{start, end}
				m, placed = m+1, true
			}
			out[m] = r
			m++
		default: // overlapping or touching: absorb r
			start, end = minSeq(start, r.start), maxSeq(end, r.end)
		}
	}
	if !placed {
		out[m] = seqRange{start, end}
		m++
	}
	if m > maxSACKRanges {
		return false, false
	}
	b.n = copy(b.r[:], out[:m])
	return fresh > 0, true
}

// trim forgets what lies below una (acknowledged cumulatively).
func (b *scoreboard) trim(una seq) {
	i := 0
	for i < b.n && !b.r[i].end.gt(una) {
		i++
	}
	b.n = copy(b.r[:], b.r[i:b.n])
	if b.n > 0 && b.r[0].start.lt(una) {
		b.r[0].start = una
	}
}

// holding returns the end of the run holding s, or false.
func (b *scoreboard) holding(s seq) (seq, bool) {
	for _, r := range b.r[:b.n] {
		if r.start.le(s) && s.lt(r.end) {
			return r.end, true
		}
		if s.lt(r.start) {
			break
		}
	}
	return 0, false
}

// nextAfter returns the start of the first run beginning after s, or
// false.
func (b *scoreboard) nextAfter(s seq) (seq, bool) {
	for _, r := range b.r[:b.n] {
		if r.start.gt(s) {
			return r.start, true
		}
	}
	return 0, false
}

// heldIn returns how many bytes of [from, to) the peer holds.
func (b *scoreboard) heldIn(from, to seq) int {
	n := 0
	for _, r := range b.r[:b.n] {
		lo, hi := maxSeq(r.start, from), minSeq(r.end, to)
		if lo.lt(hi) {
			n += hi.sub(lo)
		}
	}
	return n
}

// lostBelow returns the point below which every byte the peer does not
// hold counts as lost (RFC 6675 IsLost: more than DupThresh-1 segments'
// worth of bytes held above it), or false when nothing is.
func (b *scoreboard) lostBelow(mss int) (seq, bool) {
	above := 0
	for i := b.n - 1; i >= 0; i-- {
		above += b.r[i].end.sub(b.r[i].start)
		if above > (DupACKThreshold-1)*mss {
			return b.r[i].start, true
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
		g, ok := c.sb.add(l, r)
		if !ok {
			c.s.c.SACKIgnored++
		}
		grew = grew || g
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

// sackReneged reports whether the cumulative ACK stopped at or inside
// data the peer said it held: it dropped what it had SACKed (RFC 2018
// section 8 allows it). The scoreboard is cleared; the data is sent
// again.
func (c *Conn) sackReneged() bool {
	if c.sb.n == 0 || c.sb.r[0].start.gt(c.sndUna) {
		return false
	}
	c.s.c.SACKReneging++
	c.sb.n = 0
	return true
}

// pipe estimates the bytes in the network in SACK recovery (RFC 6675
// SetPipe): each byte between SND.UNA and SND.MAX the peer does not hold
// counts once if it is not lost, and once more if it was retransmitted.
func (c *Conn) pipe() int {
	notHeld := c.sndMax.sub(c.sndUna) - c.sb.heldIn(c.sndUna, c.sndMax)
	if l, ok := c.lostPoint(); ok {
		notHeld -= l.sub(c.sndUna) - c.sb.heldIn(c.sndUna, l)
	}
	if c.highRxt.gt(c.sndUna) {
		notHeld += c.highRxt.sub(c.sndUna) - c.sb.heldIn(c.sndUna, c.highRxt)
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
		s := maxSeq(c.highRxt, c.sndUna)
		if end, held := c.sb.holding(s); held {
			s = end
		}
		if !s.lt(lost) || !s.lt(c.sndMax) {
			break
		}
		n := min(c.sndMSS, lost.sub(s))
		if next, ok := c.sb.nextAfter(s); ok {
			n = min(n, next.sub(s))
		}
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

// lostPoint returns the point below which every byte the peer does not
// hold counts as lost: by the SACKed bytes above it (IsLost), or as a
// tail loss probe's SACK showed (tlp.go), whichever is higher.
func (c *Conn) lostPoint() (seq, bool) {
	l, ok := c.sb.lostBelow(c.sndMSS)
	if c.lossMarked && c.lossMark.gt(c.sndUna) && (!ok || c.lossMark.gt(l)) {
		return c.lossMark, true
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
	return ok && c.sndUna.lt(l)
}
