package arch

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCopy copies every length around the wide loop's bounds, from and to
// unaligned addresses, and requires exactly the source's bytes in the
// destination and nothing written past its end. On arm64 this runs the
// SIMD loop (TestArchCopyOnArm64 runs it under qemu-user in CI).
func TestCopy(t *testing.T) {
	src := make([]byte, 5000)
	for i := range src {
		src[i] = byte(i*7 + 3)
	}
	for _, n := range []int{0, 1, 63, 64, 65, 255, 256, 257, 319, 320, 321, 1000, 4095, 4096, 4097, 4500} {
		for _, so := range []int{0, 1, 8, 15} {
			for _, do := range []int{0, 3, 16} {
				dst := make([]byte, n+do+64)
				for i := range dst {
					dst[i] = 0xee
				}
				got := Copy(dst[do:do+n], src[so:so+n])
				require.Equal(t, n, got)
				require.Equal(t, src[so:so+n], dst[do:do+n], "n %d src+%d dst+%d", n, so, do)
				for i, b := range dst[do+n:] {
					require.Equal(t, byte(0xee), b, "byte %d past the end written (n %d)", i, n)
				}
			}
		}
	}
	// Lengths differ: the shorter wins, as with copy.
	require.Equal(t, 300, Copy(make([]byte, 300), src))
	require.Equal(t, 300, Copy(make([]byte, 1000), src[:300]))
}
