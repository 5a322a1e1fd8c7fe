package rt

import (
	"unsafe"

	"armos/microkernel/internal/mm"
)

// pageSize is the translation granule and the unit of physical allocation.
const pageSize = mm.PageSize

// ptrOf converts an address to a pointer without a uintptr-to-Pointer
// conversion that vet would flag: the memory it names is not Go-managed
// (page tables, thread and process pages, device memory, the image) or is
// reached on purpose.
//
//go:nosplit
func ptrOf(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

// kva returns the kernel virtual address of physical address pa: its place
// in the linear map (mm.LinearBase + pa). Only boot code, which knows it
// runs on the real machine, uses it; everything else reaches physical pages
// through physPages' window, which host tests set up over host memory.
//
//go:nosplit
func kva(pa uintptr) uintptr { return pa + mm.LinearBase }

// pagePtr returns the kernel pointer to the physical page at pa (nil when
// pa is not RAM the allocator manages).
//
//go:nosplit
func pagePtr(pa uint64) unsafe.Pointer { return physPages.Window().Ptr(pa, pageSize) }

// allocPages returns n zeroed, physically contiguous pages (a kernel
// object's storage) and their kernel address, or 0 when memory is short.
//
//go:nosplit
func allocPages(n uint32) (pa uint64, va uintptr) {
	var e mm.Errno
	if n == 1 {
		pa, e = physPages.Alloc()
	} else {
		pa, e = physPages.AllocRun(n, 0)
	}
	if e != mm.OK {
		return 0, 0
	}
	p := physPages.Window().Ptr(pa, uint64(n)*pageSize)
	if p == nil {
		return 0, 0
	}
	clear(unsafe.Slice((*byte)(p), int(n)*pageSize))
	return pa, uintptr(p)
}

// allocPageRaw returns one page without clearing it, for storage whose
// every byte read is first written (IPC message pages: their header is
// set and only the message's own bytes are ever read back).
//
//go:nosplit
func allocPageRaw() (pa uint64, va uintptr) {
	pa, e := physPages.Alloc()
	if e != mm.OK {
		return 0, 0
	}
	p := physPages.Window().Ptr(pa, pageSize)
	if p == nil {
		physPages.Free(pa)
		return 0, 0
	}
	return pa, uintptr(p)
}

// freePages gives back n pages allocated by allocPages.
//
//go:nosplit
func freePages(pa uint64, n uint32) {
	if n == 1 {
		physPages.Free(pa)
	} else {
		physPages.FreeRun(pa, n)
	}
}

// physOf returns the physical address of kernel memory at va obtained from
// allocPages (the window maps it linearly).
//
//go:nosplit
func physOf(va uintptr) uint64 {
	w := physPages.Window()
	return w.Base + uint64(va-uintptr(w.Ptr(w.Base, 1)))
}
