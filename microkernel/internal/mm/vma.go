package mm

// Prot is a region's protection, with Linux's PROT_* bit values.
type Prot uint8

// Protection bits.
const (
	ProtNone  Prot = 0
	ProtRead  Prot = 1
	ProtWrite Prot = 2
	ProtExec  Prot = 4
	protAll        = ProtRead | ProtWrite | ProtExec
)

// MaxVMAs is the capacity of one VMATable. The Go runtime of a process
// needs a few dozen regions (it reserves large PROT_NONE ranges and commits
// pieces of them; adjacent equal regions merge), so 256 leaves ample room
// while keeping a table at 6 KiB. Operations that would exceed it fail
// with ErrFull and are counted.
const MaxVMAs = 256

// VMA is one region of an address space: [Start, End), page-aligned.
// Flags are opaque to the table (the caller's MAP_* bookkeeping); regions
// merge only when Prot and Flags are equal.
type VMA struct {
	Start, End uint64
	Prot       Prot
	Flags      uint8
}

func (v VMA) sameAttrs(o VMA) bool { return v.Prot == o.Prot && v.Flags == o.Flags }

// VMAStats are a VMATable's counters.
type VMAStats struct {
	Full    uint64 // operations refused because the table was full
	NoSpace uint64 // Choose/Reserve calls that found no gap
}

// VMATable is the sorted, fixed-capacity set of regions of one address
// space within [lo, hi). Invariants (checked by FuzzVMATable): regions are
// non-empty, page-aligned, inside [lo, hi), sorted, non-overlapping, and
// adjacent regions with equal attributes are merged. Every operation is
// all-or-nothing: a refused call changes nothing. Callers serialize.
type VMATable struct {
	lo, hi uint64
	n      int
	v      [MaxVMAs]VMA
	stats  VMAStats
}

// Init empties the table and sets the range regions may occupy.
//
//go:nosplit
func (vt *VMATable) Init(lo, hi uint64) Errno {
	*vt = VMATable{}
	if lo&pageMask != 0 || hi&pageMask != 0 || lo >= hi {
		return ErrInvalid
	}
	vt.lo, vt.hi = lo, hi
	return OK
}

// Len returns the number of regions.
//
//go:nosplit
func (vt *VMATable) Len() int { return vt.n }

// At returns region i in address order.
//
//go:nosplit
func (vt *VMATable) At(i int) (VMA, bool) {
	if i < 0 || i >= vt.n || i >= MaxVMAs {
		return VMA{}, false
	}
	return vt.v[i], true
}

// Bounds returns the [lo, hi) range the table manages.
//
//go:nosplit
func (vt *VMATable) Bounds() (uint64, uint64) { return vt.lo, vt.hi }

// Stats returns a snapshot of the counters.
//
//go:nosplit
func (vt *VMATable) Stats() VMAStats { return vt.stats }

