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

// AppendMsgpack appends r's encoding: {"h", "to", "flags", "data"}, and
// "more" (an array of {"to", "data"}) when it is not empty.
func (r *SendToReq) AppendMsgpack(b []byte) []byte {
	n := byte(4)
	if len(r.More) > 0 {
		n++
	}
	b = mpwrite.Uint(append(b, 0x80|n, 0xa1, 'h'), uint64(r.Handle))
	b = AppendAddr(append(b, 0xa2, 't', 'o'), r.To)
	b = mpwrite.Uint(append(b, 0xa5, 'f', 'l', 'a', 'g', 's'), uint64(r.Flags))
	b = mpwrite.Bin(append(b, 0xa4, 'd', 'a', 't', 'a'), r.Data)
	if len(r.More) > 0 {
		b = mpwrite.ArrayHeader(append(b, 0xa4, 'm', 'o', 'r', 'e'), len(r.More))
		for i := range r.More {
			b = AppendAddr(append(b, 0x82, 0xa2, 't', 'o'), r.More[i].To)
			b = mpwrite.Bin(append(b, 0xa4, 'd', 'a', 't', 'a'), r.More[i].Data)
		}
	}
	return b
}

// AppendMsgpack appends r's encoding: {"n"}, and "sent" when not 0.
func (r *SendToResp) AppendMsgpack(b []byte) []byte {
	if r.Sent == 0 {
		return mpwrite.Int(append(b, 0x81, 0xa1, 'n'), int64(r.N))
	}
	b = mpwrite.Int(append(b, 0x82, 0xa1, 'n'), int64(r.N))
	return mpwrite.Int(append(b, 0xa4, 's', 'e', 'n', 't'), int64(r.Sent))
}

// ParseMsgpack decodes a SendToResp map (a key left out leaves its field
// as it was, as the general decoder does); false for anything else.
func (r *SendToResp) ParseMsgpack(body []byte) bool {
	out := *r
	ok := mpread.FixMap(body, func(key, p []byte) ([]byte, uint32, bool) {
		var bit uint32
		var v int64
		var ok bool
		switch string(key) {
		case "n":
			v, p, ok = mpread.Int(p)
			out.N, bit = int(v), 1
		case "sent":
			v, p, ok = mpread.Int(p)
			out.Sent, bit = int(v), 2
		default:
			return nil, 0, false
		}
		return p, bit, ok
	})
	if ok {
		*r = out
	}
	return ok
}

// AppendMsgpack appends r's encoding: {"h", "max", "flags", "timeout",
// "tag"}, and "count" when it is not 0.
func (r *RecvFromReq) AppendMsgpack(b []byte) []byte {
	n := byte(5)
	if r.Count != 0 {
		n++
	}
	b = mpwrite.Uint(append(b, 0x80|n, 0xa1, 'h'), uint64(r.Handle))
	b = mpwrite.Uint(append(b, 0xa3, 'm', 'a', 'x'), uint64(r.Max))
	b = mpwrite.Uint(append(b, 0xa5, 'f', 'l', 'a', 'g', 's'), uint64(r.Flags))
	b = mpwrite.Int(append(b, 0xa7, 't', 'i', 'm', 'e', 'o', 'u', 't'), r.Timeout)
	b = mpwrite.Uint(append(b, 0xa3, 't', 'a', 'g'), uint64(r.Tag))
	if r.Count != 0 {
		b = mpwrite.Uint(append(b, 0xa5, 'c', 'o', 'u', 'n', 't'), uint64(r.Count))
	}
	return b
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
		case "count":
			return u32(p, &out.Count, 32)
		}
		return nil, 0, false
	})
	if ok {
		*r = out
	}
	return ok
}

// AppendMsgpack appends r's encoding: {"from", "data", "size", "trunc"},
// and "more" (an array of the same) when it is not empty.
func (r *RecvFromResp) AppendMsgpack(b []byte) []byte {
	n := byte(4)
	if len(r.More) > 0 {
		n++
	}
	b = AppendAddr(append(b, 0x80|n, 0xa4, 'f', 'r', 'o', 'm'), r.From)
	b = mpwrite.Bin(append(b, 0xa4, 'd', 'a', 't', 'a'), r.Data)
	b = mpwrite.Int(append(b, 0xa4, 's', 'i', 'z', 'e'), int64(r.Size))
	b = mpwrite.Bool(append(b, 0xa5, 't', 'r', 'u', 'n', 'c'), r.Truncated)
	if len(r.More) > 0 {
		b = mpwrite.ArrayHeader(append(b, 0xa4, 'm', 'o', 'r', 'e'), len(r.More))
		for i := range r.More {
			b = r.More[i].AppendMsgpack(b)
		}
	}
	return b
}

// ParseMsgpack decodes a RecvFromResp map, each datagram's data copied
// into the array its Data held when it has room, and More's elements
// decoded over those already in its array, as the general decoder does;
// false for anything else (including a More element with a More of its
// own, which the general decoder then answers).
func (r *RecvFromResp) ParseMsgpack(body []byte) bool {
	rest, ok := r.parse(body, true)
	return ok && len(rest) == 0
}

// parse reads one RecvFromResp map at the front of body into r (on
// success only) and returns what follows it; more says whether a "more"
// key may appear.
func (r *RecvFromResp) parse(body []byte, more bool) ([]byte, bool) {
	out := *r
	var data []byte
	gotData := false
	rest, _, ok := mpread.FixMapPrefix(body, func(key, p []byte) ([]byte, uint32, bool) {
		var ok bool
		switch string(key) {
		case "from":
			out.From, p, ok = fastAddr(p)
			return p, 1, ok
		case "data":
			data, p, ok = mpread.Bin(p)
			gotData = ok
			return p, 2, ok
		case "size":
			var v int64
			v, p, ok = mpread.Int(p)
			out.Size = int(v)
			return p, 4, ok
		case "trunc":
			out.Truncated, p, ok = mpread.Bool(p)
			return p, 8, ok
		case "more":
			if more {
				out.More, p, ok = parseMore(p, r.More)
				return p, 16, ok
			}
		}
		return nil, 0, false
	})
	if !ok {
		return nil, false
	}
	if gotData {
		out.Data = mpread.CopyBin(r.Data, data)
	}
	*r = out
	return rest, true
}

// parseMore reads More's array at the front of p, decoding over the
// elements of old's array as the general decoder does (nil for msgpack
// nil; an empty array keeps old's array, or makes one).
func parseMore(p []byte, old []RecvFromResp) ([]RecvFromResp, []byte, bool) {
	n, p, ok := mpread.ArrayHeader(p)
	switch {
	case !ok || n > MaxBatch:
		return nil, nil, false
	case n < 0:
		return nil, p, true
	case n == 0 && old == nil:
		return []RecvFromResp{}, p, true
	}
	more := old
	if cap(more) >= n {
		more = more[:n]
	} else {
		more = append(more[:cap(more)], make([]RecvFromResp, n-cap(more))...)
	}
	for i := range n {
		if p, ok = more[i].parse(p, false); !ok {
			return nil, nil, false
		}
	}
	return more, p, true
}
