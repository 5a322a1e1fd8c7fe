package mm

// FreeBatch collects physical pages that were just unmapped from a
// translation table but may still be cached in TLBs (and in walk caches,
// for freed table pages). The Arm ARM's order for removing a mapping is:
// clear the descriptor, DSB ISHST, TLBI, DSB ISH, ISB, and only then reuse
// the memory. So unmapping code puts pages here instead of freeing them,
// the caller invalidates the TLB for the range, and Release frees them.
//
// A FreeBatch is small enough to live on the exception stack.
type FreeBatch struct {
	pages [FreeBatchCap]uint64
	n     int
}

// FreeBatchCap is how many pages one batch holds; an unmap that frees more
// stops with ErrBatchFull and is resumed after the caller's TLB flush.
const FreeBatchCap = 128

// Len returns the number of pages held.
//
//go:nosplit
func (b *FreeBatch) Len() int { return b.n }

// full reports whether the batch cannot take another page.
//
//go:nosplit
func (b *FreeBatch) full() bool { return b.n >= FreeBatchCap }

// add records pa; the caller has checked full.
//
//go:nosplit
func (b *FreeBatch) add(pa uint64) {
	b.pages[b.n] = pa
	b.n++
}

// Release frees every page held (after the caller's TLB invalidation) and
// empties the batch.
//
//go:nosplit
func (b *FreeBatch) Release(pm *PhysMem) {
	for i := 0; i < b.n; i++ {
		pm.Free(b.pages[i])
	}
	b.n = 0
}

// Invalidate is how an AddressSpace asks its owner to remove the TLB
// entries for [va, va+size) (TLBI by VA or by ASID, then DSB ISH and ISB).
// It runs after descriptors were cleared and before the pages behind them
// are freed. A nil Invalidate means no TLB can hold the table (host tests,
// a table never loaded into TTBR0).
type Invalidate func(va, size uint64)
