package wire

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// IPv4 sizes and defaults (RFC 791; default TTL from RFC 1700/Linux).
const (
	IPv4MinHeaderLen  = 20
	IPv4MaxHeaderLen  = 60 // IHL = 15
	IPv4MaxOptionsLen = IPv4MaxHeaderLen - IPv4MinHeaderLen
	IPv4MaxTotalLen   = 65535
	IPv4DefaultTTL    = 64
	IPv4FragmentUnit  = 8 // the fragment offset counts 8-byte units

	ipv4FlagDF         = 0x4000
	ipv4FlagMF         = 0x2000
	ipv4FragOffsetMask = 0x1fff
)

// IPProtocol is an IPv4 protocol number (IANA "Assigned Internet Protocol
// Numbers").
type IPProtocol uint8

// IP protocol numbers armos knows by name.
const (
	IPProtocolICMP    IPProtocol = 1
	IPProtocolIGMP    IPProtocol = 2
	IPProtocolTCP     IPProtocol = 6
	IPProtocolUDP     IPProtocol = 17
	IPProtocolGRE     IPProtocol = 47
	IPProtocolICMPv6  IPProtocol = 58
	IPProtocolSCTP    IPProtocol = 132
	IPProtocolUDPLite IPProtocol = 136
)

// String names well-known protocols and prints others as numbers.
func (p IPProtocol) String() string {
	switch p {
	case IPProtocolICMP:
		return "ICMP"
	case IPProtocolIGMP:
		return "IGMP"
	case IPProtocolTCP:
		return "TCP"
	case IPProtocolUDP:
		return "UDP"
	case IPProtocolGRE:
		return "GRE"
	case IPProtocolICMPv6:
		return "ICMPv6"
	case IPProtocolSCTP:
		return "SCTP"
	case IPProtocolUDPLite:
		return "UDPLite"
	}
	return "IPProtocol(" + strconv.Itoa(int(p)) + ")"
}

// IPv4 is a checked view of an IPv4 packet (or, from ParseIPv4Header, of a
// header and as much of its payload as is present). Make one with ParseIPv4 or
// ParseIPv4Header.
type IPv4 []byte

// ParseIPv4 checks an IPv4 packet and returns a view of exactly TotalLen bytes
// (dropping link padding). Errors, in the order checked:
//
//	ErrTruncated        fewer than 20 bytes
//	ErrBadVersion       version is not 4
//	ErrBadHeaderLength  IHL below 5
//	ErrTruncated        b shorter than IHL*4
//	ErrBadLength        total length below IHL*4
//	ErrBadChecksum      header checksum does not verify
//	ErrTruncated        b shorter than total length
//
// Fragments are returned like any packet: check IsFragment.
func ParseIPv4(b []byte) (IPv4, error) {
	v, err := ParseIPv4Header(b)
	if err != nil {
		return nil, err
	}
	if int(v.TotalLen()) > len(v) {
		return nil, ErrTruncated
	}
	return v, nil
}

// ParseIPv4Header checks only the header of an IPv4 packet, for the datagram
// an ICMP error quotes (its header and first 8 payload bytes). It does the
// checks of ParseIPv4 except that b may be shorter than the total length; the
// view is b cut to the total length if b is longer, so Payload may hold fewer
// than TotalLen-HeaderLen bytes.
func ParseIPv4Header(b []byte) (IPv4, error) {
	if len(b) < IPv4MinHeaderLen {
		return nil, ErrTruncated
	}
	if b[0]>>4 != 4 {
		return nil, ErrBadVersion
	}
	hl := int(b[0]&0xf) * 4
	if hl < IPv4MinHeaderLen {
		return nil, ErrBadHeaderLength
	}
	if hl > len(b) {
		return nil, ErrTruncated
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < hl {
		return nil, ErrBadLength
	}
	if Checksum(b[:hl], 0) != 0xffff {
		return nil, ErrBadChecksum
	}
	if total < len(b) {
		b = b[:total]
	}
	return IPv4(b), nil
}

// Version returns the version field (4 in a parsed view).
func (p IPv4) Version() uint8 { return p[0] >> 4 }

// HeaderLen returns the header length in bytes (IHL*4, 20 to 60).
func (p IPv4) HeaderLen() int { return int(p[0]&0xf) * 4 }

// TOS returns the type-of-service byte (DSCP<<2 | ECN).
func (p IPv4) TOS() uint8 { return p[1] }

// DSCP returns the differentiated services code point (RFC 2474).
func (p IPv4) DSCP() uint8 { return p[1] >> 2 }

// ECN returns the explicit congestion notification bits (RFC 3168).
func (p IPv4) ECN() uint8 { return p[1] & 3 }

// TotalLen returns the total length field: header plus payload.
func (p IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(p[2:4]) }

// ID returns the identification field.
func (p IPv4) ID() uint16 { return binary.BigEndian.Uint16(p[4:6]) }

func (p IPv4) flagsFrag() uint16 { return binary.BigEndian.Uint16(p[6:8]) }

// DontFragment reports the DF flag.
func (p IPv4) DontFragment() bool { return p.flagsFrag()&ipv4FlagDF != 0 }

// MoreFragments reports the MF flag.
func (p IPv4) MoreFragments() bool { return p.flagsFrag()&ipv4FlagMF != 0 }

// FragmentOffset returns the fragment offset in bytes (the field times 8).
func (p IPv4) FragmentOffset() int {
	return int(p.flagsFrag()&ipv4FragOffsetMask) * IPv4FragmentUnit
}

// IsFragment reports whether the packet is part of a fragmented datagram (MF
// set or a non-zero offset).
func (p IPv4) IsFragment() bool { return p.flagsFrag()&(ipv4FlagMF|ipv4FragOffsetMask) != 0 }

// TTL returns the time to live.
func (p IPv4) TTL() uint8 { return p[8] }

// Protocol returns the payload's protocol number.
func (p IPv4) Protocol() IPProtocol { return IPProtocol(p[9]) }

// Checksum returns the header checksum field.
func (p IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(p[10:12]) }

// Src returns the source address.
func (p IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(p[12:16])) }

