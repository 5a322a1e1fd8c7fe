package tcp

import (
	"crypto/sha256"
	"net/netip"
	"time"

	"armos/servers/tcpd/tcp/wire"
)

// Stack is the TCP engine for one host: its connections, keyed by 4-tuple,
// and its listeners, keyed by local port. It is passive and
// single-goroutine like netd's stack: no goroutines, no timers, no wall
// clock. Its owner calls, from one goroutine,
//
//   - Input for every TCP segment the IP layer delivers,
//   - ICMPError for every ICMP error that quotes a TCP segment,
//   - Tick once NextDeadline has passed,
//   - the API: Listen, Connect, and the Listener and Conn methods.
//
// Segments leave through Output; time comes from Clock.
type Stack struct {
	cfg Config
	out Output
	// gather is out as a GatherOutput, nil if it is not one.
	gather GatherOutput
	clock  Clock
	key    [32]byte // SHA-256 of Config.Secret

	conns     map[tuple]*Conn
	list      []*Conn // the same connections, for deterministic timer order
	listeners map[uint16]*Listener

	c     Counters
	epoch time.Time // the timestamp clock's zero (tsClock)
	tx    []byte    // scratch for the segment being sent: one MTU, or the offload size

	offload int // the largest offloaded segment (SetOffload), 0: off

	nextEphemeral uint32 // RFC 6056 algorithm 3's counter

	// Challenge ACK budget (RFC 5961 section 7): count in the second
	// that began at challengeStart.
	challengeStart time.Time
	challengeCount int

	woken    []*notifier // notifiers to call when the current call ends
	flushing bool
	due      []*Conn // scratch for Tick
}

// tuple identifies a connection: our address and port, the peer's.
type tuple struct {
	local, remote netip.AddrPort
}

// New returns an engine that sends through out and reads time from clock.
// The config's zero fields take their defaults; invalid values are
// ErrInvalidConfig.
func New(cfg Config, out Output, clock Clock) (*Stack, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if out == nil || clock == nil {
		return nil, ErrInvalidConfig
	}
	s := &Stack{
		cfg:       cfg,
		out:       out,
		clock:     clock,
		key:       sha256.Sum256(cfg.Secret),
		conns:     make(map[tuple]*Conn),
		listeners: make(map[uint16]*Listener),
		tx:        make([]byte, cfg.MTU),
		epoch:     clock.Now(),
	}
	s.gather, _ = out.(GatherOutput)
	s.SetOffload(cfg.Offload)
	return s, nil
}

// SetOffload sets the largest segment (TCP header and data, bytes) the
// engine may hand its Output to be cut into MSS-sized segments from now
// on (TCP segmentation offload); 0 turns it off. It takes effect only
// when the Output is an OffloadOutput, and values Config.Offload would
// refuse turn it off.
func (s *Stack) SetOffload(max int) {
	if _, ok := s.out.(OffloadOutput); !ok || !validOffload(max, s.cfg.MTU) {
		max = 0
	}
	s.offload = max
	if len(s.tx) < max {
		s.tx = make([]byte, max)
	}
}

// Offload returns what SetOffload set (0 when off).
func (s *Stack) Offload() int { return s.offload }

// Config returns the configuration in use, defaults filled in.
func (s *Stack) Config() Config { return s.cfg }

// Counters returns a snapshot of the counters.
func (s *Stack) Counters() Counters {
	c := s.c
	for _, cn := range s.list {
		if cn.state == Established || cn.state == CloseWait {
			c.CurrEstab++
		}
	}
	return c
}

// Conns returns the Info of every connection in the table (half-open,
// established, closing, TIME-WAIT), for netstat.
func (s *Stack) Conns() []Info {
	out := make([]Info, len(s.list))
	for i, c := range s.list {
		out[i] = c.Info()
	}
	return out
}

// verdict is how the processing of one received segment ended; each maps
// to one terminal counter.
type verdict uint8

const (
	vAccepted verdict = iota
	vMalformed
	vBadChecksum
	vBadAddress
	vNoConnection
	vListenSYN
	vListenOverflow
	vSynQueueFull
	vListenOther
	vSynSentDrop
	vOutOfWindow
	vBadACK
	vNoACK
	vChallenged
	vReset
	vTimeWaitRST
	vAfterClose
	vAcceptQueueFull
	vSynRetransmit
	vPAWS
	vRedispatch // not terminal: a TIME-WAIT connection gave way; look again
)

