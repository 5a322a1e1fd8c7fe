package tcp

import (
	"time"
)

// A connection's timers are times in its TCB (zero when off); the stack's
// NextDeadline is their minimum and Tick runs those due:
//
//	rtoAt      retransmission (RFC 6298): SYN, SYN-ACK, data and FIN
//	persistAt  zero-window probes (RFC 9293 3.8.6.1), and the sender-side
//	           silly-window override
//	delackAt   the delayed ACK (RFC 9293 3.8.6.3)
//	keepAt     keep-alive (RFC 9293 3.8.4)
//	closeAt    the end of TIME-WAIT (2*MSL), or of FIN-WAIT-2 for a
//	           connection its user closed
//	ptoAt      the tail loss probe (RFC 8985 7), before the RTO

// clockGranularity is RFC 6298's G: the engine's clock is a time.Time,
// but a millisecond keeps a zero-variance RTO above the RTT.
const clockGranularity = time.Millisecond

// deadline returns the earliest running timer, or the zero time.
func (c *Conn) deadline() time.Time {
	return earliest(earliest(earliest(c.rtoAt, c.persistAt), earliest(c.delackAt, c.keepAt)), earliest(c.closeAt, c.ptoAt))
}

// due reports whether timer t runs and has expired at now.
func due(t, now time.Time) bool { return !t.IsZero() && !t.After(now) }

// timers runs c's expired timers.
func (c *Conn) timers(now time.Time) {
	if due(c.closeAt, now) {
		if c.state == TimeWait {
			c.s.c.TimeWaitExpired++
		} else {
			c.s.c.FinWait2Timeouts++
		}
		c.destroy()
		return
	}
	if due(c.rtoAt, now) {
		c.rtoAt = time.Time{}
		c.retransmitTimeout(now)
	}
	if c.state != Closed && due(c.ptoAt, now) {
		c.ptoAt = time.Time{}
		c.probeTimeout(now)
	}
	if c.state != Closed && due(c.persistAt, now) {
		c.persistAt = time.Time{}
		c.persistTimeout(now)
	}
	if c.state != Closed && due(c.delackAt, now) {
		c.s.c.TxDelayedACKs++
		c.sendACK()
	}
	if c.state != Closed && due(c.keepAt, now) {
		c.keepAt = time.Time{}
		c.keepAliveTimeout(now)
	}
}