// Dst returns the destination address.
func (p IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(p[16:20])) }

// Options returns the option bytes (nil if IHL is 5).
func (p IPv4) Options() []byte {
	if p.HeaderLen() == IPv4MinHeaderLen {
		return nil
	}
	return p[IPv4MinHeaderLen:p.HeaderLen()]
}

// Header returns the header bytes, options included.
func (p IPv4) Header() []byte { return p[:p.HeaderLen()] }

// Payload returns the bytes after the header.
func (p IPv4) Payload() []byte { return p[p.HeaderLen():] }

// SetTTL rewrites the TTL in place and updates the checksum incrementally
// (RFC 1624), as a router does when it decrements the TTL.
func (p IPv4) SetTTL(ttl uint8) {
	old := binary.BigEndian.Uint16(p[8:10])
	p[8] = ttl
	binary.BigEndian.PutUint16(p[10:12], UpdateChecksum(p.Checksum(), old, binary.BigEndian.Uint16(p[8:10])))
}

// Repr returns the header's fields. PayloadLen comes from the total length
// field; Options aliases the view.
func (p IPv4) Repr() IPv4Repr {
	return IPv4Repr{
		Src:            p.Src(),
		Dst:            p.Dst(),
		Protocol:       p.Protocol(),
		TTL:            p.TTL(),
		TOS:            p.TOS(),
		ID:             p.ID(),
		DontFragment:   p.DontFragment(),
		MoreFragments:  p.MoreFragments(),
		FragmentOffset: p.FragmentOffset(),
		Options:        p.Options(),
		PayloadLen:     int(p.TotalLen()) - p.HeaderLen(),
	}
}

// IPv4Repr holds the fields of an IPv4 header. The zero TTL is sent as is, so
// set TTL (IPv4DefaultTTL) when building packets.
type IPv4Repr struct {
	Src, Dst       netip.Addr
	Protocol       IPProtocol
	TTL            uint8
	TOS            uint8
	ID             uint16
	DontFragment   bool
	MoreFragments  bool
	FragmentOffset int    // in bytes: a multiple of 8 below 65536
	Options        []byte // raw options, a multiple of 4 bytes, at most 40
	PayloadLen     int    // bytes after the header
}

// HeaderLen returns the header length Emit will write: 20 plus the options.
func (r IPv4Repr) HeaderLen() int { return IPv4MinHeaderLen + len(r.Options) }

// Emit writes the header, with its checksum, into b[:r.HeaderLen()]. The
// payload is not touched (the IPv4 checksum covers the header only). Errors:
// ErrShortBuffer, ErrBadAddress (Src or Dst not IPv4), ErrBadHeaderLength
// (options), ErrBadLength (total length over 65535 or negative payload),
// ErrBadFragment.
func (r IPv4Repr) Emit(b []byte) error {
	hl := r.HeaderLen()
	switch {
	case len(r.Options)%4 != 0 || len(r.Options) > IPv4MaxOptionsLen:
		return ErrBadHeaderLength
	case len(b) < hl:
		return ErrShortBuffer
	case !r.Src.Is4() || !r.Dst.Is4():
		return ErrBadAddress
	case r.PayloadLen < 0 || r.PayloadLen > IPv4MaxTotalLen-hl:
		return ErrBadLength
	case r.FragmentOffset < 0 || r.FragmentOffset%IPv4FragmentUnit != 0 ||
		r.FragmentOffset/IPv4FragmentUnit > ipv4FragOffsetMask:
		return ErrBadFragment
	}
	b[0] = 4<<4 | uint8(hl/4)
	b[1] = r.TOS
	binary.BigEndian.PutUint16(b[2:4], uint16(hl+r.PayloadLen))
	binary.BigEndian.PutUint16(b[4:6], r.ID)
	ff := uint16(r.FragmentOffset / IPv4FragmentUnit)
	if r.DontFragment {
		ff |= ipv4FlagDF
	}
	if r.MoreFragments {
		ff |= ipv4FlagMF
	}
	binary.BigEndian.PutUint16(b[6:8], ff)
	b[8] = r.TTL
	b[9] = uint8(r.Protocol)
	b[10], b[11] = 0, 0
	src, dst := r.Src.As4(), r.Dst.As4()
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	copy(b[20:hl], r.Options)
	binary.BigEndian.PutUint16(b[10:12], ^Checksum(b[:hl], 0))
	return nil
}
