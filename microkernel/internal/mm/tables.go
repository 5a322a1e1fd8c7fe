package mm

// Whole-table operations: sharing the kernel window between address
// spaces, and tearing a table down.

// ShareFrom makes [va, va+size) of t use src's translation tables: each
// level 0 entry of the range is copied from src, marked borrowed. va and
// size must be multiples of Level0Size (512 GiB). src gets any missing
// level 1 tables first, so mappings src adds later are visible through t
// at once. t never writes into or frees a borrowed subtree: Map there
// gives ErrBorrowed, UnmapRange and Destroy skip it, Lookup follows it.
// This is how every address space carries the kernel window
// ([2^47, 2^48) by convention) with one set of tables.
//
//go:nosplit
func (t *PageTable) ShareFrom(src *PageTable, va, size uint64) Errno {
	if t.phys() == nil || src == nil || src.phys() == nil || src == t || src.root == t.root {
		return ErrInvalid
	}
	if va&(Level0Size-1) != 0 || size&(Level0Size-1) != 0 || size == 0 {
		return ErrAlign
	}
	if va >= VALimit || VALimit-va < size {
		return ErrRange
	}
	dst := t.tbl(t.root)
	if dst == nil {
		return ErrRange
	}
	// Check first so a refusal changes nothing in t.
	for a := va; a < va+size; a += Level0Size {
		d := dst[indexAt(a, 0)]
		if d&DescValid != 0 && d&tableBorrowed == 0 {
			return ErrExists
		}
	}
	// Give src its level 1 tables first, so a failure leaves t untouched
	// (src keeps the empty tables; they are reused by later mappings).
	for a := va; a < va+size; a += Level0Size {
		var p path
		if _, e := src.descend(a, 1, true, &p); e != OK {
			return e
		}
		if st := src.tbl(src.root); st != nil {
			st[indexAt(a, 0)] |= tablePinned
		}
	}
	for a := va; a < va+size; a += Level0Size {
		var p path
		l1, e := src.descend(a, 1, false, &p)
		if e != OK {
			return e
		}
		i := indexAt(a, 0)
		if dst[i]&DescValid == 0 {
			t.addCount(t.root, 1)
		}
		dst[i] = l1 | DescValid | DescTable | tableBorrowed
		t.forgetLeaf()
	}
	return OK
}

// Destroy frees every table page t owns (borrowed subtrees excepted) and,
// with freeOwned, every page mapped with AttrSWOwned. The caller must have
// switched away from the table and invalidated its ASID first. t is zeroed.
//
//go:nosplit
func (t *PageTable) Destroy(freeOwned bool) {
	if t.phys() == nil {
		*t = PageTable{}
		return
	}
	// Iterative depth-first walk: stack[l] is the level-l table being
	// scanned and next[l] the next entry to look at.
	var stack [4]uint64
	var next [4]int
	stack[0] = t.root
	l := 0
	for l >= 0 {
		tb := t.tbl(stack[l])
		if tb == nil || next[l] >= entries {
			if l > 0 && tb != nil {
				t.phys().Free(stack[l])
			}
			l--
			continue
		}
		d := tb[next[l]]
		next[l]++
		if d&DescValid == 0 {
			continue
		}
		switch {
		case l < 3 && d&descType == DescValid|DescTable:
			if d&tableBorrowed != 0 {
				continue
			}
			stack[l+1], next[l+1] = d&AddrMask, 0
			l++
		case l == 3 && Attr(d)&AttrSWOwned != 0:
			t.stats.Owned--
			if freeOwned {
				t.phys().Free(d & AddrMask)
			}
		}
	}
	t.phys().Free(t.root)
	*t = PageTable{}
}

// Protect rewrites the attributes of every page mapped in [va, va+size)
// to attr, keeping AttrSWOwned as it was (mprotect on present pages).
// Blocks and borrowed tables are left alone. It returns the number of
// descriptors changed; if non-zero the caller must invalidate the TLB.
//
//go:nosplit
func (t *PageTable) Protect(va, size uint64, attr Attr) (uint64, Errno) {
	n, _, e := t.ProtectSome(va, size, attr, 0)
	return n, e
}

// ProtectSome is Protect that stops after examining budget descriptors
// (0: no limit), returning the changes made and where it stopped (va+size
// when done): mprotect of a huge range in bounded steps.
//
//go:nosplit
func (t *PageTable) ProtectSome(va, size uint64, attr Attr, budget int) (uint64, uint64, Errno) {
	if va&pageMask != 0 || size&pageMask != 0 {
		return 0, va, ErrAlign
	}
	if va >= VALimit || VALimit-va < size {
		return 0, va, ErrRange
	}
	if attr&^attrAllowed != 0 {
		return 0, va, ErrBadAttr
	}
	if t.phys() == nil {
		return 0, va, ErrInvalid
	}
	changed := uint64(0)
	end := va + size
	for cur := va; cur < end; {
		if budget > 0 {
			if budget == 1 {
				return changed, cur, OK
			}
			budget--
		}
		tpa := t.root
		for l := 0; l < 4; l++ {
			tb := t.tbl(tpa)
			if tb == nil {
				return changed, cur, ErrRange
			}
			i := indexAt(cur, l)
			d := tb[i]
			span := levelSize(l)
			if d&DescValid == 0 || l < 3 && (d&descType == DescValid || d&tableBorrowed != 0) {
				cur = (cur | (span - 1)) + 1
				break
			}
			if l == 3 {
				nd := d&(AddrMask|descType) | uint64(attr&^AttrSWOwned) | d&uint64(AttrSWOwned)
				if isZero(d & AddrMask) {
					nd |= uint64(AttrAPRO) // the zero page is never writable
				}
				if nd != d {
					tb[i] = nd
					changed++
				}
				cur += PageSize
				break
			}
			tpa = d & AddrMask
		}
	}
	return changed, end, OK
}
