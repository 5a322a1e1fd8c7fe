package tcp

import "fmt"

// checkInvariants verifies what must hold between any two calls into the
// engine; the tests and fuzz targets call it after every step (through
// export_test.go). It returns the first violation.
func (s *Stack) checkInvariants() error {
	if got, want := s.c.terminal(), s.c.RxSegments; got != want {
		return fmt.Errorf("terminal counters sum to %d, RxSegments is %d:\n%v", got, want, s.c)
	}
	if len(s.conns) != len(s.list) {
		return fmt.Errorf("%d connections in the map, %d in the list", len(s.conns), len(s.list))
	}
	syn := map[*Listener]int{}
	for i, c := range s.list {
		if s.conns[c.id] != c || c.index != i {
			return fmt.Errorf("%v: table entry inconsistent", c.id)
		}
		if c.state == Closed || c.state == Listen {
			return fmt.Errorf("%v: %v in the table", c.id, c.state)
		}
		if c.listener != nil && !c.queued {
			syn[c.listener]++
		}
		if err := c.checkInvariants(); err != nil {
			return fmt.Errorf("%v %v: %w", c.id, c.state, err)
		}
	}
	for _, l := range s.listeners {
		if l.syn != syn[l] || l.syn < 0 || l.syn > s.cfg.SynBacklog {
			return fmt.Errorf("listener %v: %d half-open counted, %d found", l.local, l.syn, syn[l])
		}
		if len(l.queue) > l.backlog {
			return fmt.Errorf("listener %v: %d queued, backlog %d", l.local, len(l.queue), l.backlog)
		}
	}
	return nil
}

// checkInvariants verifies one connection's variables.
func (c *Conn) checkInvariants() error {
	cfg := c.s.cfg
	switch {
	case c.sndUna.gt(c.sndNxt) || c.sndNxt.gt(c.sndMax):
		return fmt.Errorf("snd.una %d, snd.nxt %d, snd.max %d out of order", c.sndUna, c.sndNxt, c.sndMax)
	case c.sndBuf.len() < 0 || c.sndBuf.len() > c.sndBuf.limit || len(c.sndBuf.r.b) > c.sndBuf.limit || c.sndBuf.owned > maxOwnedParts:
		return fmt.Errorf("send buffer %d of %d (storage %d, owned pieces %d)", c.sndBuf.len(), c.sndBuf.limit, len(c.sndBuf.r.b), c.sndBuf.owned)
	case c.rcvBuf.len() < 0 || c.rcvBuf.len() > c.rcvBuf.limit || len(c.rcvBuf.b) > c.rcvBuf.limit:
		return fmt.Errorf("receive buffer %d of %d (storage %d)", c.rcvBuf.len(), c.rcvBuf.limit, len(c.rcvBuf.b))
	case c.synAcked && c.sndMax.sub(c.sndUna) > c.dataEnd().sub(c.sndUna)+1:
		return fmt.Errorf("%d in flight, more than the data and FIN", c.sndMax.sub(c.sndUna))
	case c.synAcked && c.sndBufSeq.gt(c.sndUna):
		return fmt.Errorf("send buffer starts at %d, after snd.una %d", c.sndBufSeq, c.sndUna)
	case !c.userClosed && c.err == nil && c.rcvAdv.sub(c.rcvNxt) > c.rcvBuf.free():
		return fmt.Errorf("window edge %d past the buffer (rcv.nxt %d, free %d)", c.rcvAdv, c.rcvNxt, c.rcvBuf.free())
	case c.asm.n > 0 && c.rcvBuf.len()+c.asm.s[c.asm.n-1].end > c.rcvBuf.limit:
		return fmt.Errorf("out-of-order data ends past the buffer")
	case c.cwnd < c.sndMSS || c.cwnd > maxWindow:
		return fmt.Errorf("cwnd %d (mss %d)", c.cwnd, c.sndMSS)
	case c.ssthresh < 2*c.sndMSS && c.ssthresh < maxWindow:
		return fmt.Errorf("ssthresh %d below 2 MSS", c.ssthresh)
	case c.rto < min(cfg.MinRTO, cfg.InitialRTO) || c.rto > cfg.MaxRTO:
		return fmt.Errorf("rto %v outside [%v, %v]", c.rto, cfg.MinRTO, cfg.MaxRTO)
	case c.sndMSS < MinMSS || c.sndMSS > cfg.MTU-40:
		return fmt.Errorf("send MSS %d", c.sndMSS)
	case c.state == TimeWait && c.closeAt.IsZero():
		return fmt.Errorf("TIME-WAIT without its timer")
	case c.state != TimeWait && c.deadline().IsZero() && c.synAcked && c.sndMax != c.sndUna:
		return fmt.Errorf("data in flight and no timer")
	case c.state != TimeWait && c.deadline().IsZero() && c.synAcked && c.canSend() && c.pending():
		return fmt.Errorf("data waiting and no timer")
	}
	return c.sb.check(c.sndMax.sub(c.sndUna))
}

// check verifies the scoreboard: runs sorted, apart, non-empty, past
// SND.UNA (offset 0) and within the flight.
func (b *scoreboard) check(flight int) error {
	prev := 0
	for i, r := range b.s[:b.n] {
		if r.start <= prev || r.end <= r.start || r.end > flight {
			return fmt.Errorf("scoreboard run %d [%d, %d) past SND.UNA (flight %d, previous end %d)", i, r.start, r.end, flight, prev)
		}
		prev = r.end
	}
	return nil
}
