package mm

import (
	"unsafe"

	"armos/microkernel/internal/arch"
)

// Copy-in/copy-out: the kernel touches a process's memory only through its
// page table, never by dereferencing a user pointer. Each page is
// translated with Lookup, checked against the access, and reached through
// the PhysMem's Window; a page not present yet is faulted in exactly as
// the process's own access would (demand zero), so the kernel sees the
// same memory and the same errors the process would.

// userPA translates va for a kernel access on behalf of the process,
// faulting the page in if needed, and returns the physical address of va
// and the bytes left in its page.
//
//go:nosplit
func (as *AddressSpace) userPA(va uint64, acc Access) (uint64, uint64, Errno) {
	pa, attr, ok := as.PT.Lookup(va)
	if !ok || acc != AccessRead && acc != AccessExec && isZero(pa) {
		switch as.Fault(va, acc) {
		case FaultMapped, FaultSpurious:
		case FaultSegvMapErr:
			return 0, 0, ErrNoVMA
		case FaultSegvAccErr:
			return 0, 0, ErrAccess
		case FaultLimit:
			return 0, 0, ErrLimit
		default:
			return 0, 0, ErrNoMemory
		}
		if pa, attr, ok = as.PT.Lookup(va); !ok {
			return 0, 0, ErrNotMapped
		}
	}
	if !as.kernel && attr&AttrAPEL0 == 0 {
		return 0, 0, ErrAccess // a kernel page seen through a user table
	}
	if acc == AccessWrite && attr&AttrAPRO != 0 {
		return 0, 0, ErrAccess
	}
	return pa, PageSize - va&pageMask, OK
}

// userPage is userPA as a kernel pointer (through the PhysMem's window).
//
//go:nosplit
func (as *AddressSpace) userPage(va uint64, acc Access) (unsafe.Pointer, uint64, Errno) {
	pa, left, e := as.userPA(va, acc)
	if e != OK {
		return nil, 0, e
	}
	ptr := as.PT.phys().win.Ptr(pa, left)
	if ptr == nil {
		return nil, 0, ErrRange // not RAM the kernel can reach (a device page)
	}
	return ptr, left, OK
}

// ReadablePtr returns a kernel pointer to va for reading on the process's
// behalf (the page faulted in as the process's own read would be) and the
// bytes left in its page.
//
//go:nosplit
func (as *AddressSpace) ReadablePtr(va uint64) (unsafe.Pointer, uint64, Errno) {
	return as.ReadableRun(va, 1)
}

// ReadableRun is ReadablePtr for up to max bytes: where the page at va is
// mapped for the process to read, the window goes on over the pages after
// it mapped alike onto physically consecutive memory (LookupRun), so that
// a large copy out of the process translates once per run. Anything else
// goes userPA's whole way (faulted in as the process's own read would
// be): one page.
//
//go:nosplit
func (as *AddressSpace) ReadableRun(va, max uint64) (unsafe.Pointer, uint64, Errno) {
	if pa, attr, n, ok := as.PT.LookupRun(va, max); ok && (as.kernel || attr&AttrAPEL0 != 0) {
		if ptr := as.PT.phys().win.Ptr(pa, n); ptr != nil {
			return ptr, n, OK
		}
	}
	return as.userPage(va, AccessRead)
}

// WritablePtr returns a kernel pointer to va for writing on the process's
// behalf (the page faulted in as the process's own write would be) and
// the bytes left in its page.
//
//go:nosplit
func (as *AddressSpace) WritablePtr(va uint64) (unsafe.Pointer, uint64, Errno) {
	return as.WritableRun(va, 1)
}

// WritableRun is WritablePtr for up to max bytes. The common case, a page
// already mapped writable for the process (a receiver's posted buffer),
// skips userPA's layers, and the window goes on over the pages after it
// that are mapped alike onto physically consecutive memory (a driver's
// contiguous shared memory, a run of the allocator's pages), up to max,
// so that a large copy translates once per run instead of once per page
// (PageTable.LookupRun). Anything else goes userPA's whole way (faulted
// in as the process's own write would be): one page.
//
//go:nosplit
func (as *AddressSpace) WritableRun(va, max uint64) (unsafe.Pointer, uint64, Errno) {
	if pa, attr, n, ok := as.PT.LookupRun(va, max); ok && attr&AttrAPRO == 0 && (as.kernel || attr&AttrAPEL0 != 0) && !isZero(pa) {
		if z := ZeroPage; z > pa && z < pa+n {
			n = z - pa // never into the shared zero page
		}
		if ptr := as.PT.phys().win.Ptr(pa, n); ptr != nil {
			return ptr, n, OK
		}
	}
	return as.userPage(va, AccessWrite)
}

// WritablePA translates va for a write on the process's behalf by a
// device (DMA straight into the process's page): the page is faulted in
// as the process's own write would be. It returns the physical address of
// va and the bytes left in its page.
//
//go:nosplit
func (as *AddressSpace) WritablePA(va uint64) (uint64, uint64, Errno) {
	pa, left, e := as.userPA(va, AccessWrite)
	if e == OK && as.PT.phys().win.Ptr(pa, left) == nil {
		return 0, 0, ErrRange
	}
	return pa, left, e
}

// CopyIn copies len(dst) bytes from the process's address va into dst. It
// returns the number of bytes copied and, if short, why (ErrNoVMA: EFAULT,
// ErrAccess, ErrNoMemory, ErrRange).
//
//go:nosplit
func (as *AddressSpace) CopyIn(dst []byte, va uint64) (int, Errno) {
	done := 0
	for done < len(dst) {
		if va+uint64(done) < va {
			return done, ErrRange
		}
		ptr, left, e := as.userPage(va+uint64(done), AccessRead)
		if e != OK {
			return done, e
		}
		n := arch.Copy(dst[done:], unsafe.Slice((*byte)(ptr), left))
		done += n
	}
	return done, OK
}

// CopyOut copies src into the process's memory at va, which must be
// writable by the process. It returns the number of bytes copied and, if
// short, why.
//
//go:nosplit
func (as *AddressSpace) CopyOut(va uint64, src []byte) (int, Errno) {
	return as.write(va, src, AccessWrite)
}

// Load writes src into the process's memory at va like CopyOut, but also
// into pages the process may only read or execute: the ELF loader filling
// text and read-only data. The region must exist and not be PROT_NONE.
// After loading executable pages the caller must clean the D-cache to the
// point of unification and invalidate the I-cache (DC CVAU, IC IVAU or
// IC IALLUIS) before the process runs them.
//
//go:nosplit
func (as *AddressSpace) Load(va uint64, src []byte) (int, Errno) {
	return as.write(va, src, accessFill)
}

// write copies src into the process's memory at va, page by page, mapping
// each page as a fault with access acc would: AccessWrite honours the
// process's protections (CopyOut), accessFill lets the kernel fill pages the
// process may only read or execute (Load).
//
//go:nosplit
func (as *AddressSpace) write(va uint64, src []byte, acc Access) (int, Errno) {
	done := 0
	for done < len(src) {
		if va+uint64(done) < va {
			return done, ErrRange
		}
		ptr, left, e := as.userPage(va+uint64(done), acc)
		if e != OK {
			return done, e
		}
		n := arch.Copy(unsafe.Slice((*byte)(ptr), left), src[done:])
		done += n
	}
	return done, OK
}
