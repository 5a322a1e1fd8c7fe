package rt

import (
	"testing"
	"unsafe"
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
	physPages.init(start, end)
	root := physPages.Alloc()
	kas = addrSpace{root: root, pages: &physPages}
	threads = [maxThreads]thread{}
	files = [maxFiles]file{}
	sigactions = [nsig + 1]sigaction{}
	stats = Stats{}
	counterFreq = 62_500_000
	reschedule = false
	sliceEnd = 0
	initThreads()
	initFiles()
}
