package mm

import "unsafe"

// PageTable builds a 4-level VMSAv8-64 stage 1 translation table (4 KiB
// granule, 48-bit VA) for TTBR0_EL1, allocating table pages from a
// PhysMem. Each table page's PhysMem tag counts its valid entries, so a
// table that becomes empty is freed at once (the root is kept).
//
// Changing a valid descriptor into another valid one needs
// break-before-make, so Map refuses to overwrite (ErrExists): Unmap, TLBI,
// then Map. After Unmap/UnmapRange the caller must invalidate the TLB
// (TLBI VAE1IS/ASIDE1IS + DSB ISH) before reusing freed pages.
//
// The zero PageTable is unusable until Init. Callers serialize access.
type PageTable struct {
	// pmAddr is the PhysMem's address as an integer, not a pointer: page
	// tables live in memory the garbage collector does not manage
	// (processes in the kernel) and are written by trap code, which must
	// never store a Go pointer (a write barrier would call into the
	// runtime). The PhysMem must stay alive and in place (a global, or an
	// object its owner keeps referenced: Go's collector does not move).
	pmAddr uintptr
	root   uint64
	stats  PageTableStats
	// leafKey and leafPA remember the level 3 table Lookup last reached
	// (leafKey: the 2 MiB it maps, va>>21<<1|1; 0 when none), so that a
	// copy through consecutive pages walks the tree once. Only a table
	// the PageTable owns is remembered (never one reached through a
	// borrowed table); forgetLeaf runs whenever a table leaves the tree.
	leafKey uint64
	leafPA  uint64
}

// forgetLeaf drops Lookup's remembered level 3 table.
//
//go:nosplit
func (t *PageTable) forgetLeaf() { t.leafKey, t.leafPA = 0, 0 }

// leafKeyOf is the key of the 2 MiB holding va in leafKey.
//
//go:nosplit
func leafKeyOf(va uint64) uint64 { return va>>21<<1 | 1 }

// phys returns the PhysMem the table allocates from, or nil.
//
//go:nosplit
func (t *PageTable) phys() *PhysMem {
	return *(**PhysMem)(unsafe.Pointer(&t.pmAddr))
}

// PageTableStats are a PageTable's counters.
type PageTableStats struct {
	Tables     uint64 // table pages currently owned (root included)
	Pages      uint64 // valid level 3 page descriptors
	Owned      uint64 // of those, pages mapped with AttrSWOwned (freed with the mapping)
	Blocks     uint64 // valid level 1/2 block descriptors
	AllocFails uint64 // table allocations that failed
}

// Init allocates an empty root table from pm.
//
//go:nosplit
func (t *PageTable) Init(pm *PhysMem) Errno {
	*t = PageTable{}
	if pm == nil {
		return ErrInvalid
	}
	root, e := pm.AllocZeroed()
	if e != OK {
		return e
	}
	pm.SetTag(root, 0)
	t.pmAddr, t.root = uintptr(unsafe.Pointer(pm)), root
	t.stats.Tables = 1
	return OK
}

// Root returns the physical address of the level 0 table (TTBR0_EL1.BADDR).
//
//go:nosplit
func (t *PageTable) Root() uint64 { return t.root }

// TTBR returns the TTBR0_EL1 value selecting this table with asid
// (ASID in bits[63:48]).
//
//go:nosplit
func (t *PageTable) TTBR(asid uint16) uint64 { return uint64(asid)<<48 | t.root }

// Stats returns a snapshot of the counters.
//
//go:nosplit
func (t *PageTable) Stats() PageTableStats { return t.stats }

// tbl returns table page pa, or nil if pa is outside the window.
//
//go:nosplit
func (t *PageTable) tbl(pa uint64) *[512]uint64 {
	if t.phys() == nil {
		return nil
	}
	return t.phys().win.table(pa)
}

//go:nosplit
func (t *PageTable) addCount(tablePA uint64, delta int32) {
	n, _ := t.phys().Tag(tablePA)
	t.phys().SetTag(tablePA, uint32(int32(n)+delta))
}

// checkMap validates a request to map size bytes at va -> pa.
//
//go:nosplit
func checkMap(va, pa, size uint64, attr Attr) Errno {
	if va&(size-1) != 0 || pa&(size-1) != 0 {
		return ErrAlign
	}
	if va >= VALimit || pa >= 1<<PABits || VALimit-va < size {
		return ErrRange
	}
	if attr&^attrAllowed != 0 {
		return ErrBadAttr
	}
	return OK
}

