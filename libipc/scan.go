package libipc

import "encoding/binary"

// MaxDepth bounds the nesting of arrays and maps in a body. Deeper input is
// rejected with ReasonTooLarge before the msgpack library sees it, so a
// hostile message cannot drive the decoder into deep recursion.
const MaxDepth = 32

// scanValue checks that b[off:] starts with one complete, well-formed msgpack
// value and returns the offset just past it. Every declared length is checked
// against the bytes that remain (an element takes at least one byte), so a
// small message can never make the decoder allocate for a huge length.
// Work is linear in len(b).
func scanValue(b []byte, off, depth int) (int, Reason) {
	if depth > MaxDepth {
		return off, ReasonTooLarge
	}
	if off >= len(b) {
		return off, ReasonTruncated
	}
	c := b[off]
	off++
	switch {
	case c <= 0x7f || c >= 0xe0: // positive / negative fixint
		return off, 0
	case c <= 0x8f: // fixmap
		return scanElems(b, off, 2*int(c&0x0f), depth)
	case c <= 0x9f: // fixarray
		return scanElems(b, off, int(c&0x0f), depth)
	case c <= 0xbf: // fixstr
		return skip(b, off, int(c&0x1f))
	}
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return off, 0
	case 0xc4, 0xd9: // bin8, str8
		return skipLen(b, off, 1, 0)
	case 0xc5, 0xda: // bin16, str16
		return skipLen(b, off, 2, 0)
	case 0xc6, 0xdb: // bin32, str32
		return skipLen(b, off, 4, 0)
	case 0xc7: // ext8: len, type, data
		return skipLen(b, off, 1, 1)
	case 0xc8: // ext16
		return skipLen(b, off, 2, 1)
	case 0xc9: // ext32
		return skipLen(b, off, 4, 1)
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return skip(b, off, 4)
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return skip(b, off, 8)
	case 0xcc, 0xd0: // uint8, int8
		return skip(b, off, 1)
	case 0xcd, 0xd1: // uint16, int16
		return skip(b, off, 2)
	case 0xd4: // fixext1: type + 1
		return skip(b, off, 2)
	case 0xd5: // fixext2
		return skip(b, off, 3)
	case 0xd6: // fixext4
		return skip(b, off, 5)
	case 0xd7: // fixext8
		return skip(b, off, 9)
	case 0xd8: // fixext16
		return skip(b, off, 17)
	case 0xdc: // array16
		n, off2, r := readLen(b, off, 2)
		if r != 0 {
			return off, r
		}
		return scanElems(b, off2, n, depth)
	case 0xdd: // array32
		n, off2, r := readLen(b, off, 4)
		if r != 0 {
			return off, r
		}
		return scanElems(b, off2, n, depth)
	case 0xde: // map16
		n, off2, r := readLen(b, off, 2)
		if r != 0 {
			return off, r
		}
		return scanElems(b, off2, 2*n, depth)
	case 0xdf: // map32
		n, off2, r := readLen(b, off, 4)
		if r != 0 {
			return off, r
		}
		return scanElems(b, off2, 2*n, depth)
	}
	return off - 1, ReasonWrongType // 0xc1: never used
}

// scanElems scans n consecutive values nested one level deeper.
func scanElems(b []byte, off, n, depth int) (int, Reason) {
	if n > len(b)-off { // each element needs at least one byte
		return off, ReasonTruncated
	}
	for i := 0; i < n; i++ {
		var r Reason
		if off, r = scanValue(b, off, depth+1); r != 0 {
			return off, r
		}
	}
	return off, 0
}

// skip advances over n payload bytes.
func skip(b []byte, off, n int) (int, Reason) {
	if n > len(b)-off {
		return off, ReasonTruncated
	}
	return off + n, 0
}

// readLen reads a big-endian length of size bytes.
func readLen(b []byte, off, size int) (int, int, Reason) {
	if size > len(b)-off {
		return 0, off, ReasonTruncated
	}
	var n uint64
	switch size {
	case 1:
		n = uint64(b[off])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b[off:]))
	default:
		n = uint64(binary.BigEndian.Uint32(b[off:]))
	}
	if n > uint64(len(b)) {
		return 0, off, ReasonTruncated
	}
	return int(n), off + size, 0
}

// skipLen skips a length of size bytes, extra bytes (the ext type), and the
// payload it announces.
func skipLen(b []byte, off, size, extra int) (int, Reason) {
	n, off, r := readLen(b, off, size)
	if r != 0 {
		return off, r
	}
	return skip(b, off, extra+n)
}
