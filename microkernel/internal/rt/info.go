package rt

import (
	"unsafe"

	"armos/microkernel/internal/mm"
)

// What the boot path learned, for package main's boot report.

// EntryEL returns the exception level QEMU entered the kernel at (1 or 2).
func EntryEL() int { return int(entryEL) }

// EntryCounter returns the generic timer count at kernel entry.
func EntryCounter() uint64 { return entryTicks }

// DTB returns the device tree blob QEMU passed (nil if there was none).
func DTB() []byte {
	if !dtbOK {
		return nil
	}
	size := uint32(be32(unsafe.Slice((*byte)(ptrOf(kva(dtbAddr))), 8), 4))
	if size > dtbMaxSize {
		size = dtbMaxSize
	}
	return unsafe.Slice((*byte)(ptrOf(kva(dtbAddr))), size)
}

// TimerFrequency returns CNTFRQ_EL0 in Hz.
func TimerFrequency() uint64 { return counterFreq }

// DeviceAddr returns the kernel address of the device register block at
// physical address pa (its place in the linear map).
func DeviceAddr(pa uint64) uintptr { return kva(uintptr(pa)) }

// PAN reports whether Privileged Access Never is on (CPUs with ARMv8.1).
func PAN() bool { return panEnabled }

// KernelMapping returns the descriptor attributes the kernel's tables give
// virtual address va, and whether it is mapped at all.
func KernelMapping(va uintptr) (attr uint64, ok bool) {
	Locked(func() {
		var a mm.Attr
		_, a, ok = kas.PT.Lookup(uint64(va))
		attr = uint64(a)
	})
	return attr, ok
}

// GuardPages returns the addresses of the exception stack's and the first
// thread's guard pages.
func GuardPages() (exc, m0 uintptr) { return excGuard, m0Guard }
