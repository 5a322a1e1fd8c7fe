package stack

import "net/netip"

// IPPacket is a datagram delivered to a registered protocol handler: the
// addresses and fields of its IPv4 header, the header itself and the
// payload. Header and Payload alias the stack's buffers and are valid only
// during the HandleIP call: a handler that keeps or forwards them (over IPC
// to tcpd, say) copies them first.
type IPPacket struct {
	Src, Dst  netip.Addr
	Protocol  uint8
	TTL       uint8
	TOS       uint8
	Broadcast bool   // sent to a broadcast address (IP or Ethernet): never answer with an error
	Header    []byte // the IPv4 header (of the first fragment if reassembled)
	Payload   []byte // the transport header and data
}

// ProtocolHandler owns an IP protocol number (TCP = 6, for instance). netd
// registers one per protocol server and forwards HandleIP's packet to that
// server's IPC channel; the server answers through Stack.SendIP.
type ProtocolHandler interface {
	// HandleIP receives a datagram addressed to us with the handler's
	// protocol number, after IPv4 validation and reassembly. It runs on the
	// stack's goroutine, must not block, and must not keep pkt's slices.
	HandleIP(pkt *IPPacket)
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

// IP protocol numbers the stack itself handles.
const (
	protoICMP = 1
	protoUDP  = 17
)
