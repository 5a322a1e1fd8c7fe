package mm

// AddressSpace joins a PageTable and a VMATable into demand-zero virtual
// memory: mmap only records a region; the first access to each page faults,
// and Fault maps a freshly zeroed page if the region allows the access.
// munmap and madvise(MADV_DONTNEED) unmap and free the pages (a later
// access faults in a zero page again, which is what the Go runtime expects
// of DONTNEED).
//
// Calls that remove or change mappings take an Invalidate: it runs after
// the descriptors are cleared and before the pages behind them go back to
// the PhysMem (see FreeBatch), so no TLB can reach a page once it is
// reused.
type AddressSpace struct {
	PT     PageTable
	VMAs   VMATable
	kernel bool
	// Limit caps the pages the space may own (data pages it faulted in
	// plus its table pages); 0 means no limit. A fault beyond it fails
	// with FaultLimit.
	Limit uint64
	stats SpaceStats
}

// SpaceStats are an AddressSpace's counters.
type SpaceStats struct {
	Faults      uint64 // Fault calls
	ZeroFills   uint64 // pages mapped by Fault
	SharedFills uint64 // shared pages (RegionShared) mapped by Fault
	FileCopies  uint64 // private copies of file pages (RegionPrivate) made by Fault
	ZeroMaps    uint64 // read faults that mapped the zero page
	ZeroCopies  uint64 // writes that replaced the zero page with a page of the space's own
	Spurious    uint64 // faults on pages already mapped with the access allowed
	SegvMap     uint64 // faults outside every region
	SegvAcc     uint64 // faults the region's protection forbids
	OOM         uint64 // faults that found no free page or table
	LimitHits   uint64 // faults refused because the space reached its Limit
	MapErrors   uint64 // faults in a region the table cannot map (block or borrowed range)
	Zapped      uint64 // pages unmapped by Munmap/Madvise/MapFixed
}

// FaultResult tells the trap handler what Fault did.
type FaultResult uint8

// Fault outcomes.
const (
	// FaultMapped: a zero page was mapped; retry the instruction.
	FaultMapped FaultResult = iota
	// FaultSpurious: the page was already mapped with the access allowed
	// (another thread won the race, or a stale TLB entry: invalidate the
	// entry for the address, TLBI VAE1, before retrying).
	FaultSpurious
	// FaultSegvMapErr: no region at the address (SIGSEGV, SEGV_MAPERR).
	FaultSegvMapErr
	// FaultSegvAccErr: the region forbids the access (SIGSEGV, SEGV_ACCERR).
	FaultSegvAccErr
	// FaultOOM: no memory for the page or a table (SIGBUS / kill).
	FaultOOM
	// FaultLimit: the address space owns Limit pages already (kill).
	FaultLimit
)

// Access is the kind of access that faulted.
type Access uint8

// Access kinds.
const (
	AccessRead Access = iota
	AccessWrite
	AccessExec
	// accessFill is the loader's write into a page the process may only
	// read or execute (Load): permitted like a read, but it needs a page
	// of the space's own, never the zero page.
	accessFill
)

// The zero page. A read fault of anonymous user memory maps ZeroPage, one
// page of zeros shared by every process, read-only and not owned, instead
// of allocating: memory a program only reads (untouched heap metadata,
// fresh stacks scanned by the collector) costs nothing, as on Linux. The
// first write to such a page is a permission fault that replaces it with
// a zeroed page of the space's own (copy on write of the zero page), break
// before make with InvalidatePage between the two descriptors.
var (
	// ZeroPage is the zero page's physical address; 0 disables it (every
	// fault allocates). Set once, before any user space exists.
	ZeroPage uint64
	// InvalidatePage drops the TLB entries of page va of user space as
	// (by its ASID). It must be set with ZeroPage.
	InvalidatePage func(as *AddressSpace, va uint64)
)

