package rt

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// hostArena gives a test "physical memory": page-aligned host memory whose
// addresses the allocator and page-table code use as physical (identity)
// addresses, as they do in the kernel.
func hostArena(t *testing.T, pages int) (start, end uintptr) {
	t.Helper()
	buf := make([]byte, (pages+1)*pageSize)
	t.Cleanup(func() { _ = buf[0] }) // keep buf alive for the test
	start = (uintptr(unsafe.Pointer(&buf[0])) + pageSize - 1) &^ (pageSize - 1)
	return start, start + uintptr(pages)*pageSize
}

// resetKernel puts the trap layer's global state into its boot state, with
// a fresh address space over a host arena.
func resetKernel(t *testing.T, pages int) {
	t.Helper()
	start, end := hostArena(t, pages)
	w, e := mm.NewWindow(uint64(start), uint64(end-start), ptrOf(start))
	require.Equal(t, mm.OK, e)
	require.Equal(t, mm.OK, physPages.Init(w, nil))
	kas = addrSpace{pages: &physPages}
	kas.root = kas.alloc()
	require.NotZero(t, kas.root)
	threads = [maxThreads]thread{}
	files = [maxFiles]file{}
	sigactions = [nsig + 1]sigaction{}
	stats = Stats{}
	counterFreq = 62_500_000
	reschedule = false
	sliceEnd = 0
	initThreads()
	initFiles()
	// Console output goes to a fake PL011 in ordinary memory (the host
	// stand-ins of the MMIO accessors read and write memory).
	reported = [len(reported)]uint64{}
	uart := make([]uint32, 64)
	consoleBase = uintptr(unsafe.Pointer(&uart[0]))
	arch.SetUART(consoleBase)
	t.Cleanup(func() { arch.SetUART(arch.EarlyUART); _ = uart[0] })
}

// consoleBase is the fake PL011 of the current test (its data register is
// at offset 0).
var consoleBase uintptr

// addrOfBytes returns the address of b's first byte.
func addrOfBytes(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
