package tcp

import (
	"io"
	"net/netip"
	"time"

	"armos/servers/tcpd/tcp/wire"
)

// Conn is one TCP connection: its transmission control block (RFC 9293
// 3.3.1) and its bounded buffers. Like the Stack it is not safe for
// concurrent use.
type Conn struct {
	s     *Stack
	id    tuple
	index int // in s.list while in the table
	state State

	listener *Listener // the listener of a passive open, until accepted
	queued   bool      // established and in listener's accept queue
	passive  bool

	// Send sequence space (RFC 9293 3.3.1). sndMax is the highest
	// sequence number sent so far; after a retransmission timeout sndNxt
	// goes back to sndUna (go-back-N) while sndMax stays.
	iss, sndUna, sndNxt, sndMax seq
	sndWnd                      int // the peer's window, scaled
	sndWl1, sndWl2              seq
	maxSndWnd                   int // largest window the peer offered
	synAcked                    bool
	sndBuf                      sendQueue
	sndBufSeq                   seq  // sequence number of sndBuf's first byte
	finQueued                   bool // CloseWrite: a FIN follows the buffered data

	// Receive sequence space. rcvAdv is the right edge of the window as
	// advertised (the highest ever: the window never shrinks).
	irs, rcvNxt, rcvAdv seq
	rcvBuf              ring
	asm                 assembler
	finRcvd             bool // the peer's FIN is in order: end of stream
	finPending          bool // a FIN arrived out of order, at rcvFinSeq
	rcvFinSeq           seq

	// Negotiated at the handshake.
	sndMSS, rcvMSS   int
	sndShift         uint8 // the peer's window scale
	rcvShift         uint8 // ours
	wscale           bool  // both SYNs carry window scale
	synWindow        int   // the window our SYN advertised (unscaled)
	synRetransmitted bool

	// Timestamps (RFC 7323) and SACK (RFC 2018), when both SYNs carried
	// them (and Config allows).
	tsOK, sackOK bool
	tsOffset     uint32    // added to the stack's timestamp clock, per connection (RFC 7323 5.4)
	tsRecent     uint32    // TS.Recent: the timestamp to echo (RFC 7323 4.3)
	tsRecentAt   time.Time // when TS.Recent was set (PAWS forgets it after 24 days idle)
	lastAckSent  seq       // Last.ACK.sent: the ACK our last segment carried
	// sackRecent holds the first sequence numbers of the last out-of-order
	// segments received, newest first: the SACK blocks that hold them go
	// first in our ACKs (RFC 2018 section 4).
	sackRecent  [wire.MaxSACKBlocks]seq
	nSackRecent int

	// ACK policy.
	ackNow      bool      // send an ACK with the next output
	unacked     int       // in-order segments received since the last ACK sent (full-sized ones a coalesced segment carries)
	lastInvalid time.Time // last ACK sent for an out-of-window segment

	// Round-trip time (RFC 6298) and retransmission.
	srtt, rttvar, rto time.Duration
	hasRTT            bool
	rttTiming         bool // a segment is being timed (Karn: never a retransmitted one)
	rttSeq            seq
	rttStart          time.Time
	retries           int // timeouts since the last new ACK (or SYN retransmissions)

	// Congestion control (RFC 5681, NewReno RFC 6582).
	cwnd, ssthresh int
	caAcked        int // bytes ACKed towards the next congestion-avoidance increase
	dupAcks        int
	inRecovery     bool
	partialSeen    bool // a partial ACK arrived in this recovery
	recover        seq
	lastSend       time.Time
	sb             scoreboard // what the peer SACKed past SND.UNA (sack.go)
	highRxt        seq        // in SACK recovery: the end of the highest retransmission (RFC 6675 HighRxt)
	tlpOut         bool       // a tail loss probe is out (tlp.go)
	tlpHigh        seq        // SND.MAX when it went
	tlpSeq, tlpEnd seq        // the probe's bytes
	lossMark       seq        // set by a probe's SACK: unSACKed bytes below it are lost
	lossMarked     bool

	// Timers; a zero time is off.
	rtoAt, persistAt, delackAt, keepAt, closeAt time.Time
	ptoAt                                       time.Time // the tail loss probe (tlp.go)
	persisting                                  bool      // a zero-window probe is out
	persistShift                                int
	probes                                      int // unanswered zero-window probes
	keepProbes                                  int // unanswered keep-alive probes

	noDelay, keepAlive bool
	userClosed         bool  // Close or Abort called: no more reads or writes
	err                error // why the connection failed
	softErr            error // the last ICMP soft error
	notify             notifier
	stats              ConnStats
}

