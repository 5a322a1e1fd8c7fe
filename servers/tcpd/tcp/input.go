package tcp

import (
	"time"

	"armos/servers/tcpd/tcp/wire"
)

// Segment arrival for a connection, in the order of RFC 9293 3.10.7.4:
// sequence number check, RST, SYN, ACK, then text and FIN. RFC 5961's
// defences are applied: a RST must hit RCV.NXT exactly, a SYN in a
// synchronized state is never believed, and an ACK must fall within the
// window the peer could have seen; otherwise a challenge ACK answers.

// input processes seg for c and returns its verdict. The caller runs
// output afterwards.
func (c *Conn) input(seg wire.Segment) verdict {
	now := c.s.clock.Now()
	c.stats.RxSegments++
	if c.state == SynSent {
		return c.synSentInput(seg, now)
	}
	flags := seg.Flags()
	sq := seq(seg.Seq())
	if c.state == TimeWait {
		if v, done := c.timeWaitInput(seg, now); done {
			return v
		}
	}
	// The peer's SYN again: our SYN-ACK was lost. Send it again now
	// rather than wait for our timer (as Linux does).
	if c.state == SynReceived && flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN && sq == c.irs {
		c.sendSYN(now)
		return vSynRetransmit
	}

	// Simultaneous open (RFC 9293 figure 8, line 6): the peer's SYN-ACK
	// repeats the SYN we have; its ACK completes the handshake. Read
	// literally, the sequence check below would drop it; Linux lets it
	// through, and so does tcpd.
	if !c.synAcked && !c.passive && flags&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN|wire.FlagACK && sq == c.irs {
		c.peerAlive(now)
		if v, ok := c.ackArrived(seg, sq.add(1), now); !ok {
			return v
		}
		return c.textArrived(seg, sq.add(1))
	}

	// Timestamps: PAWS before the window check (RFC 7323 5.3).
	var tsVal uint32
	hasTS, stale := false, false
	if c.tsOK {
		if tsVal, _, hasTS = seg.Timestamps(); hasTS {
			stale = now.Sub(c.tsRecentAt) > pawsIdle
			if flags&wire.FlagRST == 0 && !stale && int32(tsVal-c.tsRecent) < 0 {
				c.invalidACK(seg, now)
				return vPAWS
			}
		}
	}

	// First: is the segment in the window?
	if !c.acceptable(sq, seg.SeqLen()) {
		if flags&wire.FlagRST == 0 {
			c.invalidACK(seg, now)
		}
		return vOutOfWindow
	}
	c.peerAlive(now)
	// TS.Recent follows the segments that reach the left edge of the
	// window (RFC 7323 4.3), once the segment is known good: after its
	// ACK is checked, never from a RST or a SYN (as Linux does).
	updateTS := hasTS && !sq.gt(c.lastAckSent) && (stale || int32(tsVal-c.tsRecent) >= 0)

	// Second: RST (RFC 5961 3.2: only at exactly RCV.NXT).
	if flags&wire.FlagRST != 0 {
		if sq != c.rcvNxt {
			c.challengeACK(now)
			return vChallenged
		}
		return c.resetArrived()
	}

	// Fourth: SYN. A passive half-open connection goes back to LISTEN
	// (RFC 9293); elsewhere the SYN is answered with a challenge ACK (RFC
	// 5961 4.2).
	if flags&wire.FlagSYN != 0 {
		if c.state == SynReceived && c.passive {
			c.destroy()
			return vReset
		}
		c.challengeACK(now)
		return vChallenged
	}

	// Fifth: ACK.
	if flags&wire.FlagACK == 0 {
		return vNoACK
	}
	if v, ok := c.ackArrived(seg, sq, now); !ok {
		return v
	}
	if updateTS {
		c.tsRecent, c.tsRecentAt = tsVal, now
	}
	if c.state == Closed {
		return vAccepted // LAST-ACK ended
	}

	// Seventh and eighth: text and FIN.
	return c.textArrived(seg, sq)
}

