// Package mpwrite appends single msgpack values in the forms
// github.com/vmihailenco/msgpack/v5 writes them (the shortest), for the
// encoders that build a hot message by hand (the message envelope, a
// frame encoded around its own bytes): byte for byte what the msgpack
// encoder would write, so any decoder reads them. It is mpread's other
// half.
package mpwrite

import "encoding/binary"

// AppendUint appends v as an unsigned integer (positive fixint, uint
// 8/16/32/64), as msgpack's EncodeUint does.
func AppendUint(dst []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(dst, byte(v))
	case v <= 0xff:
		return append(dst, 0xcc, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), v)
}

// AppendInt appends v as msgpack's EncodeInt does: a non-negative value
// as AppendUint, a negative one as a negative fixint or int 8/16/32/64.
func AppendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0:
		return AppendUint(dst, uint64(v))
	case v >= -32:
		return append(dst, byte(v))
	case v >= -1<<7:
		return append(dst, 0xd0, byte(v))
	case v >= -1<<15:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(v))
	case v >= -1<<31:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
}

// AppendArrayHeader appends the header of an array of n elements.
func AppendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(n))
}

// AppendBinHeader appends the header of a bin of n bytes (the bytes
// follow it), as msgpack's EncodeBytes writes for a non-nil slice.
func AppendBinHeader(dst []byte, n int) []byte {
	switch {
	case n <= 0xff:
		return append(dst, 0xc4, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
}
