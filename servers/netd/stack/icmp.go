package stack

import (
	"net/netip"

	"armos/libipc/skbuff"
	"armos/servers/netd/wire"
)

// icmpQuoteMax is how much of an offending datagram an ICMP error quotes:
// as much as fits in a 576-byte datagram, as Linux does (RFC 1812 4.3.2.3).
const icmpQuoteMax = 576 - wire.IPv4MinHeaderLen - wire.ICMPv4HeaderLen

// icmpInput handles an ICMP message (payload) carried by the datagram with
// header hdr, and frees b. bcast tells whether the datagram was broadcast at
// the IP or the Ethernet layer.
func (s *Stack) icmpInput(b *skbuff.Buf, hdr wire.IPv4, payload []byte, bcast bool) {
	defer freeBuf(b)
	s.c.ICMP.RxMessages++
	m, err := wire.ParseICMPv4(payload)
	if err != nil {
		if err == wire.ErrBadChecksum {
			s.c.ICMP.RxBadChecksum++
		} else {
			s.c.ICMP.RxTruncated++
		}
		return
	}
	switch m.Type() {
	case wire.ICMPv4Echo:
		s.c.ICMP.RxEchoRequests++
		if s.isBroadcast(hdr.Dst()) {
			s.c.ICMP.RxEchoBroadcast++
			return
		}
		s.echoReply(hdr.Src(), m)
	case wire.ICMPv4EchoReply:
		s.c.ICMP.RxEchoReplies++
		sent, ok := s.pings.match(hdr.Src(), m.Ident(), m.Seq())
		if !ok {
			s.c.ICMP.RxEchoUnmatched++
			return
		}
		if s.onEcho != nil {
			s.onEcho(EchoReply{From: hdr.Src(), ID: m.Ident(), Seq: m.Seq(), RTT: s.clock.Now().Sub(sent), Len: len(m.Payload()), TTL: hdr.TTL()})
		}
	case wire.ICMPv4DstUnreachable:
		s.c.ICMP.RxDestUnreachable++
		if !s.protoICMPError(hdr.Src(), m) {
			s.udpUnreachable(m)
		}
	case wire.ICMPv4TimeExceeded:
		s.c.ICMP.RxTimeExceeded++
		s.protoICMPError(hdr.Src(), m)
	case wire.ICMPv4ParamProblem:
		s.c.ICMP.RxParamProblem++
		s.protoICMPError(hdr.Src(), m)
	default:
		s.c.ICMP.RxOtherTypes++
	}
}

// echoReply answers the echo request m from src with the same identifier,
// sequence number and data.
func (s *Stack) echoReply(src netip.Addr, m wire.ICMPv4) {
	rt, err := s.route(src)
	if err != nil {
		s.c.IPv4.TxNoRoute++
		return
	}
	b, seg, err := s.newSegment(len(m))
	if err != nil {
		return
	}
	copy(seg[wire.ICMPv4HeaderLen:], m.Payload())
	_ = wire.ICMPv4Repr{Type: wire.ICMPv4EchoReply, Ident: m.Ident(), Seq: m.Seq()}.Emit(seg)
	s.c.ICMP.TxEchoReplies++
	_ = s.sendSegment(b, seg, src, wire.IPProtocolICMP, rt)
}

