package rt

// The kernel's address space: one 4-level, 4 KiB-granule translation table
// (TTBR0_EL1, 48-bit VA). [0, 4 GiB) is the boot identity map built in
// entry_arm64.s (devices, then RAM as 1 GiB blocks); mmap hands out
// [mmapBase, mmapLimit) with demand-zero paging.
//
// Demand zero: mmap only marks table entries "reserved" (an invalid
// descriptor carrying the software bit descReserved), at the largest level
// that the range covers whole, so reserving 1 GiB costs nothing. A
// translation fault on a reserved address splits reserved blocks into
// tables of reserved entries down to level 3 and maps a fresh zeroed page.
// munmap and madvise(DONTNEED) free the pages again.

import (
	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// VMSAv8-64 descriptor bits (Arm ARM D8.3).
const (
	descValid      = 1 << 0
	descTable      = 1 << 1 // table descriptor at levels 0-2, page at level 3
	descAttrNormal = 1 << 2 // AttrIndx = 1: Normal write-back (MAIR_EL1 Attr1)
	descSHInner    = 3 << 8
	descAF         = 1 << 10
	descPXN        = 1 << 53
	descUXN        = 1 << 54
	descReserved   = 1 << 55 // software: invalid entry, demand-zero reserved
	descAddrMask   = 0x0000fffffffff000

	pageDataDesc = descValid | descTable | descAttrNormal | descSHInner | descAF | descPXN | descUXN

	levels = 4
)

// The mmap window: above the boot identity map, below 2^48 (the Go heap's
// arena index needs addresses under 2^48).
const (
	mmapBase  = 1 << 32
	mmapLimit = 1 << 48
	// mmapCursorStart is where mmap without a usable hint starts looking:
	// far from the Go 1.26 randomized heap hints.
	mmapCursorStart = 0x0000_6000_0000_0000
)

// vm operations applied over a range by walk.
const (
	opReserve  = iota // mark empty entries demand-zero
	opUnmap           // free pages and clear entries
	opDontNeed        // free pages, keep the range reserved (reads back zero)
	opProbe           // report whether anything is reserved or mapped
)

// addrSpace is a translation table plus the allocator its pages come from.
type addrSpace struct {
	root   uintptr // level 0 table
	pages  *mm.PhysMem
	cursor uintptr // next mmap address to try when there is no hint
	mapped uint64  // demand-zero pages currently mapped
	faults uint64  // demand-zero faults served
	// outOfMemory is set when the last Fault failed for lack of a page.
	outOfMemory bool
}

// alloc returns a zeroed physical page, or 0 when memory is exhausted.
//
//go:nosplit
func (as *addrSpace) alloc() uintptr {
	pa, e := as.pages.AllocZeroed()
	if e != mm.OK {
		return 0
	}
	return uintptr(pa)
}

// span returns the size covered by one entry at level (0..3).
//
//go:nosplit
func span(level int) uintptr { return 1 << (39 - 9*uint(level)) }

// table returns the 512 entries of the table page at pa.
//
//go:nosplit
func table(pa uintptr) *[512]uint64 {
	return (*[512]uint64)(ptrOf(pa))
}

// walk applies op to [va, end) within the level-'level' table at tbl. It
// returns false if a page was needed but memory is exhausted, and sets
// *found for opProbe when anything in the range is in use.
func (as *addrSpace) walk(tbl uintptr, level int, va, end uintptr, op int, found *bool) bool {
	t := table(tbl)
	sz := span(level)
	for va < end {
		base := va &^ (sz - 1)
		next := base + sz
		if next > end || next == 0 {
			next = end
		}
		full := va == base && next == base+sz
		e := &t[(va>>(39-9*uint(level)))&511]
		d := *e
		switch {
		case d&descValid != 0 && d&descTable != 0 && level < 3: // next-level table
			if !as.walk(uintptr(d&descAddrMask), level+1, va, next, op, found) {
				return false
			}
		case d&descValid != 0: // page (level 3) or boot block
			if op == opProbe {
				*found = true
				return true
			}
			if level == 3 && (op == opUnmap || op == opDontNeed) {
				as.pages.Free(d & descAddrMask)
				as.mapped--
				*e = 0
				if op == opDontNeed {
					*e = descReserved
				}
				*found = true // a TLB flush is needed
			}
		case d&descReserved != 0:
			switch op {
			case opProbe:
				*found = true
				return true
			case opUnmap:
				if full {
					*e = 0
				} else {
					sub := as.split(e, level)
					if sub == 0 {
						return false
					}
					if !as.walk(sub, level+1, va, next, op, found) {
						return false
					}
				}
			}
		default: // empty
			if op == opReserve {
				if full {
					*e = descReserved
				} else {
					sub := as.alloc()
					if sub == 0 {
						return false
					}
					*e = uint64(sub) | descValid | descTable
					if !as.walk(sub, level+1, va, next, op, found) {
						return false
					}
				}
			}
		}
		va = next
	}
	return true
}

// split replaces the reserved entry *e at level with a table whose 512
// entries are all reserved, and returns the new table (0 if out of memory).
//
//go:nosplit
func (as *addrSpace) split(e *uint64, level int) uintptr {
	sub := as.alloc()
	if sub == 0 {
		return 0
	}
	t := table(sub)
	for i := range t {
		t[i] = descReserved
	}
	*e = uint64(sub) | descValid | descTable
	return sub
}

// Reserve marks [va, va+n) demand-zero. It returns false when out of memory.
//
//go:nosplit
func (as *addrSpace) Reserve(va, n uintptr) bool {
	var f bool
	ok := as.walk(as.root, 0, va, va+n, opReserve, &f)
	arch.SyncPTE()
	return ok
}

// Release frees the pages of [va, va+n); with keep the range stays reserved
// (madvise DONTNEED) and otherwise it becomes unmapped (munmap).
//
//go:nosplit
func (as *addrSpace) Release(va, n uintptr, keep bool) bool {
	op := opUnmap
	if keep {
		op = opDontNeed
	}
	var flushed bool
	ok := as.walk(as.root, 0, va, va+n, op, &flushed)
	arch.FlushTLB()
	return ok
}

// Free reports whether nothing in [va, va+n) is reserved or mapped.
//
//go:nosplit
func (as *addrSpace) Free(va, n uintptr) bool {
	var found bool
	as.walk(as.root, 0, va, va+n, opProbe, &found)
	return !found
}

// Fault serves a translation fault at va: if va is reserved it maps a fresh
// zeroed page there and returns true; it returns false for an address that
// was never mmapped, or when memory is exhausted (then outOfMemory is set).
//
//go:nosplit
func (as *addrSpace) Fault(va uintptr) bool {
	as.outOfMemory = false
	if !inTable(va) {
		return false
	}
	tbl := as.root
	for level := 0; level < levels; level++ {
		e := &table(tbl)[(va>>(39-9*uint(level)))&511]
		d := *e
		switch {
		case d&descValid != 0 && d&descTable != 0 && level < 3:
			tbl = uintptr(d & descAddrMask)
		case d&descValid != 0:
			return true // mapped meanwhile: retry the access
		case d&descReserved != 0 && level < 3:
			tbl = as.split(e, level)
			if tbl == 0 {
				as.outOfMemory = true
				return false
			}
		case d&descReserved != 0:
			pa := as.alloc()
			if pa == 0 {
				as.outOfMemory = true
				return false
			}
			*e = uint64(pa) | pageDataDesc
			as.mapped++
			as.faults++
			arch.SyncPTE()
			return true
		default:
			return false
		}
	}
	return false
}

// Lookup returns the physical address mapped at va, or 0.
//
//go:nosplit
func (as *addrSpace) Lookup(va uintptr) uintptr {
	if !inTable(va) {
		return 0
	}
	tbl := as.root
	for level := 0; level < levels; level++ {
		d := table(tbl)[(va>>(39-9*uint(level)))&511]
		if d&descValid == 0 {
			return 0
		}
		if d&descTable == 0 || level == 3 {
			off := va & (span(level) - 1)
			return uintptr(d&descAddrMask)&^(span(level)-1) + off
		}
		tbl = uintptr(d & descAddrMask)
	}
	return 0
}

// Place chooses where an mmap of n bytes goes: hint if the whole range is
// free and inside the window, else the next free range at the cursor.
// It returns 0 if the window is exhausted.
//
//go:nosplit
func (as *addrSpace) Place(hint, n uintptr) uintptr {
	if hint != 0 && inWindow(hint, n) && as.Free(hint, n) {
		return hint
	}
	if as.cursor == 0 {
		as.cursor = mmapCursorStart
	}
	for inWindow(as.cursor, n) {
		va := as.cursor
		as.cursor += n
		if as.Free(va, n) {
			return va
		}
	}
	return 0
}

// inTable reports whether va can be translated by the TTBR0 table at all.
// The walks index each level with va's bits [47:12] only, so an address
// with any of bits [63:48] set would alias a low address: its fault would
// map a page the retried access can never reach (a fault loop), and a
// system call argument would pass userMem's check and fault in trap code.
//
//go:nosplit
func inTable(va uintptr) bool { return va < mmapLimit }

// inWindow reports whether [va, va+n) lies inside the mmap window.
//
//go:nosplit
func inWindow(va, n uintptr) bool {
	return va >= mmapBase && n <= mmapLimit && va <= mmapLimit-n
}
