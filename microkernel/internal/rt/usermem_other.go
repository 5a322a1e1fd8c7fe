//go:build !arm64

package rt

import "unsafe"

// userMem on the host: host unit tests pass pointers to their own memory,
// which is always mapped; only nil and wrapping ranges are refused.
func userMem(addr uintptr, n uintptr) unsafe.Pointer {
	if addr == 0 || addr+n < addr {
		return nil
	}
	return ptrOf(addr)
}
