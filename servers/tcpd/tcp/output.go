package tcp

import (
	"time"

	"armos/servers/tcpd/tcp/wire"
)

// Sending. output is called after every event (segment, timer, API call)
// and sends what is allowed: data within the peer's window and the
// congestion window, held back by Nagle's algorithm and sender-side
// silly-window avoidance (RFC 9293 3.8.6.2.1, RFC 1122 4.2.3.4), the FIN
// after the data, and a pure ACK when one is due and nothing carried it.
// Every segment after the SYN carries an ACK and our current window.

// output sends what the state, the windows, Nagle and a pending ACK call
// for.
func (c *Conn) output() {
	sent := false
	if c.synAcked && c.canSend() {
		now := c.s.clock.Now()
		if c.inRecovery && c.sackOK {
			sent = c.sackRetransmit(now)
		}
		sent = c.sendData(now) || sent
	}
	if c.ackNow && !sent && c.state != SynSent && c.state != Closed {
		c.sendACK()
	}
}

// canSend reports whether the state lets data or our FIN go out.
func (c *Conn) canSend() bool {
	switch c.state {
	case Established, CloseWait, FinWait1, Closing, LastAck:
		return true
	}
	return false
}

// dataEnd returns the sequence number after the last buffered byte: our
// FIN's number once one is queued.
func (c *Conn) dataEnd() seq { return c.sndBufSeq.add(c.sndBuf.len()) }

// pending reports whether data or a FIN waits to be sent for the first
// time (or again, after a go-back).
func (c *Conn) pending() bool {
	end := c.dataEnd()
	return c.sndNxt.lt(end) || (c.finQueued && c.sndNxt == end)
}

// sendData sends segments from SND.NXT while the windows and Nagle allow,
// and arms the persist timer when something waits behind a closed window
// with nothing in flight. It reports whether it sent anything.
func (c *Conn) sendData(now time.Time) bool {
	// RFC 5681 4.1: after an idle period longer than the RTO, restart
	// from the initial window.
	if c.sndUna == c.sndMax && !c.lastSend.IsZero() && now.Sub(c.lastSend) > c.rto {
		c.cwnd = min(c.cwnd, initialWindow(c.sndMSS))
	}
	sent := false
	for {
		end := c.dataEnd()
		unsent := max(end.sub(c.sndNxt), 0)
		finToSend := c.finQueued && c.sndNxt.le(end)
		if unsent == 0 && !finToSend {
			break
		}
		win := c.sndUna.add(c.sndWnd).sub(c.sndNxt)
		limit := c.maxSegmentData()
		flight := c.sndNxt.sub(c.sndUna)
		if c.sndNxt.lt(c.sndMax) {
			// Going back over data sent before (the go-back-N after a
			// timeout, or a lower path MTU): retransmissions are one
			// MSS each, with or without segmentation offload, and skip
			// what the peer SACKed.
			limit = c.sndMSS
			if c.sb.n > 0 {
				if end, held := c.sb.holding(flight); held {
					c.sndNxt = c.sndUna.add(end)
					continue
				}
				if next, ok := c.sb.nextAfter(flight); ok {
					limit = min(limit, next-flight)
				}
				flight -= c.sb.heldIn(0, flight)
			}
		}
		if c.inRecovery && c.sackOK {
			flight = c.pipe() // RFC 6675: what the network holds, not the span
		}
		n := max(0, min(unsent, win, c.cwnd-flight, limit))
		fin := finToSend && n == unsent && win > n
		if n == 0 && !fin {
			break
		}
		// An offloaded segment's last piece of less than an MSS goes
		// only when Nagle would let it go as a segment of its own
		// (Linux's tcp_mss_split_point); otherwise it waits.
		if part := n % c.sndMSS; n > c.sndMSS && part != 0 && !fin && !c.nagleAllows(part, unsent-(n-part)) {
			n -= part
		}
		// Nagle holds back small new data, not a retransmission that a
		// SACKed run bounds (nothing in flight may bring an ACK).
		if n < c.sndMSS && !fin && !(c.sndNxt.lt(c.sndMax) && n == limit) && !c.nagleAllows(n, unsent) {
			break
		}
		if !fin && c.holdForFullSegment(n, unsent, limit) {
			c.s.c.TxHeld++
			break
		}
		c.sendSegment(c.sndNxt, n, fin, now)
		sent = true
	}
	if !sent && c.pending() && c.sndMax == c.sndUna && c.persistAt.IsZero() {
		c.persistShift = 0
		c.persistAt = now.Add(c.persistInterval())
	}
	return sent
}

