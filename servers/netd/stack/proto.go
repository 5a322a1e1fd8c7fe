package stack

import (
	"net/netip"

	"armos/libipc/skbuff"
	"armos/servers/netd/wire"
)

// IPPacket is a datagram delivered to a registered protocol handler: the
// addresses and fields of its IPv4 header, the header itself, the payload,
// and what a transport needs to know of the interface it came in on. Header
// and Payload alias the stack's buffers and are valid only during the
// HandleIP call: a handler that keeps or forwards them (over IPC to tcpd,
// say) copies them first.
type IPPacket struct {
	Src, Dst  netip.Addr
	Protocol  uint8
	TTL       uint8
	TOS       uint8
	Broadcast bool         // sent to a broadcast address (IP or Ethernet): never answer with an error
	Dev       skbuff.DevID // the interface it arrived on (Config.Dev)
	MTU       int          // that interface's IP MTU (a transport derives its MSS from it)
	Header    []byte       // the IPv4 header (of the first fragment if reassembled)
	Payload   []byte       // the transport header and data
}

// ICMPError is an ICMP error (destination unreachable, time exceeded,
// parameter problem) received about a datagram of a registered protocol
// that this stack sent. Quote aliases the stack's buffer and is valid only
// during the HandleICMPError call.
type ICMPError struct {
	From     netip.Addr // who sent the error (a router, or the destination)
	Type     uint8      // wire.ICMPv4DstUnreachable, TimeExceeded or ParamProblem
	Code     uint8
	MTU      int   // next-hop MTU of "fragmentation needed" (RFC 1191), else 0
	Pointer  uint8 // the offending byte of a parameter problem, else 0
	Protocol uint8 // the quoted datagram's protocol
	// Src and Dst are the quoted datagram's addresses (Src is ours).
	Src, Dst netip.Addr
	// Quote is the quoted datagram: its IPv4 header (wire.IPv4) and as much
	// of its payload as the sender included (at least 8 bytes; Linux quotes
	// up to 548).
	Quote []byte
}

// ProtocolHandler owns an IP protocol number (TCP = 6, for instance). netd
// registers one per protocol server and forwards HandleIP's packet to that
// server's IPC channel; the server answers through Stack.SendDatagram.
type ProtocolHandler interface {
	// HandleIP receives a datagram addressed to us with the handler's
	// protocol number, after IPv4 validation and reassembly. It runs on the
	// stack's goroutine, must not block, and must not keep pkt's slices.
	HandleIP(pkt *IPPacket)
}

// ICMPErrorHandler is implemented by a ProtocolHandler that wants the ICMP
// errors quoting its datagrams (a transport reacting to unreachable
// destinations and path MTU). Handlers without it do not get them.
type ICMPErrorHandler interface {
	// HandleICMPError runs on the stack's goroutine, must not block and
	// must not keep e.Quote.
	HandleICMPError(e *ICMPError)
}

// ProtocolFunc adapts a function to ProtocolHandler.
type ProtocolFunc func(pkt *IPPacket)

// HandleIP calls f(pkt).
func (f ProtocolFunc) HandleIP(pkt *IPPacket) { f(pkt) }

// RegisterProtocol makes h the handler of IP protocol num. ICMP (1) and UDP
// (17) belong to the stack, and each number has at most one handler: both
// cases fail with ErrProtocolInUse. A datagram for an unregistered protocol
// is dropped (counted in IPv4.RxUnknownProtocol) and answered with ICMP
// protocol unreachable.
func (s *Stack) RegisterProtocol(num uint8, h ProtocolHandler) error {
	if num == protoICMP || num == protoUDP || s.protos[num] != nil {
		return opErr("register protocol", netip.AddrPort{}, ErrProtocolInUse)
	}
	if h == nil {
		return opErr("register protocol", netip.AddrPort{}, ErrInvalidConfig)
	}
	s.protos[num] = h
	return nil
}

// UnregisterProtocol removes num's handler (when its server goes away). It
// reports whether there was one.
func (s *Stack) UnregisterProtocol(num uint8) bool {
	if s.protos[num] == nil {
		return false
	}
	s.protos[num] = nil
	return true
}

// ProtocolRegistered reports whether num has a handler (the socket service
// asks before handing SOCK_STREAM sockets to the stream server).
func (s *Stack) ProtocolRegistered(num uint8) bool { return s.protos[num] != nil }

// IP protocol numbers the stack itself handles.
const (
	protoICMP = 1
	protoUDP  = 17
)

