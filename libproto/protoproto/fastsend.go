package protoproto

import (
	"armos/libipc/mpread"
	"armos/libsocket/sockproto"
)

// readUint8 reads an integer that fits a uint8.
func readUint8(p []byte) (uint8, []byte, bool) {
	v, rest, ok := mpread.Uint(p)
	return uint8(v), rest, ok && v <= 255
}

// ParseSendReq decodes a SendReq body as msgpack-go writes it (a map of
// the struct's fields, omitempty ones left out) without copying: req.Data
// aliases body. It reports false for anything else, and the caller then
// decodes the body the general way (which copies, and answers what is
// malformed); so a true result is what the general decoder would have
// produced. netd's send path uses it: a 64 KB offloaded segment's next
// copy is into the frame.
func ParseSendReq(body []byte, req *SendReq) bool {
	p := body
	if len(p) < 1 || p[0]&0xf0 != 0x80 {
		return false
	}
	n := int(p[0] & 0x0f)
	p = p[1:]
	var out SendReq
	var seen uint8
	for range n {
		key, rest, ok := mpread.Fixstr(p)
		if !ok {
			return false
		}
		p = rest
		var bit uint8
		var v uint64
		switch string(key) { // compared in place: no allocation
		case "proto":
			bit = 1
			out.Proto, p, ok = readUint8(p)
		case "src":
			bit = 2
			out.Src, p, ok = sockproto.ReadAddr(p)
		case "dst":
			bit = 4
			out.Dst, p, ok = sockproto.ReadAddr(p)
		case "ttl":
			bit = 8
			out.TTL, p, ok = readUint8(p)
		case "tos":
			bit = 16
			out.TOS, p, ok = readUint8(p)
		case "df":
			bit = 32
			out.DF, p, ok = mpread.Bool(p)
		case "data":
			bit = 64
			out.Data, p, ok = mpread.Bin(p)
		case "tso":
			bit = 128
			if v, p, ok = mpread.Uint(p); !ok || v > 1<<16-1 {
				return false
			}
			out.TSO = uint16(v)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	if len(p) != 0 {
		return false
	}
	*req = out
	return true
}