// acceptable is RFC 9293's test of a segment's sequence number against
// the receive window, with the allowance the RFC asks for: a segment at
// RCV.NXT is processed (its ACK, RST) even when the window is zero — its
// text is trimmed away. That is how zero-window probes get their answer.
// An empty segment is also accepted at the window's right edge, as
// Linux's tcp_sequence does: a peer that has sent everything our window
// allows (data lost, or held out of order behind a hole) sends its pure
// ACKs from there, and dropping them stalled our own sending — its
// acknowledgements of our data never counted, both send buffers filled,
// and the connection timed out (seen against Linux on a lossy, reordering
// link in TestRealPeerTCP).
func (c *Conn) acceptable(sq seq, segLen int) bool {
	wnd := c.rcvWnd()
	switch {
	case wnd == 0:
		return sq == c.rcvNxt
	case segLen == 0:
		return sq.in(c.rcvNxt, wnd+1)
	default:
		return sq.in(c.rcvNxt, wnd) || sq.add(segLen-1).in(c.rcvNxt, wnd)
	}
}

// rcvWnd returns the receive window as last advertised.
func (c *Conn) rcvWnd() int { return max(0, c.rcvAdv.sub(c.rcvNxt)) }

// timeWaitInput handles what TIME-WAIT treats specially: a RST is ignored
// (RFC 1337), the peer's FIN again is acknowledged and restarts the 2*MSL
// wait, and a new SYN above the old connection's sequence numbers may
// start a new incarnation if a listener wants it (RFC 1122 4.2.2.13).
func (c *Conn) timeWaitInput(seg wire.Segment, now time.Time) (verdict, bool) {
	flags := seg.Flags()
	sq := seq(seg.Seq())
	switch {
	case flags&wire.FlagRST != 0:
		return vTimeWaitRST, true
	case flags&(wire.FlagSYN|wire.FlagACK) == wire.FlagSYN && sq.gt(c.rcvNxt) &&
		c.s.listenerFor(c.id.local.Addr(), c.id.local.Port()) != nil:
		c.s.c.TimeWaitReopened++
		c.destroy()
		return vRedispatch, true
	case flags&wire.FlagFIN != 0 && sq.add(seg.SeqLen()) == c.rcvNxt:
		c.closeAt = now.Add(c.s.cfg.TimeWait)
		c.sendACK()
		return vAccepted, true
	}
	return 0, false
}

// peerAlive notes that the peer answered: keep-alive starts over.
func (c *Conn) peerAlive(now time.Time) {
	c.keepProbes = 0
	if c.keepAlive && c.state.synchronized() {
		c.keepAt = now.Add(c.s.cfg.KeepAliveIdle)
	}
}

// resetArrived handles an acceptable RST (RFC 9293 3.10.7.4, second).
func (c *Conn) resetArrived() verdict {
	switch c.state {
	case SynReceived:
		if c.passive {
			c.destroy() // back to LISTEN: the listener never saw it
			return vReset
		}
		c.fail(ErrConnRefused)
	case Established, CloseWait:
		c.s.c.EstabResets++
		c.fail(ErrConnReset)
	case FinWait1, FinWait2:
		c.fail(ErrConnReset)
	default: // CLOSING, LAST-ACK: both sides were done sending
		c.destroy()
	}
	return vReset
}

// synSentInput handles a segment in SYN-SENT (RFC 9293 3.10.7.3).
func (c *Conn) synSentInput(seg wire.Segment, now time.Time) verdict {
	flags := seg.Flags()
	ack := seq(seg.Ack())
	hasACK := flags&wire.FlagACK != 0
	if hasACK && (ack.le(c.iss) || ack.gt(c.sndMax)) {
		if flags&wire.FlagRST == 0 {
			c.s.sendReset(c.id, ack, 0, false)
		}
		return vSynSentDrop
	}
	if flags&wire.FlagRST != 0 {
		if !hasACK {
			return vSynSentDrop
		}
		c.fail(ErrConnRefused)
		return vReset
	}
	if flags&wire.FlagSYN == 0 {
		return vSynSentDrop
	}
	c.peerAlive(now)
	c.irs = seq(seg.Seq())
	c.rcvNxt = c.irs.add(1)
	c.rcvAdv = c.rcvNxt.add(c.synWindow)
	c.negotiate(seg.Options())
	c.sndWnd = int(seg.Window()) // never scaled in a SYN (RFC 7323 2.2)
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = c.irs, ack
	if !hasACK {
		// Simultaneous open: answer with SYN-ACK from SYN-RECEIVED.
		c.setState(SynReceived)
		c.sendSYN(now)
		return vAccepted
	}
	c.ackedSYN(ack, now)
	c.establish(now)
	c.ackNow = true
	// Data or FIN riding on the SYN-ACK is processed like any text.
	return c.textArrived(seg, c.irs.add(1))
}