// count increments v's terminal counter.
func (s *Stack) count(v verdict) {
	c := &s.c
	p := [...]*uint64{
		vAccepted: &c.RxAccepted, vMalformed: &c.RxMalformed, vBadChecksum: &c.RxBadChecksum,
		vBadAddress: &c.RxBadAddress, vNoConnection: &c.RxNoConnection, vListenSYN: &c.RxListenSYN,
		vListenOverflow: &c.RxListenOverflow, vSynQueueFull: &c.RxSynQueueFull,
		vListenOther: &c.RxListenOther, vSynSentDrop: &c.RxSynSentDrop, vOutOfWindow: &c.RxOutOfWindow,
		vBadACK: &c.RxBadACK, vNoACK: &c.RxNoACK, vChallenged: &c.RxChallenged, vReset: &c.RxReset,
		vTimeWaitRST: &c.RxTimeWaitRST, vAfterClose: &c.RxAfterClose,
		vAcceptQueueFull: &c.RxAcceptQueueFull, vSynRetransmit: &c.RxSynRetransmit,
		vPAWS: &c.RxPAWS,
	}
	*p[v]++
}

// Input processes one TCP segment from src to dst (the IPv4 payload of a
// datagram netd delivered). seg is only read during the call.
func (s *Stack) Input(src, dst netip.Addr, b []byte) {
	defer s.flush()
	s.c.RxSegments++
	s.count(s.input(src, dst, b))
}

func (s *Stack) input(src, dst netip.Addr, b []byte) verdict {
	if !unicast(src) || !unicast(dst) {
		return vBadAddress
	}
	seg, err := wire.Parse(b)
	if err != nil {
		return vMalformed
	}
	if seg.VerifyChecksum(src, dst) != nil {
		return vBadChecksum
	}
	if seg.SrcPort() == 0 || seg.DstPort() == 0 {
		return vBadAddress
	}
	t := tuple{netip.AddrPortFrom(dst, seg.DstPort()), netip.AddrPortFrom(src, seg.SrcPort())}
	if c := s.conns[t]; c != nil {
		v := c.input(seg)
		if v != vRedispatch {
			if c.state != Closed {
				c.output()
			}
			return v
		}
	}
	if l := s.listenerFor(dst, seg.DstPort()); l != nil {
		return l.input(t, seg)
	}
	s.resetFor(t, seg)
	return vNoConnection
}

