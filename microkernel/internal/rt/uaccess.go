package rt

import (
	"unsafe"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// Copy-in and copy-out: the only way trap code reaches the memory of the
// process that made a system call (the kernel's own runtime included).
// Each page is translated through the process's tables (mm.AddressSpace
// CopyIn/CopyOut), faulted in as the process's own access would be, and
// reached through the linear map; a user pointer is never dereferenced,
// so a bad one is EFAULT, never a kernel fault. Kernel-half addresses are
// refused for user processes (their pages are EL1-only).

//
// The common case, a small buffer in one page the process already has
// mapped with the access allowed, takes a shorter path: the MMU itself is
// asked (AT S1E0R/W through the tables the process runs on, which checks
// exactly what the process's own access would) and the page is reached
// through the linear map; anything else (not mapped yet, forbidden, not
// ordinary RAM, crossing a page, the kernel's own process) goes through
// mm's walk, which faults pages in and gives the precise error.

// atUsable is set at boot: the MMU runs the running process's tables in
// trap context. Off (host tests) every copy walks the tables.
var atUsable bool

// parPA masks the physical page address out of PAR_EL1.
const parPA = 0x000f_ffff_ffff_f000

// fastUser returns a kernel pointer to the n bytes at va of the running
// process if they lie in one page it may already access (write: for
// writing) as ordinary RAM, else nil.
//
//go:nosplit
func fastUser(va uint64, n int, write bool) unsafe.Pointer {
	if !atUsable || va&(pageSize-1)+uint64(n) > pageSize || curProc() == 0 {
		return nil
	}
	par := arch.TranslateEL0(va, write)
	if par&1 != 0 || par>>56 != mm.MAIRNormalWB {
		return nil
	}
	return physPages.Window().Ptr(par&parPA|va&(pageSize-1), uint64(n))
}

// copyIn fills dst from address va of the running thread's process. (Not
// nosplit, like mm's fault path it may run: trapG passes its prologue.)
// The common case, a buffer within one page, is one translation by AT and
// one copy; copyInPages does the rest.
func copyIn(dst []byte, va uint64) bool {
	if p := fastUser(va, len(dst), false); p != nil {
		copyFromKernel(dst, p)
		return true
	}
	return copyInPages(dst, va)
}

// copyOut writes src to address va of the running thread's process: as
// copyIn, one page by the short path, else copyOutPages.
func copyOut(va uint64, src []byte) bool {
	if p := fastUser(va, len(src), true); p != nil {
		copyToKernel(p, src)
		return true
	}
	return copyOutPages(va, src)
}

// copyFromKernel fills dst from the len(dst) bytes at p: the runtime's
// memmove for a small buffer, arch.Copy (the SIMD registers, which every
// trap frame saves) for a large one.
//
//go:nosplit
func copyFromKernel(dst []byte, p unsafe.Pointer) {
	if len(dst) < copyWideMin {
		copy(dst, unsafe.Slice((*byte)(p), len(dst)))
		return
	}
	arch.Copy(dst, unsafe.Slice((*byte)(p), len(dst)))
}

// copyToKernel writes src to the len(src) bytes at p, as copyFromKernel.
//
//go:nosplit
func copyToKernel(p unsafe.Pointer, src []byte) {
	if len(src) < copyWideMin {
		copy(unsafe.Slice((*byte)(p), len(src)), src)
		return
	}
	arch.Copy(unsafe.Slice((*byte)(p), len(src)), src)
}

// copyWideMin is the size from which copies go through arch.Copy, whose
// wide loop pays for its call there (arch's own threshold).
const copyWideMin = 256

// copyInPages is copyIn for a buffer over several pages (or one the short
// path refused), a page at a time, each page asked of the MMU: a message
// of 64 KiB is 17 translations by AT, where mm's walk costs some sixty
// instructions a page; a page the MMU refuses goes through mm's walk,
// which faults it in or gives the precise error.
func copyInPages(dst []byte, va uint64) bool {
	for len(dst) > 0 {
		n := min(len(dst), int(pageSize-va&(pageSize-1)))
		if p := fastUser(va, n, false); p != nil {
			copyFromKernel(dst[:n], p)
		} else if _, e := space(curProc()).CopyIn(dst[:n], va); e != mm.OK {
			return false
		}
		dst, va = dst[n:], va+uint64(n)
	}
	return true
}

// copyOutPages is copyOut a page at a time, as copyInPages.
func copyOutPages(va uint64, src []byte) bool {
	for len(src) > 0 {
		n := min(len(src), int(pageSize-va&(pageSize-1)))
		if p := fastUser(va, n, true); p != nil {
			copyToKernel(p, src[:n])
		} else if _, e := space(curProc()).CopyOut(va, src[:n]); e != mm.OK {
			return false
		}
		src, va = src[n:], va+uint64(n)
	}
	return true
}

// bytesOf views n bytes at p (a kernel object) as a slice.
//
//go:nosplit
func bytesOf(p unsafe.Pointer, n uintptr) []byte { return unsafe.Slice((*byte)(p), n) }

// readU64 and friends copy one integer in or out.
//
//go:nosplit
func readU64(va uint64) (uint64, bool) {
	var v uint64
	ok := copyIn(bytesOf(unsafe.Pointer(&v), 8), va)
	return v, ok
}

//go:nosplit
func readU32(va uint64) (uint32, bool) {
	var v uint32
	ok := copyIn(bytesOf(unsafe.Pointer(&v), 4), va)
	return v, ok
}

//go:nosplit
func writeU64(va, v uint64) bool { return copyOut(va, bytesOf(unsafe.Pointer(&v), 8)) }

//go:nosplit
func writeU32(va uint64, v uint32) bool { return copyOut(va, bytesOf(unsafe.Pointer(&v), 4)) }

// readTimespec reads a struct timespec as nanoseconds (negative parts
// count as 0); ok is false for a bad pointer, valid false for a nanosecond
// field outside [0, 1e9).
//
//go:nosplit
func readTimespec(va uint64) (ns uint64, ok, valid bool) {
	var ts timespec
	if !copyIn(bytesOf(unsafe.Pointer(&ts), unsafe.Sizeof(ts)), va) {
		return 0, false, false
	}
	if ts.Nsec < 0 || ts.Nsec >= 1_000_000_000 || ts.Sec < 0 {
		return 0, true, false
	}
	if uint64(ts.Sec) > (1<<63-1)/1_000_000_000-1 {
		return 1<<63 - 1, true, true
	}
	return uint64(ts.Sec)*1_000_000_000 + uint64(ts.Nsec), true, true
}

// writeTimespec stores ns as a struct timespec.
//
//go:nosplit
func writeTimespec(va uint64, ns uint64) bool {
	ts := timespec{Sec: int64(ns / 1_000_000_000), Nsec: int64(ns % 1_000_000_000)}
	return copyOut(va, bytesOf(unsafe.Pointer(&ts), unsafe.Sizeof(ts)))
}

// copyInString reads a NUL-terminated string of at most len(buf)-1 bytes
// at va into buf; it returns the length, or -EFAULT / -ENAMETOOLONG.
//
//go:nosplit
func copyInString(buf []byte, va uint64) int {
	n := 0
	for n < len(buf) {
		// Up to the end of the page at a time: never past the string's page.
		chunk := int(pageSize - (va+uint64(n))%pageSize)
		if chunk > len(buf)-n {
			chunk = len(buf) - n
		}
		if !copyIn(buf[n:n+chunk], va+uint64(n)) {
			return -EFAULT
		}
		for k := n; k < n+chunk; k++ {
			if buf[k] == 0 {
				return k
			}
		}
		n += chunk
	}
	return -ENAMETOOLONG
}
