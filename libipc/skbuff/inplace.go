package skbuff

import "armos/libipc/mpread"

// ParseFrame reads an encoded Buf (EncodeMsgpack) without copying: the
// packet's bytes (what Bytes would return after DecodeMsgpack into a Buf
// of capacity bytes) alias body, with its GSOSize. It reports false where
// DecodeMsgpack into such a Buf would fail, and for encodings it does not
// know (the caller then decodes the general way). A driver's transmit
// path uses it: the frame's next copy is into the device's buffer.
func ParseFrame(body []byte, capacity int) (frame []byte, gso uint16, ok bool) {
	e, ok := parseEncoded(body, capacity)
	if !ok {
		return nil, 0, false
	}
	return e.bytes[e.data-e.start:], e.gso, true
}

// encoded is an encoded Buf's fields as parseEncoded reads them.
type encoded struct {
	dev         uint16
	start, data int
	marks       [numLayers]int // storage offsets, -1 unset
	bytes       []byte         // storage[start:tail], aliasing the body
	gso         uint16
}

// parseEncoded reads an encoded Buf (EncodeMsgpack) in place, with the
// checks DecodeMsgpack makes for a Buf of capacity bytes; false where it
// would fail, and for encodings it does not know.
func parseEncoded(body []byte, capacity int) (e encoded, ok bool) {
	if len(body) < 1 || (body[0] != 0x90|encodedFields && body[0] != 0x90|(encodedFields+1)) {
		return e, false
	}
	n := int(body[0] & 0x0f)
	p := body[1:]
	var v [3 + numLayers]int64
	for i := range v {
		if v[i], p, ok = mpread.Int(p); !ok {
			return e, false
		}
	}
	dev, start, data := v[0], v[1], v[2]
	if dev < 0 || dev > 1<<16-1 || start < 0 || start > int64(capacity) || data < 0 || data > int64(capacity) {
		return e, false
	}
	if len(p) > 0 && p[0] == 0xc0 { // nil bytes: DecodeMsgpack refuses them
		return e, false
	}
	if e.bytes, p, ok = mpread.Bin(p); !ok {
		return e, false
	}
	tail := start + int64(len(e.bytes))
	if int64(len(e.bytes)) > int64(capacity)-start || data < start || data > tail {
		return e, false
	}
	for i, m := range v[3:] {
		if m != -1 && (m < start || m > tail) {
			return e, false
		}
		e.marks[i] = int(m)
	}
	if n == encodedFields+1 {
		var g int64
		if g, p, ok = mpread.Int(p); !ok || g < 1 || g > 1<<16-1 {
			return e, false
		}
		e.gso = uint16(g)
	}
	if len(p) != 0 {
		return e, false
	}
	e.dev, e.start, e.data = uint16(dev), int(start), int(data)
	return e, true
}

// ParseMsgpack decodes an encoded Buf (EncodeMsgpack) into b as
// DecodeMsgpack does, the bytes copied into b's storage, without the
// msgpack decoder (libipc.BodyParser: netd receives every frame so). It
// reports false, leaving b as it was, where DecodeMsgpack would fail and
// for encodings it does not know; libipc then decodes the general way,
// which answers what is malformed (FuzzParseMsgpack compares the two).
func (b *Buf) ParseMsgpack(body []byte) bool {
	if b.free {
		return false
	}
	e, ok := parseEncoded(body, b.Cap())
	if !ok {
		return false
	}
	tail := e.start + len(e.bytes)
	copy(b.store()[e.start:tail], e.bytes)
	b.Dev, b.GSOSize = DevID(e.dev), e.gso
	b.data, b.tail = e.data, tail
	for i, m := range e.marks {
		b.mark[i] = m + 1
	}
	return true
}