// unicast reports whether a is an IPv4 address a connection can use.
func unicast(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// listenerFor returns the listener for a segment to dst:port, if any.
func (s *Stack) listenerFor(dst netip.Addr, port uint16) *Listener {
	l := s.listeners[port]
	if l == nil || (!l.local.Addr().IsUnspecified() && l.local.Addr() != dst) {
		return nil
	}
	return l
}

// resetFor answers a segment that reached no connection (RFC 9293
// 3.10.7.1): with <SEQ=SEG.ACK><CTL=RST> if it carried an ACK, else with
// <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. A RST is never answered.
func (s *Stack) resetFor(t tuple, seg wire.Segment) {
	if seg.Flags()&wire.FlagRST != 0 {
		return
	}
	if seg.Flags()&wire.FlagACK != 0 {
		s.sendReset(t, seq(seg.Ack()), 0, false)
		return
	}
	s.sendReset(t, 0, seq(seg.Seq()).add(seg.SeqLen()), true)
}

// sendReset sends a RST from t.local to t.remote, with an ACK if withACK.
func (s *Stack) sendReset(t tuple, sq, ack seq, withACK bool) {
	r := wire.Repr{SrcPort: t.local.Port(), DstPort: t.remote.Port(), Seq: uint32(sq), Flags: wire.FlagRST}
	if withACK {
		r.Ack, r.Flags = uint32(ack), wire.FlagRST|wire.FlagACK
	}
	s.transmit(t, r, s.tx[:wire.HeaderLen])
}

// tsClock returns the stack's timestamp clock at now (RFC 7323 5.4): one
// tick a millisecond since the stack started.
func (s *Stack) tsClock(now time.Time) uint32 {
	return uint32(now.Sub(s.epoch) / time.Millisecond)
}

// transmit emits r into b (b's payload already in place) and hands the
// segment to Output.
func (s *Stack) transmit(t tuple, r wire.Repr, b []byte) {
	if err := r.Emit(b, t.local.Addr(), t.remote.Addr()); err != nil {
		s.c.TxErrors++
		return
	}
	if r.Flags&wire.FlagRST != 0 {
		s.c.TxRSTs++
	}
	if err := s.out.SendSegment(t.local.Addr(), t.remote.Addr(), b); err != nil {
		s.c.TxErrors++
		return
	}
	s.c.TxSegments++
}

// transmitOffloaded emits r into seg without its checksum and hands the
// segment to the OffloadOutput, to be cut into mss-sized segments: seg is
// header and payload, or, when more holds the payload (from the send
// buffer, for the GatherOutput), the header alone.
func (s *Stack) transmitOffloaded(t tuple, r wire.Repr, seg []byte, more [][]byte, mss int) {
	n := len(seg) - r.HeaderLen()
	for _, m := range more {
		n += len(m)
	}
	if r.HeaderLen()+n > wire.MaxSegmentLen {
		s.c.TxErrors++
		return
	}
	if err := r.EmitNoChecksum(seg, t.local.Addr(), t.remote.Addr()); err != nil {
		s.c.TxErrors++
		return
	}
	var err error
	if len(more) > 0 {
		err = s.gather.SendOffloadedGather(t.local.Addr(), t.remote.Addr(), seg, more, mss)
	} else {
		err = s.out.(OffloadOutput).SendOffloaded(t.local.Addr(), t.remote.Addr(), seg, mss)
	}
	if err != nil {
		s.c.TxErrors++
		return
	}
	s.c.TxSegments++
	s.c.TxOffloaded++
	s.c.TxOffloadedBytes += uint64(n)
}

// challengeAllowed spends one challenge ACK from the per-second budget.
func (s *Stack) challengeAllowed(now time.Time) bool {
	if now.Sub(s.challengeStart) >= time.Second {
		s.challengeStart, s.challengeCount = now, 0
	}
	if s.challengeCount >= ChallengeACKsPerSecond {
		s.c.ChallengeLimited++
		return false
	}
	s.challengeCount++
	return true
}

// add puts c in the connection table.
func (s *Stack) add(c *Conn) {
	s.conns[c.id] = c
	c.index = len(s.list)
	s.list = append(s.list, c)
}

// remove takes c out of the connection table.
func (s *Stack) remove(c *Conn) {
	if s.conns[c.id] != c {
		return
	}
	delete(s.conns, c.id)
	last := s.list[len(s.list)-1]
	s.list[c.index] = last
	last.index = c.index
	s.list[len(s.list)-1] = nil
	s.list = s.list[:len(s.list)-1]
}

// NextDeadline returns the earliest time a connection's timer is due, and
// false when no timer runs.
func (s *Stack) NextDeadline() (time.Time, bool) {
	var next time.Time
	for _, c := range s.list {
		next = earliest(next, c.deadline())
	}
	return next, !next.IsZero()
}

// Tick runs every timer that is due. Calling it early is harmless.
func (s *Stack) Tick() {
	defer s.flush()
	now := s.clock.Now()
	s.due = s.due[:0]
	for _, c := range s.list {
		if d := c.deadline(); !d.IsZero() && !d.After(now) {
			s.due = append(s.due, c)
		}
	}
	for _, c := range s.due {
		if c.state != Closed {
			c.timers(now)
		}
		if c.state != Closed {
			c.output()
		}
	}
	clear(s.due)
}

// earliest returns the earlier of two times, a zero time meaning "none".
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// notifier is a Conn's or a Listener's readiness callback; pending keeps
// one call per flush.
type notifier struct {
	fn      func()
	pending bool
}

// wake schedules n's callback for the end of the current call.
func (s *Stack) wake(n *notifier) {
	if n.fn == nil || n.pending {
		return
	}
	n.pending = true
	s.woken = append(s.woken, n)
}

// flush runs the scheduled callbacks, including those scheduled by
// callbacks (which may call the API: nested calls do not flush).
func (s *Stack) flush() {
	if s.flushing {
		return
	}
	s.flushing = true
	for i := 0; i < len(s.woken); i++ {
		n := s.woken[i]
		s.woken[i] = nil
		n.pending = false
		if n.fn != nil {
			n.fn()
		}
	}
	s.woken = s.woken[:0]
	s.flushing = false
}