// maxSegmentData is the most data one segment from sendData carries: one
// MSS, or with segmentation offload (Stack.SetOffload) the most whole
// MSS whose segment, header included, fits the offload size (at least
// one MSS). Everything else (the windows, Nagle, silly-window avoidance)
// applies to that segment as to any.
func (c *Conn) maxSegmentData() int {
	if c.s.offload == 0 {
		return c.sndMSS
	}
	// A data segment's header carries the timestamps and never SACK
	// blocks (only pure ACKs do: sendACK).
	return max((c.s.offload-wire.HeaderLen-c.optionsLen())/c.sndMSS, 1) * c.sndMSS
}

// holdForFullSegment decides whether new data of n bytes, all that is
// queued (unsent) and less than the largest offloaded segment's limit,
// waits for more. It does with segmentation offload while at least two
// such segments are in flight (outside fast recovery): the ACKs they
// bring run output again soon, and by then the application has written
// more. The ACK clock otherwise locks a transfer's segments at whatever
// size they had: each ACK frees one segment's worth, the application
// refills it and that goes at once (about 26 KB a segment in QEMU, where
// held they are 63 KB: fewer segments, messages and ACKs per byte). With
// less in flight nothing waits, so a request, a response or a transfer's
// tail goes at once (or once the flight drops under two segments, with
// the link still busy). A segment the windows bound is not held: it goes
// as they open (in slow start a wait would leave cwnd unused). Linux
// holds small writes back in much the same way (TCP autocorking, and
// tcp_tso_should_defer when the window bounds them).
func (c *Conn) holdForFullSegment(n, unsent, limit int) bool {
	if c.s.offload == 0 || n >= limit || n != unsent || c.inRecovery || c.sndNxt.lt(c.sndMax) {
		return false
	}
	return c.sndNxt.sub(c.sndUna) >= 2*limit
}

// nagleAllows decides whether a segment of n < MSS bytes goes now: when
// it takes all the queued data and nothing is unacknowledged (or Nagle is
// off: TCP_NODELAY), or when it fills half the largest window the peer
// has offered (RFC 1122 4.2.3.4). Otherwise it waits for an ACK, or for
// the persist timer if nothing is in flight.
func (c *Conn) nagleAllows(n, unsent int) bool {
	if n == unsent && (c.noDelay || c.sndNxt == c.sndUna) {
		return true
	}
	return c.maxSndWnd > 0 && n >= c.maxSndWnd/2
}

// sendSegment sends n bytes of the send buffer from sequence number sq,
// and the FIN if fin, and does the bookkeeping: SND.NXT and SND.MAX,
// retransmission counts, the RTT measurement (a first transmission only,
// Karn's rule) and the retransmission timer (RFC 6298 5.1).
func (c *Conn) sendSegment(sq seq, n int, fin bool, now time.Time) {
	flags := wire.FlagACK
	if fin {
		flags |= wire.FlagFIN
	}
	if n > 0 && sq.add(n) == c.dataEnd() {
		flags |= wire.FlagPSH
	}
	r := c.header(sq, flags)
	hl, off := r.HeaderLen(), sq.sub(c.sndBufSeq)
	switch {
	case n > c.sndMSS:
		if c.s.gather != nil {
			if v := c.sndBuf.views(off, n); v != nil {
				// The payload goes from the send buffer to the output as
				// it lies, in as many pieces as it takes there.
				c.s.transmitOffloaded(c.id, r, c.s.tx[:hl], v, c.sndMSS)
				break
			}
			c.s.c.TxGatherCopied++
		}
		b := c.s.tx[:hl+n]
		c.sndBuf.peek(off, b[hl:])
		c.s.transmitOffloaded(c.id, r, b, nil, c.sndMSS)
	default:
		b := c.s.tx[:hl+n]
		c.sndBuf.peek(off, b[hl:])
		c.s.transmit(c.id, r, b)
	}
	c.sentACK()
	c.stats.TxSegments++
	retransmit := sq.lt(c.sndMax)
	if retransmit {
		c.s.c.TxRetransSegs++
		c.s.c.TxRetransBytes += uint64(n)
		c.stats.Retransmits++
	} else {
		c.s.c.TxDataBytes += uint64(n)
		c.stats.TxBytes += uint64(n)
	}
	next := sq.add(n)
	if fin {
		next = next.add(1)
	}
	c.sndNxt = maxSeq(c.sndNxt, next)
	if next.gt(c.sndMax) {
		if !retransmit && !c.rttTiming {
			c.rttTiming, c.rttSeq, c.rttStart = true, sq, now
		}
		c.sndMax = next
	}
	if c.rtoAt.IsZero() {
		c.rtoAt = now.Add(c.rto)
	}
	if !retransmit {
		c.armPTO(now)
	}
	c.persistAt = time.Time{}
	c.lastSend = now
}