// firstEndAbove returns the index of the first region with End > a.
//
//go:nosplit
func (vt *VMATable) firstEndAbove(a uint64) int {
	lo, hi := 0, vt.n
	if hi > MaxVMAs {
		hi = MaxVMAs
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if vt.v[m].End > a {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// Find returns the region containing va (the page fault handler's query).
//
//go:nosplit
func (vt *VMATable) Find(va uint64) (VMA, bool) {
	i := vt.firstEndAbove(va)
	if i < vt.n && i < MaxVMAs && vt.v[i].Start <= va {
		return vt.v[i], true
	}
	return VMA{}, false
}

// checkRange validates [start, start+length) against the table.
//
//go:nosplit
func (vt *VMATable) checkRange(start, length uint64) (uint64, Errno) {
	if vt.hi == 0 {
		return 0, ErrInvalid
	}
	if length == 0 {
		return 0, ErrInvalid
	}
	if start&pageMask != 0 || length&pageMask != 0 {
		return 0, ErrAlign
	}
	end := start + length
	if end < start || start < vt.lo || end > vt.hi {
		return 0, ErrRange
	}
	return end, OK
}

// paint makes [s, e) hold val (present) or nothing (!present), splitting
// and merging neighbours. With dry, it only reports whether it would fit.
//
//go:nosplit
func (vt *VMATable) paint(s, e uint64, val VMA, present, dry bool) Errno {
	i := vt.firstEndAbove(s) // first region ending after s
	j := i                   // first region starting at or after e
	for j < vt.n && j < MaxVMAs && vt.v[j].Start < e {
		j++
	}
	a, b := i, j // window of regions replaced
	if a > 0 && vt.v[a-1].End == s {
		a-- // left neighbour may merge
	}
	if b < vt.n && b < MaxVMAs && vt.v[b].Start == e {
		b++ // right neighbour may merge
	}
	var pieces [3]VMA
	np := 0
	if a < b && vt.v[a].Start < s { // left remnant (or whole left neighbour)
		pieces[np] = vt.v[a]
		pieces[np].End = s
		np++
	}
	if present {
		val.Start, val.End = s, e
		if np > 0 && pieces[np-1].End == s && pieces[np-1].sameAttrs(val) {
			pieces[np-1].End = e
		} else {
			pieces[np] = val
			np++
		}
	}
	if a < b && vt.v[b-1].End > e { // right remnant (or whole right neighbour)
		r := vt.v[b-1]
		if r.Start < e {
			r.Start = e
		}
		if np > 0 && pieces[np-1].End == r.Start && pieces[np-1].sameAttrs(r) {
			pieces[np-1].End = r.End
		} else {
			pieces[np] = r
			np++
		}
	}
	newN := vt.n - (b - a) + np
	if newN > MaxVMAs {
		vt.stats.Full++
		return ErrFull
	}
	if dry {
		return OK
	}
	copy(vt.v[a+np:newN], vt.v[b:vt.n])
	copy(vt.v[a:a+np], pieces[:np])
	for k := newN; k < vt.n; k++ {
		vt.v[k] = VMA{}
	}
	vt.n = newN
	return OK
}

// Set makes [start, start+length) one region with prot and flags,
// replacing whatever regions were there (mmap with MAP_FIXED).
//
//go:nosplit
func (vt *VMATable) Set(start, length uint64, prot Prot, flags uint8) Errno {
	end, e := vt.checkRange(start, length)
	if e != OK {
		return e
	}
	if prot&^protAll != 0 {
		return ErrInvalid
	}
	return vt.paint(start, end, VMA{Prot: prot, Flags: flags}, true, false)
}

// CanSet reports whether Set(start, length, ...) would succeed, changing
// nothing: callers check it before destroying the old pages.
//
//go:nosplit
func (vt *VMATable) CanSet(start, length uint64, prot Prot, flags uint8) Errno {
	end, e := vt.checkRange(start, length)
	if e != OK {
		return e
	}
	if prot&^protAll != 0 {
		return ErrInvalid
	}
	return vt.paint(start, end, VMA{Prot: prot, Flags: flags}, true, true)
}

// Clear removes [start, start+length) from every region (munmap). Holes
// are fine. It fails only on bad arguments or, when a region must be split
// in two, on a full table.
//
//go:nosplit
func (vt *VMATable) Clear(start, length uint64) Errno {
	end, e := vt.checkRange(start, length)
	if e != OK {
		return e
	}
	return vt.paint(start, end, VMA{}, false, false)
}

// CanClear reports whether Clear would succeed, changing nothing.
//
//go:nosplit
func (vt *VMATable) CanClear(start, length uint64) Errno {
	end, e := vt.checkRange(start, length)
	if e != OK {
		return e
	}
	return vt.paint(start, end, VMA{}, false, true)
}

// IsFree reports whether no region intersects [start, start+length) and
// the range is valid for the table.
//
//go:nosplit
func (vt *VMATable) IsFree(start, length uint64) bool {
	end, e := vt.checkRange(start, length)
	if e != OK {
		return false
	}
	i := vt.firstEndAbove(start)
	return i >= vt.n || i >= MaxVMAs || vt.v[i].Start >= end
}

// Choose picks an address for a non-fixed mmap of length bytes: hint
// (rounded down to a page) when that range is free, else the lowest gap
// that fits (first fit from lo). length is rounded up to a page.
//
//go:nosplit
func (vt *VMATable) Choose(hint, length uint64) (uint64, Errno) {
	if vt.hi == 0 || length == 0 {
		return 0, ErrInvalid
	}
	length = (length + pageMask) &^ pageMask
	if length == 0 || length > vt.hi-vt.lo {
		vt.stats.NoSpace++
		return 0, ErrNoMemory
	}
	hint &^= pageMask
	if hint != 0 && vt.IsFree(hint, length) {
		return hint, OK
	}
	prev := vt.lo
	for k := 0; k < vt.n && k < MaxVMAs; k++ {
		if vt.v[k].Start >= prev && vt.v[k].Start-prev >= length {
			return prev, OK
		}
		if vt.v[k].End > prev {
			prev = vt.v[k].End
		}
	}
	if vt.hi-prev >= length {
		return prev, OK
	}
	vt.stats.NoSpace++
	return 0, ErrNoMemory
}

// Reserve chooses an address (see Choose) and sets a region there: a
// non-fixed mmap. It returns the region's start.
//
//go:nosplit
func (vt *VMATable) Reserve(hint, length uint64, prot Prot, flags uint8) (uint64, Errno) {
	addr, e := vt.Choose(hint, length)
	if e != OK {
		return 0, e
	}
	length = (length + pageMask) &^ pageMask
	if e := vt.Set(addr, length, prot, flags); e != OK {
		return 0, e
	}
	return addr, OK
}

// Protect changes the protection of [start, start+length), which must be
// fully covered by regions (else ErrNoVMA, like Linux's ENOMEM). Flags are
// kept per region.
//
//go:nosplit
func (vt *VMATable) Protect(start, length uint64, prot Prot) Errno {
	end, e := vt.checkRange(start, length)
	if e != OK {
		return e
	}
	if prot&^protAll != 0 {
		return ErrInvalid
	}
	// Coverage check.
	at := start
	for k := vt.firstEndAbove(start); at < end; k++ {
		if k >= vt.n || k >= MaxVMAs || vt.v[k].Start > at {
			return ErrNoVMA
		}
		at = vt.v[k].End
	}
	// Repaint one source region at a time; each step keeps the table valid.
	// Capacity: check the worst case (+2 regions) up front.
	if vt.n+2 > MaxVMAs {
		vt.stats.Full++
		return ErrFull
	}
	for at = start; at < end; {
		k := vt.firstEndAbove(at)
		if k >= vt.n || k >= MaxVMAs {
			return ErrNoVMA
		}
		r := vt.v[k]
		segEnd := r.End
		if segEnd > end {
			segEnd = end
		}
		r.Prot = prot
		if e := vt.paint(at, segEnd, r, true, false); e != OK {
			return e
		}
		at = segEnd
	}
	return OK
}

// FlagsIn returns the union of the flags of the regions overlapping
// [start, start+length).
//
//go:nosplit
func (vt *VMATable) FlagsIn(start, length uint64) uint8 {
	var f uint8
	end := start + length
	for k := vt.firstEndAbove(start); k < vt.n && k < MaxVMAs && vt.v[k].Start < end; k++ {
		f |= vt.v[k].Flags
	}
	return f
}

// Covered reports whether [start, start+length) is covered by regions.
//
//go:nosplit
func (vt *VMATable) Covered(start, length uint64) bool {
	end := start + length
	if end < start {
		return false
	}
	for at := start; at < end; {
		r, ok := vt.Find(at)
		if !ok {
			return false
		}
		at = r.End
	}
	return true
}
