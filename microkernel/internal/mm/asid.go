package mm

// ASIDs hands out address space identifiers for TTBR0_EL1.ASID, so each
// process's non-global (nG) TLB entries are kept apart and a context switch
// needs no TLB flush. ASID 0 is reserved for the kernel's own address
// space. Allocation is first-fit from a rotating cursor over a bitmap, so a
// freed ASID is reused as late as possible (its stale TLB entries must
// still be invalidated with TLBI ASIDE1IS before reuse: Free's caller does
// that). When all are in use, Alloc fails with ErrFull and counts it; the
// caller may then fall back to a shared ASID with full flushes.
//
// The zero value is unusable until Init. Callers serialize access.
type ASIDs struct {
	bits  [MaxASIDs / 64]uint64 // bit set = in use
	limit uint32                // number of ASIDs: 256 or 65536
	next  uint32                // where the next search starts
	used  uint32
	fails uint64
}

// MaxASIDs is the number of ASIDs with 16-bit ASIDs (TCR_EL1.AS = 1);
// with 8-bit ASIDs (AS = 0) there are 256.
const MaxASIDs = 1 << 16

// Init resets the allocator for 8- or 16-bit ASIDs and reserves ASID 0.
//
//go:nosplit
func (a *ASIDs) Init(bits int) Errno {
	*a = ASIDs{}
	switch bits {
	case 8:
		a.limit = 256
	case 16:
		a.limit = MaxASIDs
	default:
		return ErrInvalid
	}
	a.bits[0] = 1 // ASID 0: the kernel
	a.used = 1
	a.next = 1
	return OK
}

// Alloc returns a free ASID (never 0). Full bitmap words are skipped, so a
// search costs at most limit/64 word tests plus one word's bits.
//
//go:nosplit
func (a *ASIDs) Alloc() (uint16, Errno) {
	if a.limit == 0 || a.used >= a.limit {
		a.fails++
		return 0, ErrFull
	}
	for k := uint32(0); k < a.limit; k++ {
		id := (a.next + k) % a.limit
		w, b := id/64, id%64
		if w >= uint32(len(a.bits)) {
			break
		}
		if b == 0 && a.bits[w] == ^uint64(0) {
			k += 63 // whole word in use
			continue
		}
		if a.bits[w]&(1<<b) == 0 {
			a.bits[w] |= 1 << b
			a.used++
			a.next = (id + 1) % a.limit
			return uint16(id), OK
		}
	}
	a.fails++
	return 0, ErrFull
}

// Free releases id. Freeing 0, an ASID out of range or one not in use is
// refused (ErrInvalid / ErrDoubleFree).
//
//go:nosplit
func (a *ASIDs) Free(id uint16) Errno {
	if id == 0 || uint32(id) >= a.limit {
		return ErrInvalid
	}
	w, b := uint32(id)/64, uint32(id)%64
	if w >= uint32(len(a.bits)) || a.bits[w]&(1<<b) == 0 {
		return ErrDoubleFree
	}
	a.bits[w] &^= 1 << b
	a.used--
	return OK
}

// InUse returns the number of ASIDs allocated, the kernel's included.
//
//go:nosplit
func (a *ASIDs) InUse() uint32 { return a.used }

// Failures returns how many Alloc calls found no free ASID.
//
//go:nosplit
func (a *ASIDs) Failures() uint64 { return a.fails }