// ackedSYN records the ACK of our SYN: SND.UNA moves past it, and its
// round trip is measured unless it was retransmitted.
func (c *Conn) ackedSYN(ack seq, now time.Time) {
	c.synAcked = true
	c.sndUna = ack
	c.sndNxt = maxSeq(c.sndNxt, ack)
	if c.rttTiming {
		c.rttSample(now.Sub(c.rttStart))
		c.rttTiming = false
	}
	c.rtoAt = time.Time{}
}

// establish enters ESTABLISHED (or FIN-WAIT-1 if the user already closed
// our direction) once both SYNs are acknowledged.
func (c *Conn) establish(now time.Time) {
	switch {
	case c.state == SynSent && c.finQueued, c.state == FinWait1:
		c.setState(FinWait1)
	default:
		c.setState(Established)
	}
	// RFC 5681 3.1: one segment after a lost SYN; RFC 6298 5.7: an RTO
	// of 3 s once data flows if the SYN timed out and nothing was
	// measured.
	c.cwnd = initialWindow(c.sndMSS)
	if c.synRetransmitted {
		c.cwnd = c.sndMSS
		if !c.hasRTT && c.rto < 3*time.Second {
			c.rto = 3 * time.Second
		}
	}
	c.retries = 0
	c.recover = c.iss
	if c.keepAlive {
		c.keepAt = now.Add(c.s.cfg.KeepAliveIdle)
	}
	if l := c.listener; l != nil {
		c.queued = true
		l.syn--
		l.queue = append(l.queue, c)
		c.s.c.PassiveOpens++
		c.s.wake(&l.notify)
	}
}

// negotiate applies the options of the peer's SYN: the send MSS (536
// without the option, RFC 9293 3.7.1) and window scaling, used only if
// both SYNs carry it (RFC 7323 2.2). Ours always offers it in a SYN, and
// in a SYN-ACK when the peer's SYN did.
func (c *Conn) negotiate(o wire.Options) {
	mss := int(o.MSS)
	if mss == 0 {
		mss = DefaultMSS
	}
	c.sackOK = o.SACKPermitted && !c.s.cfg.NoSACK
	c.tsOK = o.HasTimestamps && !c.s.cfg.NoTimestamps
	if c.tsOK {
		c.tsRecent, c.tsRecentAt = o.TSVal, c.s.clock.Now()
	}
	// The MSS counts no options (RFC 6691): every segment's timestamps
	// come out of it.
	c.sndMSS = max(min(mss, c.s.cfg.MTU-40)-c.optionsLen(), MinMSS)
	c.wscale = o.HasWindowScale
	if c.wscale {
		c.sndShift = min(o.WindowScale, wire.MaxWindowScale)
	} else {
		c.sndShift, c.rcvShift = 0, 0
	}
}

// optionsLen is the length of the options on every segment after the
// SYNs: the timestamps (12 bytes with their padding) or none.
func (c *Conn) optionsLen() int {
	if c.tsOK {
		return tsOptionLen
	}
	return 0
}

// tsOptionLen is the timestamps option as sent after the SYN: NOP, NOP,
// kind, length and two 4-byte values.
const tsOptionLen = 12

// pawsIdle is how long TS.Recent stays valid without being updated (RFC
// 7323 5.5: 24 days; the peer's clock may have wrapped a sign since): the
// PAWS test (5.3: a timestamp older than TS.Recent is an old duplicate's)
// is skipped, and the next good segment at the left edge sets it.
const pawsIdle = 24 * 24 * time.Hour

