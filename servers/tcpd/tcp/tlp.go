package tcp

import "time"

// Tail loss probes (RFC 8985 section 7), on connections with SACK. When
// the last segments of a flight are lost no duplicate ACK comes back, and
// without a probe only the retransmission timeout (1 s at least) repairs
// them. The probe timer (PTO, about two round trips) fires first: one
// segment goes (new data if the windows allow, else the last segment
// sent again), and its ACK either covers the flight (the tail is
// repaired) or SACKs the probe, which shows that everything below it not
// SACKed was lost: it was sent more than a PTO before data that arrived
// (RACK's rule, RFC 8985 6.2), and SACK recovery repairs it.

// Bounds of the probe timeout (RFC 8985 7.2; Linux's floor).
const (
	MinPTO    = 10 * time.Millisecond
	noRTTPTO  = time.Second // no round trip measured yet
	tlpFactor = 2           // PTO = 2 SRTT
)

// armPTO starts the probe timer for the flight now outstanding, when a
// probe may go: SACK on, data (or our FIN) in flight, not in recovery
// (fast recovery, or the go-back after a timeout until its ACKs pass the
// point it started from), no probe out already, and earlier than the RTO
// would fire.
func (c *Conn) armPTO(now time.Time) {
	c.ptoAt = time.Time{}
	if !c.sackOK || c.inRecovery || c.tlpOut || c.retries > 0 || c.persisting || c.sndMax == c.sndUna ||
		c.sndNxt != c.sndMax || !c.sndUna.gt(c.recover) {
		return
	}
	switch c.state {
	case Established, CloseWait, FinWait1, Closing, LastAck:
	default:
		return
	}
	pto := noRTTPTO
	if c.hasRTT {
		pto = tlpFactor * c.srtt
		if c.sndMax.sub(c.sndUna) <= c.sndMSS {
			pto += c.s.cfg.DelayedACK // one segment out: its ACK may be delayed
		}
		pto = max(pto, MinPTO)
	}
	if at := now.Add(pto); c.rtoAt.IsZero() || at.Before(c.rtoAt) {
		c.ptoAt = at
	}
}

// probeTimeout sends the tail loss probe and leaves the rest to the RTO,
// restarted (RFC 8985 7.3).
func (c *Conn) probeTimeout(now time.Time) {
	if !c.sackOK || c.inRecovery || c.tlpOut || c.sndMax == c.sndUna || c.persisting || c.sndNxt != c.sndMax {
		return
	}
	end := c.dataEnd()
	win := c.sndUna.add(c.sndWnd).sub(c.sndNxt)
	if unsent := max(end.sub(c.sndNxt), 0); unsent > 0 && win > 0 {
		n := min(unsent, win, c.sndMSS)
		c.tlpOut, c.tlpSeq, c.tlpEnd = true, c.sndNxt, c.sndNxt.add(n)
		c.sendSegment(c.sndNxt, n, c.finQueued && n == unsent && win > n, now)
	} else {
		// The last segment again (with our FIN if that went last), or,
		// when the peer SACKed the top, the last one below it it lacks.
		finSent := c.finQueued && c.sndMax.gt(end)
		top := c.sndMax
		if finSent {
			top = end
		} else if n := c.sb.n; n > 0 && c.sndUna.add(c.sb.s[n-1].end) == top {
			top = c.sndUna.add(c.sb.s[n-1].start)
		}
		s := maxSeq(c.sndUna, top.add(-c.sndMSS))
		if top.sub(s) == 0 && !finSent {
			return
		}
		c.tlpOut, c.tlpSeq, c.tlpEnd = true, s, top
		c.sendSegment(s, top.sub(s), finSent, now)
	}
	c.s.c.TxTailProbes++
	c.tlpHigh = c.sndMax
	c.rtoAt = now.Add(c.rto)
}

// probeAnswered looks at an ACK while a probe is out: one covering the
// flight the probe ended ends it; one that SACKs the probe's bytes while
// bytes below them are missing shows those lost, and starts SACK recovery
// for them. (A SACK of other data, an ACK of the first flight late or
// reordered, shows nothing: what it SACKs went with what is missing.)
func (c *Conn) probeAnswered(sacked bool, now time.Time) {
	if !c.tlpOut {
		return
	}
	switch {
	case !c.sndUna.lt(c.tlpHigh):
		c.tlpOut = false
		c.armPTO(now) // for what went after the probe
	case sacked && !c.inRecovery && c.sndUna.gt(c.recover) && c.tlpSeq.gt(c.sndUna) && c.sb.heldIn(c.tlpSeq.sub(c.sndUna), c.tlpEnd.sub(c.sndUna)) > 0:
		c.tlpOut = false
		c.lossMark, c.lossMarked = c.tlpSeq, true
		c.s.c.TailProbeRecoveries++
		c.sackEnterRecovery(now)
	}
}