// ConnStats are one connection's counters.
type ConnStats struct {
	TxSegments      uint64 // segments sent
	RxSegments      uint64 // segments processed
	TxBytes         uint64 // payload bytes sent the first time
	RxBytes         uint64 // payload bytes received in order
	Retransmits     uint64 // segments retransmitted
	Timeouts        uint64 // retransmission timer expiries
	FastRetransmits uint64
}

// Info describes a connection, like Linux's TCP_INFO: for netstat and for
// tests that check the engine's invariants.
type Info struct {
	State                  State
	Local, Remote          netip.AddrPort
	ISS, IRS               uint32
	SndUna, SndNxt, SndMax uint32
	SndWnd                 int // the peer's window, scaled
	RcvNxt                 uint32
	RcvWnd                 int // the window we advertise, from RcvNxt
	SndShift, RcvShift     uint8
	SndMSS, RcvMSS         int
	Cwnd, Ssthresh         int
	InRecovery             bool
	SRTT, RTTVar, RTO      time.Duration
	Retries                int
	SendQueued             int // bytes in the send buffer (unacknowledged and unsent)
	RecvQueued             int // bytes waiting to be read
	RecvOutOfOrder         int // bytes held out of order
	SACKed                 int // bytes past SndUna the peer reported holding (its SACK blocks)
	SendBuffer, RecvBuffer int // the buffers' bounds
	FinQueued, FinReceived bool
	Persisting             bool
	NoDelay, KeepAlive     bool
	Stats                  ConnStats
}

// newConn returns a connection for t with its buffers bounded and its
// timers and congestion state at their initial values.
func (s *Stack) newConn(t tuple) *Conn {
	c := &Conn{
		s:        s,
		id:       t,
		sndBuf:   newSendQueue(s.cfg.SendBuffer),
		rcvBuf:   newRing(s.cfg.RecvBuffer),
		sndMSS:   DefaultMSS,
		rcvMSS:   s.cfg.MTU - 40,
		rcvShift: windowShift(s.cfg.RecvBuffer),
		rto:      s.cfg.InitialRTO,
		ssthresh: maxWindow,
	}
	c.cwnd = initialWindow(c.sndMSS)
	return c
}

// windowShift returns the smallest window scale (RFC 7323) that lets a
// window of n bytes be advertised.
func windowShift(n int) uint8 {
	var s uint8
	for n>>s > 0xffff && s < 14 {
		s++
	}
	return s
}

// LocalAddr returns our address and port.
func (c *Conn) LocalAddr() netip.AddrPort { return c.id.local }

// RemoteAddr returns the peer's address and port.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.id.remote }

// State returns the connection's state.
func (c *Conn) State() State { return c.state }

// Err returns why the connection failed (ErrConnRefused, ErrConnReset,
// ErrTimedOut, ErrHostUnreachable...), or nil.
func (c *Conn) Err() error { return c.err }

// SetNotify sets fn to be called when the connection's readiness may have
// changed (data or FIN arrived, buffer space freed, connected, failed,
// closed). fn runs on the stack's goroutine at the end of the call that
// caused the change (Input, Tick, an API call) and may call the API.
func (c *Conn) SetNotify(fn func()) { c.notify.fn = fn }

// Readiness returns the conditions that hold now.
func (c *Conn) Readiness() Ready {
	var r Ready
	if c.rcvBuf.len() > 0 || c.finRcvd || c.err != nil {
		r |= Readable
	}
	switch {
	case c.err != nil || c.finQueued || c.userClosed:
		r |= Writable // Write returns its error at once
	case (c.state == Established || c.state == CloseWait) && c.sndBuf.free() > 0:
		r |= Writable
	}
	if c.finRcvd {
		r |= ReadClosed
	}
	if c.err != nil {
		r |= Errored
	}
	if c.state == Closed {
		r |= Done
	}
	return r
}