// isZero reports whether the page at pa (an address in it) is the zero page.
//
//go:nosplit
func isZero(pa uint64) bool { return ZeroPage != 0 && pa&^pageMask == ZeroPage }

// Init prepares an empty address space whose regions live in [lo, hi).
// A kernel address space maps its pages global and EL1-only (the kernel's
// own Go heap); a user one maps them per-ASID (nG) and EL0-accessible.
//
//go:nosplit
func (as *AddressSpace) Init(pm *PhysMem, lo, hi uint64, kernel bool) Errno {
	*as = AddressSpace{}
	if hi > VALimit {
		return ErrRange
	}
	if e := as.VMAs.Init(lo, hi); e != OK {
		return e
	}
	if e := as.PT.Init(pm); e != OK {
		return e
	}
	as.kernel = kernel
	return OK
}

// Stats returns a snapshot of the counters.
//
//go:nosplit
func (as *AddressSpace) Stats() SpaceStats { return as.stats }

// OwnedPages returns the physical pages the space holds: the data pages it
// owns plus its translation tables (the root included; borrowed tables are
// not counted).
//
//go:nosplit
func (as *AddressSpace) OwnedPages() uint64 {
	st := as.PT.Stats()
	return st.Owned + st.Tables
}

// unmap removes every mapping in [va, va+size) batch by batch: clear the
// descriptors, invalidate the TLB (inv), then free the pages. It returns
// the pages' worth of address space unmapped. Not nosplit: the batch is
// bigger than the nosplit stack allowance (in trap context the fake g's
// zero stack guard makes the prologue pass; the exception stack has room).
func (as *AddressSpace) unmap(va, size uint64, inv Invalidate) (uint64, Errno) {
	_, n, e := as.unmapSome(va, size, inv, 0)
	return n, e
}

// unmapSome is unmap for at most maxBatches batches (0: no limit). It
// returns where it stopped (va+size when done) and the pages unmapped.
func (as *AddressSpace) unmapSome(va, size uint64, inv Invalidate, maxBatches int) (uint64, uint64, Errno) {
	var b FreeBatch
	total := uint64(0)
	end := va + size
	for k := 1; ; k++ {
		n, next, e := as.PT.UnmapRangeBatch(va, end-va, &b)
		total += n
		if inv != nil && (n != 0 || b.Len() != 0) {
			inv(va, next-va)
		}
		b.Release(as.PT.phys())
		as.stats.Zapped += n
		if e != ErrBatchFull {
			return end, total, e
		}
		va = next
		if maxBatches != 0 && k >= maxBatches {
			return va, total, OK
		}
	}
}

// UnmapSome unmaps pages of [addr, addr+length) (page-aligned, within the
// space's bounds), regions untouched, for at most maxBatches batches of
// bounded work, and returns the address it reached: addr+length when it
// is done. System calls use it to stay short: they resume from there.
func (as *AddressSpace) UnmapSome(addr, length uint64, inv Invalidate, maxBatches int) (uint64, Errno) {
	if length == 0 || length&pageMask != 0 || addr&pageMask != 0 {
		return addr, ErrAlign
	}
	lo, hi := as.VMAs.Bounds()
	if addr < lo || addr > hi || hi-addr < length {
		return addr, ErrRange
	}
	next, _, e := as.unmapSome(addr, length, inv, maxBatches)
	return next, e
}

// AttrFor returns the descriptor attributes for pages of a region with
// prot. A user page made ProtNone stays mapped, keeping its contents, but
// only for the kernel and read-only (AP = EL1 read-only, never
// executable): the process faults on any access, and the kernel's copy
// routines refuse it (userPA checks AttrAPEL0). Kernel address spaces
// never map ProtNone pages (Mprotect drops them).
//
//go:nosplit
func AttrFor(prot Prot, kernel bool) Attr {
	var a Attr
	if prot == ProtNone && !kernel {
		return AttrNormal | AttrSHInner | AttrAF | AttrNG | AttrPXN | AttrUXN | AttrAPRO
	}
	if kernel {
		a = AttrNormal | AttrSHInner | AttrAF | AttrUXN
		if prot&ProtExec == 0 {
			a |= AttrPXN
		}
	} else {
		a = AttrNormal | AttrSHInner | AttrAF | AttrNG | AttrAPEL0 | AttrPXN
		if prot&ProtExec == 0 {
			a |= AttrUXN
		}
	}
	if prot&ProtWrite == 0 {
		a |= AttrAPRO
	}
	return a
}

