package tcp

import "time"

// Congestion control: RFC 5681's slow start and congestion avoidance with
// fast retransmit, and NewReno's fast recovery (RFC 6582). cwnd and
// ssthresh are in bytes; the window used to send is min(cwnd, the peer's
// window) less what is in flight (SND.NXT - SND.UNA).

// maxWindow caps cwnd and is ssthresh's initial "arbitrarily high" value
// (RFC 5681 3.1).
const maxWindow = 1 << 30

// initialWindow is RFC 5681's IW (3.1, equation 1): 2 to 4 segments
// depending on the MSS.
func initialWindow(mss int) int {
	switch {
	case mss > 2190:
		return 2 * mss
	case mss > 1095:
		return 3 * mss
	}
	return 4 * mss
}

// congestionAck updates the windows for an ACK of acked new bytes ending
// at ack, and reports whether the retransmission timer should restart
// (not for a partial ACK after the first, RFC 6582's "impatient"
// variant).
func (c *Conn) congestionAck(acked int, ack seq, now time.Time) bool {
	mss := c.sndMSS
	if c.inRecovery {
		if ack.gt(c.recover) {
			// Full ACK: leave fast recovery with
			// min(ssthresh, FlightSize + SMSS) (RFC 6582 3.2, step 3.1).
			c.cwnd = min(c.ssthresh, max(c.sndMax.sub(ack), mss)+mss)
			c.inRecovery, c.dupAcks, c.lossMarked = false, 0, false
			return true
		}
		c.s.c.PartialACKs++
		first := !c.partialSeen
		c.partialSeen = true
		if c.sackOK {
			// SACK recovery: the holes go as the scoreboard shows them
			// lost (output, sackRetransmit); the one the ACK stopped at
			// goes now unless it went already. cwnd stays at ssthresh.
			if !c.sndUna.lt(c.highRxt) {
				c.retransmitFirst(now)
				c.highRxt = c.sndUna.add(min(mss, c.sndMax.sub(c.sndUna)))
			}
			return first
		}
		// Partial ACK (step 3.2): retransmit the next hole, deflate the
		// window by what was acknowledged, add back one MSS if that was
		// at least one.
		c.retransmitFirst(now)
		c.cwnd = max(c.cwnd-acked, 0)
		if acked >= mss {
			c.cwnd += mss
		}
		c.cwnd = max(c.cwnd, mss)
		return first
	}
	c.dupAcks = 0
	if c.cwnd < c.ssthresh {
		c.cwnd += c.slowStartIncrease(acked)
	} else {
		// Congestion avoidance: one MSS per window of data acknowledged
		// (the byte-counting form of equation 3).
		c.caAcked += acked
		if c.caAcked >= c.cwnd {
			c.caAcked -= c.cwnd
			c.cwnd += mss
		}
	}
	c.cwnd = min(c.cwnd, maxWindow)
	return true
}

// slowStartIncrease is how much an ACK of acked new bytes opens cwnd in
// slow start (RFC 5681 3.1, equation 2: at most one SMSS per ACK).
//
// With segmentation offload a receiver, or a host coalescing what it
// receives (GRO), answers a segment of many MSS with one ACK, and one
// SMSS per ACK would grow cwnd by one MSS per offloaded segment: about
// one MSS per round trip while the window fits one such segment, a
// crawl. So, while offload is on, an ACK counts up to what one offloaded
// segment carries (maxSegmentData), as if each MSS of it had had its own
// ACK: cwnd doubles every round trip however the ACKs come. That is
// Linux's rule (tcp_slow_start adds every segment acknowledged), not RFC
// 3465's cautious L = 2 SMSS, which an ACK per 44 MSS would still hold
// to a crawl. What goes beyond one SMSS stops at ssthresh, as Linux caps
// slow start there: after a timeout, a cumulative ACK for everything the
// peer held during the go-back-N would otherwise open cwnd by up to a
// whole offloaded segment at once, far past the halved flight. Without
// offload the rule is RFC 5681's exactly.
func (c *Conn) slowStartIncrease(acked int) int {
	inc := min(acked, c.sndMSS)
	if limit := c.maxSegmentData(); limit > c.sndMSS {
		inc = max(inc, min(acked, limit, c.ssthresh-c.cwnd))
	}
	return inc
}

// dupAck handles a duplicate ACK: the third starts fast retransmit and
// fast recovery unless the ACK does not cover recover (RFC 6582 3.2, step
// 2: a loss already being repaired); in recovery each inflates cwnd by
// one MSS so new data keeps the ACK clock going.
func (c *Conn) dupAck(now time.Time) {
	c.dupAcks++
	mss := c.sndMSS
	switch {
	case c.inRecovery && c.sackOK:
		// SACK recovery: no inflation; pipe falls as the peer SACKs.
	case c.sackOK && c.sndUna.gt(c.recover) && (c.dupAcks >= DupACKThreshold || c.sackLossDetected()):
		c.sackEnterRecovery(now)
	case c.inRecovery:
		c.cwnd = min(c.cwnd+mss, maxWindow)
	case c.dupAcks == DupACKThreshold && c.sndUna.gt(c.recover):
		c.s.c.FastRetransmits++
		c.stats.FastRetransmits++
		c.ssthresh = max(c.sndMax.sub(c.sndUna)/2, 2*mss) // RFC 5681 equation 4
		c.recover = c.sndMax.add(-1)
		c.inRecovery, c.partialSeen = true, false
		c.rttTiming = false
		c.retransmitFirst(now)
		c.cwnd = c.ssthresh + DupACKThreshold*mss
	}
}

// congestionTimeout applies a retransmission timeout: ssthresh halves the
// flight (only for the first timeout of a series, RFC 5681 3.1), cwnd
// drops to one segment (the loss window), fast recovery ends and recover
// moves to the highest sequence number sent (RFC 6582 section 4).
func (c *Conn) congestionTimeout() {
	mss := c.sndMSS
	if c.retries == 1 {
		c.ssthresh = max(c.sndMax.sub(c.sndUna)/2, 2*mss)
	}
	c.cwnd, c.caAcked, c.dupAcks = mss, 0, 0
	c.inRecovery = false
	c.recover = c.sndMax.add(-1)
	if c.retries > 1 {
		// Timed out again: the peer may have dropped what it SACKed
		// without saying so; send everything.
		c.sb.reset()
	}
}
