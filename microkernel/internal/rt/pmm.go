package rt

import "unsafe"

// pageSize is the translation granule and the unit of physical allocation.
const pageSize = 4096

// pageAllocator hands out 4 KiB physical pages to the trap layer (page
// tables and demand-zero pages of the kernel's Go heap). Free pages are kept
// on a list threaded through their first word; pages never handed out yet
// are taken from a bump pointer. Alloc and Free are O(1) and allocation-free.
// Physical addresses are identity-mapped, so a page's address is also where
// the kernel reads and writes it.
type pageAllocator struct {
	freeList    uintptr // first free page, 0 if none
	bump, limit uintptr // never-used pages [bump, limit)
	inUse       uint64  // pages handed out and not freed
	peak        uint64  // highest inUse seen
	total       uint64  // pages managed
	failed      uint64  // Alloc calls that found no memory
}

// init gives the allocator the physical range [start, end).
func (p *pageAllocator) init(start, end uintptr) {
	start = (start + pageSize - 1) &^ (pageSize - 1)
	end &^= pageSize - 1
	*p = pageAllocator{bump: start, limit: end}
	if end > start {
		p.total = uint64(end-start) / pageSize
	}
}

// Alloc returns a zeroed page, or 0 when memory is exhausted.
func (p *pageAllocator) Alloc() uintptr {
	pa := p.freeList
	if pa != 0 {
		p.freeList = uintptr(*word(pa))
	} else if p.bump < p.limit {
		pa = p.bump
		p.bump += pageSize
	} else {
		p.failed++
		return 0
	}
	zeroPage(pa)
	p.inUse++
	if p.inUse > p.peak {
		p.peak = p.inUse
	}
	return pa
}

// Free returns a page obtained from Alloc.
func (p *pageAllocator) Free(pa uintptr) {
	*word(pa) = uint64(p.freeList)
	p.freeList = pa
	p.inUse--
}

// word returns the 64-bit word at physical (= virtual) address pa.
func word(pa uintptr) *uint64 { return *(**uint64)(unsafe.Pointer(&pa)) }

// zeroPage clears one page.
func zeroPage(pa uintptr) {
	pg := *(**[pageSize / 8]uint64)(unsafe.Pointer(&pa))
	for i := range pg {
		pg[i] = 0
	}
}

// ptrOf converts a physical (= virtual) address to a pointer without a
// uintptr-to-Pointer conversion that vet would flag: the memory it names is
// not Go-managed (page tables, device memory) or is reached on purpose.
func ptrOf(pa uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&pa)) }
