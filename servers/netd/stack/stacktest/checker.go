package stacktest

import (
	"bytes"
	"net/netip"
	"testing"

	"armos/servers/netd/wire"
)

// Layers is a transmitted frame parsed as far as it goes. Fields for layers
// the frame does not have are nil. Transport layers are parsed only for
// unfragmented datagrams.
type Layers struct {
	Eth  wire.Ethernet
	ARP  wire.ARP
	IP   wire.IPv4
	UDP  wire.UDP
	ICMP wire.ICMPv4
}

// Check asserts something about a frame's layers.
type Check func(t testing.TB, l *Layers)

// Parse parses frame, failing the test if any present layer is malformed
// (bad checksums included: the stack must never send one).
func Parse(t testing.TB, frame []byte) *Layers {
	t.Helper()
	l := &Layers{}
	eth, err := wire.ParseEthernet(frame)
	if err != nil {
		t.Fatalf("ethernet: %v", err)
	}
	l.Eth = eth
	switch eth.Type() {
	case wire.EtherTypeARP:
		if l.ARP, err = wire.ParseARP(eth.Payload()); err != nil {
			t.Fatalf("arp: %v", err)
		}
	case wire.EtherTypeIPv4:
		if l.IP, err = wire.ParseIPv4(eth.Payload()); err != nil {
			t.Fatalf("ipv4: %v", err)
		}
		if l.IP.IsFragment() {
			return l
		}
		switch l.IP.Protocol() {
		case wire.IPProtocolUDP:
			if l.UDP, err = wire.ParseUDP(l.IP.Payload()); err != nil {
				t.Fatalf("udp: %v", err)
			}
			if err := l.UDP.VerifyChecksum(l.IP.Src(), l.IP.Dst()); err != nil {
				t.Fatalf("udp: %v", err)
			}
		case wire.IPProtocolICMP:
			if l.ICMP, err = wire.ParseICMPv4(l.IP.Payload()); err != nil {
				t.Fatalf("icmp: %v", err)
			}
		}
	}
	return l
}

// Frame parses frame and runs every check on it.
func Frame(t testing.TB, frame []byte, checks ...Check) *Layers {
	t.Helper()
	l := Parse(t, frame)
	for _, c := range checks {
		c(t, l)
	}
	return l
}

func fail(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Errorf(format, args...)
}

// DstMAC checks the Ethernet destination.
func DstMAC(m wire.MAC) Check {
	return func(t testing.TB, l *Layers) {
		t.Helper()
		if l.Eth.Dst() != m {
			fail(t, "ethernet dst = %v, want %v", l.Eth.Dst(), m)
		}
	}
}

// SrcMAC checks the Ethernet source.
func SrcMAC(m wire.MAC) Check {
	return func(t testing.TB, l *Layers) {
		t.Helper()
		if l.Eth.Src() != m {
			fail(t, "ethernet src = %v, want %v", l.Eth.Src(), m)
		}
	}
}

// HasARP checks that the frame is an ARP packet with this opcode, sender and
// target. A zero MAC or invalid address is not checked.
func HasARP(op wire.ARPOp, smac wire.MAC, sip netip.Addr, tmac wire.MAC, tip netip.Addr) Check {
	return func(t testing.TB, l *Layers) {
		t.Helper()
		if l.ARP == nil {
			fail(t, "not an ARP packet")
			return
		}
		r := l.ARP.Repr()
		if r.Op != op {
			fail(t, "arp op = %v, want %v", r.Op, op)
		}
		if !smac.IsZero() && r.SenderMAC != smac {
			fail(t, "arp sender mac = %v, want %v", r.SenderMAC, smac)
		}
		if sip.IsValid() && r.SenderIP != sip {
			fail(t, "arp sender ip = %v, want %v", r.SenderIP, sip)
		}
		if !tmac.IsZero() && r.TargetMAC != tmac {
			fail(t, "arp target mac = %v, want %v", r.TargetMAC, tmac)
		}
		if tip.IsValid() && r.TargetIP != tip {
			fail(t, "arp target ip = %v, want %v", r.TargetIP, tip)
		}
	}
}

