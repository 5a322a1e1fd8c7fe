package mm

import "unsafe"

// Page geometry for the 4 KiB translation granule.
const (
	PageShift = 12
	PageSize  = 1 << PageShift
	pageMask  = PageSize - 1
)

// Window is the kernel's view of a physical range: physical address Base
// is reachable at virtual pointer virt, and so is every byte up to
// Base+Size. The zero Window covers nothing.
type Window struct {
	Base uint64
	Size uint64
	virt unsafe.Pointer
}

// NewWindow returns a window onto [base, base+size) whose first byte the
// kernel reaches at virt. It returns ErrInvalid if the range wraps or virt
// is nil with a non-zero size.
func NewWindow(base, size uint64, virt unsafe.Pointer) (Window, Errno) {
	if base+size < base || (size != 0 && virt == nil) {
		return Window{}, ErrInvalid
	}
	return Window{Base: base, Size: size, virt: virt}, OK
}

// IdentityWindow returns a window onto [base, base+size) mapped 1:1 (the
// kernel's virtual address equals the physical one), as set up at boot.
func IdentityWindow(base, size uint64) (Window, Errno) {
	addr := uintptr(base)
	if uint64(addr) != base {
		return Window{}, ErrRange
	}
	// Reinterpret the address bits as a pointer without an arithmetic
	// uintptr->unsafe.Pointer conversion. RAM is outside the Go heap's
	// arenas, so the garbage collector ignores such pointers.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	return NewWindow(base, size, p)
}

// Contains reports whether [pa, pa+n) lies inside the window.
//
//go:nosplit
func (w *Window) Contains(pa, n uint64) bool {
	return pa >= w.Base && pa-w.Base <= w.Size && n <= w.Size-(pa-w.Base)
}

// Ptr returns the kernel pointer to physical address pa, valid for n bytes,
// or nil when [pa, pa+n) is not inside the window.
//
//go:nosplit
func (w *Window) Ptr(pa, n uint64) unsafe.Pointer {
	if w.virt == nil || !w.Contains(pa, n) {
		return nil
	}
	return unsafe.Add(w.virt, pa-w.Base)
}

// page returns the 4 KiB page at pa as an array pointer, or nil.
//
//go:nosplit
func (w *Window) page(pa uint64) *[PageSize]byte {
	return (*[PageSize]byte)(w.Ptr(pa, PageSize))
}

// table returns the translation table at pa as an array of 512 descriptors, or nil.
//
//go:nosplit
func (w *Window) table(pa uint64) *[512]uint64 {
	if pa&7 != 0 {
		return nil
	}
	return (*[512]uint64)(w.Ptr(pa, PageSize))
}