// Read copies received data into p. With nothing buffered it returns the
// connection's error, io.EOF after the peer's FIN, or ErrWouldBlock.
func (c *Conn) Read(p []byte) (int, error) {
	defer c.s.flush()
	if c.userClosed {
		return 0, ErrClosed
	}
	if c.rcvBuf.len() > 0 {
		n := c.rcvBuf.read(p)
		c.windowUpdate()
		return n, nil
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.finRcvd:
		return 0, io.EOF
	case c.state == Closed:
		return 0, ErrClosed
	case len(p) == 0:
		return 0, nil
	}
	return 0, ErrWouldBlock
}

// Write appends as much of p to the send buffer as fits, sends what the
// windows allow, and returns the count; ErrWouldBlock when the buffer is
// full. Data written during the handshake waits for it. Writing after
// CloseWrite or Close is ErrClosed.
func (c *Conn) Write(p []byte) (int, error) {
	defer c.s.flush()
	switch {
	case c.userClosed || c.finQueued:
		return 0, ErrClosed
	case c.err != nil:
		return 0, c.err
	case c.state != SynSent && c.state != SynReceived && c.state != Established && c.state != CloseWait:
		return 0, ErrClosed
	}
	n := c.sndBuf.write(p)
	if n == 0 && len(p) > 0 {
		return 0, ErrWouldBlock
	}
	c.output()
	return n, nil
}

// WriteOwned is Write without the copy: p is queued where it lies, all of
// it, and done is called once the send buffer no longer needs it (every
// byte acknowledged, or the connection's buffers released), after which
// p is the caller's again. It reports whether p was taken. When it was
// not, p and done stay the caller's, and the error says why:
// ErrWouldBlock when the send buffer has no room for all of p now (or
// holds as many such pieces as it takes) and will once acknowledgements
// free it; nil when p is larger than the whole send buffer (copy it with
// Write then); Write's errors. tcpd queues an application's large writes
// so, in the IPC message that brought them.
func (c *Conn) WriteOwned(p []byte, done func()) (bool, error) {
	defer c.s.flush()
	switch {
	case c.userClosed || c.finQueued:
		return false, ErrClosed
	case c.err != nil:
		return false, c.err
	case c.state != SynSent && c.state != SynReceived && c.state != Established && c.state != CloseWait:
		return false, ErrClosed
	}
	if !c.sndBuf.writeOwned(p, done) {
		if len(p) > c.sndBuf.limit {
			return false, nil
		}
		return false, ErrWouldBlock
	}
	c.s.c.TxOwnedWrites++
	c.output()
	return true, nil
}

// CloseWrite ends our direction (shutdown(SHUT_WR)): a FIN follows the
// buffered data. ESTABLISHED (or SYN-RECEIVED) goes to FIN-WAIT-1,
// CLOSE-WAIT to LAST-ACK; in SYN-SENT the FIN waits for the handshake.
func (c *Conn) CloseWrite() error {
	defer c.s.flush()
	switch {
	case c.userClosed:
		return ErrClosed
	case c.err != nil:
		return c.err
	case c.finQueued:
		return nil
	}
	switch c.state {
	case SynSent:
	case SynReceived, Established:
		c.setState(FinWait1)
	case CloseWait:
		c.setState(LastAck)
	default:
		return ErrClosed
	}
	c.finQueued = true
	c.output()
	return nil
}

// Close ends the connection for its user: no more reads or writes. The
// connection closes gracefully (a FIN after the buffered data, then the
// usual states to TIME-WAIT or CLOSED) unless received data was left
// unread, in which case it is reset (RFC 2525 2.17, as Linux does); data
// arriving after Close is answered with a RST too. A connection in
// SYN-SENT just goes away.
func (c *Conn) Close() error {
	defer c.s.flush()
	if c.userClosed {
		return ErrClosed
	}
	c.userClosed = true
	switch {
	case c.state == Closed:
		c.release()
		return nil
	case c.state == SynSent:
		c.destroy()
		return nil
	case c.rcvBuf.len() > 0 && c.state != TimeWait:
		c.s.c.Aborts++
		c.abort()
		return nil
	}
	c.rcvBuf.release()
	if !c.finQueued && c.err == nil {
		c.finQueued = true
		switch c.state {
		case SynReceived, Established:
			c.setState(FinWait1)
		case CloseWait:
			c.setState(LastAck)
		}
	}
	if c.state == FinWait2 {
		c.closeAt = c.s.clock.Now().Add(c.s.cfg.FinWait2Timeout)
	}
	c.output()
	return nil
}

