package arch

import "unsafe"

// copyWide copies n bytes, a multiple of 64 and at least 64, from src to
// dst (not overlapping) through the 128-bit SIMD registers.
//
//go:noescape
func copyWide(dst, src unsafe.Pointer, n uintptr)

// Copy copies src into dst (as the built-in copy, for buffers that do not
// overlap) and returns the bytes copied. Large copies go 64 bytes per
// iteration through 128-bit register pairs: six instructions where the
// Go runtime's memmove, which may not assume the SIMD registers are free,
// takes ten. The kernel's copies of messages and user memory use it.
//
//go:nosplit
func Copy(dst, src []byte) int {
	n := min(len(dst), len(src))
	if n < copyWideMin {
		return copy(dst, src[:n])
	}
	w := n &^ 63
	copyWide(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), uintptr(w))
	copy(dst[w:n], src[w:n])
	return n
}

// copyWideMin is the smallest copy Copy hands to copyWide: below it the
// call and the tail cost more than the loop saves.
const copyWideMin = 256