// Datagram is what a protocol server sends with SendDatagram.
type Datagram struct {
	// Src is the source address: zero for SourceAddr(Dst), else it must be
	// that address (netd has one interface; anything else is ErrInvalidAddr).
	Src      netip.Addr
	Dst      netip.Addr
	Protocol uint8
	TTL      uint8 // 0: DefaultTTL
	TOS      uint8
	// DontFragment sets DF: a datagram larger than the MTU then fails with
	// ErrMessageTooLong instead of being fragmented, and routers on the path
	// answer "fragmentation needed" (path MTU discovery, RFC 1191).
	DontFragment bool
	// Payload is the transport segment, checksummed by the caller against
	// SourceAddr(Dst). It is copied.
	Payload []byte
	// TSO, when not zero, asks for TCP segmentation offload (SendTSO):
	// Payload is one TCP segment (Protocol 6) whose data is cut into
	// segments of at most TSO bytes; its checksum need not be filled in.
	TSO int
	// Buf, when not nil, holds Payload as its data, in storage the stack
	// may write around it: SendDatagram takes it over (frees it in every
	// case) and, for an offloaded segment with InPlaceHeadroom in front,
	// builds the frame around the payload there instead of copying it
	// (netd's protocol service: the segment's own message buffer).
	Buf *skbuff.Buf
}

// InPlaceHeadroom is the headroom a Datagram's Buf needs for its frame
// to be built in place: the largest IPv4 header and the Ethernet header.
const InPlaceHeadroom = wire.IPv4MaxHeaderLen + wire.EthernetHeaderLen

// SendDatagram sends d with the stack doing routing (the gateway for
// destinations off the subnet), ARP (queueing while the neighbour is
// resolved) and fragmentation (unless DontFragment). Protocols 1 and 17 are
// the stack's own (ErrProtocolInUse).
func (s *Stack) SendDatagram(d *Datagram) error {
	defer s.runLoopback()
	if d.Buf != nil {
		// Freed unless sendTSO sends it (and clears d.Buf).
		defer func() { freeBuf(d.Buf); d.Buf = nil }()
	}
	ap := netip.AddrPortFrom(d.Dst, 0)
	if d.Protocol == protoICMP || d.Protocol == protoUDP {
		return opErr("send datagram", ap, ErrProtocolInUse)
	}
	rt, err := s.route(d.Dst)
	if err != nil {
		s.c.IPv4.TxNoRoute++
		return opErr("send datagram", ap, err)
	}
	if d.Src.IsValid() && d.Src != s.SourceAddr(d.Dst) {
		return opErr("send datagram", ap, ErrInvalidAddr)
	}
	if d.TSO != 0 {
		if err := s.sendTSO(d, rt); err != nil {
			return opErr("send datagram", ap, err)
		}
		return nil
	}
	if d.DontFragment && wire.IPv4MinHeaderLen+len(d.Payload) > s.cfg.MTU {
		s.c.IPv4.TxTooBig++
		return opErr("send datagram", ap, ErrMessageTooLong)
	}
	b, seg, err := s.newSegment(len(d.Payload))
	if err != nil {
		return opErr("send datagram", ap, err)
	}
	copy(seg, d.Payload)
	o := ipOpts{ttl: d.TTL, tos: d.TOS, df: d.DontFragment}
	if err := s.sendSegmentOpts(b, seg, d.Dst, wire.IPProtocol(d.Protocol), rt, o); err != nil {
		return opErr("send datagram", ap, err)
	}
	return nil
}

// protoICMPError hands an ICMP error m (from src) that quotes a datagram of
// a registered protocol we sent to the protocol's handler. It reports
// whether it did.
func (s *Stack) protoICMPError(from netip.Addr, m wire.ICMPv4) bool {
	orig, err := m.Original()
	if err != nil {
		return false
	}
	proto := uint8(orig.Protocol())
	if proto == protoICMP || proto == protoUDP || orig.Src() != s.SourceAddr(orig.Dst()) {
		return false
	}
	h, ok := s.protos[proto].(ICMPErrorHandler)
	if !ok {
		return false
	}
	e := ICMPError{From: from, Type: uint8(m.Type()), Code: uint8(m.Code()), Protocol: proto,
		Src: orig.Src(), Dst: orig.Dst(), Quote: m.Payload()}
	switch {
	case m.Type() == wire.ICMPv4DstUnreachable && m.Code() == wire.ICMPv4FragmentationNeeded:
		e.MTU = int(m.MTU())
	case m.Type() == wire.ICMPv4ParamProblem:
		e.Pointer = m.Pointer()
	}
	s.c.ICMP.RxProtoErrors++
	h.HandleICMPError(&e)
	return true
}
