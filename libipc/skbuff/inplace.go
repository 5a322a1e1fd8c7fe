package skbuff

import "armos/libipc/mpread"

// ParseFrame reads an encoded Buf (EncodeMsgpack) without copying: the
// packet's bytes (what Bytes would return after DecodeMsgpack into a Buf
// of capacity bytes) alias body, with its GSOSize. It reports false where
// DecodeMsgpack into such a Buf would fail, and for encodings it does not
// know (the caller then decodes the general way). A driver's transmit
// path uses it: the frame's next copy is into the device's buffer.
func ParseFrame(body []byte, capacity int) (frame []byte, gso uint16, ok bool) {
	if len(body) < 1 || (body[0] != 0x90|encodedFields && body[0] != 0x90|(encodedFields+1)) {
		return nil, 0, false
	}
	n := int(body[0] & 0x0f)
	p := body[1:]
	var v [3 + numLayers]int64
	for i := range v {
		if v[i], p, ok = mpread.Int(p); !ok {
			return nil, 0, false
		}
	}
	dev, start, data := v[0], v[1], v[2]
	if dev < 0 || dev > 1<<16-1 || start < 0 || start > int64(capacity) || data < 0 || data > int64(capacity) {
		return nil, 0, false
	}
	var bytes []byte
	if len(p) > 0 && p[0] == 0xc0 { // nil bytes: DecodeMsgpack refuses them
		return nil, 0, false
	}
	if bytes, p, ok = mpread.Bin(p); !ok {
		return nil, 0, false
	}
	tail := start + int64(len(bytes))
	if int64(len(bytes)) > int64(capacity)-start || data < start || data > tail {
		return nil, 0, false
	}
	for _, m := range v[3:] {
		if m != -1 && (m < start || m > tail) {
			return nil, 0, false
		}
	}
	if n == encodedFields+1 {
		var g int64
		if g, p, ok = mpread.Int(p); !ok || g < 1 || g > 1<<16-1 {
			return nil, 0, false
		}
		gso = uint16(g)
	}
	if len(p) != 0 {
		return nil, 0, false
	}
	return bytes[data-start:], gso, true
}