// HasIPv4 checks that the frame carries an IPv4 datagram from src to dst of
// protocol proto, then runs the nested checks.
func HasIPv4(src, dst netip.Addr, proto wire.IPProtocol, checks ...Check) Check {
	return func(t testing.TB, l *Layers) {
		t.Helper()
		if l.IP == nil {
			fail(t, "not an IPv4 packet")
			return
		}
		if l.IP.Src() != src || l.IP.Dst() != dst {
			fail(t, "ipv4 %v -> %v, want %v -> %v", l.IP.Src(), l.IP.Dst(), src, dst)
		}
		if l.IP.Protocol() != proto {
			fail(t, "ipv4 protocol = %v, want %v", l.IP.Protocol(), proto)
		}
		for _, c := range checks {
			c(t, l)
		}
	}
}

// TTL checks the IPv4 TTL.
func TTL(ttl uint8) Check {
	return func(t testing.TB, l *Layers) {
		t.Helper()
		if l.IP == nil || l.IP.TTL() != ttl {
			fail(t, "ttl mismatch, want %d", ttl)
		}
	}
}

// Fragment checks the IPv4 fragment fields and payload length.
func Fragment(offset int, more bool, payloadLen int) Check {
	return func(t testing.TB, l *Layers) {
		t.Helper()
		if l.IP == nil {
			fail(t, "not an IPv4 packet")
			return
		}
		if l.IP.FragmentOffset() != offset || l.IP.MoreFragments() != more || len(l.IP.Payload()) != payloadLen {
			fail(t, "fragment offset=%d more=%v len=%d, want %d %v %d",
				l.IP.FragmentOffset(), l.IP.MoreFragments(), len(l.IP.Payload()), offset, more, payloadLen)
		}
	}
}

// HasUDP checks the UDP ports and payload (nil payload: not checked).
func HasUDP(sport, dport uint16, payload []byte) Check {
	return func(t testing.TB, l *Layers) {
		t.Helper()
		if l.UDP == nil {
			fail(t, "not a UDP datagram")
			return
		}
		if l.UDP.SrcPort() != sport || l.UDP.DstPort() != dport {
			fail(t, "udp ports %d -> %d, want %d -> %d", l.UDP.SrcPort(), l.UDP.DstPort(), sport, dport)
		}
		if payload != nil && !bytes.Equal(l.UDP.Payload(), payload) {
			fail(t, "udp payload %q, want %q", l.UDP.Payload(), payload)
		}
	}
}

// HasICMP checks the ICMP type and code.
func HasICMP(typ wire.ICMPv4Type, code wire.ICMPv4Code) Check {
	return func(t testing.TB, l *Layers) {
		t.Helper()
		if l.ICMP == nil {
			fail(t, "not an ICMP message")
			return
		}
		if l.ICMP.Type() != typ || l.ICMP.Code() != code {
			fail(t, "icmp %v code %d, want %v code %d", l.ICMP.Type(), l.ICMP.Code(), typ, code)
		}
	}
}

// HasEcho checks an ICMP echo (request or reply) identifier, sequence and data
// (nil data: not checked).
func HasEcho(typ wire.ICMPv4Type, id, seq uint16, data []byte) Check {
	return func(t testing.TB, l *Layers) {
		t.Helper()
		HasICMP(typ, 0)(t, l)
		if l.ICMP == nil {
			return
		}
		if l.ICMP.Ident() != id || l.ICMP.Seq() != seq {
			fail(t, "echo id=%d seq=%d, want %d %d", l.ICMP.Ident(), l.ICMP.Seq(), id, seq)
		}
		if data != nil && !bytes.Equal(l.ICMP.Payload(), data) {
			fail(t, "echo data differs (%d bytes, want %d)", len(l.ICMP.Payload()), len(data))
		}
	}
}

// Quotes checks that an ICMP error quotes the datagram starting with orig
// (its IPv4 header and at least the first 8 payload bytes).
func Quotes(orig []byte) Check {
	return func(t testing.TB, l *Layers) {
		t.Helper()
		if l.ICMP == nil {
			fail(t, "not an ICMP message")
			return
		}
		q := l.ICMP.Payload()
		n := min(len(orig), len(q))
		if n < wire.IPv4MinHeaderLen+8 && n < len(orig) || !bytes.Equal(q[:n], orig[:n]) {
			fail(t, "icmp quote does not match the original datagram")
		}
	}
}
