package mm

import "unsafe"

// Range is a physical or virtual address range [Start, End).
type Range struct {
	Start, End uint64
}

// MaxReserved caps the reserved ranges PhysMem.Init accepts (kernel image,
// DTB, boot page tables, initrd, firmware reservations...).
const MaxReserved = 32

// MaxPages caps the pages one PhysMem manages (page indices are uint32 and
// noPage is reserved): 16 TiB of RAM.
const MaxPages = 1<<32 - 2

const noPage = ^uint32(0)

// PhysStats are the allocator's counters, in pages unless noted.
type PhysStats struct {
	Total       uint64 // pages handed to the allocator (free+used at Init)
	Free        uint64
	Used        uint64
	Peak        uint64 // highest Used seen
	Reserved    uint64 // pages withheld by Init: reserved ranges and metadata
	Meta        uint64 // pages holding the allocator's own metadata
	AllocFails  uint64 // Alloc/AllocRun calls that found no memory
	DoubleFrees uint64 // Free of a page already free
	BadFrees    uint64 // Free of an address outside, misaligned or never allocatable
}

// PhysMem is a physical page allocator over one Window minus reserved
// ranges. Its metadata lives in the managed memory itself (placed by Init
// in the lowest usable pages), about 8.03 bytes per page, 0.2 % of RAM:
//
//   - link[i] (uint32): for a free page, the index of the next free page
//     (a doubly linked LIFO list); for an allocated page, the owner's tag
//     (SetTag/Tag; the page tables keep their live-entry counts there);
//   - prev[i] (uint32): for a free page, the previous one in the list, so
//     AllocRun takes any page off the list in O(1);
//   - a free bitmap and a used bitmap (1 bit each per page): the source of
//     truth. A page in neither is reserved (never allocatable).
//
// Free pages are never written, so a stray write into free memory cannot
// corrupt the allocator. Alloc and Free are O(1); AllocRun (contiguous, for
// DMA) scans the bitmap and then the free list.
//
// The zero PhysMem is empty (every Alloc fails). Callers serialize access.
type PhysMem struct {
	win      Window
	base     uint64 // physical address of page index 0
	npages   uint32
	link     unsafe.Pointer // [npages]uint32
	prev     unsafe.Pointer // [npages]uint32: a free page's predecessor in the list (noPage at the head)
	freeBits unsafe.Pointer // [ceil(npages/64)]uint64, bit set = free
	usedBits unsafe.Pointer // [ceil(npages/64)]uint64, bit set = allocated
	head     uint32         // first free page, or noPage
	stats    PhysStats
}

// metaLayout returns the byte offsets of the predecessor links and the
// bitmaps, and the metadata size, for n pages.
func metaLayout(n uint64) (prevOff, freeOff, usedOff, total uint64) {
	words := (n + 63) / 64
	prevOff = (n*4 + 7) &^ 7
	freeOff = prevOff + (n*4+7)&^7
	usedOff = freeOff + words*8
	return prevOff, freeOff, usedOff, usedOff + words*8
}

// Init takes over the page-aligned part of w, minus every page touching a
// reserved range, and places its metadata in the lowest free pages. It
// returns ErrInvalid for a window smaller than a few pages or too many
// reserved ranges, ErrRange if the window is too large, and ErrNoMemory if
// no room is left for the metadata. Init writes the metadata pages only.
func (p *PhysMem) Init(w Window, reserved []Range) Errno {
	*p = PhysMem{head: noPage}
	if len(reserved) > MaxReserved {
		return ErrInvalid
	}
	start := (w.Base + pageMask) &^ pageMask
	end := (w.Base + w.Size) &^ pageMask
	if start < w.Base || end <= start {
		return ErrInvalid
	}
	n := (end - start) >> PageShift
	if n > MaxPages {
		return ErrRange
	}
	prevOff, freeOff, usedOff, metaBytes := metaLayout(n)
	metaPages := (metaBytes + pageMask) >> PageShift
	// Lowest run of metaPages pages that avoids every reserved range.
	mstart := start
	for moved := true; moved; {
		moved = false
		mend := mstart + metaPages<<PageShift
		if mend > end || mend < mstart {
			return ErrNoMemory
		}
		for _, r := range reserved {
			if r.Start < mend && r.End > mstart {
				mstart = (r.End + pageMask) &^ pageMask
				if mstart < r.End { // wrapped
					return ErrNoMemory
				}
				moved = true
			}
		}
	}
	metaPtr := w.Ptr(mstart, metaBytes)
	if metaPtr == nil {
		return ErrNoMemory
	}
	p.win = w
	p.base = start
	p.npages = uint32(n)
	p.link = metaPtr
	p.prev = unsafe.Add(metaPtr, prevOff)
	p.freeBits = unsafe.Add(metaPtr, freeOff)
	p.usedBits = unsafe.Add(metaPtr, usedOff)
	for i := uint64(0); i < (n+63)/64; i++ {
		*p.freeWord(uint32(i)) = 0
		*p.usedWord(uint32(i)) = 0
	}
	p.stats.Meta = metaPages
	// Push in descending order so Alloc hands out ascending addresses.
	mfirst := (mstart - start) >> PageShift
	for i := n; i > 0; i-- {
		idx := i - 1
		pa := start + idx<<PageShift
		if idx >= mfirst && idx < mfirst+metaPages || overlaps(reserved, pa) {
			p.stats.Reserved++
			*p.linkAt(uint32(idx)) = 0
			continue
		}
		p.push(uint32(idx))
		p.stats.Total++
	}
	p.stats.Free = p.stats.Total
	return OK
}