// path records the tables visited by a walk: tables[l] is the level-l
// table, idx[l] the entry used in it.
type path struct {
	tables [4]uint64
	idx    [4]int
	top    int // deepest level recorded
}

// descend walks from the root toward level `level` for va and returns the
// level-`level` table's physical address, recording the path. With create,
// missing tables are allocated; otherwise a missing one gives ErrNotMapped.
// A block in the way gives ErrBlock; a borrowed table on a create walk
// gives ErrBorrowed.
//
//go:nosplit
func (t *PageTable) descend(va uint64, level int, create bool, p *path) (uint64, Errno) {
	cur := t.root
	for l := 0; l < level && l < 3; l++ {
		tb := t.tbl(cur)
		if tb == nil {
			return 0, ErrRange
		}
		i := indexAt(va, l)
		p.tables[l], p.idx[l], p.top = cur, i, l
		d := tb[i]
		switch {
		case d&DescValid == 0:
			if !create {
				return 0, ErrNotMapped
			}
			next, e := t.phys().AllocZeroed()
			if e != OK {
				t.stats.AllocFails++
				return 0, e
			}
			t.phys().SetTag(next, 0)
			t.stats.Tables++
			tb[i] = next | DescValid | DescTable
			t.addCount(cur, 1)
			cur = next
			p.tables[l+1], p.top = cur, l+1
		case d&descType == DescValid:
			return 0, ErrBlock
		case d&tableBorrowed != 0 && create:
			return 0, ErrBorrowed
		default:
			cur = d & AddrMask
		}
	}
	p.tables[level&3] = cur
	p.idx[level&3] = indexAt(va, level)
	p.top = level & 3
	return cur, OK
}

// prune frees the tables on p from level `from` upward while they are
// empty. Borrowed tables are never reached (walks that create refuse them).
// With a batch, the freed table pages go there (walk caches may still
// hold them until the caller's TLB invalidation); without, they are freed
// at once. A prune frees at most three tables.
//
//go:nosplit
func (t *PageTable) prune(p *path, from int, b *FreeBatch) {
	for l := from; l > 0; l-- {
		n, ok := t.phys().Tag(p.tables[l])
		if !ok || n != 0 {
			return
		}
		parent := t.tbl(p.tables[l-1])
		if parent == nil || parent[p.idx[l-1]]&tablePinned != 0 {
			return
		}
		parent[p.idx[l-1]] = 0
		t.forgetLeaf()
		t.addCount(p.tables[l-1], -1)
		t.stats.Tables--
		if b != nil {
			b.add(p.tables[l])
		} else {
			t.phys().Free(p.tables[l])
		}
	}
}

// mapAt installs one leaf descriptor at level (1 or 2: block, 3: page).
//
//go:nosplit
func (t *PageTable) mapAt(va, pa uint64, attr Attr, level int) Errno {
	if t.phys() == nil || t.root == 0 {
		return ErrInvalid
	}
	if e := checkMap(va, pa, levelSize(level), attr); e != OK {
		return e
	}
	var p path
	tpa, e := t.descend(va, level, true, &p)
	if e != OK {
		t.prune(&p, p.top, nil) // free tables this call created (never used by a walk)
		return e
	}
	tb := t.tbl(tpa)
	if tb == nil {
		return ErrRange
	}
	i := indexAt(va, level)
	if tb[i]&DescValid != 0 {
		return ErrExists
	}
	d := pa | uint64(attr) | DescValid
	if level == 3 {
		d |= DescPage
		t.stats.Pages++
		if attr&AttrSWOwned != 0 {
			t.stats.Owned++
		}
	} else {
		t.stats.Blocks++
	}
	tb[i] = d
	t.addCount(tpa, 1)
	return OK
}

// Map maps the 4 KiB page at va to pa with attr. It fails with ErrExists if
// va is already mapped, ErrBlock if a block covers it, ErrAlign/ErrRange/
// ErrBadAttr for bad arguments and ErrNoMemory if a table page cannot be
// allocated (tables created by the failed call are freed again).
//
//go:nosplit
func (t *PageTable) Map(va, pa uint64, attr Attr) Errno {
	return t.mapAt(va, pa, attr, 3)
}

// MapBlock maps one block of size Level2Size (2 MiB) or Level1Size (1 GiB).
//
//go:nosplit
func (t *PageTable) MapBlock(va, pa, size uint64, attr Attr) Errno {
	switch size {
	case Level2Size:
		return t.mapAt(va, pa, attr, 2)
	case Level1Size:
		return t.mapAt(va, pa, attr, 1)
	}
	return ErrInvalid
}

