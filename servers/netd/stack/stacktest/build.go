package stacktest

import (
	"net/netip"

	"armos/servers/netd/wire"
)

// Builders of inbound test frames. They emit with the wire package, so
// checksums and lengths are right unless a test corrupts them afterwards.
// They panic on impossible input (a test bug), never on packet content.

func must(err error) {
	if err != nil {
		panic("stacktest: " + err.Error())
	}
}

// Ethernet returns an Ethernet frame carrying payload.
func Ethernet(dst, src wire.MAC, typ wire.EtherType, payload []byte) []byte {
	f := make([]byte, wire.EthernetHeaderLen+len(payload))
	must(wire.EthernetRepr{Dst: dst, Src: src, Type: typ}.Emit(f))
	copy(f[wire.EthernetHeaderLen:], payload)
	return f
}

// ARP returns an Ethernet frame with an ARP packet: requests go to the
// broadcast address, replies to tmac.
func ARP(op wire.ARPOp, smac wire.MAC, sip netip.Addr, tmac wire.MAC, tip netip.Addr) []byte {
	p := make([]byte, wire.ARPLen)
	must(wire.ARPRepr{Op: op, SenderMAC: smac, SenderIP: sip, TargetMAC: tmac, TargetIP: tip}.Emit(p))
	dst := tmac
	if op == wire.ARPRequest {
		dst = wire.BroadcastMAC
	}
	return Ethernet(dst, smac, wire.EtherTypeARP, p)
}

// IPv4 returns an IPv4 packet with header r (PayloadLen is set from payload;
// TTL defaults to 64) carrying payload.
func IPv4(r wire.IPv4Repr, payload []byte) []byte {
	r.PayloadLen = len(payload)
	if r.TTL == 0 {
		r.TTL = 64
	}
	p := make([]byte, r.HeaderLen()+len(payload))
	must(r.Emit(p))
	copy(p[r.HeaderLen():], payload)
	return p
}

// UDP returns a UDP datagram (header and payload, checksummed for src/dst).
func UDP(src, dst netip.AddrPort, payload []byte) []byte {
	u := make([]byte, wire.UDPHeaderLen+len(payload))
	copy(u[wire.UDPHeaderLen:], payload)
	must(wire.UDPRepr{SrcPort: src.Port(), DstPort: dst.Port()}.Emit(u, src.Addr(), dst.Addr()))
	return u
}

// ICMP returns an ICMP message with header r and payload.
func ICMP(r wire.ICMPv4Repr, payload []byte) []byte {
	m := make([]byte, wire.ICMPv4HeaderLen+len(payload))
	copy(m[wire.ICMPv4HeaderLen:], payload)
	must(r.Emit(m))
	return m
}

// Host is a simulated peer on the link: it builds the frames it would send.
type Host struct {
	MAC  wire.MAC
	Addr netip.Addr
}

// IPFrame returns an Ethernet frame from h to dstMAC with an IPv4 packet
// from h to dst carrying proto's payload.
func (h Host) IPFrame(dstMAC wire.MAC, dst netip.Addr, proto wire.IPProtocol, payload []byte) []byte {
	return Ethernet(dstMAC, h.MAC, wire.EtherTypeIPv4, IPv4(wire.IPv4Repr{Src: h.Addr, Dst: dst, Protocol: proto}, payload))
}

// UDPFrame returns a frame from h carrying a UDP datagram from h's port
// sport to dst.
func (h Host) UDPFrame(dstMAC wire.MAC, sport uint16, dst netip.AddrPort, payload []byte) []byte {
	return h.IPFrame(dstMAC, dst.Addr(), wire.IPProtocolUDP, UDP(netip.AddrPortFrom(h.Addr, sport), dst, payload))
}

// EchoFrame returns a frame from h carrying an ICMP echo request (or reply).
func (h Host) EchoFrame(dstMAC wire.MAC, dst netip.Addr, typ wire.ICMPv4Type, id, seq uint16, data []byte) []byte {
	return h.IPFrame(dstMAC, dst, wire.IPProtocolICMP, ICMP(wire.ICMPv4Repr{Type: typ, Ident: id, Seq: seq}, data))
}

// ARPRequest returns h's ARP request for target.
func (h Host) ARPRequest(target netip.Addr) []byte {
	return ARP(wire.ARPRequest, h.MAC, h.Addr, wire.MAC{}, target)
}

// ARPReply returns h's ARP reply to (tmac, tip).
func (h Host) ARPReply(tmac wire.MAC, tip netip.Addr) []byte {
	return ARP(wire.ARPReply, h.MAC, h.Addr, tmac, tip)
}

// Fragments splits the IPv4 packet pkt (unfragmented, no options needed)
// into fragments of at most mtu bytes, returned as IPv4 packets in order.
func Fragments(pkt []byte, mtu int) [][]byte {
	ip, err := wire.ParseIPv4(pkt)
	must(err)
	r := ip.Repr()
	payload := ip.Payload()
	chunk := (mtu - r.HeaderLen()) &^ 7
	var out [][]byte
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		fr := r
		fr.FragmentOffset, fr.MoreFragments = off, end < len(payload)
		out = append(out, IPv4(fr, payload[off:end]))
	}
	return out
}
