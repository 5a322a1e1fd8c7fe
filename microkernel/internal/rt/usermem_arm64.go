package rt

import "unsafe"

// userMem returns a pointer to [addr, addr+n) after making sure every page
// of it is mapped (faulting in reserved pages), or nil if any page is not
// part of the address space. Trap code reaches the runtime's memory only
// through it, so a bad pointer becomes EFAULT instead of a nested fault.
//
//go:nosplit
func userMem(addr uintptr, n uintptr) unsafe.Pointer {
	if addr == 0 || addr+n < addr {
		return nil
	}
	for pg := addr &^ (pageSize - 1); pg < addr+n; pg += pageSize {
		if kas.Lookup(pg) == 0 && !kas.Fault(pg) {
			return nil
		}
	}
	return ptrOf(addr)
}