// allows reports whether a region with prot permits access. As on Linux
// arm64, write and exec permission imply read.
//
//go:nosplit
func allows(prot Prot, acc Access) bool {
	switch acc {
	case AccessWrite:
		return prot&ProtWrite != 0
	case AccessExec:
		return prot&ProtExec != 0
	}
	return prot != ProtNone
}

// attrAllows reports whether an existing leaf's attributes permit acc.
//
//go:nosplit
func attrAllows(a Attr, acc Access, kernel bool) bool {
	switch acc {
	case AccessWrite:
		return a&AttrAPRO == 0
	case AccessExec:
		if kernel {
			return a&AttrPXN == 0
		}
		return a&AttrUXN == 0
	}
	return true
}

// Fault handles a translation or permission fault at va for acc. (Not
// nosplit: its callers' chains would exceed the nosplit allowance; in trap
// context the fake g's zero stack guard makes its prologue pass.)
func (as *AddressSpace) Fault(va uint64, acc Access) FaultResult {
	as.stats.Faults++
	r, ok := as.VMAs.Find(va)
	if !ok {
		as.stats.SegvMap++
		return FaultSegvMapErr
	}
	if !allows(r.Prot, acc) {
		as.stats.SegvAcc++
		return FaultSegvAccErr
	}
	page := va &^ pageMask
	if r.Flags&RegionDevice != 0 {
		// A device's registers are mapped whole when granted; a page
		// missing there (dropped by madvise) is not demand-zero memory.
		if _, attr, mapped := as.PT.Lookup(page); mapped && attrAllows(attr, acc, as.kernel) {
			as.stats.Spurious++
			return FaultSpurious
		}
		as.stats.SegvMap++
		return FaultSegvMapErr
	}
	pa, attr, mapped := as.PT.Lookup(page)
	zero := mapped && isZero(pa)
	if mapped && !(zero && (acc == AccessWrite || acc == accessFill)) {
		if attrAllows(attr, acc, as.kernel) {
			as.stats.Spurious++
			return FaultSpurious
		}
		as.stats.SegvAcc++
		return FaultSegvAccErr
	}
	// The page and up to three new tables must fit the limit.
	if as.Limit != 0 && as.OwnedPages()+4 > as.Limit {
		as.stats.LimitHits++
		return FaultLimit
	}
	if zero {
		return as.copyZero(r, page)
	}
	if r.Flags&(RegionShared|RegionPrivate) != 0 && Backing != nil {
		return as.faultFile(r, page)
	}
	if acc == AccessRead && ZeroPage != 0 && !as.kernel {
		zprot := r.Prot &^ ProtWrite
		if zprot == ProtNone {
			zprot = ProtRead // write-only memory is readable on arm64
		}
		if e := as.PT.Map(page, ZeroPage, AttrFor(zprot, false)); e == OK {
			as.stats.ZeroMaps++
			return FaultMapped
		}
		// No table for it: allocate below, whose failure is the answer.
	}
	pa, e := as.PT.phys().AllocZeroedNear(as.nextAfter(page))
	if e != OK {
		as.stats.OOM++
		return FaultOOM
	}
	if e := as.PT.Map(page, pa, AttrFor(r.Prot, as.kernel)|AttrSWOwned); e != OK {
		as.PT.phys().Free(pa)
		if e == ErrNoMemory {
			as.stats.OOM++
			return FaultOOM
		}
		// A region over something this table cannot map (a block, a
		// borrowed kernel table): the address is not usable.
		as.stats.MapErrors++
		return FaultSegvMapErr
	}
	as.stats.ZeroFills++
	return FaultMapped
}

