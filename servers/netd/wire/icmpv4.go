package wire

import (
	"encoding/binary"
	"strconv"
)

// ICMPv4HeaderLen is the size of the fixed ICMP header: type, code, checksum
// and the 4-byte rest-of-header (RFC 792).
const ICMPv4HeaderLen = 8

// ICMPv4QuotedPayload is how many bytes of the offending datagram's payload
// an ICMP error carries after its IP header (RFC 792: "the internet header
// plus the first 64 bits of the original datagram's data").
const ICMPv4QuotedPayload = 8

// ICMPv4Type is an ICMP message type (IANA "ICMP Type Numbers").
type ICMPv4Type uint8

// ICMP types.
const (
	ICMPv4EchoReply      ICMPv4Type = 0
	ICMPv4DstUnreachable ICMPv4Type = 3
	ICMPv4SourceQuench   ICMPv4Type = 4 // deprecated (RFC 6633)
	ICMPv4Redirect       ICMPv4Type = 5
	ICMPv4Echo           ICMPv4Type = 8
	ICMPv4RouterAdvert   ICMPv4Type = 9
	ICMPv4RouterSolicit  ICMPv4Type = 10
	ICMPv4TimeExceeded   ICMPv4Type = 11
	ICMPv4ParamProblem   ICMPv4Type = 12
	ICMPv4Timestamp      ICMPv4Type = 13
	ICMPv4TimestampReply ICMPv4Type = 14
)

// String names the type.
func (t ICMPv4Type) String() string {
	switch t {
	case ICMPv4EchoReply:
		return "echo reply"
	case ICMPv4DstUnreachable:
		return "destination unreachable"
	case ICMPv4SourceQuench:
		return "source quench"
	case ICMPv4Redirect:
		return "redirect"
	case ICMPv4Echo:
		return "echo request"
	case ICMPv4RouterAdvert:
		return "router advertisement"
	case ICMPv4RouterSolicit:
		return "router solicitation"
	case ICMPv4TimeExceeded:
		return "time exceeded"
	case ICMPv4ParamProblem:
		return "parameter problem"
	case ICMPv4Timestamp:
		return "timestamp"
	case ICMPv4TimestampReply:
		return "timestamp reply"
	}
	return "ICMPv4Type(" + strconv.Itoa(int(t)) + ")"
}