// rttSample folds a round-trip measurement into SRTT and RTTVAR and
// recomputes the RTO (RFC 6298 2.2, 2.3), bounded by MinRTO and MaxRTO.
func (c *Conn) rttSample(r time.Duration) {
	r = max(r, 0)
	if !c.hasRTT {
		c.srtt, c.rttvar, c.hasRTT = r, r/2, true
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = min(max(c.srtt+max(clockGranularity, 4*c.rttvar), c.s.cfg.MinRTO), c.s.cfg.MaxRTO)
}

// backoff doubles the RTO (RFC 6298 5.5), up to MaxRTO.
func (c *Conn) backoff() { c.rto = min(2*c.rto, c.s.cfg.MaxRTO) }

// timedOut ends a connection whose retransmissions or probes went
// unanswered, with the last ICMP soft error if one came (RFC 1122
// 4.2.3.9), else ErrTimedOut.
func (c *Conn) timedOut() {
	c.s.c.ConnTimeouts++
	err := c.softErr
	if err == nil {
		err = ErrTimedOut
	}
	c.fail(err)
}

// retransmitTimeout is the retransmission timer's expiry (RFC 6298 5.4 to
// 5.6): the SYN or SYN-ACK is sent again, or the first unacknowledged
// segment with congestion control restarting from one segment (RFC 5681
// 3.1) and the rest resent as ACKs come back (go-back-N); the RTO
// doubles. Too many in a row end the connection.
func (c *Conn) retransmitTimeout(now time.Time) {
	c.s.c.Timeouts++
	c.stats.Timeouts++
	if !c.synAcked {
		limit := c.s.cfg.SynRetries
		if c.passive {
			limit = c.s.cfg.SynAckRetries
		}
		switch {
		case c.retries < limit:
			c.retries++
			c.backoff()
			c.sendSYN(now)
		case c.passive:
			c.s.c.SynAckTimeouts++
			c.destroy()
		default:
			c.timedOut()
		}
		return
	}
	if c.sndMax == c.sndUna || c.persisting {
		return
	}
	if c.retries >= c.s.cfg.MaxRetries {
		c.timedOut()
		return
	}
	c.retries++
	c.ptoAt, c.tlpOut, c.lossMarked = time.Time{}, false, false
	c.congestionTimeout()
	c.backoff()
	c.rttTiming = false
	c.sndNxt = c.sndUna
	c.retransmitFirst(now)
	c.rtoAt = now.Add(c.rto)
}

// persistInterval is the wait before the next zero-window probe: the RTO
// doubled persistShift times, up to MaxRTO.
func (c *Conn) persistInterval() time.Duration {
	return min(c.rto<<min(c.persistShift, 16), c.s.cfg.MaxRTO)
}

// persistTimeout runs when data (or the FIN) waits with nothing in flight.
// If the window is open but too small for Nagle and silly-window
// avoidance, what fits goes now (RFC 9293 3.8.6.2.1's override). If it
// is closed, one octet (or the FIN) past it probes the window (RFC 9293
// 3.8.6.1), again and again with backoff; the receiver's ACK says whether
// it opened. The connection fails only if MaxRetries probes in a row get
// no answer at all (an ACK, even with a zero window, resets the count).
func (c *Conn) persistTimeout(now time.Time) {
	if !c.synAcked || !c.canSend() || (!c.persisting && (!c.pending() || c.sndMax != c.sndUna)) {
		c.persisting = false
		return
	}
	end := c.dataEnd()
	if win := c.sndUna.add(c.sndWnd).sub(c.sndNxt); !c.persisting && win > 0 {
		unsent := max(end.sub(c.sndNxt), 0)
		n := min(win, unsent, c.sndMSS)
		c.sendSegment(c.sndNxt, n, c.finQueued && n == unsent && win > n, now)
		return
	}
	if c.probes >= c.s.cfg.MaxRetries {
		c.timedOut()
		return
	}
	c.probes++
	c.s.c.TxWindowProbes++
	c.persisting = true
	n := min(1, max(end.sub(c.sndUna), 0))
	c.sendSegment(c.sndUna, n, n == 0, now)
	c.rtoAt, c.ptoAt = time.Time{}, time.Time{}
	c.persistShift++
	c.persistAt = now.Add(c.persistInterval())
}

// endPersist leaves the persist state once the window opens or the probe
// is acknowledged. An octet sent as a probe and not acknowledged goes
// again at once as ordinary data.
func (c *Conn) endPersist(now time.Time) {
	c.persisting = false
	c.persistAt = time.Time{}
	c.persistShift = 0
	if c.sndMax != c.sndUna {
		c.sndNxt = c.sndUna
		c.rtoAt = now.Add(c.rto)
	}
}

// keepAliveTimeout sends a keep-alive probe — an ACK at SND.UNA-1, which
// the peer must answer (RFC 1122 4.2.3.6) — once the connection has been
// idle for KeepAliveIdle, then every KeepAliveInterval; after
// KeepAliveProbes unanswered ones the connection is reset with
// ErrTimedOut (as Linux does).
func (c *Conn) keepAliveTimeout(now time.Time) {
	switch c.state {
	case Established, CloseWait, FinWait2:
	default:
		return
	}
	if !c.keepAlive {
		return
	}
	if c.sndMax != c.sndUna || c.pending() {
		c.keepAt = now.Add(c.s.cfg.KeepAliveIdle) // retransmission and persist watch the peer
		return
	}
	if c.keepProbes >= c.s.cfg.KeepAliveProbes {
		c.s.c.KeepAliveTimeouts++
		c.s.sendReset(c.id, c.sndNxt, c.rcvNxt, true)
		c.fail(ErrTimedOut)
		return
	}
	c.keepProbes++
	c.s.c.TxKeepAlives++
	r := c.header(c.sndUna.add(-1), 0)
	c.s.transmit(c.id, r, c.s.tx[:r.HeaderLen()])
	c.sentACK()
	c.keepAt = now.Add(c.s.cfg.KeepAliveInterval)
}
