package rt

import (
	"armos/abi"
	"armos/microkernel/internal/mm"
)

// Shared memory: an object of zeroed pages that several processes map
// (mmap with MAP_SHARED on its descriptor), each seeing the others'
// writes: the bulk path beside channels (a driver's packet buffers, a
// large reply). The pages belong to the object and are freed when its
// last reference goes: descriptors, messages carrying it, and mappings
// (each mapping holds one until the process execs or ends, as its
// region key stays taken).
//
// A driver learns the physical addresses of the pages (armos_shm_info)
// to hand them to a device for DMA.
//
// Pages are allocated (zeroed) on first use, by a fault or by
// armos_shm_info, so that no call clears megabytes with interrupts
// masked; the object's size is reserved against the limit at creation.

const (
	// maxShmPages bounds one object: its page index is one page.
	maxShmPages = pageSize / 8
	// shmLimitDiv: all shared memory together holds at most 1/shmLimitDiv
	// of RAM.
	shmLimitDiv = 4
)

// shmPages counts the pages reserved by every shared-memory object.
var shmPages uint64

// shmInfoBatch bounds the pages armos_shm_info allocates per step.
const shmInfoBatch = 32

// ShmPages returns the pages shared-memory objects hold.
func ShmPages() uint64 {
	var n uint64
	Locked(func() { n = shmPages })
	return n
}

// shmIndex is an object's page index: the physical address of each page.
//
//go:nosplit
func shmIndex(o int32) *[maxShmPages]uint64 {
	return (*[maxShmPages]uint64)(ptrOf(objs[o].page))
}

// armos_shm_create(size, flags)
func sysShmCreateFn(tf *Frame) uint64 {
	if tf.X[1]&^(oCLOEXEC|abi.ShmContiguous) != 0 || tf.X[0] == 0 {
		return errno(EINVAL)
	}
	n, ok := pageRound(tf.X[0])
	if !ok || n/pageSize > maxShmPages {
		return errno(EINVAL)
	}
	contig := tf.X[1]&abi.ShmContiguous != 0
	if contig && n > abi.ShmMaxContiguous {
		return errno(EINVAL)
	}
	np := n / pageSize
	if shmPages+np > physPages.Stats().Total/shmLimitDiv {
		return errno(ENOMEM)
	}
	o := allocObject(objShm, oRDWR)
	if o < 0 {
		return errno(ENFILE)
	}
	_, idx := allocPages(1)
	if idx == 0 {
		objs[o].kind = objFree
		return errno(ENOMEM)
	}
	objs[o].page = idx
	if contig {
		// One run, zeroed now (at most 16 pages): a device may need
		// the whole object at consecutive physical addresses.
		pa, va := allocPages(uint32(np))
		if va == 0 {
			freePages(physOf(idx), 1)
			objs[o].page = 0
			objs[o].kind = objFree
			return errno(ENOMEM)
		}
		for i := uint64(0); i < np; i++ {
			shmIndex(o)[i] = pa + i*pageSize
		}
	}
	objs[o].count = np
	shmPages += np
	return newFd(o, tf.X[1]&oCLOEXEC != 0)
}

// closeShm is the last release of shared-memory object o: its pages go
// (the index page goes with the object).
//
//go:nosplit
func closeShm(o int32) {
	idx := shmIndex(o)
	for i := uint64(0); i < objs[o].count; i++ {
		if idx[i] != 0 {
			freePages(idx[i], 1)
			idx[i] = 0
		}
	}
	shmPages -= objs[o].count
	objs[o].count = 0
}

// shmPage is mm.Backing for a shared-memory mapping: page i of object o.
//
//go:nosplit
func shmPage(o int32, i int64) (uint64, uint64, bool) {
	if o < 0 || o >= maxObjects || objs[o].kind != objShm || i < 0 || uint64(i) >= objs[o].count {
		return 0, 0, false
	}
	pa := shmPopulate(o, uint64(i))
	return pa, pageSize, pa != 0
}