// IsError reports whether messages of this type are errors that quote the
// offending datagram (and so must never be sent in reply to another error,
// RFC 1122 3.2.2).
func (t ICMPv4Type) IsError() bool {
	switch t {
	case ICMPv4DstUnreachable, ICMPv4SourceQuench, ICMPv4Redirect,
		ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// hasIdentSeq reports whether the rest-of-header holds identifier and
// sequence number.
func (t ICMPv4Type) hasIdentSeq() bool {
	switch t {
	case ICMPv4Echo, ICMPv4EchoReply, ICMPv4Timestamp, ICMPv4TimestampReply:
		return true
	}
	return false
}

// ICMPv4Code is an ICMP code; its meaning depends on the type.
type ICMPv4Code uint8

// Codes of ICMPv4DstUnreachable (RFC 792, RFC 1122, RFC 1812).
const (
	ICMPv4NetUnreachable      ICMPv4Code = 0
	ICMPv4HostUnreachable     ICMPv4Code = 1
	ICMPv4ProtoUnreachable    ICMPv4Code = 2
	ICMPv4PortUnreachable     ICMPv4Code = 3
	ICMPv4FragmentationNeeded ICMPv4Code = 4 // DF set; MTU holds the next-hop MTU (RFC 1191)
	ICMPv4SourceRouteFailed   ICMPv4Code = 5
	ICMPv4DstNetUnknown       ICMPv4Code = 6
	ICMPv4DstHostUnknown      ICMPv4Code = 7
	ICMPv4SrcHostIsolated     ICMPv4Code = 8
	ICMPv4NetProhibited       ICMPv4Code = 9
	ICMPv4HostProhibited      ICMPv4Code = 10
	ICMPv4NetUnreachableTOS   ICMPv4Code = 11
	ICMPv4HostUnreachableTOS  ICMPv4Code = 12
	ICMPv4AdminProhibited     ICMPv4Code = 13
	ICMPv4PrecedenceViolation ICMPv4Code = 14
	ICMPv4PrecedenceCutoff    ICMPv4Code = 15
)

// Codes of ICMPv4TimeExceeded.
const (
	ICMPv4TTLExceeded        ICMPv4Code = 0 // time to live exceeded in transit
	ICMPv4ReassemblyExceeded ICMPv4Code = 1 // fragment reassembly time exceeded
)

var unreachableNames = [...]string{
	"net unreachable", "host unreachable", "protocol unreachable",
	"port unreachable", "fragmentation needed", "source route failed",
	"destination network unknown", "destination host unknown",
	"source host isolated", "network prohibited", "host prohibited",
	"network unreachable for TOS", "host unreachable for TOS",
	"administratively prohibited", "host precedence violation",
	"precedence cutoff",
}

// CodeString names code c as a code of type t.
func (t ICMPv4Type) CodeString(c ICMPv4Code) string {
	switch {
	case t == ICMPv4DstUnreachable && int(c) < len(unreachableNames):
		return unreachableNames[c]
	case t == ICMPv4TimeExceeded && c == ICMPv4TTLExceeded:
		return "TTL exceeded in transit"
	case t == ICMPv4TimeExceeded && c == ICMPv4ReassemblyExceeded:
		return "fragment reassembly time exceeded"
	}
	return "code " + strconv.Itoa(int(c))
}

// ICMPv4 is a checked view of an ICMP message: header and body. Make one with
// ParseICMPv4.
type ICMPv4 []byte

// ParseICMPv4 checks an ICMP message (the whole IPv4 payload): fewer than 8
// bytes is ErrTruncated, a checksum over the message that does not verify is
// ErrBadChecksum. Any type is accepted; the caller dispatches on Type.
func ParseICMPv4(b []byte) (ICMPv4, error) {
	if len(b) < ICMPv4HeaderLen {
		return nil, ErrTruncated
	}
	if Checksum(b, 0) != 0xffff {
		return nil, ErrBadChecksum
	}
	return ICMPv4(b), nil
}

// Type returns the message type.
func (m ICMPv4) Type() ICMPv4Type { return ICMPv4Type(m[0]) }

// Code returns the code.
func (m ICMPv4) Code() ICMPv4Code { return ICMPv4Code(m[1]) }

// Checksum returns the checksum field.
func (m ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:4]) }

// Ident returns the identifier of an echo or timestamp message (rest-of-header
// bytes 0-1).
func (m ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(m[4:6]) }

// Seq returns the sequence number of an echo or timestamp message
// (rest-of-header bytes 2-3).
func (m ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(m[6:8]) }

// MTU returns the next-hop MTU of a "fragmentation needed" message (RFC 1191;
// rest-of-header bytes 2-3).
func (m ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(m[6:8]) }

// Pointer returns the octet pointer of a parameter problem message.
func (m ICMPv4) Pointer() uint8 { return m[4] }

// Payload returns the body after the 8-byte header: echo data, or for errors
// the quoted datagram.
func (m ICMPv4) Payload() []byte { return m[ICMPv4HeaderLen:] }

// Original parses the datagram an error message quotes (its IPv4 header and at
// least 8 payload bytes) with ParseIPv4Header. For a non-error type it returns
// ErrUnsupported; a quote that holds less than the header plus 8 bytes is
// ErrTruncated.
func (m ICMPv4) Original() (IPv4, error) {
	if !m.Type().IsError() {
		return nil, ErrUnsupported
	}
	ip, err := ParseIPv4Header(m.Payload())
	if err != nil {
		return nil, err
	}
	if len(ip) < ip.HeaderLen()+ICMPv4QuotedPayload && int(ip.TotalLen()) > len(ip) {
		return nil, ErrTruncated
	}
	return ip, nil
}

