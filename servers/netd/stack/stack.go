package stack

import (
	"net/netip"
	"sync/atomic"
	"time"

	"armos/libipc/skbuff"
)

// Link is where the stack sends frames: the device side of netd (the
// virtio-net driver's channel, a TAP device, a test link).
type Link interface {
	// Transmit sends one Ethernet frame (b.Bytes(), starting with the
	// Ethernet header; no FCS). Transmit takes ownership of b whether or
	// not it returns an error: the link frees it when done.
	Transmit(b *skbuff.Buf) error
}

// Config configures the stack's single interface.
type Config struct {
	MAC     MAC          // the interface's Ethernet address
	Addr    netip.Prefix // IPv4 address and subnet, e.g. 10.0.2.15/24; zero: unconfigured (configure.go)
	Gateway netip.Addr   // default router; zero for none (subnet only)
	MTU     int          // IP MTU; 0 means DefaultMTU
	Dev     skbuff.DevID // device id stamped on outgoing buffers
	// Probe makes the address tentative until RFC 5227 probing finds it
	// free (probe.go); off, it is used at once.
	Probe bool
	// ARPLifetime is how long a resolved neighbour stays valid; 0 means
	// ARPEntryLifetime (tests shorten it to see entries expire).
	ARPLifetime time.Duration
}

// MaxMTU is the largest MTU the stack accepts: a full IP packet must fit in a
// packet buffer after its DefaultHeadroom.
const MaxMTU = skbuff.MaxPacketSize - skbuff.DefaultHeadroom

// Stack is netd's protocol engine: Ethernet, ARP, IPv4 with fragmentation
// and reassembly, ICMP and UDP, for one interface.
//
// A Stack is passive and single-goroutine: it has no goroutines or timers of
// its own. Its owner calls Input for each received frame, Tick when
// NextDeadline says a timer is due, and the API (BindUDP, Ping, SendIP, ...)
// from the same goroutine; the stack calls Link.Transmit, endpoint notify
// callbacks and protocol handlers synchronously from those calls.
type Stack struct {
	cfg   Config
	link  Link
	clock Clock

	bcast netip.Addr // subnet-directed broadcast, invalid for /31 and /32
	c     Counters

	arp      arpCache
	arpLimit tokenBucket

	reasm reassembler
	ipID  ipIDGen

	tsoMax atomic.Int64 // SetTSOMax

	// address conflicts (arp.go)
	onConflict  func(AddressConflict)
	conflictMAC MAC
	lastDefend  time.Time
	probe       probeState

	icmpLimit tokenBucket // all ICMP errors
	icmpPeers peerLimiter // ICMP errors per destination
	pings     pingTable
	onEcho    func(EchoReply)

	udp           map[uint16]*UDPEndpoint
	nextEphemeral int

	protos [256]ProtocolHandler

	pkt IPPacket // reused for protocol handler calls

	scratch    []byte       // builds datagrams that need fragmenting (64 KiB, on first use)
	loopQ      skbuff.Queue // datagrams to our own address (LoopbackQueueLen)
	inLoopback bool
}

// New returns a stack for the interface described by cfg, sending through
// link and reading time from clock (SystemClock{} if nil).
func New(cfg Config, link Link, clock Clock) (*Stack, error) {
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.ARPLifetime <= 0 {
		cfg.ARPLifetime = ARPEntryLifetime
	}
	if link == nil || !validConfig(cfg) {
		return nil, opErr("new stack", netip.AddrPort{}, ErrInvalidConfig)
	}
	if clock == nil {
		clock = SystemClock{}
	}
	s := &Stack{
		cfg:       cfg,
		link:      link,
		clock:     clock,
		arpLimit:  newTokenBucket(ARPRequestBurst, ARPRequestsPerSecond),
		icmpLimit: newTokenBucket(ICMPErrorBurst, ICMPErrorsPerSecond),
		udp:       make(map[uint16]*UDPEndpoint),
	}
	if cfg.Addr.IsValid() && cfg.Addr.Bits() <= 30 {
		s.bcast = directedBroadcast(cfg.Addr)
	}
	s.arp.init()
	s.loopQ.Init(LoopbackQueueLen)
	// Start the ephemeral search somewhere that depends on the time, so
	// a restarted netd does not reuse its predecessor's first choices at
	// once; IP identifications are random per destination (ipid.go).
	ns := clock.Now().UnixNano()
	s.nextEphemeral = int(uint64(ns) % (EphemeralLast - EphemeralFirst + 1))
	s.ipID.init()
	if cfg.Probe && cfg.Addr.IsValid() {
		s.startProbing(clock.Now())
	}
	return s, nil
}

// directedBroadcast returns p's subnet-directed broadcast address.
func directedBroadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Config returns the stack's configuration (with defaults filled in).
func (s *Stack) Config() Config { return s.cfg }

// Counters returns a snapshot of the stack's counters.
func (s *Stack) Counters() Counters { return s.c }

// Now returns the stack clock's current time.
func (s *Stack) Now() time.Time { return s.clock.Now() }

// Tick runs every timer that is due: ARP retransmissions, expiry and
// failures (dropping packets that waited in vain), and reassembly timeouts;
// it also delivers datagrams waiting on the loopback queue.
// Calling it early or often is harmless.
func (s *Stack) Tick() {
	defer s.runLoopback()
	now := s.clock.Now()
	s.probeTick(now)
	s.arpTick(now)
	s.reasm.expire(now, s.reasmExpired)
}

// NextDeadline returns when Tick next needs to run, and false if no timer is
// pending (the owner can then wait for input alone).
func (s *Stack) NextDeadline() (time.Time, bool) {
	if s.loopQ.Len() > 0 {
		return s.clock.Now(), true // looped datagrams to deliver
	}
	t, ok := s.arpNextDeadline()
	if r, rok := s.reasm.nextDeadline(); rok && (!ok || r.Before(t)) {
		t, ok = r, true
	}
	if p, pok := s.probeDeadline(); pok && (!ok || p.Before(t)) {
		t, ok = p, true
	}
	return t, ok
}
