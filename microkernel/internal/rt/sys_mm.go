package rt

import (
	"armos/abi"
	"armos/microkernel/internal/mm"
)

// Memory system calls, for the kernel's runtime and for processes alike:
// each works on the calling process's mm.AddressSpace (the kernel's is its
// heap window). Everything is demand-zero: mmap only records a region,
// the first touch of each page maps a zeroed one, munmap and
// madvise(DONTNEED) give pages back, and every change clears descriptors,
// invalidates the TLB (by ASID, or globally for the kernel) and only then
// frees pages (mm.FreeBatch).

// mmap flags, protections and madvise advice (include/uapi/asm-generic/mman*.h).
const (
	mapShared         = 0x01
	mapPrivate        = 0x02
	mapFixed          = 0x10
	mapAnonymous      = 0x20
	mapFixedNoreplace = 0x100000
	protMask          = 7

	madvDontneed = 4
	madvFree     = 8
)

// pageRound rounds n up to whole pages; ok is false on overflow or 0.
//
//go:nosplit
func pageRound(n uint64) (uint64, bool) {
	if n == 0 || n > mm.VALimit {
		return 0, false
	}
	return (n + pageSize - 1) &^ (pageSize - 1), true
}

// spaceInv returns the running process's address space and the TLB
// invalidation mm must use for it.
//
//go:nosplit
func spaceInv() (*mm.AddressSpace, int) {
	p := curProc()
	return space(p), int(pr(p).asOwner)
}

// mmErr maps an mm failure to the errno Linux gives.
//
//go:nosplit
func mmErr(e mm.Errno) uint64 {
	switch e {
	case mm.ErrAlign, mm.ErrInvalid, mm.ErrRange:
		return errno(EINVAL)
	case mm.ErrExists:
		return errno(EEXIST)
	}
	return errno(ENOMEM)
}

// mmap(addr, length, prot, flags, fd, offset)
func sysMmapFn(tf *Frame) uint64 {
	addr, prot, flags := tf.X[0], tf.X[2], tf.X[3]
	if tf.X[1] == 0 || prot&^protMask != 0 || tf.X[5]&(pageSize-1) != 0 {
		return errno(EINVAL)
	}
	n, ok := pageRound(tf.X[1])
	if !ok {
		return errno(ENOMEM) // longer than the address space, as Linux says
	}
	if flags&(mapShared|mapPrivate) == 0 {
		return errno(EINVAL)
	}
	shm := int32(-1)
	if flags&mapAnonymous == 0 {
		// Shared memory (shm.go) is the one kind of file mapped.
		o, e := chanFd(tf.X[4], objShm, abi.RightMap)
		switch {
		case e == errno(EPROTOTYPE):
			return errno(ENODEV)
		case e != 0:
			return e
		case flags&mapShared == 0:
			return errno(EINVAL) // no private copies of shared memory
		}
		if e := shmCheck(o, n, prot, tf.X[5]); e != 0 {
			return e
		}
		shm = o
	}
	as, owner := spaceInv()
	if owner == 0 && prot&uint64(mm.ProtExec) != 0 {
		return errno(EPERM) // the kernel never maps its heap executable
	}
	inv := func(va, size uint64) { invalidate(owner, va, size) }
	fixed := flags&(mapFixed|mapFixedNoreplace) != 0
	if fixed {
		if addr&(pageSize-1) != 0 {
			return errno(EINVAL)
		}
		if lo, hi := as.VMAs.Bounds(); addr < lo || addr > hi || n > hi-addr {
			return errno(ENOMEM)
		}
		if flags&mapFixedNoreplace != 0 && !as.VMAs.IsFree(addr, n) {
			return errno(EEXIST)
		}
		// Whatever is mapped there goes first, a bounded part per call.
		if e := as.VMAs.CanSet(addr, n, mm.Prot(prot), 0); e != mm.OK {
			return mmErr(e)
		}
		next, e := as.UnmapSome(addr, n, inv, callBatches)
		if e != mm.OK {
			return mmErr(e)
		}
		if next < addr+n {
			return restartCall // same arguments: the unmapped part is quick to pass again
		}
	}
	// A fixed mapping over a shared-memory mapping's last region frees
	// that mapping's key once it has replaced it.
	replaced := fixed && as.VMAs.FlagsIn(addr, n)&mm.RegionShared != 0
	var va uint64
	if shm >= 0 {
		va = shmMap(shm, addr, n, prot, tf.X[5], fixed)
	} else {
		var e mm.Errno
		if va, _, e = as.Mmap(addr&^(pageSize-1), n, mm.Prot(prot), 0, fixed, inv); e != mm.OK {
			va = mmErr(e)
		} else {
			stats.Mmaps++
		}
	}
	if replaced {
		releaseShmMaps(pr(owner))
	}
	return va
}

