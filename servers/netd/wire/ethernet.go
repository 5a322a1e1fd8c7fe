package wire

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// Ethernet II sizes (IEEE 802.3, without the frame check sequence, which
// virtio-net and taps neither deliver nor expect).
const (
	EthernetHeaderLen   = 14   // destination, source, EtherType
	EthernetMinFrameLen = 60   // shorter frames are padded to this on transmit
	EthernetMTU         = 1500 // payload bytes in a standard frame
	EthernetMaxFrameLen = EthernetHeaderLen + EthernetMTU
)

// MAC is a 48-bit Ethernet address. It is comparable and usable as a map key.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ErrBadMAC is returned by ParseMAC for text that is not a MAC address.
var ErrBadMAC = errors.New("wire: bad MAC address syntax")

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsMulticast reports whether m is a group address (I/G bit set); broadcast
// is a multicast address.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsZero reports whether m is 00:00:00:00:00:00 (unknown, as in an ARP
// request's target hardware address).
func (m MAC) IsZero() bool { return m == MAC{} }

// String formats m as six colon-separated lower-case hex pairs.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i] = hex[v>>4]
		b[3*i+1] = hex[v&0xf]
	}
	return string(b[:])
}

// ParseMAC parses six hex pairs separated by ':' or '-' (both cases).
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, ErrBadMAC
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return m, ErrBadMAC
	}
	for i := range m {
		if i > 0 && s[3*i-1] != sep {
			return m, ErrBadMAC
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return m, ErrBadMAC
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// EtherType is the 16-bit protocol field of an Ethernet II header (IEEE
// Registration Authority; values below 0x0600 are 802.3 lengths).
type EtherType uint16

// EtherTypes armos knows by name.
const (
	EtherTypeIPv4 EtherType = 0x0800
	EtherTypeARP  EtherType = 0x0806
	EtherTypeVLAN EtherType = 0x8100 // IEEE 802.1Q tag
	EtherTypeIPv6 EtherType = 0x86dd
	EtherTypeLLDP EtherType = 0x88cc
)

// String names well-known EtherTypes and prints others as hex.
func (t EtherType) String() string {
	switch t {
	case EtherTypeIPv4:
		return "IPv4"
	case EtherTypeARP:
		return "ARP"
	case EtherTypeVLAN:
		return "802.1Q"
	case EtherTypeIPv6:
		return "IPv6"
	case EtherTypeLLDP:
		return "LLDP"
	}
	return "EtherType(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}

// Ethernet is a checked view of an Ethernet II frame: header and payload.
// Make one with ParseEthernet.
type Ethernet []byte

// ParseEthernet checks that b holds an Ethernet II header and returns a view
// of the whole frame. A frame shorter than EthernetHeaderLen is ErrTruncated;
// short frames are otherwise accepted (padding is removed by the layer above,
// which knows its own length).
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetHeaderLen {
		return nil, ErrTruncated
	}
	return Ethernet(b), nil
}

// Dst returns the destination address.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src returns the source address.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// Type returns the EtherType.
func (e Ethernet) Type() EtherType { return EtherType(binary.BigEndian.Uint16(e[12:14])) }

// Payload returns the bytes after the header (including any padding).
func (e Ethernet) Payload() []byte { return e[EthernetHeaderLen:] }

// Repr returns the header's fields.
func (e Ethernet) Repr() EthernetRepr {
	return EthernetRepr{Dst: e.Dst(), Src: e.Src(), Type: e.Type()}
}

// EthernetRepr holds the fields of an Ethernet II header.
type EthernetRepr struct {
	Dst, Src MAC
	Type     EtherType
}

// HeaderLen returns EthernetHeaderLen.
func (r EthernetRepr) HeaderLen() int { return EthernetHeaderLen }

// Emit writes the header into b[:EthernetHeaderLen] (ErrShortBuffer if b is
// shorter). Padding to EthernetMinFrameLen is the link's job.
func (r EthernetRepr) Emit(b []byte) error {
	if len(b) < EthernetHeaderLen {
		return ErrShortBuffer
	}
	copy(b[0:6], r.Dst[:])
	copy(b[6:12], r.Src[:])
	binary.BigEndian.PutUint16(b[12:14], uint16(r.Type))
	return nil
}