// MapRange maps [va, va+size) to [pa, pa+size). With blocks, it uses 1 GiB
// and 2 MiB blocks wherever va, pa and the remaining size allow (the
// kernel's linear map); otherwise only pages. On failure everything this
// call mapped is unmapped again and the error is returned.
//
//go:nosplit
func (t *PageTable) MapRange(va, pa, size uint64, attr Attr, blocks bool) Errno {
	if size == 0 || size&pageMask != 0 {
		return ErrInvalid
	}
	if e := checkMap(va, pa, PageSize, attr); e != OK {
		return e
	}
	if VALimit-va < size || 1<<PABits-pa < size {
		return ErrRange
	}
	done := uint64(0)
	for done < size {
		rem := size - done
		v, p := va+done, pa+done
		step, level := uint64(PageSize), 3
		if blocks {
			switch {
			case (v|p)&(Level1Size-1) == 0 && rem >= Level1Size:
				step, level = Level1Size, 1
			case (v|p)&(Level2Size-1) == 0 && rem >= Level2Size:
				step, level = Level2Size, 2
			}
		}
		if e := t.mapAt(v, p, attr, level); e != OK {
			if done > 0 {
				t.UnmapRange(va, done, false)
			}
			return e
		}
		done += step
	}
	return OK
}

// Lookup translates va: the physical address (page or block offset
// included), the leaf's attributes and whether va is mapped. Borrowed
// tables are followed.
//
//go:nosplit
func (t *PageTable) Lookup(va uint64) (uint64, Attr, bool) {
	if va >= VALimit || t.phys() == nil {
		return 0, 0, false
	}
	if t.leafKey == leafKeyOf(va) {
		if tb := t.tbl(t.leafPA); tb != nil {
			return leafOf(tb[indexAt(va, 3)], va, 3)
		}
	}
	cur := t.root
	owned := true // every table so far is t's own
	for l := 0; l < 4; l++ {
		tb := t.tbl(cur)
		if tb == nil {
			return 0, 0, false
		}
		d := tb[indexAt(va, l)]
		if d&DescValid == 0 {
			return 0, 0, false
		}
		if l == 3 || d&descType == DescValid { // page, or block at level 1/2
			if l == 3 && owned {
				t.leafKey, t.leafPA = leafKeyOf(va), cur
			}
			return leafOf(d, va, l)
		}
		owned = owned && d&tableBorrowed == 0
		cur = d & AddrMask
	}
	return 0, 0, false
}

// LookupRun is Lookup that also measures the run at va: the bytes from
// va, at most max (but never less than the rest of va's page), that map with
// the same attributes onto physically consecutive pages of va's level 3
// table. The entries after va's are read one by one from the table
// Lookup reached (its leaf cache), so a run costs one walk; a block
// mapping, a borrowed table or a table not cached gives the rest of the
// page only.
//
//go:nosplit
func (t *PageTable) LookupRun(va, max uint64) (uint64, Attr, uint64, bool) {
	pa, attr, ok := t.Lookup(va)
	if !ok {
		return 0, 0, 0, false
	}
	n := PageSize - va&pageMask
	if n >= max || t.leafKey != leafKeyOf(va) {
		return pa, attr, n, true
	}
	tb := t.tbl(t.leafPA)
	if tb == nil {
		return pa, attr, n, true
	}
	next := pa&^pageMask + PageSize
	for i := indexAt(va, 3) + 1; i < entries && n < max; i++ {
		p, a, ok := leafOf(tb[i], 0, 3)
		if !ok || a != attr || p != next {
			break
		}
		n += PageSize
		next += PageSize
	}
	return pa, attr, min(n, max), true
}

// leafOf decodes d, the valid leaf descriptor at level l for va: the
// physical address of va, the attributes, and false for a reserved
// encoding (a block at level 0, a level 3 entry that is not a page).
//
//go:nosplit
func leafOf(d, va uint64, l int) (uint64, Attr, bool) {
	if d&DescValid == 0 || l == 0 || (l == 3 && d&DescPage == 0) {
		return 0, 0, false
	}
	size := levelSize(l)
	pa := d&AddrMask&^(size-1) | va&(size-1)
	return pa, Attr(d) & attrAllowed, true
}

