//go:build !arm64

package arch

import "unsafe"

// Host stand-ins for the arm64 assembly in sysreg_arm64.s. They let the
// packages that sit on top of arch build and run their host unit tests; none
// of them touches hardware. MMIO accessors read and write ordinary memory,
// so tests can hand the drivers a fake register block; Counter advances by
// one on every call so that code waiting for time to pass terminates.

var hostCounter uint64

func reg(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }

// Read32 loads from ordinary memory on the host (or asks the hook set by
// SetHostRead32Hook).
func Read32(addr uintptr) uint32 {
	if hostRead32 != nil {
		if v, ok := hostRead32(addr); ok {
			return v
		}
	}
	return *(*uint32)(reg(addr))
}

// hostRead32 is SetHostRead32Hook's device model (nil: none).
var hostRead32 func(addr uintptr) (uint32, bool)

// SetHostRead32Hook makes every host Read32 ask f first: when f answers
// (true), its value is the register's (nil removes it). Host tests model
// a device whose registers change as they are read (a UART's receive
// FIFO). It exists only off arm64.
func SetHostRead32Hook(f func(addr uintptr) (uint32, bool)) { hostRead32 = f }

// hostWrite32 is SetHostWrite32Hook's observer (nil: none).
var hostWrite32 func(addr uintptr, v uint32)

// SetHostWrite32Hook makes every host Write32 call f first (nil removes
// it), so that host tests can capture what trap code prints on the
// console. It exists only off arm64.
func SetHostWrite32Hook(f func(addr uintptr, v uint32)) { hostWrite32 = f }

// Write32 stores to ordinary memory on the host.
func Write32(addr uintptr, v uint32) {
	if hostWrite32 != nil {
		hostWrite32(addr, v)
	}
	*(*uint32)(reg(addr)) = v
}

// Read8, Write8 and Read16 load and store ordinary memory on the host.
func Read8(addr uintptr) uint8     { return *(*uint8)(reg(addr)) }
func Write8(addr uintptr, v uint8) { *(*uint8)(reg(addr)) = v }
func Read16(addr uintptr) uint16   { return *(*uint16)(reg(addr)) }

// Read64 loads from ordinary memory on the host.
func Read64(addr uintptr) uint64 { return *(*uint64)(reg(addr)) }

// Write64 stores to ordinary memory on the host.
func Write64(addr uintptr, v uint64) { *(*uint64)(reg(addr)) = v }

// Counter returns a counter that advances by one per call on the host.
func Counter() uint64 { hostCounter++; return hostCounter }

// CounterFreq returns QEMU virt's 62.5 MHz on the host.
func CounterFreq() uint64 { return 62500000 }

// SetTimer does nothing on the host.
func SetTimer(deadline uint64, ctl uint64) {}

// ESR returns 0 on the host.
func ESR() uint64 { return 0 }

// FAR returns 0 on the host.
func FAR() uint64 { return 0 }

// MIDR returns 0 on the host.
func MIDR() uint64 { return 0 }

// ISAR0 returns 0 on the host.
func ISAR0() uint64 { return 0 }

// PFR0 returns 0 on the host.
func PFR0() uint64 { return 0 }

// FlushTLB does nothing on the host.
func FlushTLB() {}

// SyncPTE does nothing on the host.
func SyncPTE() {}

// HVCCall returns 0 on the host.
func HVCCall(fn, a1, a2, a3 uint64) uint64 { return 0 }

// SMCCall returns 0 on the host.
func SMCCall(fn, a1, a2, a3 uint64) uint64 { return 0 }

// ICCInit does nothing on the host.
func ICCInit() {}

// ICCAck returns 1023 (spurious) on the host.
func ICCAck() uint64 { return 1023 }

// ICCEOI does nothing on the host.
func ICCEOI(intid uint64) {}

// WaitForInterrupt does nothing on the host.
func WaitForInterrupt() {}

// TLB maintenance has nothing to do on the host; TLBICalls counts the calls
// so host tests can check that code invalidates where it must.
var TLBICalls uint64

func TLBIAll()                                { TLBICalls++ }
func TLBIASID(asid uint16)                    { TLBICalls++ }
func TLBIRange(va, pages uint64, asid uint16) { TLBICalls++ }
func TLBIRangeGlobal(va, pages uint64)        { TLBICalls++ }

// MMFR0 on the host: 16-bit ASIDs, 48-bit physical addresses.
func MMFR0() uint64 { return 0x25 }

// EnableEL0VirtualCounter has nothing to enable on the host.
func EnableEL0VirtualCounter() {}

// EnablePAN: no PAN on the host.
func EnablePAN() bool { return false }

// MAIR on the host: what the kernel loads (mm.MAIRValue).
func MAIR() uint64 { return 0x4404ff00 }

// TranslateEL0 on the host: there is no MMU to ask; every translation
// "faults", so callers take their page-table walking path.
func TranslateEL0(va uint64, write bool) uint64 { return 1 }