// retransmitFirst sends the first unacknowledged segment again, whatever
// the windows (after a timeout, on fast retransmit, for a partial ACK).
func (c *Conn) retransmitFirst(now time.Time) {
	end := c.dataEnd()
	n := min(c.sndMSS, max(end.sub(c.sndUna), 0))
	fin := c.finQueued && c.sndMax.gt(end) && c.sndUna.add(n) == end
	if n == 0 && !fin {
		return
	}
	c.sendSegment(c.sndUna, n, fin, now)
}

// header returns the header of a segment from sequence number sq with an
// ACK of RCV.NXT and our window, and our timestamps when they are on.
func (c *Conn) header(sq seq, flags wire.Flags) wire.Repr {
	r := wire.Repr{
		SrcPort: c.id.local.Port(), DstPort: c.id.remote.Port(),
		Seq: uint32(sq), Ack: uint32(c.rcvNxt),
		Flags: flags | wire.FlagACK, Window: c.advertise(),
	}
	c.lastAckSent = c.rcvNxt
	if c.tsOK {
		r.Options.HasTimestamps = true
		r.Options.TSVal, r.Options.TSEcr = c.s.tsClock(c.s.clock.Now())+c.tsOffset, c.tsRecent
	}
	return r
}

// sentACK notes that a segment carrying our ACK left.
func (c *Conn) sentACK() {
	c.ackNow = false
	c.unacked = 0
	c.delackAt = time.Time{}
}

// sendACK sends a segment that is only an ACK, at SND.NXT, with SACK
// blocks for the data held out of order when the peer takes them.
func (c *Conn) sendACK() {
	r := c.header(c.sndNxt, wire.FlagACK)
	if c.sackOK && c.asm.n > 0 {
		c.sackBlocks(&r.Options)
		c.s.c.TxSACKs++
	}
	c.s.transmit(c.id, r, c.s.tx[:r.HeaderLen()])
	c.s.c.TxACKs++
	c.sentACK()
}

// sackNoteRecent records that an out-of-order segment starting at sq
// arrived: its block goes first in the next ACKs.
func (c *Conn) sackNoteRecent(sq seq) {
	if !c.sackOK {
		return
	}
	n := min(c.nSackRecent+1, len(c.sackRecent))
	copy(c.sackRecent[1:n], c.sackRecent[:n-1])
	c.sackRecent[0], c.nSackRecent = sq, n
}

// sackBlocks fills o's SACK blocks from the data held out of order (RFC
// 2018 section 4): first the block holding the latest segment to arrive,
// then those of the segments before it, newest first, then the rest
// from the highest; as many as fit beside the timestamps.
func (c *Conn) sackBlocks(o *wire.Options) {
	limit := wire.MaxSACKBlocks
	if o.HasTimestamps {
		limit--
	}
	var used [maxOutOfOrder]bool
	add := func(i int) {
		if used[i] || o.NSACK == limit {
			return
		}
		used[i] = true
		sp := c.asm.s[i]
		o.SACK[o.NSACK] = wire.SACKBlock{Left: uint32(c.rcvNxt.add(sp.start)), Right: uint32(c.rcvNxt.add(sp.end))}
		o.NSACK++
	}
	for _, sq := range c.sackRecent[:c.nSackRecent] {
		off := sq.sub(c.rcvNxt)
		for i, sp := range c.asm.s[:c.asm.n] {
			if off >= sp.start && off < sp.end {
				add(i)
				break
			}
		}
	}
	for i := c.asm.n - 1; i >= 0; i-- {
		add(i)
	}
}

// challengeACK sends an ACK in answer to a suspicious RST or SYN (RFC 5961
// section 3.2, 4.2), within the stack's per-second budget.
func (c *Conn) challengeACK(now time.Time) {
	if c.s.challengeAllowed(now) {
		c.s.c.TxChallengeACKs++
		c.sendACK()
	}
}

