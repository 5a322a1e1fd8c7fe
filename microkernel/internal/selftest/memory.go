package selftest

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"armos/microkernel/internal/rt"
)

// testDemandPaging allocates a large buffer, touches one byte per page and
// checks that physical pages are only used for what was touched, then that
// FreeOSMemory (madvise DONTNEED) gives them back.
func testDemandPaging() (string, error) {
	const size, stride = 32 << 20, 4096
	before := rt.ReadMemStats()
	buf := make([]byte, size)
	for i := 0; i < len(buf); i += stride * 4 { // every fourth page
		buf[i] = byte(i)
	}
	touched := rt.ReadMemStats()
	for i := 0; i < len(buf); i += stride * 4 {
		if buf[i] != byte(i) {
			return "", fmt.Errorf("page at %d lost its contents", i)
		}
	}
	grew := int64(touched.InUse) - int64(before.InUse)
	if grew > size/stride/2 { // touched a quarter of the pages; allow slack
		return "", fmt.Errorf("touching %d of %d pages used %d pages", size/stride/4, size/stride, grew)
	}
	runtime.KeepAlive(buf)
	buf = nil
	runtime.GC()
	debug.FreeOSMemory()
	after := rt.ReadMemStats()
	if after.InUse >= touched.InUse {
		return "", fmt.Errorf("FreeOSMemory gave nothing back: %d pages before, %d after", touched.InUse, after.InUse)
	}
	return fmt.Sprintf("32 MiB buffer cost %d pages; %d freed after FreeOSMemory", grew, touched.InUse-after.InUse), nil
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
