package protoproto

import "armos/libsocket/sockproto"

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
		key, rest, ok := sockproto.ReadFixstr(p)
		if !ok {
			return false
		}
		p = rest
		var bit uint8
		var v uint64
		switch string(key) { // compared in place: no allocation
		case "proto":
			bit = 1
			if v, p, ok = sockproto.ReadUint(p); !ok || v > 255 {
				return false
			}
			out.Proto = uint8(v)
		case "src":
			bit = 2
			out.Src, p, ok = sockproto.ReadAddr(p)
		case "dst":
			bit = 4
			out.Dst, p, ok = sockproto.ReadAddr(p)
		case "ttl":
			bit = 8
			if v, p, ok = sockproto.ReadUint(p); !ok || v > 255 {
				return false
			}
			out.TTL = uint8(v)
		case "tos":
			bit = 16
			if v, p, ok = sockproto.ReadUint(p); !ok || v > 255 {
				return false
			}
			out.TOS = uint8(v)
		case "df":
			bit = 32
			out.DF, p, ok = sockproto.ReadBool(p)
		case "data":
			bit = 64
			out.Data, p, ok = sockproto.ReadBin(p)
		case "tso":
			bit = 128
			if v, p, ok = sockproto.ReadUint(p); !ok || v > 1<<16-1 {
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
