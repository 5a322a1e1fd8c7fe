package sockproto

import (
	"net/netip"

	"armos/libipc/mpread"
	"armos/libipc/mpwrite"
)

// ParseSendTo reads a SendToReq body in the form libipc's encoder writes
// it (a map of the four fields, each once, and for a batch a fifth, "more",
// an array of {"to", "data"} maps; compact integers, data as bins) without
// copying: req.Data and each More element's Data alias body. More's array
// is req.More's, reused (empty, not nil, when the body has no "more": the
// general decoder would leave it nil; nothing tells them apart but the
// array). It reports false for anything else, and the
// caller then decodes the body the general way (which copies, and answers
// what is malformed); so for any body, a true result is what the general
// decoder would have produced. netd's send path uses it: the payload's
// next copy is into the frame.
func ParseSendTo(body []byte, req *SendToReq) bool {
	p := body
	if len(p) < 1 || (p[0] != 0x84 && p[0] != 0x85) { // fixmap of 4, or 5 with "more"
		return false
	}
	keys := int(p[0] & 0x0f)
	p = p[1:]
	var seen [5]bool
	out := SendToReq{More: req.More[:0]}
	for range keys {
		key, rest, ok := mpread.Fixstr(p)
		if !ok {
			return false
		}
		p = rest
		var i int
		switch string(key) { // compared in place: no allocation
		case "h":
			var v uint64
			if v, p, ok = mpread.Uint(p); !ok || v > 1<<32-1 {
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
			if v, p, ok = mpread.Uint(p); !ok || v > 1<<32-1 {
				return false
			}
			out.Flags = uint32(v)
		case "data":
			i = 3
			if out.Data, p, ok = mpread.Bin(p); !ok {
				return false
			}
		case "more":
			i = 4
			if out.More, p, ok = parseSendMore(p, out.More); !ok {
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
	if len(p) != 0 || !seen[0] || !seen[1] || !seen[2] || !seen[3] {
		return false
	}
	*req = out // without "more", More is empty (its array kept for the next)
	return true
}

// parseSendMore reads a batch's further datagrams, a non-empty array of
// {"to", "data"} maps (both keys), appending them to more.
func parseSendMore(p []byte, more []SendDgram) ([]SendDgram, []byte, bool) {
	n, p, ok := mpread.ArrayHeader(p)
	if !ok || n < 1 || n > MaxBatch {
		return nil, nil, false
	}
	for range n {
		if len(p) < 1 || p[0] != 0x82 {
			return nil, nil, false
		}
		p = p[1:]
		var d SendDgram
		var seen [2]bool
		for range 2 {
			key, rest, ok := mpread.Fixstr(p)
			if !ok {
				return nil, nil, false
			}
			p = rest
			switch string(key) {
			case "to":
				if seen[0] {
					return nil, nil, false
				}
				seen[0] = true
				if d.To, p, ok = fastAddr(p); !ok {
					return nil, nil, false
				}
			case "data":
				if seen[1] {
					return nil, nil, false
				}
				seen[1] = true
				if d.Data, p, ok = mpread.Bin(p); !ok {
					return nil, nil, false
				}
			default:
				return nil, nil, false
			}
		}
		more = append(more, d)
	}
	return more, p, true
}

// fastAddr reads an Addr in its encoded forms (nil, an IPv4 integer, an
// 18-byte IPv6 bin), as Addr.DecodeMsgpack does.
func fastAddr(p []byte) (Addr, []byte, bool) {
	if len(p) >= 1 && p[0] == 0xc0 {
		return Addr{}, p[1:], true
	}
	if len(p) >= 1 && p[0] >= 0xc4 && p[0] <= 0xc6 {
		b, rest, ok := mpread.Bin(p)
		if !ok || len(b) != addrLen6 {
			return Addr{}, nil, false
		}
		ip := netip.AddrFrom16([16]byte(b[:16]))
		return Addr(netip.AddrPortFrom(ip, uint16(b[16])<<8|uint16(b[17]))), rest, true
	}
	v, rest, ok := mpread.Uint(p)
	if !ok || v >= 1<<48 {
		return Addr{}, nil, false
	}
	ip := netip.AddrFrom4([4]byte{byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16)})
	return Addr(netip.AddrPortFrom(ip, uint16(v))), rest, true
}

// ReadAddr reads an Addr in its encoded forms at the front of p (for other
// protocols' in-place parsers, with libipc/mpread's readers).
func ReadAddr(p []byte) (a Addr, rest []byte, ok bool) { return fastAddr(p) }

// AppendAddr appends a's encoding as Addr.EncodeMsgpack writes it (for
// other protocols' hand-written encoders, with libipc/mpwrite).
func AppendAddr(b []byte, a Addr) []byte {
	ap := netip.AddrPort(a)
	switch {
	case !ap.IsValid():
		return append(b, 0xc0)
	case ap.Addr().Is4():
		ip := ap.Addr().As4()
		return mpwrite.Uint(b, uint64(ip[0])<<40|uint64(ip[1])<<32|uint64(ip[2])<<24|uint64(ip[3])<<16|uint64(ap.Port()))
	}
	ip := ap.Addr().As16()
	b = append(append(b, 0xc4, addrLen6), ip[:]...)
	return append(b, byte(ap.Port()>>8), byte(ap.Port()))
}