// Abort resets the connection (RFC 9293 ABORT): a RST to the peer if it
// is synchronized, then CLOSED. Buffered data is dropped.
func (c *Conn) Abort() {
	defer c.s.flush()
	if c.state != Closed {
		c.s.c.Aborts++
	}
	c.userClosed = true
	c.abort()
}

// abort sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK> unless the
// connection is in SYN-SENT (the peer knows nothing of it) or TIME-WAIT
// (both ends are done), and destroys the connection.
func (c *Conn) abort() {
	switch c.state {
	case Closed, SynSent, TimeWait:
	default:
		c.s.sendReset(c.id, c.sndNxt, c.rcvNxt, true)
	}
	c.destroy()
	c.release()
}

// SetNoDelay turns Nagle's algorithm off (true, TCP_NODELAY) or on.
func (c *Conn) SetNoDelay(on bool) {
	defer c.s.flush()
	c.noDelay = on
	if on && c.state != Closed {
		c.output()
	}
}

// SetKeepAlive turns keep-alive probes on or off (SO_KEEPALIVE).
func (c *Conn) SetKeepAlive(on bool) {
	c.keepAlive = on
	c.keepProbes = 0
	c.keepAt = time.Time{}
	if on && c.state.synchronized() {
		c.keepAt = c.s.clock.Now().Add(c.s.cfg.KeepAliveIdle)
	}
}

// Info returns the connection's variables.
func (c *Conn) Info() Info {
	return Info{
		State: c.state, Local: c.id.local, Remote: c.id.remote,
		ISS: uint32(c.iss), IRS: uint32(c.irs),
		SndUna: uint32(c.sndUna), SndNxt: uint32(c.sndNxt), SndMax: uint32(c.sndMax),
		SndWnd: c.sndWnd, RcvNxt: uint32(c.rcvNxt), RcvWnd: c.rcvWnd(),
		SndShift: c.sndShift, RcvShift: c.rcvShift, SndMSS: c.sndMSS, RcvMSS: c.rcvMSS,
		Cwnd: c.cwnd, Ssthresh: c.ssthresh, InRecovery: c.inRecovery, SACKed: c.sb.bytes(),
		SRTT: c.srtt, RTTVar: c.rttvar, RTO: c.rto, Retries: c.retries,
		SendQueued: c.sndBuf.len(), RecvQueued: c.rcvBuf.len(), RecvOutOfOrder: c.asm.bytes(),
		SendBuffer: c.sndBuf.limit, RecvBuffer: c.rcvBuf.limit,
		FinQueued: c.finQueued, FinReceived: c.finRcvd, Persisting: c.persisting,
		NoDelay: c.noDelay, KeepAlive: c.keepAlive, Stats: c.stats,
	}
}

// setState moves the connection to st and wakes its user.
func (c *Conn) setState(st State) {
	c.state = st
	c.s.wake(&c.notify)
}

// fail ends the connection with err: buffers dropped, CLOSED.
func (c *Conn) fail(err error) {
	if c.state == SynSent || c.state == SynReceived {
		c.s.c.AttemptFails++
	}
	c.err = err
	c.destroy()
	c.release()
}

// destroy takes the connection out of the table: CLOSED, timers off. A
// half-open passive connection leaves its listener's SYN queue.
func (c *Conn) destroy() {
	if c.listener != nil && !c.queued {
		c.listener.syn--
		c.listener = nil
	}
	c.s.remove(c)
	c.rtoAt, c.persistAt, c.delackAt, c.keepAt, c.closeAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	c.ptoAt = time.Time{}
	c.setState(Closed)
	if c.userClosed {
		c.release()
	}
}

// release frees the buffers' storage (their bounds stay, so windows are
// still computed right).
func (c *Conn) release() {
	c.sndBuf.release()
	c.rcvBuf.release()
	c.asm.reset()
}
