// Package toy is the toy protocol of the tutorial in
// docs/protocol-server.md: ask a host to echo a text or to tell its time,
// over IP protocol 253 (experimental, RFC 3692). It is the protocol only,
// without I/O: servers/toyd runs it on netd, apps/toy asks with it.
//
// A message is an 8-byte header and at most MaxPayload bytes of payload:
//
//	 0       1       2       3       4       5       6       7
//	+-------+-------+-------+-------+-------+-------+-------+-------+
//	|  ver  |  op   |      id       |    length     |   checksum    |
//	+-------+-------+-------+-------+-------+-------+-------+-------+
//
// ver is Version; op is a request (OpEcho, OpTime), a request's op with
// Reply set (its answer) or OpError (the server cannot answer: the payload
// says why); id is chosen by the asker and copied into the answer; length
// is the payload's length; checksum is the Internet checksum (RFC 1071) of
// the whole message, computed with the checksum field zero.
package toy

import (
	"encoding/binary"
	"errors"
	"time"

	"armos/libipc"
)

// The protocol's numbers.
const (
	Proto      = 253  // the IP protocol number
	Version    = 1    // the header's ver
	HeaderLen  = 8    // bytes of header
	MaxPayload = 1024 // bytes of payload at most
)

// Op is what a message asks or answers.
type Op uint8

// Operations.
const (
	OpEcho  Op = 1    // request: send the payload back
	OpTime  Op = 2    // request: send your time (RFC 3339, UTC)
	Reply   Op = 0x80 // set in an answer's op
	OpError Op = 0xff // answer: the request was not understood
)

// Message is one parsed message.
type Message struct {
	Op      Op
	ID      uint16
	Payload []byte // aliases the parsed bytes
}

// Parse errors.
var (
	ErrShort    = errors.New("toy: shorter than a header")
	ErrVersion  = errors.New("toy: unknown version")
	ErrLength   = errors.New("toy: length does not match the datagram")
	ErrChecksum = errors.New("toy: bad checksum")
	ErrTooLong  = errors.New("toy: payload over MaxPayload")
)

// Parse checks b, one whole datagram's payload, and returns its message.
func Parse(b []byte) (Message, error) {
	m, err := ParseHeader(b)
	if err != nil {
		return Message{}, err
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n > MaxPayload {
		return Message{}, ErrTooLong
	}
	if HeaderLen+n != len(b) {
		return Message{}, ErrLength
	}
	if checksum(b[:6], b[HeaderLen:]) != binary.BigEndian.Uint16(b[6:8]) {
		return Message{}, ErrChecksum
	}
	m.Payload = b[HeaderLen:]
	return m, nil
}

// ParseHeader returns the op and id of the message b starts with, without
// its payload: what an ICMP error quotes of a request may be only its
// first 8 bytes (RFC 792), the header.
func ParseHeader(b []byte) (Message, error) {
	if len(b) < HeaderLen {
		return Message{}, ErrShort
	}
	if b[0] != Version {
		return Message{}, ErrVersion
	}
	return Message{Op: Op(b[1]), ID: binary.BigEndian.Uint16(b[2:4])}, nil
}

// Append appends m's wire form to dst.
func (m Message) Append(dst []byte) ([]byte, error) {
	if len(m.Payload) > MaxPayload {
		return dst, ErrTooLong
	}
	at := len(dst)
	dst = append(dst, Version, byte(m.Op), 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(dst[at+2:], m.ID)
	binary.BigEndian.PutUint16(dst[at+4:], uint16(len(m.Payload)))
	dst = append(dst, m.Payload...)
	binary.BigEndian.PutUint16(dst[at+6:], checksum(dst[at:at+6], m.Payload))
	return dst, nil
}

// checksum is the Internet checksum of a message: its header up to the
// checksum field (6 bytes, an even number), then its payload.
func checksum(head, payload []byte) uint16 {
	var sum uint32
	for _, b := range [][]byte{head, payload} {
		for ; len(b) >= 2; b = b[2:] {
			sum += uint32(b[0])<<8 | uint32(b[1])
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Stats counts what a Server did with the datagrams it was given.
type Stats struct {
	Echo      uint64 // echo requests answered
	Time      uint64 // time requests answered
	Unknown   uint64 // requests of an unknown op, answered with OpError
	Malformed uint64 // datagrams that did not parse, dropped
	Ignored   uint64 // answers (not requests), left to the asker
}

// Server answers requests; its zero value uses time.Now. Not safe for
// concurrent use.
type Server struct {
	Now   func() time.Time // the clock (tests set it)
	stats Stats
}

// Answer returns the answer to the request in b, or nil when b deserves
// none (it is malformed, or an answer itself).
func (s *Server) Answer(b []byte) []byte {
	req, err := Parse(b)
	if err != nil {
		s.stats.Malformed++
		return nil
	}
	ans := Message{Op: req.Op | Reply, ID: req.ID}
	switch req.Op {
	case OpEcho:
		s.stats.Echo++
		ans.Payload = req.Payload
	case OpTime:
		s.stats.Time++
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		ans.Payload = now().UTC().AppendFormat(nil, time.RFC3339)
	default:
		if req.Op&Reply != 0 {
			s.stats.Ignored++
			return nil
		}
		s.stats.Unknown++
		ans = Message{Op: OpError, ID: req.ID, Payload: []byte("unknown op")}
	}
	out, _ := ans.Append(nil) // a payload from Parse fits
	return out
}

// Stats returns the counters.
func (s *Server) Stats() Stats { return s.stats }

// The service toyd offers the applications of its own host, by name
// through init: they ask it to ask another host (apps/toy).
const (
	Service           = "toyd"
	OpAsk   libipc.Op = 1 // AskReq -> AskResp
)

// AskReq asks toyd to send a request to a host and wait for its answer.
type AskReq struct {
	To      string `msgpack:"to"` // an IPv4 address
	Op      Op     `msgpack:"op"` // OpEcho or OpTime
	Payload []byte `msgpack:"payload"`
}

// AskResp is the answer's payload, and how many requests it took.
type AskResp struct {
	Payload []byte `msgpack:"payload"`
	Tries   int    `msgpack:"tries"`
}
