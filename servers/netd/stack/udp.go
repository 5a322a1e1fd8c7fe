package stack

import (
	"net/netip"

	"armos/libipc/skbuff"
	"armos/servers/netd/wire"
)

// udpInput handles a UDP datagram (payload) carried by the datagram with
// header hdr, queueing it on its endpoint (which then owns b) or dropping it.
func (s *Stack) udpInput(b *skbuff.Buf, hdr wire.IPv4, payload []byte, bcast bool) {
	s.c.UDP.RxDatagrams++
	u, err := wire.ParseUDP(payload)
	if err != nil {
		if len(payload) < wire.UDPHeaderLen {
			s.c.UDP.RxTruncated++
		} else {
			s.c.UDP.RxBadLength++
		}
		freeBuf(b)
		return
	}
	src, dst := hdr.Src(), hdr.Dst()
	if u.VerifyChecksum(src, dst) != nil {
		s.c.UDP.RxBadChecksum++
		freeBuf(b)
		return
	}
	ep := s.udp[u.DstPort()]
	if ep != nil && !ep.local.Addr().IsUnspecified() && dst != ep.local.Addr() {
		ep = nil // bound to our unicast address: broadcasts are not for it
	}
	if ep == nil {
		if bcast { // at either layer: never answered (RFC 1122 3.2.2)
			s.c.UDP.RxNoPortBcast++
		} else {
			s.c.UDP.RxNoPort++
			s.icmpError(wire.ICMPv4DstUnreachable, wire.ICMPv4PortUnreachable, hdr, payload, bcast)
		}
		freeBuf(b)
		return
	}
	if b != nil {
		_ = b.Mark(skbuff.TransportLayer)
	}
	ep.deliver(b, u.Payload(), netip.AddrPortFrom(src, u.SrcPort()), dst)
}

// sendUDP builds and sends one datagram from ep.
func (s *Stack) sendUDP(ep *UDPEndpoint, payload []byte, dst netip.AddrPort) error {
	defer s.runLoopback()
	da := dst.Addr()
	if !da.Is4() || da.IsUnspecified() || dst.Port() == 0 {
		return ErrInvalidAddr
	}
	if len(payload) > MaxUDPPayload {
		return ErrMessageTooLong
	}
	rt, err := s.route(da)
	if err != nil {
		s.c.IPv4.TxNoRoute++
		return err
	}
	if s.isBroadcast(da) && !ep.bcast {
		return ErrBroadcastForbidden
	}
	la := ep.local.Addr()
	if !la.IsUnspecified() && la != s.cfg.Addr.Addr() && !rt.loopback {
		return ErrAddrNotAvailable // bound to an address we no longer have
	}
	if !s.cfg.Addr.IsValid() && !rt.loopback {
		if !la.IsUnspecified() || da != limitedBroadcast { // route allows nothing else
			return ErrNoRoute
		}
		s.c.UDP.TxUnconfigured++
	}
	b, seg, err := s.newSegment(wire.UDPHeaderLen + len(payload))
	if err != nil {
		s.c.UDP.TxErrors++
		return err
	}
	copy(seg[wire.UDPHeaderLen:], payload)
	_ = wire.UDPRepr{SrcPort: ep.local.Port(), DstPort: dst.Port()}.Emit(seg, s.SourceAddr(da), da)
	if err := s.sendSegment(b, seg, da, wire.IPProtocolUDP, rt); err != nil {
		s.c.UDP.TxErrors++
		return err
	}
	s.c.UDP.TxDatagrams++
	return nil
}
