package sockproto

import (
	"armos/libipc/mpread"
	"armos/libipc/mpwrite"
)

// Hand-written msgpack for the four messages of every datagram's trip
// (libipc.BodyAppender and BodyParser): a send and its answer, a receive
// and its answer. Each encoder writes byte for byte what libipc's general
// encoder writes (fasthot_test.go compares them); each parser takes what
// the general decoder takes with the same result, or reports false and
// leaves the body to it (the fuzz targets check this). Hosted, the general
// codec's reflection was about a tenth of netd's CPU per echo.

// AppendMsgpack appends r's encoding: {"h", "to", "flags", "data"}.
func (r *SendToReq) AppendMsgpack(b []byte) []byte {
	b = mpwrite.Uint(append(b, 0x84, 0xa1, 'h'), uint64(r.Handle))
	b = AppendAddr(append(b, 0xa2, 't', 'o'), r.To)
	b = mpwrite.Uint(append(b, 0xa5, 'f', 'l', 'a', 'g', 's'), uint64(r.Flags))
	return mpwrite.Bin(append(b, 0xa4, 'd', 'a', 't', 'a'), r.Data)
}

// AppendMsgpack appends r's encoding: {"n"}.
func (r *SendToResp) AppendMsgpack(b []byte) []byte {
	return mpwrite.Int(append(b, 0x81, 0xa1, 'n'), int64(r.N))
}

// ParseMsgpack decodes a SendToResp map (a key left out leaves its field
// as it was, as the general decoder does); false for anything else.
func (r *SendToResp) ParseMsgpack(body []byte) bool {
	out := *r
	ok := mpread.FixMap(body, func(key, p []byte) ([]byte, uint32, bool) {
		if string(key) != "n" {
			return nil, 0, false
		}
		v, p, ok := mpread.Int(p)
		out.N = int(v)
		return p, 1, ok
	})
	if ok {
		*r = out
	}
	return ok
}

// AppendMsgpack appends r's encoding: {"h", "max", "flags", "timeout", "tag"}.
func (r *RecvFromReq) AppendMsgpack(b []byte) []byte {
	b = mpwrite.Uint(append(b, 0x85, 0xa1, 'h'), uint64(r.Handle))
	b = mpwrite.Uint(append(b, 0xa3, 'm', 'a', 'x'), uint64(r.Max))
	b = mpwrite.Uint(append(b, 0xa5, 'f', 'l', 'a', 'g', 's'), uint64(r.Flags))
	b = mpwrite.Int(append(b, 0xa7, 't', 'i', 'm', 'e', 'o', 'u', 't'), r.Timeout)
	return mpwrite.Uint(append(b, 0xa3, 't', 'a', 'g'), uint64(r.Tag))
}

// ParseMsgpack decodes a RecvFromReq map; false for anything else
// (including an unsigned field out of its type's range, which the general
// decoder answers).
func (r *RecvFromReq) ParseMsgpack(body []byte) bool {
	out := *r
	u32 := func(p []byte, dst *uint32, bit uint32) ([]byte, uint32, bool) {
		v, rest, ok := mpread.Uint(p)
		if !ok || v > 1<<32-1 {
			return nil, 0, false
		}
		*dst = uint32(v)
		return rest, bit, true
	}
	ok := mpread.FixMap(body, func(key, p []byte) ([]byte, uint32, bool) {
		switch string(key) {
		case "h":
			var h uint32
			rest, bit, ok := u32(p, &h, 1)
			out.Handle = Handle(h)
			return rest, bit, ok
		case "max":
			return u32(p, &out.Max, 2)
		case "flags":
			return u32(p, &out.Flags, 4)
		case "timeout":
			v, rest, ok := mpread.Int(p)
			out.Timeout = v
			return rest, 8, ok
		case "tag":
			return u32(p, &out.Tag, 16)
		}
		return nil, 0, false
	})
	if ok {
		*r = out
	}
	return ok
}

// AppendMsgpack appends r's encoding: {"from", "data", "size", "trunc"}.
func (r *RecvFromResp) AppendMsgpack(b []byte) []byte {
	b = AppendAddr(append(b, 0x84, 0xa4, 'f', 'r', 'o', 'm'), r.From)
	b = mpwrite.Bin(append(b, 0xa4, 'd', 'a', 't', 'a'), r.Data)
	b = mpwrite.Int(append(b, 0xa4, 's', 'i', 'z', 'e'), int64(r.Size))
	return mpwrite.Bool(append(b, 0xa5, 't', 'r', 'u', 'n', 'c'), r.Truncated)
}

// ParseMsgpack decodes a RecvFromResp map, the data copied into r.Data's
// array when it has room (as the general decoder does); false for
// anything else.
func (r *RecvFromResp) ParseMsgpack(body []byte) bool {
	out := *r
	var data []byte
	gotData := false
	ok := mpread.FixMap(body, func(key, p []byte) ([]byte, uint32, bool) {
		switch string(key) {
		case "from":
			a, rest, ok := fastAddr(p)
			out.From = a
			return rest, 1, ok
		case "data":
			b, rest, ok := mpread.Bin(p)
			data, gotData = b, ok
			return rest, 2, ok
		case "size":
			v, rest, ok := mpread.Int(p)
			out.Size = int(v)
			return rest, 4, ok
		case "trunc":
			v, rest, ok := mpread.Bool(p)
			out.Truncated = v
			return rest, 8, ok
		}
		return nil, 0, false
	})
	if !ok {
		return false
	}
	if gotData {
		out.Data = mpread.CopyBin(r.Data, data)
	}
	*r = out
	return true
}
