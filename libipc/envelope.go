package libipc

import (
	"strconv"

	"armos/libipc/mpwrite"
)

// Version is the envelope version this package speaks. A message with any
// other version is rejected with ErrBadVersion.
const Version = 1

// Op identifies an operation within one protocol (one service). Each protocol
// package (for example libsocket/sockproto) declares its ops as constants.
// Op 0 is reserved and never dispatched.
type Op uint16

// String returns "op N".
func (o Op) String() string { return "op " + strconv.Itoa(int(o)) }

// Kind says what a message is: a request expecting a reply, a reply, an error
// reply, or a one-way message.
type Kind uint8

// Message kinds.
const (
	KindRequest Kind = 1 // expects exactly one KindReply or KindError with the same ID
	KindReply   Kind = 2 // successful answer; body is the op's response struct
	KindError   Kind = 3 // failed answer; body is an ErrorBody
	KindOneway  Kind = 4 // no answer; ID is 0
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindReply:
		return "reply"
	case KindError:
		return "error"
	case KindOneway:
		return "oneway"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Header is the envelope of every message. On the wire it is a msgpack
// fixarray of four unsigned integers, [Version, Kind, Op, ID], each in its
// shortest msgpack form, followed by exactly one msgpack value: the body.
//
// Example: a request for op 3 with ID 7 and the body {"port": 7} is
//
//	94 01 01 03 07 81 a4 70 6f 72 74 07
//
// ID matches a reply to its request; it is chosen by the caller, unique among
// its pending requests on one connection, and 0 for one-way messages. An
// error reply to a message whose envelope could not be read has ID 0.
type Header struct {
	Version uint8
	Kind    Kind
	Op      Op
	ID      uint32
}

// headerMaxLen is the longest envelope AppendHeader writes: fixarray,
// version (1), kind (1), op (uint16: 3), id (uint32: 5).
const headerMaxLen = 1 + 1 + 1 + 3 + 5

// AppendHeader appends the msgpack encoding of h to dst.
func AppendHeader(dst []byte, h Header) []byte {
	dst = append(dst, 0x94)
	dst = mpwrite.Uint(dst, uint64(h.Version))
	dst = mpwrite.Uint(dst, uint64(h.Kind))
	dst = mpwrite.Uint(dst, uint64(h.Op))
	return mpwrite.Uint(dst, uint64(h.ID))
}

// ParseHeader reads the envelope at the start of msg and returns it with the
// body bytes that follow. It checks the size bound, the array shape, the
// integer types and ranges, the version and the kind; it does not look at the
// body (DecodeBody does). Errors are *FrameError.
//
// Integers are accepted in any msgpack integer form whose value is
// non-negative and in range, so peers with less careful encoders interoperate.
func ParseHeader(msg []byte) (Header, []byte, error) {
	var h Header
	if len(msg) > MaxMessageSize {
		return h, nil, &FrameError{Reason: ReasonTooLarge, Offset: MaxMessageSize}
	}
	if len(msg) == 0 {
		return h, nil, &FrameError{Reason: ReasonTruncated}
	}
	if msg[0] != 0x94 {
		return h, nil, &FrameError{Reason: ReasonBadHeader}
	}
	off := 1
	var f [4]uint64
	limits := [4]uint64{0xff, 0xff, 0xffff, 0xffffffff}
	for i := range f {
		v, n, reason := readUint(msg[off:])
		if reason != 0 {
			return h, nil, &FrameError{Reason: reason, Offset: off}
		}
		if v > limits[i] {
			return h, nil, &FrameError{Reason: ReasonBadHeader, Offset: off}
		}
		f[i] = v
		off += n
	}
	h = Header{Version: uint8(f[0]), Kind: Kind(f[1]), Op: Op(f[2]), ID: uint32(f[3])}
	if h.Version != Version {
		return h, nil, &FrameError{Reason: ReasonBadVersion, Op: h.Op, Offset: 1}
	}
	if h.Kind < KindRequest || h.Kind > KindOneway {
		return h, nil, &FrameError{Reason: ReasonBadKind, Op: h.Op, Offset: 2}
	}
	return h, msg[off:], nil
}

// readUint reads one msgpack integer that must be non-negative. It returns
// the value, the bytes used, or a failure reason (0 on success).
func readUint(b []byte) (uint64, int, Reason) {
	if len(b) == 0 {
		return 0, 0, ReasonTruncated
	}
	c := b[0]
	if c <= 0x7f {
		return uint64(c), 1, 0
	}
	var size int
	signed := false
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, 0, ReasonBadHeader
	}
	signed = c >= 0xd0
	if len(b) < 1+size {
		return 0, 0, ReasonTruncated
	}
	var v uint64
	for _, x := range b[1 : 1+size] {
		v = v<<8 | uint64(x)
	}
	if signed && v>>(uint(size)*8-1) != 0 { // sign bit set: negative
		return 0, 0, ReasonBadHeader
	}
	return v, 1 + size, 0
}
