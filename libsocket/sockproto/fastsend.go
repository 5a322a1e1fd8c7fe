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
	out := SendToReq{More: req.More[:0]}
	rest, seen, ok := mpread.FixMapPrefix(body, func(key, p []byte) ([]byte, uint32, bool) {
		var ok bool
		switch string(key) { // compared in place: no allocation
		case "h":
			var v uint64
			v, p, ok = mpread.Uint(p)
			out.Handle = Handle(v)
			return p, 1, ok && v <= 1<<32-1
		case "to":
			out.To, p, ok = fastAddr(p)
			return p, 2, ok
		case "flags":
			var v uint64
			v, p, ok = mpread.Uint(p)
			out.Flags = uint32(v)
			return p, 4, ok && v <= 1<<32-1
		case "data":
			out.Data, p, ok = mpread.Bin(p)
			return p, 8, ok
		case "more":
			out.More, p, ok = parseSendMore(p, out.More)
			return p, 16, ok
		}
		return nil, 0, false
	})
	if !ok || len(rest) != 0 || seen&15 != 15 { // h, to, flags and data are required
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
		var d SendDgram
		var seen uint32
		p, seen, ok = mpread.FixMapPrefix(p, func(key, p []byte) ([]byte, uint32, bool) {
			var ok bool
			switch string(key) {
			case "to":
				d.To, p, ok = fastAddr(p)
				return p, 1, ok
			case "data":
				d.Data, p, ok = mpread.Bin(p)
				return p, 2, ok
			}
			return nil, 0, false
		})
		if !ok || seen != 3 {
			return nil, nil, false
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