// munmap(addr, length)
func sysMunmapFn(tf *Frame) uint64 {
	n, ok := pageRound(tf.X[1])
	addr := tf.X[0]
	as, owner := spaceInv()
	_, hi := as.VMAs.Bounds()
	if !ok || addr&(pageSize-1) != 0 || addr > hi || n > hi-addr {
		return errno(EINVAL)
	}
	lo, _ := as.VMAs.Bounds()
	if addr+n <= lo {
		return 0 // nothing of ours there: Linux succeeds
	}
	if addr < lo {
		n -= lo - addr
		addr = lo
	}
	inv := func(va, size uint64) { invalidate(owner, va, size) }
	if e := as.VMAs.CanClear(addr, n); e != mm.OK {
		return mmErr(e)
	}
	next, e := as.UnmapSome(addr, n, inv, callBatches)
	if e != mm.OK {
		return mmErr(e)
	}
	// The unmapped part's regions go now; the rest, if any, next time.
	// A shared-memory mapping whose last region went gives back its key.
	shared := as.VMAs.FlagsIn(addr, next-addr)&mm.RegionShared != 0
	if e := as.VMAs.Clear(addr, next-addr); e != mm.OK {
		return mmErr(e)
	}
	if shared {
		releaseShmMaps(pr(owner))
	}
	if next < addr+n {
		tf.X[0], tf.X[1] = next, addr+n-next
		return restartCall
	}
	return 0
}

// callBatches bounds the unmapping batches one memory call does before it
// restarts itself for the rest (each batch is a bounded piece of work).
const callBatches = 2

// madvise(addr, length, advice): DONTNEED (and FREE) give the pages back
// to the page allocator; the range stays mapped and reads back zero, as
// the Go runtime's scavenger expects. Other advice is accepted and ignored.
//
//go:nosplit
func sysMadviseFn(tf *Frame) uint64 {
	addr, advice := tf.X[0], tf.X[2]
	if addr&(pageSize-1) != 0 || int64(tf.X[1]) < 0 {
		return errno(EINVAL)
	}
	if tf.X[1] == 0 {
		return 0
	}
	n, ok := pageRound(tf.X[1])
	if !ok {
		return errno(EINVAL)
	}
	as, owner := spaceInv()
	if !as.VMAs.Covered(addr, n) {
		return errno(ENOMEM) // Linux: part of the range is not mapped
	}
	if advice != madvDontneed && advice != madvFree {
		return 0
	}
	if as.VMAs.FlagsIn(addr, n)&mm.RegionDevice != 0 {
		return errno(EINVAL) // device registers are not memory to drop (Linux: VM_PFNMAP)
	}
	inv := func(va, size uint64) { invalidate(owner, va, size) }
	next, e := as.UnmapSome(addr, n, inv, callBatches)
	if e != mm.OK {
		return mmErr(e)
	}
	if next < addr+n {
		tf.X[0], tf.X[1] = next, addr+n-next
		return restartCall
	}
	stats.Madvises++
	return 0
}