// nextAfter returns the physical page after the one the space owns at
// page's predecessor, the page to ask for page (AllocZeroedNear), or 0.
//
//go:nosplit
func (as *AddressSpace) nextAfter(page uint64) uint64 {
	if page < PageSize {
		return 0
	}
	pa, attr, ok := as.PT.Lookup(page - PageSize)
	if !ok || attr&AttrSWOwned == 0 {
		return 0
	}
	return pa&^pageMask + PageSize
}

// copyZero gives page (mapped to the zero page) a zeroed page of the
// space's own with the region's protection: the first write to memory
// that was only read so far.
func (as *AddressSpace) copyZero(r VMA, page uint64) FaultResult {
	pa, e := as.PT.phys().AllocZeroedNear(as.nextAfter(page))
	if e != OK {
		as.stats.OOM++
		return FaultOOM
	}
	inv := func() {
		if InvalidatePage != nil {
			InvalidatePage(as, page)
		}
	}
	if e := as.PT.Replace(page, pa, AttrFor(r.Prot, as.kernel)|AttrSWOwned, inv); e != OK {
		as.PT.phys().Free(pa)
		as.stats.MapErrors++
		return FaultSegvMapErr
	}
	as.stats.ZeroFills++
	as.stats.ZeroCopies++
	return FaultMapped
}

// File-backed regions. A region whose Flags carry RegionShared or
// RegionPrivate is backed by pages someone else owns (the page cache of
// the program files), which Backing finds; Flags' other bits
// (RegionKeyMask) are the backer's to interpret.
//
//   - RegionShared: faults map the backer's page itself, read-only and
//     without AttrSWOwned, so unmapping never frees it (a program's text
//     and read-only data, one copy for every process running it).
//   - RegionPrivate: the first touch of a page, read or write, copies the
//     backer's page into a page of the process's own (the bytes past the
//     file's part zeroed), mapped with the region's protection: a
//     program's initialized data, read from the cache only for the pages
//     the process uses, with no zero-fill before the copy.
const (
	RegionShared  = 0x80
	RegionPrivate = 0x40
	// RegionDevice marks a region mapping a device's registers (MapDevice):
	// never demand-paged, never re-protected.
	RegionDevice  = 0x20
	RegionKeyMask = 0x1f
	// RegionWritableShared, a key bit, makes a RegionShared region's
	// pages mapped with the region's own protection, writes included:
	// shared memory between processes (the backer's pages are theirs
	// together). Without it shared pages are read-only (the page cache).
	RegionWritableShared = 0x10
)

// MapDevice maps the device page at pa (page-aligned) read-write for the
// process, as Device-nGnRE memory, in a one-page region of its own at the
// lowest free address, and returns that address. The page is not owned:
// unmapping it frees nothing.
//
//go:nosplit
func (as *AddressSpace) MapDevice(pa uint64) (uint64, Errno) {
	if pa&pageMask != 0 {
		return 0, ErrAlign
	}
	if as.kernel {
		return 0, ErrInvalid
	}
	va, _, e := as.Mmap(0, PageSize, ProtRead|ProtWrite, RegionDevice, false, nil)
	if e != OK {
		return 0, e
	}
	if e := as.PT.Map(va, pa, UserDevice); e != OK {
		as.VMAs.Clear(va, PageSize)
		return 0, e
	}
	return va, OK
}

// Backing finds the backer's page for page va of file-backed region r of
// address space as, and how many of its bytes belong to the mapping
// (valid; a private copy zeroes the rest); ok false: none, and the fault
// fails like an out-of-memory one (FaultOOM). It is set once, before any
// address space has a file-backed region, and runs in trap context.
var Backing func(as *AddressSpace, r VMA, va uint64) (pa, valid uint64, ok bool)

