package skbuff

import "encoding/binary"

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
		if v[i], p, ok = readInt(p); !ok {
			return nil, 0, false
		}
	}
	dev, start, data := v[0], v[1], v[2]
	if dev < 0 || dev > 1<<16-1 || start < 0 || start > int64(capacity) || data < 0 || data > int64(capacity) {
		return nil, 0, false
	}
	var bytes []byte
	if bytes, p, ok = readBin(p); !ok {
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
		if g, p, ok = readInt(p); !ok || g < 1 || g > 1<<16-1 {
			return nil, 0, false
		}
		gso = uint16(g)
	}
	if len(p) != 0 {
		return nil, 0, false
	}
	return bytes[data-start:], gso, true
}

// readInt reads a msgpack integer in any of its forms.
func readInt(p []byte) (int64, []byte, bool) {
	if len(p) < 1 {
		return 0, nil, false
	}
	c := p[0]
	switch {
	case c <= 0x7f:
		return int64(c), p[1:], true
	case c >= 0xe0:
		return int64(int8(c)), p[1:], true
	case c == 0xcc && len(p) >= 2:
		return int64(p[1]), p[2:], true
	case c == 0xcd && len(p) >= 3:
		return int64(binary.BigEndian.Uint16(p[1:])), p[3:], true
	case c == 0xce && len(p) >= 5:
		return int64(binary.BigEndian.Uint32(p[1:])), p[5:], true
	case c == 0xcf && len(p) >= 9:
		u := binary.BigEndian.Uint64(p[1:])
		if u > 1<<63-1 {
			return 0, nil, false
		}
		return int64(u), p[9:], true
	case c == 0xd0 && len(p) >= 2:
		return int64(int8(p[1])), p[2:], true
	case c == 0xd1 && len(p) >= 3:
		return int64(int16(binary.BigEndian.Uint16(p[1:]))), p[3:], true
	case c == 0xd2 && len(p) >= 5:
		return int64(int32(binary.BigEndian.Uint32(p[1:]))), p[5:], true
	case c == 0xd3 && len(p) >= 9:
		return int64(binary.BigEndian.Uint64(p[1:])), p[9:], true
	}
	return 0, nil, false
}

// readBin reads a msgpack bin 8/16/32, aliasing p.
func readBin(p []byte) ([]byte, []byte, bool) {
	if len(p) < 1 {
		return nil, nil, false
	}
	var n, h int
	switch c := p[0]; {
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