// ackArrived is the fifth step: it returns false (and the verdict) when
// the segment must be dropped.
func (c *Conn) ackArrived(seg wire.Segment, sq seq, now time.Time) (verdict, bool) {
	ack := seq(seg.Ack())
	if !c.synAcked {
		if !ack.gt(c.sndUna) || ack.gt(c.sndMax) {
			c.s.sendReset(c.id, ack, 0, false)
			return vBadACK, false
		}
		if l := c.listener; l != nil && len(l.queue) >= l.backlog {
			return vAcceptQueueFull, false // the peer will retransmit its ACK
		}
		c.ackedSYN(ack, now)
		c.establish(now)
	}
	if ack.gt(c.sndMax) || ack.lt(c.sndUna.add(-c.maxSndWnd)) {
		c.invalidACK(seg, now) // RFC 5961 5.2
		return vBadACK, false
	}
	wnd := int(seg.Window()) << c.sndShift
	// An ACK that SACKs new data counts as a duplicate whatever its
	// window (RFC 6675 section 2).
	sacked := c.sackOK && c.sackArrived(seg)
	switch {
	case ack.gt(c.sndUna):
		c.newAck(ack, seg, now)
		if sacked && !c.inRecovery && c.sndUna.gt(c.recover) && c.sackLossDetected() {
			c.sackEnterRecovery(now)
		}
	case ack == c.sndUna && c.sndMax != c.sndUna && !c.persisting && (sacked ||
		len(seg.Payload()) == 0 && seg.Flags()&(wire.FlagSYN|wire.FlagFIN) == 0 && wnd == c.sndWnd):
		c.s.c.RxDupACKs++
		c.dupAck(now)
	}
	c.probeAnswered(sacked, now)
	if c.sndWl1.lt(sq) || (c.sndWl1 == sq && c.sndWl2.le(ack)) {
		c.sndWnd, c.sndWl1, c.sndWl2 = wnd, sq, ack
		c.maxSndWnd = max(c.maxSndWnd, wnd)
	}
	if c.persisting && (c.sndWnd > 0 || c.sndUna == c.sndMax) {
		c.endPersist(now)
	}
	c.probes = 0
	if c.finAcked() {
		switch c.state {
		case FinWait1:
			c.setState(FinWait2)
			if c.userClosed {
				c.closeAt = now.Add(c.s.cfg.FinWait2Timeout)
			}
		case Closing:
			c.enterTimeWait(now)
		case LastAck:
			c.destroy()
		}
	}
	return 0, true
}

// newAck handles an ACK of new data (or of our FIN): the send buffer
// gives the bytes back, RTT is sampled, the congestion window grows, and
// the retransmission timer restarts or stops (RFC 6298 5.2, 5.3).
func (c *Conn) newAck(ack seq, seg wire.Segment, now time.Time) {
	acked := ack.sub(c.sndUna)
	data := min(acked, c.sndBuf.len())
	c.sndBuf.discard(data)
	c.sndBufSeq = c.sndBufSeq.add(data)
	c.sndUna = ack
	c.sndNxt = maxSeq(c.sndNxt, ack)
	if c.sb.n > 0 && !c.sb.acked(acked) {
		c.s.c.SACKReneging++
	}
	switch {
	case c.rttTiming && ack.gt(c.rttSeq):
		c.rttSample(now.Sub(c.rttStart))
		c.rttTiming = false
	case !c.rttTiming && c.tsOK:
		// Nothing timed (Karn's rule after a retransmission): the echo
		// of our timestamp times this ACK (RFC 7323 4.1), so the RTO
		// backed off by a timeout comes back at once. An echo from the
		// future or from before MaxRTO is not ours to believe.
		if _, ecr, ok := seg.Timestamps(); ok {
			if d := time.Duration(int32(c.s.tsClock(now)+c.tsOffset-ecr)) * time.Millisecond; d >= 0 && d <= c.s.cfg.MaxRTO {
				c.s.c.RTTFromEcho++
				c.rttSample(d)
			}
		}
	}
	c.retries = 0
	restart := c.congestionAck(acked, ack, now)
	switch {
	case c.sndUna == c.sndMax:
		c.rtoAt = time.Time{}
	case restart && !c.persisting:
		c.rtoAt = now.Add(c.rto)
	}
	c.armPTO(now)
	if data > 0 {
		c.s.wake(&c.notify)
	}
}

// finAcked reports whether our FIN was sent and acknowledged.
func (c *Conn) finAcked() bool {
	return c.finQueued && c.sndUna == c.dataEnd().add(1)
}

