package sockproto

import (
	"encoding/binary"
	"net/netip"
)

// ParseSendTo reads a SendToReq body in the form libipc's encoder writes
// it (a map of the four fields, each once, compact integers, Data a bin)
// without copying: req.Data aliases body. It reports false for anything
// else, and the caller then decodes the body the general way (which copies,
// and answers what is malformed); so for any body, a true result is what
// the general decoder would have produced. netd's send path uses it: the
// payload's next copy is into the frame.
func ParseSendTo(body []byte, req *SendToReq) bool {
	p := body
	if len(p) < 1 || p[0] != 0x84 { // fixmap of 4
		return false
	}
	p = p[1:]
	var seen [4]bool
	var out SendToReq
	for range 4 {
		key, rest, ok := fixstr(p)
		if !ok {
			return false
		}
		p = rest
		var i int
		switch string(key) { // compared in place: no allocation
		case "h":
			var v uint64
			if v, p, ok = compactUint(p); !ok || v > 1<<32-1 {
				return false
			}
			out.Handle = Handle(v)
		case "to":
			i = 1
			if out.To, p, ok = fastAddr(p); !ok {
				return false
			}
		case "flags":
			i = 2
			var v uint64
			if v, p, ok = compactUint(p); !ok || v > 1<<32-1 {
				return false
			}
			out.Flags = uint32(v)
		case "data":
			i = 3
			if out.Data, p, ok = bin(p); !ok {
				return false
			}
		default:
			return false
		}
		if seen[i] {
			return false
		}
		seen[i] = true
	}
	if len(p) != 0 {
		return false
	}
	*req = out
	return true
}

// fixstr reads a msgpack fixstr.
func fixstr(p []byte) ([]byte, []byte, bool) {
	if len(p) < 1 || p[0]&0xe0 != 0xa0 {
		return nil, nil, false
	}
	n := int(p[0] & 0x1f)
	if len(p) < 1+n {
		return nil, nil, false
	}
	return p[1 : 1+n], p[1+n:], true
}

// compactUint reads a non-negative integer in its msgpack forms
// (positive fixint, uint 8/16/32/64).
func compactUint(p []byte) (uint64, []byte, bool) {
	if len(p) < 1 {
		return 0, nil, false
	}
	c := p[0]
	switch {
	case c <= 0x7f:
		return uint64(c), p[1:], true
	case c == 0xcc && len(p) >= 2:
		return uint64(p[1]), p[2:], true
	case c == 0xcd && len(p) >= 3:
		return uint64(binary.BigEndian.Uint16(p[1:])), p[3:], true
	case c == 0xce && len(p) >= 5:
		return uint64(binary.BigEndian.Uint32(p[1:])), p[5:], true
	case c == 0xcf && len(p) >= 9:
		return binary.BigEndian.Uint64(p[1:]), p[9:], true
	}
	return 0, nil, false
}

// bin reads a msgpack bin 8/16/32 (or nil: no bytes), aliasing p.
func bin(p []byte) ([]byte, []byte, bool) {
	if len(p) < 1 {
		return nil, nil, false
	}
	var n, h int
	switch c := p[0]; {
	case c == 0xc0:
		return nil, p[1:], true
	case c == 0xc4 && len(p) >= 2:
		n, h = int(p[1]), 2
	case c == 0xc5 && len(p) >= 3:
		n, h = int(binary.BigEndian.Uint16(p[1:])), 3
	case c == 0xc6 && len(p) >= 5:
		n, h = int(binary.BigEndian.Uint32(p[1:])), 5
	default:
		return nil, nil, false
	}
	if n < 0 || len(p)-h < n {
		return nil, nil, false
	}
	return p[h : h+n : h+n], p[h+n:], true
}

// fastAddr reads an Addr in its encoded forms (nil, an IPv4 integer, an
// 18-byte IPv6 bin), as Addr.DecodeMsgpack does.
func fastAddr(p []byte) (Addr, []byte, bool) {
	if len(p) >= 1 && p[0] == 0xc0 {
		return Addr{}, p[1:], true
	}
	if len(p) >= 1 && p[0] >= 0xc4 && p[0] <= 0xc6 {
		b, rest, ok := bin(p)
		if !ok || len(b) != addrLen6 {
			return Addr{}, nil, false
		}
		ip := netip.AddrFrom16([16]byte(b[:16]))
		return Addr(netip.AddrPortFrom(ip, uint16(b[16])<<8|uint16(b[17]))), rest, true
	}
	v, rest, ok := compactUint(p)
	if !ok || v >= 1<<48 {
		return Addr{}, nil, false
	}
	ip := netip.AddrFrom4([4]byte{byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16)})
	return Addr(netip.AddrPortFrom(ip, uint16(v))), rest, true
}

// The readers below, exported for other protocols' in-place parsers (the
// protocol service's send: libproto/protoproto.ParseSendReq). Each reads
// one msgpack value at the front of p and returns the rest; ok false
// means p does not start with a value of that form.

// ReadFixstr reads a msgpack fixstr (a map key), aliasing p.
func ReadFixstr(p []byte) (s, rest []byte, ok bool) { return fixstr(p) }

// ReadUint reads a non-negative integer (positive fixint, uint 8 to 64).
func ReadUint(p []byte) (v uint64, rest []byte, ok bool) { return compactUint(p) }

// ReadBin reads a bin 8/16/32 or nil, aliasing p.
func ReadBin(p []byte) (b, rest []byte, ok bool) { return bin(p) }

// ReadAddr reads an Addr in its encoded forms.
func ReadAddr(p []byte) (a Addr, rest []byte, ok bool) { return fastAddr(p) }

// ReadBool reads a msgpack true or false.
func ReadBool(p []byte) (v bool, rest []byte, ok bool) {
	if len(p) < 1 || (p[0] != 0xc2 && p[0] != 0xc3) {
		return false, nil, false
	}
	return p[0] == 0xc3, p[1:], true
}
