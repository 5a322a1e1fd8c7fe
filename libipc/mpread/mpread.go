// Package mpread reads single msgpack values in place, for the parsers
// that take the usual encoding of a hot message without copying (netd's
// and tcpd's send paths, a NIC driver's frames): each function reads one
// value at the front of p and returns the rest; ok false means p does not
// start with a value of that form, and the caller then decodes the whole
// body the general way. Byte slices alias p.
package mpread

import "encoding/binary"

// Fixstr reads a fixstr (a map key).
func Fixstr(p []byte) (s, rest []byte, ok bool) {
	if len(p) < 1 || p[0]&0xe0 != 0xa0 {
		return nil, nil, false
	}
	n := int(p[0] & 0x1f)
	if len(p) < 1+n {
		return nil, nil, false
	}
	return p[1 : 1+n], p[1+n:], true
}

// Uint reads a non-negative integer in its unsigned forms (positive
// fixint, uint 8/16/32/64).
func Uint(p []byte) (v uint64, rest []byte, ok bool) {
	if len(p) < 1 {
		return 0, nil, false
	}
	c := p[0]
	switch {
	case c <= 0x7f:
		return uint64(c), p[1:], true
	case c == 0xcc && len(p) >= 2:
		return uint64(p[1]), p[2:], true
	case c == 0xcd && len(p) >= 3:
		return uint64(binary.BigEndian.Uint16(p[1:])), p[3:], true
	case c == 0xce && len(p) >= 5:
		return uint64(binary.BigEndian.Uint32(p[1:])), p[5:], true
	case c == 0xcf && len(p) >= 9:
		return binary.BigEndian.Uint64(p[1:]), p[9:], true
	}
	return 0, nil, false
}

// Int reads an integer in any of its forms (fixints, uint and int 8 to
// 64); a uint 64 beyond int64 is not one.
func Int(p []byte) (v int64, rest []byte, ok bool) {
	if len(p) < 1 {
		return 0, nil, false
	}
	c := p[0]
	switch {
	case c >= 0xe0:
		return int64(int8(c)), p[1:], true
	case c == 0xd0 && len(p) >= 2:
		return int64(int8(p[1])), p[2:], true
	case c == 0xd1 && len(p) >= 3:
		return int64(int16(binary.BigEndian.Uint16(p[1:]))), p[3:], true
	case c == 0xd2 && len(p) >= 5:
		return int64(int32(binary.BigEndian.Uint32(p[1:]))), p[5:], true
	case c == 0xd3 && len(p) >= 9:
		return int64(binary.BigEndian.Uint64(p[1:])), p[9:], true
	}
	u, rest, ok := Uint(p)
	if !ok || u > 1<<63-1 {
		return 0, nil, false
	}
	return int64(u), rest, true
}

// Bin reads a bin 8/16/32, or nil (no bytes), with its capacity cut to
// its length.
func Bin(p []byte) (b, rest []byte, ok bool) {
	if len(p) < 1 {
		return nil, nil, false
	}
	var n, h int
	switch c := p[0]; {
	case c == 0xc0:
		return nil, p[1:], true
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

// ArrayHeader reads an array's header (fixarray, array 16, array 32) and
// returns its element count, or -1 for nil; the elements follow in rest.
func ArrayHeader(p []byte) (n int, rest []byte, ok bool) {
	if len(p) < 1 {
		return 0, nil, false
	}
	switch c := p[0]; {
	case c == 0xc0:
		return -1, p[1:], true
	case c&0xf0 == 0x90:
		return int(c & 0x0f), p[1:], true
	case c == 0xdc && len(p) >= 3:
		return int(binary.BigEndian.Uint16(p[1:])), p[3:], true
	case c == 0xdd && len(p) >= 5:
		n := binary.BigEndian.Uint32(p[1:])
		if uint64(n) > uint64(len(p)) { // each element takes a byte at least
			return 0, nil, false
		}
		return int(n), p[5:], true
	}
	return 0, nil, false
}

// Bool reads true or false.
func Bool(p []byte) (v bool, rest []byte, ok bool) {
	if len(p) < 1 || (p[0] != 0xc2 && p[0] != 0xc3) {
		return false, nil, false
	}
	return p[0] == 0xc3, p[1:], true
}

// CopyBin stores b, as Bin read it, the way msgpack's decoder stores a
// bin into a []byte field that held dst: nil for msgpack nil; else dst's
// array when it holds len(b) bytes, or a new one (empty, not nil, for an
// empty bin). For the parsers whose message is released after decoding.
func CopyBin(dst, b []byte) []byte {
	if b == nil {
		return nil
	}
	if dst == nil || len(b) > cap(dst) {
		dst = make([]byte, len(b))
	}
	dst = dst[:len(b)]
	copy(dst, b)
	return dst
}

// FixMap reads a whole body that is a fixmap (at most 15 entries) with
// fixstr keys, as msgpack-go writes a struct: for each entry, field gets
// the key and the bytes from its value on, and returns the bytes after
// the value, a bit naming the key (each key its own) and whether it read
// it. A key seen twice, a field that fails, anything after the map, or a
// body that is not such a map: false.
func FixMap(body []byte, field func(key, p []byte) (rest []byte, bit uint32, ok bool)) bool {
	rest, _, ok := FixMapPrefix(body, field)
	return ok && len(rest) == 0
}

// FixMapPrefix is FixMap for a map at the front of p (an element of an
// array, say): it returns what follows the map and the bits of the keys
// seen, so that a caller can require some.
func FixMapPrefix(p []byte, field func(key, p []byte) (rest []byte, bit uint32, ok bool)) (rest []byte, seen uint32, ok bool) {
	if len(p) < 1 || p[0]&0xf0 != 0x80 {
		return nil, 0, false
	}
	n := int(p[0] & 0x0f)
	p = p[1:]
	for range n {
		key, rest, ok := Fixstr(p)
		if !ok {
			return nil, 0, false
		}
		var bit uint32
		if p, bit, ok = field(key, rest); !ok || seen&bit != 0 {
			return nil, 0, false
		}
		seen |= bit
	}
	return p, seen, true
}