// enterTimeWait starts the 2*MSL wait.
func (c *Conn) enterTimeWait(now time.Time) {
	c.setState(TimeWait)
	c.rtoAt, c.persistAt, c.keepAt, c.delackAt, c.ptoAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	c.closeAt = now.Add(c.s.cfg.TimeWait)
	c.sndBuf.release()
}

// textArrived is the seventh and eighth steps: the segment's data, which
// starts at sq (after the SYN for a SYN-ACK), goes to the receive buffer
// (in order, or held out of order) and its FIN ends the peer's stream.
func (c *Conn) textArrived(seg wire.Segment, sq seq) verdict {
	data := seg.Payload()
	fin := seg.Flags()&wire.FlagFIN != 0
	switch c.state {
	case Established, FinWait1, FinWait2:
	default:
		return vAccepted // the peer's FIN is already in: text and FIN are old
	}
	// Trim what was received already and what lies past the window.
	trimmed := false
	if old := c.rcvNxt.sub(sq); old > 0 {
		if old > len(data) {
			fin = false
		}
		data = data[min(old, len(data)):]
		sq = c.rcvNxt
		trimmed = true
	}
	if room := c.rcvWnd() - sq.sub(c.rcvNxt); len(data) > room {
		if c.rcvWnd() == 0 {
			c.s.c.RxWindowProbe++
		}
		data, fin, trimmed = data[:max(room, 0)], false, true
	}
	if trimmed {
		c.s.c.RxTrimmed++
		c.ackNow = true
	}
	if c.userClosed && len(data) > 0 {
		c.s.c.Aborts++
		c.abort()
		return vAfterClose
	}
	if len(data) > 0 {
		c.receive(sq, data)
	}
	if fin {
		c.finArrived(sq.add(len(data)))
	}
	return vAccepted
}

// receive stores data that starts at sq (RCV.NXT or later, within the
// window) and moves RCV.NXT over whatever is now in order.
func (c *Conn) receive(sq seq, data []byte) {
	off := sq.sub(c.rcvNxt)
	c.rcvBuf.writeAt(c.rcvBuf.len()+off, data)
	if off > 0 {
		if c.asm.add(off, off+len(data)) {
			c.s.c.RxOutOfOrder++
			c.sackNoteRecent(sq)
		} else {
			c.s.c.RxOOODropped++
		}
		c.ackNow = true // a duplicate ACK at once (RFC 5681 4.2)
		return
	}
	filled := c.asm.n > 0
	n := c.asm.advance(len(data))
	c.rcvBuf.commit(n)
	c.rcvNxt = c.rcvNxt.add(n)
	c.s.c.RxDataBytes += uint64(n)
	c.stats.RxBytes += uint64(n)
	// A segment longer than our MSS (segments from the peer coalesced
	// on their way up, GRO) counts as the full-sized segments it carries.
	c.unacked += max(1, len(data)/c.rcvMSS)
	// ACK at once when a hole was filled (RFC 5681 4.2) or for every
	// second full-sized segment (RFC 9293 3.8.6.3); else within
	// DelayedACK.
	if filled || c.unacked >= 2 {
		c.ackNow = true
	} else if c.delackAt.IsZero() {
		c.delackAt = c.s.clock.Now().Add(c.s.cfg.DelayedACK)
	}
	c.s.wake(&c.notify)
	if c.finPending && c.rcvNxt == c.rcvFinSeq {
		c.finPending = false
		c.finArrived(c.rcvFinSeq)
	}
}

// finArrived handles the peer's FIN at sequence number at.
func (c *Conn) finArrived(at seq) {
	c.ackNow = true
	if at != c.rcvNxt {
		c.finPending, c.rcvFinSeq = true, at // after a hole: wait for it
		return
	}
	c.rcvNxt = c.rcvNxt.add(1)
	c.finRcvd = true
	now := c.s.clock.Now()
	switch c.state {
	case Established:
		c.setState(CloseWait)
	case FinWait1:
		if c.finAcked() {
			c.enterTimeWait(now)
		} else {
			c.setState(Closing)
		}
	case FinWait2:
		c.enterTimeWait(now)
	}
	c.s.wake(&c.notify)
}