// invalidACK answers an out-of-window segment with an ACK (RFC 9293).
// One that carries data always gets it: its sender is retransmitting
// what we hold already, because our ACK was lost, and waits for one (as
// Linux's tcp_oow_rate_limited). Others, which could be one side of two
// confused ends ACKing each other in a loop, get one at most once per
// InvalidACKInterval.
func (c *Conn) invalidACK(seg wire.Segment, now time.Time) {
	if len(seg.Payload()) > 0 && seg.Flags()&wire.FlagSYN == 0 {
		c.sendACK()
		return
	}
	if !c.lastInvalid.IsZero() && now.Sub(c.lastInvalid) < InvalidACKInterval {
		c.s.c.InvalidLimited++
		return
	}
	c.lastInvalid = now
	c.sendACK()
}

// windowEdge returns the right edge of the receive window to advertise:
// the edge the buffer allows, but moved only by at least min(buffer/2,
// MSS) at a time (receiver silly-window avoidance, RFC 9293 3.8.6.2.2),
// and never back (the window does not shrink).
func (c *Conn) windowEdge() seq {
	edge := c.rcvNxt.add(c.rcvBuf.free())
	if !edge.gt(c.rcvAdv) || edge.sub(c.rcvAdv) < min(c.rcvBuf.limit/2, c.rcvMSS) {
		return c.rcvAdv
	}
	return edge
}

// advertise returns the window field of the next segment (scaled by our
// shift, RFC 7323 2.3) and records the edge it advertises.
func (c *Conn) advertise() uint16 {
	field := min(max(0, c.windowEdge().sub(c.rcvNxt))>>c.rcvShift, 0xffff)
	if e := c.rcvNxt.add(field << c.rcvShift); e.gt(c.rcvAdv) {
		c.rcvAdv = e
	}
	return uint16(field)
}

// windowUpdate sends an ACK after a read when the window the peer knows
// is small next to what is free now (at least doubling, and by SWS's
// step), so a sender stopped by a full buffer resumes without waiting for
// its persist timer.
func (c *Conn) windowUpdate() {
	if !c.state.synchronized() || c.finRcvd || c.state == TimeWait {
		return
	}
	cur := c.rcvWnd()
	could := min(c.windowEdge().sub(c.rcvNxt), 0xffff<<c.rcvShift)
	if could >= 2*cur && could-cur >= min(c.rcvBuf.limit/2, c.rcvMSS) {
		c.s.c.TxWindowUpdates++
		c.sendACK()
	}
}

// sendSYN sends our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), again if it
// was sent before, and arms the retransmission timer. The SYN carries our
// MSS and window scale (in a SYN-ACK only if the peer's SYN had it); its
// window is never scaled (RFC 7323 2.2).
func (c *Conn) sendSYN(now time.Time) {
	r := wire.Repr{
		SrcPort: c.id.local.Port(), DstPort: c.id.remote.Port(),
		Seq: uint32(c.iss), Flags: wire.FlagSYN,
		Options: wire.Options{MSS: uint16(min(c.rcvMSS, 0xffff))},
	}
	if c.state == SynSent || c.wscale {
		r.Options.HasWindowScale, r.Options.WindowScale = true, c.rcvShift
	}
	// Timestamps and SACK: offered in a SYN (Connect), and in a SYN-ACK
	// when the peer's SYN offered them (negotiate).
	r.Options.SACKPermitted = c.sackOK
	if c.tsOK {
		r.Options.HasTimestamps = true
		r.Options.TSVal = c.s.tsClock(now) + c.tsOffset
		if c.state == SynReceived {
			r.Options.TSEcr = c.tsRecent
		}
	}
	c.synWindow = min(c.rcvBuf.free(), 0xffff)
	r.Window = uint16(c.synWindow)
	if c.state == SynReceived {
		r.Flags |= wire.FlagACK
		r.Ack = uint32(c.rcvNxt)
		c.lastAckSent = c.rcvNxt
		c.rcvAdv = maxSeq(c.rcvAdv, c.rcvNxt.add(c.synWindow))
	}
	c.s.transmit(c.id, r, c.s.tx[:r.HeaderLen()])
	c.stats.TxSegments++
	if c.sndMax == c.iss {
		c.sndNxt, c.sndMax = c.iss.add(1), c.iss.add(1)
		c.rttTiming, c.rttSeq, c.rttStart = true, c.iss, now
	} else {
		c.synRetransmitted = true
		c.rttTiming = false
		c.s.c.TxRetransSegs++
		c.stats.Retransmits++
	}
	c.rtoAt = now.Add(c.rto)
}