// shmPopulate returns page i of object o, allocating it (zeroed) on
// first use; 0 when memory is short.
//
//go:nosplit
func shmPopulate(o int32, i uint64) uint64 {
	idx := shmIndex(o)
	if idx[i] == 0 {
		pa, va := allocPages(1)
		if va == 0 {
			return 0
		}
		idx[i] = pa
	}
	return idx[i]
}

// shmCheck checks a mapping of length bytes of object o from offset off.
//
//go:nosplit
func shmCheck(o int32, length, prot, off uint64) uint64 {
	if off%pageSize != 0 || off/pageSize > objs[o].count || length/pageSize > objs[o].count-off/pageSize {
		return errno(EINVAL)
	}
	if prot&uint64(mm.ProtExec) != 0 {
		return errno(EACCES) // data only: W^X holds for shared pages too
	}
	return 0
}

// shmMap maps length bytes of shared-memory object o from offset off at
// addr (fixed, already cleared, or a hint) with prot, for mmap, and
// returns the address.
func shmMap(o int32, addr, length, prot, off uint64, fixed bool) uint64 {
	owner := int(pr(curProc()).asOwner)
	op := pr(owner)
	k := freeFileMap(op)
	if k < 0 && releaseShmMaps(op) {
		k = freeFileMap(op)
	}
	if k < 0 {
		return errno(ENOMEM) // every region key is taken
	}
	inv := func(va, size uint64) { invalidate(owner, va, size) }
	flags := uint8(mm.RegionShared|mm.RegionWritableShared) | uint8(k+1)
	va, _, e := op.as.Mmap(addr&^(pageSize-1), length, mm.Prot(prot), flags, fixed, inv)
	if e != mm.OK {
		return mmErr(e)
	}
	getObject(o)
	op.fileMaps[k] = fileMap{slot: -1, shm: o + 1, delta: int64(off/pageSize) - int64(va/pageSize)}
	stats.Mmaps++
	return va
}

// armos_shm_info(fd, pas, n): the number of pages, and the physical
// address of the first n of them written to pas (a driver's DMA).
func sysShmInfoFn(tf *Frame) uint64 {
	o, e := chanFd(tf.X[0], objShm, abi.RightMap)
	if e != 0 {
		return e
	}
	n := min(tf.X[2], objs[o].count)
	made := 0
	for i := uint64(0); i < n; i++ {
		if shmIndex(o)[i] == 0 {
			if made == shmInfoBatch {
				return restartCall // the rest in the next step
			}
			made++
		}
		pa := shmPopulate(o, i)
		if pa == 0 {
			return errno(ENOMEM)
		}
		if !writeU64(tf.X[1]+8*i, pa) {
			return errno(EFAULT)
		}
	}
	return objs[o].count
}

// freeFileMap returns the index of a free file-backed region key of
// process p (key index+1), or -1 when all are taken.
func freeFileMap(p *process) int {
	for i := range p.fileMaps {
		if p.fileMaps[i].slot < 0 && p.fileMaps[i].shm == 0 {
			return i
		}
	}
	return -1
}

// releaseShmMaps gives back the region keys of process p's shared-memory
// mappings that no region carries any more (munmap, or a fixed mapping
// over them, took the last of their pages), dropping the reference each
// held on its object: a process that maps and unmaps shared memory again
// and again (netd, each time a NIC driver restarts) neither runs out of
// keys nor keeps dead drivers' memory. It reports whether it freed one.
func releaseShmMaps(p *process) bool {
	var used uint32
	vt := &p.as.VMAs
	for i := 0; i < vt.Len(); i++ {
		v, ok := vt.At(i)
		if ok && v.Flags&mm.RegionShared != 0 {
			used |= 1 << (v.Flags & mm.RegionKeyMask &^ mm.RegionWritableShared)
		}
	}
	freed := false
	for i := range p.fileMaps {
		if s := p.fileMaps[i].shm; s > 0 && used&(1<<(i+1)) == 0 {
			p.fileMaps[i] = fileMap{slot: -1}
			putObject(s - 1)
			freed = true
		}
	}
	return freed
}
