package rt

import "armos/microkernel/internal/arch"

// Console output for trap-level code: strings, hex and decimal numbers
// straight to the PL011, no formatting package, no allocation.

//go:nosplit
func puts(s string) {
	for i := 0; i < len(s); i++ {
		arch.PutByte(s[i])
	}
}

//go:nosplit
func putBytes(b []byte) {
	for _, c := range b {
		arch.PutByte(c)
	}
}

// putHex prints v as 0x followed by 16 hex digits.
//
//go:nosplit
func putHex(v uint64) {
	const digits = "0123456789abcdef"
	puts("0x")
	for shift := 60; shift >= 0; shift -= 4 {
		arch.PutByte(digits[(v>>uint(shift))&0xf])
	}
}

// putDec prints v in decimal.
//
//go:nosplit
func putDec(v uint64) {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	putBytes(buf[i:])
}
