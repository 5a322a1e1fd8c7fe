package wire

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// ARP for Ethernet and IPv4 (RFC 826; numbers from IANA "Address Resolution
// Protocol (ARP) Parameters").
const (
	ARPLen           = 28     // Ethernet/IPv4 ARP packet: 8 + 2*(6+4)
	ARPHardwareEther = 1      // hardware type: Ethernet (10Mb)
	arpProtoIPv4     = 0x0800 // protocol type: the IPv4 EtherType
)

// ARPOp is an ARP opcode.
type ARPOp uint16

// ARP opcodes.
const (
	ARPRequest ARPOp = 1
	ARPReply   ARPOp = 2
)

// String names the opcode.
func (o ARPOp) String() string {
	switch o {
	case ARPRequest:
		return "request"
	case ARPReply:
		return "reply"
	}
	return "ARPOp(" + strconv.Itoa(int(o)) + ")"
}

// ARP is a checked view of an Ethernet/IPv4 ARP packet. Make one with
// ParseARP.
type ARP []byte

// ParseARP checks that b holds an ARP packet for Ethernet hardware addresses
// and IPv4 protocol addresses and returns a view of its 28 bytes (trailing
// Ethernet padding is dropped). Short input is ErrTruncated; any other
// hardware or protocol type or address length is ErrUnsupported. The opcode
// is not checked: callers act on ARPRequest and ARPReply and count the rest.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < ARPLen {
		return nil, ErrTruncated
	}
	if binary.BigEndian.Uint16(b[0:2]) != ARPHardwareEther ||
		binary.BigEndian.Uint16(b[2:4]) != arpProtoIPv4 ||
		b[4] != 6 || b[5] != 4 {
		return nil, ErrUnsupported
	}
	return ARP(b[:ARPLen]), nil
}

// Op returns the opcode.
func (a ARP) Op() ARPOp { return ARPOp(binary.BigEndian.Uint16(a[6:8])) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() MAC { return MAC(a[8:14]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(a[14:18])) }

// TargetMAC returns the target hardware address (zero in a request).
func (a ARP) TargetMAC() MAC { return MAC(a[18:24]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(a[24:28])) }

// Repr returns the packet's fields.
func (a ARP) Repr() ARPRepr {
	return ARPRepr{
		Op:        a.Op(),
		SenderMAC: a.SenderMAC(),
		SenderIP:  a.SenderIP(),
		TargetMAC: a.TargetMAC(),
		TargetIP:  a.TargetIP(),
	}
}

// ARPRepr holds the fields of an Ethernet/IPv4 ARP packet.
type ARPRepr struct {
	Op        ARPOp
	SenderMAC MAC
	SenderIP  netip.Addr
	TargetMAC MAC
	TargetIP  netip.Addr
}

// HeaderLen returns ARPLen.
func (r ARPRepr) HeaderLen() int { return ARPLen }

// Emit writes the packet into b[:ARPLen]. ErrShortBuffer if b is shorter,
// ErrBadAddress if SenderIP or TargetIP is not an IPv4 address.
func (r ARPRepr) Emit(b []byte) error {
	if len(b) < ARPLen {
		return ErrShortBuffer
	}
	if !r.SenderIP.Is4() || !r.TargetIP.Is4() {
		return ErrBadAddress
	}
	binary.BigEndian.PutUint16(b[0:2], ARPHardwareEther)
	binary.BigEndian.PutUint16(b[2:4], arpProtoIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:8], uint16(r.Op))
	copy(b[8:14], r.SenderMAC[:])
	sip, tip := r.SenderIP.As4(), r.TargetIP.As4()
	copy(b[14:18], sip[:])
	copy(b[18:24], r.TargetMAC[:])
	copy(b[24:28], tip[:])
	return nil
}