// ICMPv4Quote returns the part of a received datagram that an ICMP error about
// it carries: its header plus the first ICMPv4QuotedPayload payload bytes (or
// the whole datagram if shorter).
func ICMPv4Quote(ip IPv4) []byte {
	n := ip.HeaderLen() + ICMPv4QuotedPayload
	if n > len(ip) {
		n = len(ip)
	}
	return ip[:n]
}

// Repr returns the header's fields. Ident and Seq are filled for echo and
// timestamp messages, MTU for "fragmentation needed", Pointer for parameter
// problems; other rest-of-header bytes are unused and not represented.
func (m ICMPv4) Repr() ICMPv4Repr {
	r := ICMPv4Repr{Type: m.Type(), Code: m.Code()}
	switch {
	case r.Type.hasIdentSeq():
		r.Ident, r.Seq = m.Ident(), m.Seq()
	case r.Type == ICMPv4DstUnreachable && r.Code == ICMPv4FragmentationNeeded:
		r.MTU = m.MTU()
	case r.Type == ICMPv4ParamProblem:
		r.Pointer = m.Pointer()
	}
	return r
}

// ICMPv4Repr holds the fields of an ICMP header.
type ICMPv4Repr struct {
	Type    ICMPv4Type
	Code    ICMPv4Code
	Ident   uint16 // echo, echo reply, timestamp, timestamp reply
	Seq     uint16 // likewise
	MTU     uint16 // destination unreachable / fragmentation needed
	Pointer uint8  // parameter problem
}

// HeaderLen returns ICMPv4HeaderLen.
func (r ICMPv4Repr) HeaderLen() int { return ICMPv4HeaderLen }

// String describes the message, e.g. "echo request id=7 seq=1".
func (r ICMPv4Repr) String() string {
	s := r.Type.String()
	switch {
	case r.Type.hasIdentSeq():
		s += " id=" + strconv.Itoa(int(r.Ident)) + " seq=" + strconv.Itoa(int(r.Seq))
	case r.Type == ICMPv4DstUnreachable || r.Type == ICMPv4TimeExceeded:
		s += " (" + r.Type.CodeString(r.Code) + ")"
		if r.Code == ICMPv4FragmentationNeeded && r.Type == ICMPv4DstUnreachable {
			s += " mtu=" + strconv.Itoa(int(r.MTU))
		}
	default:
		s += " code=" + strconv.Itoa(int(r.Code))
	}
	return s
}

// Emit writes the header into b[:8] and the checksum over all of b, where b is
// the whole message: header space followed by the body already in place (echo
// data, or the ICMPv4Quote of the offending datagram). The unused
// rest-of-header bytes are zeroed. ErrShortBuffer if b is under 8 bytes,
// ErrBadLength if it is over 65535.
func (r ICMPv4Repr) Emit(b []byte) error {
	if len(b) < ICMPv4HeaderLen {
		return ErrShortBuffer
	}
	if len(b) > 0xffff {
		return ErrBadLength
	}
	b[0], b[1] = uint8(r.Type), uint8(r.Code)
	clear(b[2:8])
	switch {
	case r.Type.hasIdentSeq():
		binary.BigEndian.PutUint16(b[4:6], r.Ident)
		binary.BigEndian.PutUint16(b[6:8], r.Seq)
	case r.Type == ICMPv4DstUnreachable && r.Code == ICMPv4FragmentationNeeded:
		binary.BigEndian.PutUint16(b[6:8], r.MTU)
	case r.Type == ICMPv4ParamProblem:
		b[4] = r.Pointer
	}
	binary.BigEndian.PutUint16(b[2:4], ^Checksum(b, 0))
	return nil
}
