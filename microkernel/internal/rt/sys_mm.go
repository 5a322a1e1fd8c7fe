package rt

// Memory system calls: the Go runtime reserves large PROT_NONE ranges and
// commits pieces of them with MAP_FIXED; all of it is demand-zero here (see
// vm.go). Protections are not enforced: the runtime never relies on a fault
// from PROT_NONE memory.

// mmap flags and madvise advice (include/uapi/asm-generic/mman*.h).
const (
	mapFixed     = 0x10
	mapAnonymous = 0x20

	madvDontneed = 4
	madvFree     = 8
)

// roundPage rounds n up to a whole number of pages (0 on overflow).
//
//go:nosplit
func roundPage(n uint64) uintptr {
	if n > mmapLimit {
		return 0
	}
	return uintptr(n+pageSize-1) &^ (pageSize - 1)
}

// mmap(addr, length, prot, flags, fd, offset)
//
//go:nosplit
func sysMmapFn(tf *Frame) uint64 {
	addr, flags := uintptr(tf.X[0]), tf.X[3]
	n := roundPage(tf.X[1])
	if flags&mapAnonymous == 0 || n == 0 {
		return errno(EINVAL)
	}
	if flags&mapFixed != 0 {
		if addr&(pageSize-1) != 0 || !inWindow(addr, n) {
			return errno(EINVAL)
		}
		if !kas.Release(addr, n, false) || !kas.Reserve(addr, n) {
			return errno(ENOMEM)
		}
		stats.Mmaps++
		return uint64(addr)
	}
	va := kas.Place(addr&^(pageSize-1), n)
	if va == 0 || !kas.Reserve(va, n) {
		return errno(ENOMEM)
	}
	stats.Mmaps++
	return uint64(va)
}

// munmap(addr, length)
//
//go:nosplit
func sysMunmapFn(tf *Frame) uint64 {
	addr, n := uintptr(tf.X[0]), roundPage(tf.X[1])
	if addr&(pageSize-1) != 0 || n == 0 || !inWindow(addr, n) {
		return errno(EINVAL)
	}
	if !kas.Release(addr, n, false) {
		return errno(ENOMEM)
	}
	return 0
}

// madvise(addr, length, advice): DONTNEED (and FREE) give the pages back to
// the page allocator; the range stays mapped and reads back zero, as the Go
// runtime's scavenger expects. Other advice is accepted and ignored.
//
//go:nosplit
func sysMadviseFn(tf *Frame) uint64 {
	addr, n, advice := uintptr(tf.X[0]), roundPage(tf.X[1]), tf.X[2]
	if advice != madvDontneed && advice != madvFree {
		return 0
	}
	if addr&(pageSize-1) != 0 || !inWindow(addr, n) {
		return errno(EINVAL)
	}
	kas.Release(addr, n, true)
	stats.Madvises++
	return 0
}
