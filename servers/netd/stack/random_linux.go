//go:build linux && (amd64 || arm64)

package stack

import (
	"fmt"
	"syscall"
	"unsafe"
)

// readRandom fills b from the kernel's random source with getrandom(2)
// (armos's kernel implements it, as Linux does). It stands in for
// crypto/rand, whose FIPS machinery (DRBG, AES, SHA-2/3) would be about
// 200 KiB of netd's resident text and tables for 4 KiB drawn once at start.
func readRandom(b []byte) error {
	for len(b) > 0 {
		n, _, errno := syscall.Syscall(sysGetrandom, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return fmt.Errorf("getrandom: %w", errno)
		case n == 0:
			return fmt.Errorf("getrandom: no bytes")
		}
		b = b[n:]
	}
	return nil
}