// faultFile maps page of file-backed region r.
func (as *AddressSpace) faultFile(r VMA, page uint64) FaultResult {
	src, valid, ok := Backing(as, r, page)
	if !ok {
		as.stats.OOM++
		return FaultOOM
	}
	pa, attr := src, AttrFor(r.Prot&^ProtWrite, as.kernel)
	if r.Flags&RegionShared != 0 && r.Flags&RegionWritableShared != 0 {
		attr = AttrFor(r.Prot, as.kernel)
	}
	if r.Flags&RegionShared == 0 {
		var e Errno
		if pa, e = as.PT.phys().Alloc(); e != OK {
			as.stats.OOM++
			return FaultOOM
		}
		valid = min(valid, PageSize)
		dst, from := as.PT.phys().win.page(pa), as.PT.phys().win.page(src)
		if dst == nil || valid > 0 && from == nil {
			as.PT.phys().Free(pa)
			as.stats.MapErrors++
			return FaultSegvMapErr
		}
		if valid > 0 {
			copy(dst[:valid], from[:valid])
		}
		clear(dst[valid:])
		attr = AttrFor(r.Prot, as.kernel) | AttrSWOwned
	}
	if e := as.PT.Map(page, pa, attr); e != OK {
		if attr&AttrSWOwned != 0 {
			as.PT.phys().Free(pa)
		}
		if e == ErrNoMemory {
			as.stats.OOM++
			return FaultOOM
		}
		as.stats.MapErrors++
		return FaultSegvMapErr
	}
	if attr&AttrSWOwned != 0 {
		as.stats.FileCopies++
	} else {
		as.stats.SharedFills++
	}
	return FaultMapped
}

// Mmap creates a region of length bytes (rounded up to pages) with prot.
// With fixed, it goes exactly at hint, replacing any regions and dropping
// their pages (MAP_FIXED, invalidated through inv); otherwise hint is
// honoured if free, else the lowest fitting gap is used. It returns the
// address and the number of pages dropped.
//
//go:nosplit
func (as *AddressSpace) Mmap(hint, length uint64, prot Prot, flags uint8, fixed bool, inv Invalidate) (uint64, uint64, Errno) {
	if length == 0 || length+pageMask < length {
		return 0, 0, ErrInvalid
	}
	length = (length + pageMask) &^ pageMask
	if !fixed {
		addr, e := as.VMAs.Reserve(hint, length, prot, flags)
		return addr, 0, e
	}
	if e := as.VMAs.CanSet(hint, length, prot, flags); e != OK {
		return 0, 0, e
	}
	n, e := as.unmap(hint, length, inv)
	if e != OK {
		return 0, n, e
	}
	return hint, n, as.VMAs.Set(hint, length, prot, flags)
}

// Munmap removes [addr, addr+length) (length rounded up to pages): regions
// and pages. Holes are fine. It returns the number of pages dropped.
//
//go:nosplit
func (as *AddressSpace) Munmap(addr, length uint64, inv Invalidate) (uint64, Errno) {
	if length == 0 || length+pageMask < length {
		return 0, ErrInvalid
	}
	length = (length + pageMask) &^ pageMask
	if e := as.VMAs.CanClear(addr, length); e != OK {
		return 0, e
	}
	n, e := as.unmap(addr, length, inv)
	if e != OK {
		return n, e
	}
	return n, as.VMAs.Clear(addr, length)
}

// MadviseDontneed drops the pages of [addr, addr+length) but keeps the
// regions: the next access faults in zeroes (MADV_DONTNEED). It returns
// the number of pages dropped.
//
//go:nosplit
func (as *AddressSpace) MadviseDontneed(addr, length uint64, inv Invalidate) (uint64, Errno) {
	return as.Zap(addr, length, inv)
}

