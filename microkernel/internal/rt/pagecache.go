package rt

import (
	"unsafe"

	"armos/microkernel/internal/mm"
)

// The page cache of the boot image's files. The read-only segments of a
// program (text, read-only data) are not copied into each process: they
// are regions backed by the cache (mm.RegionShared), whose pages every
// process running that program shares, filled from the image on first
// touch (a DMA read straight into the page) and mapped by the fault.
// Starting a program therefore reads and copies only its writable data;
// a second process of the same program costs no text pages at all, and
// runs code QEMU has already translated.
//
// Cached pages belong to the kernel, not to any process: they are never
// freed with a process, and the census counts them apart. The cache keeps
// at most cacheLimitPages pages; past that, programs are loaded by copying
// (proc falls back), so memory stays bounded.

const (
	maxCachedFiles = 128
	// cacheLimitDiv: the cache holds at most 1/cacheLimitDiv of RAM.
	cacheLimitDiv = 4
	// leafEntries is how many page addresses one leaf page of a file's
	// page index holds; a file's top page holds 512 leaves: 1 GiB files.
	leafEntries = pageSize / 8
)

// cachedFile is one image file in the cache: its place in the image and a
// two-level index of its pages (top page of leaf pages of page addresses).
type cachedFile struct {
	used    bool
	dataOff uint64 // where its data starts in the image
	size    uint64
	top     uintptr // kernel address of the top index page, 0 until the first page
}

var (
	cache      [maxCachedFiles]cachedFile
	cachePages uint64 // data and index pages the cache holds
)

// cacheLimitPages is the most pages the cache may hold.
//
//go:nosplit
func cacheLimitPages() uint64 { return physPages.Stats().Total / cacheLimitDiv }

// cacheSlot returns the cache slot of the image file at dataOff (size
// bytes), creating it; -1 if the table is full.
//
//go:nosplit
func cacheSlot(dataOff, size uint64) int {
	free := -1
	for i := range cache {
		if cache[i].used && cache[i].dataOff == dataOff && cache[i].size == size {
			return i
		}
		if !cache[i].used && free < 0 {
			free = i
		}
	}
	if free >= 0 {
		cache[free] = cachedFile{used: true, dataOff: dataOff, size: size}
	}
	return free
}

// cachePage returns the physical page holding page idx of cached file
// slot, reading it from the image on first use; ok is false when the page
// is beyond the file, memory is short or the cache is full.
//
//go:nosplit
func cachePage(slot int, idx uint64) (uint64, bool) {
	f := &cache[slot]
	if !f.used || idx*pageSize >= f.size || idx >= leafEntries*leafEntries || imageReader == nil {
		return 0, false
	}
	if f.top == 0 {
		if cachePages >= cacheLimitPages() {
			return 0, false
		}
		_, va := allocPages(1)
		if va == 0 {
			return 0, false
		}
		f.top = va
		cachePages++
	}
	top := (*[leafEntries]uint64)(ptrOf(f.top))
	leafPA := top[idx/leafEntries]
	if leafPA == 0 {
		if cachePages >= cacheLimitPages() {
			return 0, false
		}
		pa, va := allocPages(1)
		if va == 0 {
			return 0, false
		}
		top[idx/leafEntries] = pa
		leafPA = pa
		cachePages++
	}
	leaf := (*[leafEntries]uint64)(pagePtr(leafPA))
	if pa := leaf[idx%leafEntries]; pa != 0 {
		return pa, true
	}
	if cachePages >= cacheLimitPages() {
		return 0, false
	}
	pa, va := allocPages(1) // zeroed: the tail past the file's end reads 0
	if va == 0 {
		return 0, false
	}
	n := min(f.size-idx*pageSize, pageSize)
	if !imageReader(f.dataOff+idx*pageSize, pa, uint32(n)) {
		physPages.Free(pa)
		return 0, false
	}
	leaf[idx%leafEntries] = pa
	cachePages++
	stats.CacheFills++
	return pa, true
}

// fileMap says which cached file backs a shared region of a process and
// how its pages line up: file page = va/pageSize + delta.
type fileMap struct {
	slot  int16
	delta int64
}

// maxFileMaps bounds the shared regions of one process (a program has two:
// text and read-only data).
const maxFileMaps = 8

// sharedPage is mm.Backing: the cached page for page va of shared region
// r of address space as (the first field of its process).
//
//go:nosplit
func sharedPage(as *mm.AddressSpace, r mm.VMA, va uint64) (uint64, bool) {
	p := (*process)(unsafe.Pointer(as))
	k := int(r.Flags &^ mm.RegionShared)
	if k < 1 || k > maxFileMaps || p.fileMaps[k-1].slot < 0 {
		return 0, false
	}
	m := p.fileMaps[k-1]
	idx := int64(va/pageSize) + m.delta
	if idx < 0 {
		return 0, false
	}
	return cachePage(int(m.slot), uint64(idx))
}

// MapFile makes [va, va+size) of the address space process pid owns a
// shared read-only region backed by the cached image file at dataOff
// (fileSize bytes), file offset fileOff at va (congruent modulo the page
// size). It reports false when the cache cannot take the file (the loader
// then copies the segment).
func MapFile(pid int32, va, size uint64, prot mm.Prot, dataOff, fileSize, fileOff uint64) (bool, error) {
	if prot&mm.ProtWrite != 0 || va%pageSize != fileOff%pageSize {
		return false, nil
	}
	ok := false
	err := withProcess(pid, func(p int) error {
		pp := pr(p)
		if cachePages >= cacheLimitPages() || imageReader == nil {
			return nil
		}
		k := -1
		for i := range pp.fileMaps {
			if pp.fileMaps[i].slot < 0 {
				k = i
				break
			}
		}
		slot := cacheSlot(dataOff, fileSize)
		if k < 0 || slot < 0 {
			return nil
		}
		lo := va &^ (pageSize - 1)
		hi := (va + size + pageSize - 1) &^ (pageSize - 1)
		if e := pp.as.VMAs.Set(lo, hi-lo, prot, uint8(mm.RegionShared|k+1)); e != mm.OK {
			return e
		}
		pp.fileMaps[k] = fileMap{slot: int16(slot), delta: int64(fileOff/pageSize) - int64(va/pageSize)}
		ok = true
		return nil
	})
	return ok, err
}

// CachePages returns the pages the page cache holds.
func CachePages() uint64 {
	var n uint64
	Locked(func() { n = cachePages })
	return n
}

// resetFileMaps forgets a process's shared regions (a new process, exec).
//
//go:nosplit
func resetFileMaps(p *process) {
	for i := range p.fileMaps {
		p.fileMaps[i] = fileMap{slot: -1}
	}
}