// icmpError sends an ICMP error of type typ and code about the datagram
// with header hdr and payload, unless a rule forbids it (RFC 1122 3.2.2: never
// about a broadcast, never about an ICMP error, never to a source that does
// not name one host) or a rate limit is exhausted: per destination, then
// for all errors, as Linux does. All cases are counted.
func (s *Stack) icmpError(typ wire.ICMPv4Type, code wire.ICMPv4Code, hdr wire.IPv4, payload []byte, bcast bool) {
	src := hdr.Src()
	if bcast || !src.Is4() || src.IsUnspecified() || src.IsMulticast() || s.isBroadcast(src) ||
		(hdr.Protocol() == wire.IPProtocolICMP && (len(payload) == 0 || wire.ICMPv4Type(payload[0]).IsError())) {
		s.c.ICMP.ErrSuppressed++
		return
	}
	now := s.clock.Now()
	if !s.icmpPeers.allow(src, now) {
		s.c.ICMP.ErrPeerRateLimited++
		return
	}
	if !s.icmpLimit.take(now) {
		s.c.ICMP.ErrRateLimited++
		return
	}
	rt, err := s.route(src)
	if err != nil {
		s.c.IPv4.TxNoRoute++
		return
	}
	h := hdr.Header()
	quote := min(len(h)+len(payload), icmpQuoteMax)
	b, seg, err := s.newSegment(wire.ICMPv4HeaderLen + quote)
	if err != nil {
		return
	}
	n := copy(seg[wire.ICMPv4HeaderLen:], h)
	copy(seg[wire.ICMPv4HeaderLen+n:], payload)
	_ = wire.ICMPv4Repr{Type: typ, Code: code}.Emit(seg)
	if typ == wire.ICMPv4TimeExceeded {
		s.c.ICMP.TxTimeExceeded++
	} else {
		s.c.ICMP.TxDestUnreachable++
	}
	_ = s.sendSegment(b, seg, src, wire.IPProtocolICMP, rt)
}

// Ping sends an ICMP echo request to dst with identifier id, sequence number
// seq and the given data (copied). The reply, if any, is reported to the
// SetEchoHandler callback with its round-trip time by the stack's clock.
// The stack remembers the last PingOutstanding requests; a reply to an older
// one counts as unmatched. A broadcast destination is allowed (ping -b):
// every reply is reported.
func (s *Stack) Ping(dst netip.Addr, id, seq uint16, data []byte) error {
	defer s.runLoopback()
	ap := netip.AddrPortFrom(dst, 0)
	rt, err := s.route(dst)
	if err != nil {
		s.c.IPv4.TxNoRoute++
		return opErr("ping", ap, err)
	}
	if len(data) > maxIPv4Len-wire.IPv4MinHeaderLen-wire.ICMPv4HeaderLen {
		return opErr("ping", ap, ErrMessageTooLong)
	}
	b, seg, err := s.newSegment(wire.ICMPv4HeaderLen + len(data))
	if err != nil {
		return opErr("ping", ap, err)
	}
	copy(seg[wire.ICMPv4HeaderLen:], data)
	_ = wire.ICMPv4Repr{Type: wire.ICMPv4Echo, Ident: id, Seq: seq}.Emit(seg)
	if s.pings.add(dst, id, seq, s.clock.Now(), rt.broadcast) {
		s.c.ICMP.PingTableFull++
	}
	s.c.ICMP.TxEchoRequests++
	if err := s.sendSegment(b, seg, dst, wire.IPProtocolICMP, rt); err != nil {
		return opErr("ping", ap, err)
	}
	return nil
}

// udpUnreachable reports a destination-unreachable error about one of our
// UDP datagrams to the connected endpoint that sent it, as Linux sets
// sk_err on a connected socket (ECONNREFUSED for port unreachable).
// Unconnected endpoints are not told: a datagram socket that sends
// anywhere cannot tell which send failed.
func (s *Stack) udpUnreachable(m wire.ICMPv4) {
	orig, err := m.Original()
	if err != nil || orig.Protocol() != wire.IPProtocolUDP || orig.Src() != s.SourceAddr(orig.Dst()) {
		return
	}
	quoted := orig[orig.HeaderLen():]
	if len(quoted) < 4 {
		return
	}
	sport := uint16(quoted[0])<<8 | uint16(quoted[1])
	dport := uint16(quoted[2])<<8 | uint16(quoted[3])
	ep := s.udp[sport]
	if ep == nil || ep.remote != netip.AddrPortFrom(orig.Dst(), dport) {
		return
	}
	switch m.Code() {
	case wire.ICMPv4PortUnreachable, wire.ICMPv4ProtoUnreachable:
		ep.err = ErrConnRefused
	default:
		ep.err = ErrHostUnreachable
	}
	s.c.UDP.RxICMPErrors++
	if ep.notify != nil {
		ep.notify()
	}
}
