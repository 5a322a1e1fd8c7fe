package selftest

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"syscall"

	"armos/microkernel/internal/rt"
)

// testDemandPaging checks the trap layer's memory contract with the
// runtime's own system calls: an anonymous mmap costs only the pages
// touched, madvise(DONTNEED) really frees them and they read back zero,
// munmap frees the rest; then that the Go heap gives memory back through
// the same calls (FreeOSMemory).
func testDemandPaging() (string, error) {
	const size, stride = 32 << 20, 4096
	const touchedPages = size / stride / 4 // every fourth page
	// Page counts are kernel-wide, and the runtime's background work (GC,
	// scavenger) allocates and frees meanwhile: allow an eighth either way,
	// far from the 4x that a mapping not paged on demand would cost.
	const slack = touchedPages / 8
	before := rt.ReadMemStats()
	buf, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return "", fmt.Errorf("mmap: %v", err)
	}
	defer syscall.Munmap(buf)
	for i := 0; i < len(buf); i += stride * 4 {
		buf[i] = byte(i/stride) | 1
	}
	touched := rt.ReadMemStats()
	grew := int64(touched.InUse) - int64(before.InUse)
	if grew < touchedPages-slack || grew > touchedPages+slack {
		return "", fmt.Errorf("touching %d of %d pages used %d pages", touchedPages, size/stride, grew)
	}
	for i := 0; i < len(buf); i += stride * 4 {
		if buf[i] != byte(i/stride)|1 {
			return "", fmt.Errorf("page at %d lost its contents", i)
		}
	}
	if err := syscall.Madvise(buf, syscall.MADV_DONTNEED); err != nil {
		return "", fmt.Errorf("madvise: %v", err)
	}
	advised := rt.ReadMemStats()
	if freed := int64(touched.InUse) - int64(advised.InUse); freed < touchedPages-slack {
		return "", fmt.Errorf("madvise(DONTNEED) freed %d pages, want %d", freed, touchedPages)
	}
	for i := 0; i < len(buf); i += stride * 4 {
		if buf[i] != 0 {
			return "", fmt.Errorf("page at %d reads %#x after madvise(DONTNEED), want 0", i, buf[i])
		}
	}
	reread := rt.ReadMemStats()
	if err := syscall.Munmap(buf); err != nil {
		return "", fmt.Errorf("munmap: %v", err)
	}
	unmapped := rt.ReadMemStats()
	if freed := int64(reread.InUse) - int64(unmapped.InUse); freed < touchedPages-slack {
		return "", fmt.Errorf("munmap freed %d pages, want %d", freed, touchedPages)
	}

	heapFreed, err := heapGivesBack(size)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("32 MiB mmap: %d pages for %d touched, %d freed by madvise; heap: %d pages freed after FreeOSMemory",
		grew, touchedPages, touched.InUse-advised.InUse, heapFreed), nil
}

// heapGivesBack touches a heap buffer of size bytes, drops it and checks
// that runtime.GC + debug.FreeOSMemory return pages to the kernel. (How
// many pages the buffer costs depends on the heap's layout: the runtime
// zeroes, hence touches, reused memory.) The runtime's background
// scavenger works on the same free pages meanwhile, so the check allows
// a few rounds before it calls the pages lost; its error carries the
// runtime's own view of the heap, for the case it ever fails.
func heapGivesBack(size int) (uint64, error) {
	const rounds = 3
	buf := make([]byte, size)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	touched := rt.ReadMemStats()
	var held runtime.MemStats
	runtime.ReadMemStats(&held)
	runtime.KeepAlive(buf)
	buf = nil
	after := touched
	var freed runtime.MemStats
	for r := 0; r < rounds && after.InUse >= touched.InUse; r++ {
		runtime.GC()
		debug.FreeOSMemory()
		after = rt.ReadMemStats()
		runtime.ReadMemStats(&freed)
	}
	if after.InUse >= touched.InUse {
		return 0, fmt.Errorf("FreeOSMemory (%d rounds) gave nothing back: %d pages before, %d after; "+
			"runtime heap in use %d -> %d KiB, idle %d -> %d KiB, released %d -> %d KiB",
			rounds, touched.InUse, after.InUse, held.HeapInuse>>10, freed.HeapInuse>>10,
			held.HeapIdle>>10, freed.HeapIdle>>10, held.HeapReleased>>10, freed.HeapReleased>>10)
	}
	return touched.InUse - after.InUse, nil
}

var sink []byte

// churnMemoryLimit is the runtime memory limit during the churn: the
// runtime must give pages back (madvise DONTNEED) to stay under it.
const churnMemoryLimit = 48 << 20

// churnSlackPages is how far above its starting point page use may grow.
const churnSlackPages = (churnMemoryLimit + 16<<20) / 4096

// testChurn allocates ten times the physical memory in short-lived chunks
// under a runtime memory limit and checks that the kernel's physical page
// use stays bounded.
func testChurn() (string, error) {
	old := debug.SetMemoryLimit(churnMemoryLimit)
	defer debug.SetMemoryLimit(old)
	runtime.GC()
	debug.FreeOSMemory()
	ms := rt.ReadMemStats()
	total := ms.TotalPages * 4096
	const chunk = 1 << 20
	start := ms.InUse
	peak := ms.InUse
	n := 10 * total / chunk
	for i := uint64(0); i < n; i++ {
		sink = make([]byte, chunk)
		sink[i%chunk] = 1
		if i%64 == 0 {
			if u := rt.ReadMemStats().InUse; u > peak {
				peak = u
			}
		}
	}
	sink = nil
	runtime.GC()
	end := rt.ReadMemStats().InUse
	if peak > start+churnSlackPages {
		return "", fmt.Errorf("page use grew from %d to %d of %d pages", start, peak, ms.TotalPages)
	}
	return fmt.Sprintf("allocated %d MiB with %d MiB RAM; pages in use start %d KiB, peak %d KiB, end %d KiB",
		n*chunk>>20, total>>20, start*4, peak*4, end*4), nil
}