// mprotect(addr, length, prot)
func sysMprotectFn(tf *Frame) uint64 {
	addr, prot := tf.X[0], tf.X[2]
	if addr&(pageSize-1) != 0 || prot&^protMask != 0 {
		return errno(EINVAL)
	}
	if tf.X[1] == 0 {
		return 0
	}
	n, ok := pageRound(tf.X[1])
	if !ok {
		return errno(ENOMEM)
	}
	as, owner := spaceInv()
	if owner == 0 && prot&uint64(mm.ProtExec) != 0 {
		return errno(EPERM)
	}
	inv := func(va, size uint64) { invalidate(owner, va, size) }
	next, e := as.MprotectSome(addr, n, mm.Prot(prot), inv, callBatches)
	switch e {
	case mm.OK:
	case mm.ErrNoVMA, mm.ErrRange:
		return errno(ENOMEM)
	case mm.ErrAccess:
		// A program's text and read-only data are pages of the page
		// cache, shared by every process of that program: like Linux for
		// a read-only shared file mapping, they cannot be made writable;
		// nor can a device's registers change protection.
		return errno(EACCES)
	default:
		return mmErr(e)
	}
	if next < addr+n {
		tf.X[0], tf.X[1] = next, addr+n-next
		return restartCall
	}
	return 0
}

// msync(addr, length, flags): anonymous memory has nothing to write back;
// the range must be mapped.
//
//go:nosplit
func sysMsyncFn(tf *Frame) uint64 {
	const msAsync, msInvalidate, msSync = 1, 2, 4
	addr, flags := tf.X[0], tf.X[2]
	if addr&(pageSize-1) != 0 || flags&^(msAsync|msInvalidate|msSync) != 0 || flags&(msAsync|msSync) == msAsync|msSync {
		return errno(EINVAL)
	}
	if tf.X[1] == 0 {
		return 0
	}
	n, ok := pageRound(tf.X[1])
	if !ok {
		return errno(ENOMEM)
	}
	as, _ := spaceInv()
	if !as.VMAs.Covered(addr, n) {
		return errno(ENOMEM)
	}
	return 0
}

// mincorePages bounds the pages one mincore call looks at before it
// restarts for the rest (each is a region lookup and a table walk).
const mincorePages = 256 * callBatches

// mincore(addr, length, vec): one byte per page, 1 if resident. The whole
// range must be mapped (ENOMEM otherwise).
func sysMincoreFn(tf *Frame) uint64 {
	addr, vec := tf.X[0], tf.X[2]
	if addr&(pageSize-1) != 0 {
		return errno(EINVAL)
	}
	if tf.X[1] == 0 {
		return 0
	}
	n, ok := pageRound(tf.X[1])
	if !ok {
		return errno(ENOMEM)
	}
	more := n > mincorePages*pageSize
	if more {
		n = mincorePages * pageSize // a bounded part per call
	}
	if r := mincoreRange(addr, n, vec); r != 0 || !more {
		return r
	}
	// The rest is a restart, as for munmap.
	tf.X[0], tf.X[1], tf.X[2] = addr+n, tf.X[1]-n, vec+n/pageSize
	return restartCall
}

// mincoreRange does mincore for the n bytes (whole pages) at addr.
func mincoreRange(addr, n, vec uint64) uint64 {
	as, _ := spaceInv()
	var buf [64]byte
	for done := uint64(0); done < n; {
		k := uint64(0)
		for ; k < uint64(len(buf)) && done+k*pageSize < n; k++ {
			va := addr + done + k*pageSize
			if _, found := as.VMAs.Find(va); !found {
				return errno(ENOMEM)
			}
			buf[k] = 0
			if _, _, mapped := as.PT.Lookup(va); mapped {
				buf[k] = 1
			}
		}
		if !copyOut(vec+done/pageSize, buf[:k]) {
			return errno(EFAULT)
		}
		done += k * pageSize
	}
	return 0
}