// Replace points the valid page descriptor at va to pa with attr, break
// before make: the old descriptor is cleared, inv runs (the caller's TLB
// invalidation of va: no walker may still hold the old translation), then
// the new one is written. Owned counts follow attr's AttrSWOwned; the old
// page is the caller's to free. It fails with ErrNotMapped unless va is a
// level 3 page mapping.
//
//go:nosplit
func (t *PageTable) Replace(va, pa uint64, attr Attr, inv func()) Errno {
	if va&pageMask != 0 || pa&pageMask != 0 {
		return ErrAlign
	}
	if va >= VALimit || t.phys() == nil {
		return ErrRange
	}
	if attr&^attrAllowed != 0 {
		return ErrBadAttr
	}
	cur := t.root
	for l := 0; l < 3; l++ {
		tb := t.tbl(cur)
		if tb == nil {
			return ErrRange
		}
		d := tb[indexAt(va, l)]
		if d&DescValid == 0 || d&descType == DescValid || d&tableBorrowed != 0 {
			return ErrNotMapped
		}
		cur = d & AddrMask
	}
	tb := t.tbl(cur)
	if tb == nil {
		return ErrRange
	}
	i := indexAt(va, 3)
	d := tb[i]
	if d&DescValid == 0 || d&DescPage == 0 {
		return ErrNotMapped
	}
	tb[i] = 0
	if inv != nil {
		inv()
	}
	tb[i] = pa | uint64(attr) | DescValid | DescPage
	if Attr(d)&AttrSWOwned != 0 {
		t.stats.Owned--
	}
	if attr&AttrSWOwned != 0 {
		t.stats.Owned++
	}
	return OK
}

// Unmap removes the page mapping at va and returns the physical page it
// mapped (the caller frees it if it owns it). Tables left empty are freed
// at once, so use it only on a table no TLB holds; live tables go through
// UnmapRangeBatch.
// It fails with ErrNotMapped, ErrBlock (va is inside a block: blocks are
// not split), ErrBorrowed, or ErrAlign/ErrRange.
//
//go:nosplit
func (t *PageTable) Unmap(va uint64) (uint64, Errno) {
	if va&pageMask != 0 {
		return 0, ErrAlign
	}
	if va >= VALimit {
		return 0, ErrRange
	}
	if t.phys() == nil {
		return 0, ErrInvalid
	}
	var p path
	cur := t.root
	for l := 0; l < 3; l++ {
		tb := t.tbl(cur)
		if tb == nil {
			return 0, ErrRange
		}
		i := indexAt(va, l)
		p.tables[l], p.idx[l] = cur, i
		d := tb[i]
		switch {
		case d&DescValid == 0:
			return 0, ErrNotMapped
		case d&descType == DescValid:
			return 0, ErrBlock
		case d&tableBorrowed != 0:
			return 0, ErrBorrowed
		}
		cur = d & AddrMask
	}
	tb := t.tbl(cur)
	if tb == nil {
		return 0, ErrRange
	}
	i := indexAt(va, 3)
	p.tables[3], p.idx[3] = cur, i
	d := tb[i]
	if d&DescValid == 0 {
		return 0, ErrNotMapped
	}
	tb[i] = 0
	t.stats.Pages--
	if Attr(d)&AttrSWOwned != 0 {
		t.stats.Owned--
	}
	t.addCount(cur, -1)
	t.prune(&p, 3, nil)
	return d & AddrMask, OK
}

// UnmapRange removes every mapping in [va, va+size) of a table no TLB
// holds (being built, or never loaded), freeing emptied tables and, with
// freeOwned, the pages mapped with AttrSWOwned at once. It returns the
// number of 4 KiB pages' worth of address space unmapped. Live tables use
// UnmapRangeBatch, which defers every free until after the TLB flush.
// Not nosplit: its batch is bigger than the nosplit stack allowance.
func (t *PageTable) UnmapRange(va, size uint64, freeOwned bool) (uint64, Errno) {
	var b FreeBatch
	total := uint64(0)
	for {
		n, next, e := t.unmapRange(va, size, &b, freeOwned)
		total += n
		b.Release(t.phys())
		if e != ErrBatchFull {
			return total, e
		}
		size -= next - va
		va = next
	}
}

// UnmapRangeBatch removes every mapping in [va, va+size), skipping holes
// quickly (a missing table skips its whole span). It also stops with
// ErrBatchFull after examining unmapBudget descriptors, so one call's work
// is bounded however sparse the range. Blocks are removed when
// the range covers them entirely; a partial overlap stops the walk with
// ErrBlock. Borrowed tables are skipped untouched. Pages mapped with
// AttrSWOwned and tables left empty are put into b, not freed: the caller
// invalidates the TLB for the range and then calls b.Release. When b fills
// up, it stops with ErrBatchFull and returns next, the address to resume
// from once b is released. pages is the number of 4 KiB pages' worth of
// address space unmapped by this call (non-zero: the TLB needs
// invalidating).
//
//go:nosplit
func (t *PageTable) UnmapRangeBatch(va, size uint64, b *FreeBatch) (pages, next uint64, e Errno) {
	return t.unmapRange(va, size, b, true)
}

