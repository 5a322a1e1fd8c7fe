package mm

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// testRAMBase is where host tests pretend their RAM sits (QEMU virt's).
const testRAMBase = 0x40000000

// hostRAM backs a Window with a Go byte slice of the given size, so tests
// can treat slice memory as physical memory at testRAMBase.
func hostRAM(t testing.TB, size uint64) (Window, []byte) {
	t.Helper()
	mem := make([]byte, size)
	w, e := NewWindow(testRAMBase, size, unsafe.Pointer(&mem[0]))
	require.Equal(t, OK, e)
	return w, mem
}

// newPhys returns an allocator over size bytes of host RAM.
func newPhys(t testing.TB, size uint64, reserved ...Range) (*PhysMem, []byte) {
	t.Helper()
	w, mem := hostRAM(t, size)
	p := new(PhysMem)
	require.Equal(t, OK, p.Init(w, reserved))
	return p, mem
}