// Zap unmaps every page in [addr, addr+length) (length rounded up to
// pages) and frees the ones the address space owns, leaving the regions
// alone. It is the common core of munmap, MAP_FIXED and MADV_DONTNEED.
//
//go:nosplit
func (as *AddressSpace) Zap(addr, length uint64, inv Invalidate) (uint64, Errno) {
	if length == 0 || length+pageMask < length {
		return 0, ErrInvalid
	}
	length = (length + pageMask) &^ pageMask
	if addr&pageMask != 0 {
		return 0, ErrAlign
	}
	lo, hi := as.VMAs.Bounds()
	if addr < lo || addr > hi || hi-addr < length {
		return 0, ErrRange
	}
	return as.unmap(addr, length, inv)
}

// Mprotect changes the protection of [addr, addr+length), which must be
// fully covered by regions, and rewrites the descriptors of pages already
// present, invalidating them through inv. As on Linux, pages made
// ProtNone keep their contents (see AttrFor); only a kernel address space,
// which cannot hide a page from itself, drops them. It returns the number
// of descriptors changed or dropped.
//
//go:nosplit
func (as *AddressSpace) Mprotect(addr, length uint64, prot Prot, inv Invalidate) (uint64, Errno) {
	if length == 0 || length+pageMask < length {
		return 0, ErrInvalid
	}
	length = (length + pageMask) &^ pageMask
	if e := as.canProtect(addr, length, prot); e != OK {
		return 0, e
	}
	if e := as.VMAs.Protect(addr, length, prot); e != OK {
		return 0, e
	}
	if prot == ProtNone && as.kernel {
		return as.unmap(addr, length, inv)
	}
	// Only permissions change (valid to valid, same output address and
	// memory type): no break-before-make, but stale permissive entries
	// must go before the call returns.
	n, e := as.PT.Protect(addr, length, AttrFor(prot, as.kernel))
	if n != 0 && inv != nil {
		inv(addr, length)
	}
	return n, e
}

// canProtect refuses protections some regions cannot take: a device's
// registers keep theirs, and pages shared with other processes (the page
// cache's) never become writable (ErrAccess: EACCES).
//
//go:nosplit
func (as *AddressSpace) canProtect(addr, length uint64, prot Prot) Errno {
	f := as.VMAs.FlagsIn(addr, length)
	if f&RegionDevice != 0 || f&RegionShared != 0 && prot&ProtWrite != 0 {
		return ErrAccess
	}
	return OK
}

// MprotectSome is Mprotect in bounded steps: the regions change at once,
// then at most maxBatches batches of descriptors are rewritten (or, for a
// kernel space's ProtNone, unmapped), invalidated before it returns. It
// returns where it stopped: addr+length when done, else the caller calls
// it again for the rest (the regions' change is idempotent).
//
//go:nosplit
func (as *AddressSpace) MprotectSome(addr, length uint64, prot Prot, inv Invalidate, maxBatches int) (uint64, Errno) {
	if length == 0 || length&pageMask != 0 || addr&pageMask != 0 {
		return addr, ErrAlign
	}
	if e := as.canProtect(addr, length, prot); e != OK {
		return addr, e
	}
	if e := as.VMAs.Protect(addr, length, prot); e != OK {
		return addr, e
	}
	if prot == ProtNone && as.kernel {
		next, _, e := as.unmapSome(addr, length, inv, maxBatches)
		return next, e
	}
	n, next, e := as.PT.ProtectSome(addr, length, AttrFor(prot, as.kernel), maxBatches*unmapBudget)
	if n != 0 && inv != nil {
		inv(addr, next-addr)
	}
	return next, e
}

// Destroy frees every page and table of the address space (borrowed
// kernel tables excepted). Switch away and invalidate the ASID first.
//
//go:nosplit
func (as *AddressSpace) Destroy() {
	as.PT.Destroy(true)
	*as = AddressSpace{}
}
