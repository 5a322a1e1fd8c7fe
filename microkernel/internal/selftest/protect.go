package selftest

import (
	"errors"
	"fmt"
	"runtime/debug"
	"unsafe"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
	"armos/microkernel/internal/rt"
)

// Memory protection of the kernel itself: W^X on its own image, the
// attributes its tables use, the guard pages of its stacks.

//go:noinline
func textTarget() int { return 42 }

// faultAddr runs f with faults turned into panics and returns the address
// of the fault it raised (0 and false if it did not fault).
func faultAddr(f func()) (addr uintptr, faulted bool) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(interface{ Addr() uintptr }); ok {
				addr, faulted = e.Addr(), true
				return
			}
			panic(r)
		}
	}()
	f()
	return 0, false
}

// testKernelWX writes to the kernel's own text: the fault comes back as a
// recovered panic at that address. The image's pages are mapped with W^X
// attributes: text read-only and executable at EL1, data never executable.
func testKernelWX() (string, error) {
	fn := textTarget
	pc := **(**uintptr)(unsafe.Pointer(&fn))
	// The code address as a pointer, without a uintptr conversion vet
	// would question: it is not Go memory.
	text := *(**byte)(unsafe.Pointer(&pc))
	addr, faulted := faultAddr(func() { *text = 0 })
	if !faulted {
		return "", errors.New("writing the kernel's text did not fault")
	}
	if addr != pc {
		return "", fmt.Errorf("fault at %#x, want the text address %#x", addr, pc)
	}
	if textTarget() != 42 {
		return "", errors.New("the text changed")
	}
	attr, ok := rt.KernelMapping(pc)
	switch {
	case !ok:
		return "", errors.New("text not mapped")
	case attr&uint64(mm.AttrAPRO) == 0:
		return "", fmt.Errorf("text writable: attributes %#x", attr)
	case attr&uint64(mm.AttrPXN) != 0:
		return "", fmt.Errorf("text not executable: attributes %#x", attr)
	}
	var data uint64
	attr, ok = rt.KernelMapping(uintptr(unsafe.Pointer(&data)))
	if !ok || attr&uint64(mm.AttrPXN) == 0 || attr&uint64(mm.AttrUXN) == 0 {
		return "", fmt.Errorf("data executable or unmapped: attributes %#x", attr)
	}
	heap := new([64]byte)
	attr, ok = rt.KernelMapping(uintptr(unsafe.Pointer(heap)))
	if !ok || attr&uint64(mm.AttrPXN) == 0 {
		return "", fmt.Errorf("heap executable or unmapped: attributes %#x", attr)
	}
	return fmt.Sprintf("write to text at %#x faulted; text RX, data and heap XN", pc), nil
}

// testMemoryAttributes checks MAIR_EL1 holds mm's encodings, and the
// memory types the kernel's own mappings carry: Normal write-back for RAM
// and the image, Device-nGnRE for the devices.
func testMemoryAttributes() (string, error) {
	if got := arch.MAIR(); got != mm.MAIRValue {
		return "", fmt.Errorf("MAIR_EL1 %#x, want %#x", got, uint64(mm.MAIRValue))
	}
	index := func(a uint64) uint64 { return a & uint64(mm.AttrIndxMask) >> mm.AttrIndxShift }
	var v uint64
	attr, _ := rt.KernelMapping(uintptr(unsafe.Pointer(&v)))
	if index(attr) != mm.MAIRIdxNormal {
		return "", fmt.Errorf("kernel data has memory type %d, want Normal (%d)", index(attr), mm.MAIRIdxNormal)
	}
	uart := rt.DeviceAddr(0x0900_0000)
	attr, ok := rt.KernelMapping(uart)
	if !ok || index(attr) != mm.MAIRIdxDevice {
		return "", fmt.Errorf("the UART has memory type %d (mapped %v), want Device-nGnRE (%d)", index(attr), ok, mm.MAIRIdxDevice)
	}
	if _, ok := rt.KernelMapping(rt.DeviceAddr(0)); ok {
		return "", errors.New("the flash at physical 0 is mapped")
	}
	if _, ok := rt.KernelMapping(0x1000); ok {
		return "", errors.New("the user half is mapped in the kernel's tables")
	}
	exc, m0 := rt.GuardPages()
	for _, g := range []uintptr{exc, m0} {
		if _, ok := rt.KernelMapping(g); ok {
			return "", fmt.Errorf("guard page %#x is mapped", g)
		}
	}
	return fmt.Sprintf("MAIR %#x; data Normal, UART Device-nGnRE; guard pages unmapped; PAN %v", arch.MAIR(), rt.PAN()), nil
}