func overlaps(rs []Range, pa uint64) bool {
	for _, r := range rs {
		if r.Start < pa+PageSize && r.End > pa {
			return true
		}
	}
	return false
}

//go:nosplit
func (p *PhysMem) linkAt(i uint32) *uint32 {
	return (*uint32)(unsafe.Add(p.link, uintptr(i)*4))
}

//go:nosplit
func (p *PhysMem) prevAt(i uint32) *uint32 {
	return (*uint32)(unsafe.Add(p.prev, uintptr(i)*4))
}

//go:nosplit
func (p *PhysMem) freeWord(w uint32) *uint64 {
	return (*uint64)(unsafe.Add(p.freeBits, uintptr(w)*8))
}

//go:nosplit
func (p *PhysMem) usedWord(w uint32) *uint64 {
	return (*uint64)(unsafe.Add(p.usedBits, uintptr(w)*8))
}

//go:nosplit
func (p *PhysMem) isFree(i uint32) bool {
	return *p.freeWord(i / 64)&(1<<(i%64)) != 0
}

//go:nosplit
func (p *PhysMem) isUsed(i uint32) bool {
	return *p.usedWord(i / 64)&(1<<(i%64)) != 0
}

// push puts page i at the head of the free list and marks it free.
//
//go:nosplit
func (p *PhysMem) push(i uint32) {
	*p.linkAt(i) = p.head
	*p.prevAt(i) = noPage
	if p.head != noPage {
		*p.prevAt(p.head) = i
	}
	p.head = i
	*p.freeWord(i / 64) |= 1 << (i % 64)
	*p.usedWord(i / 64) &^= 1 << (i % 64)
}

// take marks free page i allocated (already off the list) with tag 0.
//
//go:nosplit
func (p *PhysMem) take(i uint32) {
	*p.linkAt(i) = 0
	*p.freeWord(i / 64) &^= 1 << (i % 64)
	*p.usedWord(i / 64) |= 1 << (i % 64)
}

//go:nosplit
func (p *PhysMem) noteUsed(n uint64) {
	p.stats.Free -= n
	p.stats.Used += n
	if p.stats.Used > p.stats.Peak {
		p.stats.Peak = p.stats.Used
	}
}

// Alloc returns the physical address of a free page (contents undefined).
//
//go:nosplit
func (p *PhysMem) Alloc() (uint64, Errno) {
	i := p.head
	if i == noPage || i >= p.npages || !p.isFree(i) {
		p.stats.AllocFails++
		return 0, ErrNoMemory
	}
	p.head = *p.linkAt(i)
	if p.head != noPage && p.head < p.npages {
		*p.prevAt(p.head) = noPage
	}
	p.take(i)
	p.noteUsed(1)
	return p.base + uint64(i)<<PageShift, OK
}

// AllocZeroed returns a free page filled with zeroes.
//
//go:nosplit
func (p *PhysMem) AllocZeroed() (uint64, Errno) {
	return p.AllocZeroedNear(0)
}

// AllocZeroedNear is AllocZeroed that takes the page at hint when it is
// free: a process's page after the one before it, so that memory it
// faults in in order stays physically consecutive, which the kernel's
// copies walk as one run (PageTable.LookupRun). Any other hint (0, taken,
// not a page of this memory) is Alloc's page.
//
//go:nosplit
func (p *PhysMem) AllocZeroedNear(hint uint64) (uint64, Errno) {
	pa, e := p.allocNear(hint)
	if e != OK {
		return 0, e
	}
	if pg := p.win.page(pa); pg != nil {
		*pg = [PageSize]byte{}
	}
	return pa, OK
}

// allocNear is Alloc that takes the page at hint if it is free.
//
//go:nosplit
func (p *PhysMem) allocNear(hint uint64) (uint64, Errno) {
	if hint != 0 {
		if i, e := p.index(hint); e == OK && p.isFree(i) {
			p.remove(i)
			p.take(i)
			p.noteUsed(1)
			return hint, OK
		}
	}
	return p.Alloc()
}

// index converts a page address to its index, validating it.
//
//go:nosplit
func (p *PhysMem) index(pa uint64) (uint32, Errno) {
	if pa&pageMask != 0 {
		return 0, ErrAlign
	}
	if pa < p.base || (pa-p.base)>>PageShift >= uint64(p.npages) {
		return 0, ErrRange
	}
	return uint32((pa - p.base) >> PageShift), OK
}