// unmapRange is UnmapRangeBatch; owned pages go into b only with freeOwned.
//
//go:nosplit
func (t *PageTable) unmapRange(va, size uint64, b *FreeBatch, freeOwned bool) (uint64, uint64, Errno) {
	if va&pageMask != 0 || size&pageMask != 0 {
		return 0, va, ErrAlign
	}
	if va >= VALimit || VALimit-va < size {
		return 0, va, ErrRange
	}
	if t.phys() == nil || b == nil {
		return 0, va, ErrInvalid
	}
	end := va + size
	pages := uint64(0)
	budget := unmapBudget
	for cur := va; cur < end; {
		if budget <= 0 {
			return pages, cur, ErrBatchFull
		}
		var p path
		tpa := t.root
		advanced := false
		for l := 0; l < 4 && !advanced; l++ {
			budget--
			tb := t.tbl(tpa)
			if tb == nil {
				return pages, cur, ErrRange
			}
			i := indexAt(cur, l)
			p.tables[l], p.idx[l] = tpa, i
			d := tb[i]
			span := levelSize(l)
			next := (cur | (span - 1)) + 1 // start of the next entry at this level
			switch {
			case l == 3:
				// The rest of this level 3 table in one loop, without
				// walking down from the root for each entry.
				var n uint64
				var e Errno
				start := cur
				cur, n, e = t.unmapTable3(&p, cur, end, b, freeOwned)
				pages += n
				budget -= int((cur - start) >> PageShift)
				if e != OK {
					return pages, cur, e
				}
				advanced = true
			case d&DescValid == 0 || (d&descType == DescValid|DescTable && d&tableBorrowed != 0):
				cur = next
				advanced = true
			case d&descType == DescValid: // a block
				if cur&(span-1) != 0 || end-cur < span {
					return pages, cur, ErrBlock
				}
				// Room for this page and the up to three tables its
				// removal may empty.
				if b.n+4 > FreeBatchCap {
					return pages, cur, ErrBatchFull
				}
				tb[i] = 0
				t.addCount(tpa, -1)
				t.stats.Blocks--
				pages += span >> PageShift
				t.prune(&p, l, b)
				cur = next
				advanced = true
			default:
				tpa = d & AddrMask
			}
		}
		if cur == 0 { // wrapped past 2^64: only possible at the very top
			break
		}
	}
	return pages, end, OK
}

// unmapBudget bounds the descriptors one UnmapRangeBatch call examines
// (about 10 instructions each).
const unmapBudget = 512

// unmapTable3 removes the pages from cur up to end or the end of the level
// 3 table on path p (p.tables[3]), prunes the table if it empties, and
// returns where it stopped, the pages removed and ErrBatchFull if b filled.
//
//go:nosplit
func (t *PageTable) unmapTable3(p *path, cur, end uint64, b *FreeBatch, freeOwned bool) (uint64, uint64, Errno) {
	tpa := p.tables[3]
	tb := t.tbl(tpa)
	if tb == nil {
		return cur, 0, ErrRange
	}
	stop := (cur | (Level2Size - 1)) + 1 // the end of this table's span
	if stop > end || stop == 0 {
		stop = end
	}
	pages := uint64(0)
	for ; cur < stop; cur += PageSize {
		i := indexAt(cur, 3)
		d := tb[i]
		if d&DescValid == 0 {
			continue
		}
		// Room for this page and the up to three tables its removal
		// may empty.
		if b.n+4 > FreeBatchCap {
			return cur, pages, ErrBatchFull
		}
		tb[i] = 0
		t.stats.Pages--
		if Attr(d)&AttrSWOwned != 0 {
			t.stats.Owned--
			if freeOwned {
				b.add(d & AddrMask)
			}
		}
		pages++
		t.addCount(tpa, -1)
		if n, _ := t.phys().Tag(tpa); n == 0 {
			p.idx[3] = i
			t.prune(p, 3, b) // the table is empty: it goes (and emptied parents)
			return cur + PageSize, pages, OK
		}
	}
	return cur, pages, OK
}
