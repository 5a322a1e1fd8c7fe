package wire

import (
	"encoding/binary"
	"net/netip"
)

// UDPHeaderLen is the size of a UDP header (RFC 768).
const UDPHeaderLen = 8

// UDP is a checked view of a UDP datagram: header and payload. Make one with
// ParseUDP.
type UDP []byte

// ParseUDP checks a UDP datagram and returns a view of exactly Length bytes.
// Fewer than 8 bytes, or fewer than the length field claims, is ErrTruncated;
// a length field below 8 is ErrBadLength. The checksum needs the IPv4
// addresses: check it with VerifyChecksum.
func ParseUDP(b []byte) (UDP, error) {
	u, err := ParseUDPHeader(b)
	if err != nil {
		return nil, err
	}
	if int(u.Length()) > len(u) {
		return nil, ErrTruncated
	}
	return u, nil
}

// ParseUDPHeader checks only the header of a UDP datagram, for the 8 bytes an
// ICMP error quotes: b needs 8 bytes and a length field of at least 8, but may
// be shorter than that length (the view is cut to the length if b is longer).
// Do not VerifyChecksum such a view: the data it covers is missing.
func ParseUDPHeader(b []byte) (UDP, error) {
	if len(b) < UDPHeaderLen {
		return nil, ErrTruncated
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n < UDPHeaderLen {
		return nil, ErrBadLength
	}
	if n < len(b) {
		b = b[:n]
	}
	return UDP(b), nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:2]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:4]) }

// Length returns the length field (header plus payload; equals len(u) in a
// parsed view).
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[4:6]) }

// Checksum returns the checksum field; zero means the sender computed none.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[6:8]) }

// Payload returns the bytes after the header.
func (u UDP) Payload() []byte { return u[UDPHeaderLen:] }

// VerifyChecksum checks the checksum over the IPv4 pseudo-header (src, dst,
// protocol 17, length) and the datagram. A zero checksum field means "no
// checksum" (RFC 768) and is accepted. A mismatch is ErrBadChecksum.
func (u UDP) VerifyChecksum(src, dst netip.Addr) error {
	if u.Checksum() == 0 {
		return nil
	}
	if Checksum(u, PseudoHeaderChecksum(IPProtocolUDP, src, dst, uint16(len(u)))) != 0xffff {
		return ErrBadChecksum
	}
	return nil
}

// Repr returns the header's ports, and NoChecksum if the checksum field is 0.
func (u UDP) Repr() UDPRepr {
	return UDPRepr{SrcPort: u.SrcPort(), DstPort: u.DstPort(), NoChecksum: u.Checksum() == 0}
}

// UDPRepr holds the fields of a UDP header that a sender chooses; the length
// and checksum follow from the datagram.
type UDPRepr struct {
	SrcPort, DstPort uint16
	// NoChecksum sends a zero checksum ("none", RFC 768) instead of
	// computing one.
	NoChecksum bool
}

// HeaderLen returns UDPHeaderLen.
func (r UDPRepr) HeaderLen() int { return UDPHeaderLen }

// Emit writes the header into b[:8], where b is the whole datagram (header
// space followed by the payload already in place, as after skbuff Put and
// Push), setting the length to len(b) and the checksum over the IPv4
// pseudo-header and b (or to zero if NoChecksum is set). A computed checksum
// of zero is sent as 0xffff (RFC 768). Errors: ErrShortBuffer (b under 8 bytes), ErrBadLength (over 65535),
// ErrBadAddress (src or dst not IPv4).
func (r UDPRepr) Emit(b []byte, src, dst netip.Addr) error {
	if len(b) < UDPHeaderLen {
		return ErrShortBuffer
	}
	if len(b) > 0xffff {
		return ErrBadLength
	}
	if !src.Is4() || !dst.Is4() {
		return ErrBadAddress
	}
	binary.BigEndian.PutUint16(b[0:2], r.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], r.DstPort)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
	b[6], b[7] = 0, 0
	if r.NoChecksum {
		return nil
	}
	c := ^Checksum(b, PseudoHeaderChecksum(IPProtocolUDP, src, dst, uint16(len(b))))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(b[6:8], c)
	return nil
}
