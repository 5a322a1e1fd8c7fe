//go:build !arm64

package arch

// Copy copies src into dst and returns the bytes copied (the built-in
// copy: the SIMD version is arm64's).
func Copy(dst, src []byte) int { return copy(dst, src) }