// Free returns the page at pa. A page that is already free is refused with
// ErrDoubleFree; reserved and metadata pages with ErrNotAllocated; other
// bad addresses with ErrAlign or ErrRange. Every refusal is counted.
//
//go:nosplit
func (p *PhysMem) Free(pa uint64) Errno {
	i, e := p.index(pa)
	if e != OK {
		p.stats.BadFrees++
		return e
	}
	if p.isFree(i) {
		p.stats.DoubleFrees++
		return ErrDoubleFree
	}
	if !p.isUsed(i) {
		p.stats.BadFrees++
		return ErrNotAllocated
	}
	p.push(i)
	p.stats.Free++
	p.stats.Used--
	return OK
}

// AllocRun returns n physically contiguous free pages whose base is aligned
// to align bytes (a power of two >= PageSize, or 0 for PageSize), for DMA.
// It scans the bitmap from the top of memory down (usually finding a run
// at once; O(total pages) at worst) and unlinks the run in O(n).
//
//go:nosplit
func (p *PhysMem) AllocRun(n uint32, align uint64) (uint64, Errno) {
	if align == 0 {
		align = PageSize
	}
	if n == 0 || align < PageSize || align&(align-1) != 0 {
		return 0, ErrInvalid
	}
	step := uint32(1)
	if align>>PageShift < uint64(p.npages) {
		step = uint32(align >> PageShift)
	}
	// First index whose address is aligned.
	first := uint32(0)
	if off := p.base & (align - 1); off != 0 {
		skip := (align - off) >> PageShift
		if skip >= uint64(p.npages) {
			p.stats.AllocFails++
			return 0, ErrNoMemory
		}
		first = uint32(skip)
	}
	if uint64(first)+uint64(n) > uint64(p.npages) {
		p.stats.AllocFails++
		return 0, ErrNoMemory
	}
	// Scan down from the highest aligned start: Alloc hands out low pages
	// first, so the top of memory is where free runs usually are, and a
	// run is normally found at once.
	top := (p.npages - n - first) / step * step
	for s := int64(first + top); s >= int64(first); s -= int64(step) {
		run := uint32(0)
		for run < n && p.isFree(uint32(s)+run) {
			run++
		}
		if run == n {
			p.unlinkRun(uint32(s), n)
			p.noteUsed(uint64(n))
			return p.base + uint64(s)<<PageShift, OK
		}
		// Skip an all-busy bitmap word below s quickly.
		if w := uint32(s) / 64; uint32(s)%64 == 0 && w > 0 && *p.freeWord(w - 1) == 0 {
			s -= 64 - int64(step)
		}
	}
	p.stats.AllocFails++
	return 0, ErrNoMemory
}

// unlinkRun takes the free pages [s, s+n) off the free list (O(1) each:
// the list is doubly linked) and marks them allocated.
//
//go:nosplit
func (p *PhysMem) unlinkRun(s, n uint32) {
	for k := uint32(0); k < n; k++ {
		p.remove(s + k)
		p.take(s + k)
	}
}

// remove takes free page i off the free list.
//
//go:nosplit
func (p *PhysMem) remove(i uint32) {
	prev, next := *p.prevAt(i), *p.linkAt(i)
	if prev == noPage {
		p.head = next
	} else {
		*p.linkAt(prev) = next
	}
	if next != noPage && next < p.npages {
		*p.prevAt(next) = prev
	}
}

// FreeRun returns n contiguous pages starting at pa (as from AllocRun). It
// frees page by page and reports the first refusal.
//
//go:nosplit
func (p *PhysMem) FreeRun(pa uint64, n uint32) Errno {
	res := OK
	for k := uint32(0); k < n; k++ {
		if e := p.Free(pa + uint64(k)<<PageShift); e != OK && res == OK {
			res = e
		}
	}
	return res
}

// SetTag stores v in the metadata word of allocated page pa (the page
// table code keeps its live-entry count there). It fails for pages that
// are free or outside the allocator.
//
//go:nosplit
func (p *PhysMem) SetTag(pa uint64, v uint32) bool {
	i, e := p.index(pa)
	if e != OK || !p.isUsed(i) {
		return false
	}
	*p.linkAt(i) = v
	return true
}

// Tag returns the word stored by SetTag for allocated page pa.
//
//go:nosplit
func (p *PhysMem) Tag(pa uint64) (uint32, bool) {
	i, e := p.index(pa)
	if e != OK || !p.isUsed(i) {
		return 0, false
	}
	return *p.linkAt(i), true
}

// IsFree reports whether pa is a free page of this allocator.
//
//go:nosplit
func (p *PhysMem) IsFree(pa uint64) bool {
	i, e := p.index(pa)
	return e == OK && p.isFree(i)
}

// Stats returns a snapshot of the counters.
//
//go:nosplit
func (p *PhysMem) Stats() PhysStats { return p.stats }

// Window returns the window the allocator manages.
//
//go:nosplit
func (p *PhysMem) Window() *Window { return &p.win }
