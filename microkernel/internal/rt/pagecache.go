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
// A program's initialized data is a private file-backed region: each
// page the process touches is copied from the cache into a page of its
// own on first touch (mm.RegionPrivate), so no process reads its data from
// the image, and pages it never touches cost nothing.
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

// fileMap says which cached file backs a file-backed region of a process
// and how its pages line up: file page = va/pageSize + delta; bytes at or
// past va limit are not the file's (a private copy zeroes them).
type fileMap struct {
	slot  int16
	delta int64
	limit uint64
	// shm is 1 + the shared-memory object mapped (chan.go's neighbour
	// shm.go), 0 for a cache mapping; the mapping holds a reference.
	shm int32
}

// maxFileMaps bounds the file-backed regions of one process (a Go program
// has three: text, read-only data, initialized data; shared memory
// mappings take the others). Region keys are 1..maxFileMaps.
const maxFileMaps = 15

// filePage is mm.Backing: the cached page for page va of file-backed
// region r of address space as (the first field of its process), and the
// bytes of it the mapping takes.
//
//go:nosplit
func filePage(as *mm.AddressSpace, r mm.VMA, va uint64) (uint64, uint64, bool) {
	p := (*process)(unsafe.Pointer(as))
	k := int(r.Flags & mm.RegionKeyMask &^ mm.RegionWritableShared)
	if k < 1 || k > maxFileMaps {
		return 0, 0, false
	}
	m := p.fileMaps[k-1]
	if m.shm > 0 {
		return shmPage(m.shm-1, int64(va/pageSize)+m.delta)
	}
	if m.slot < 0 {
		return 0, 0, false
	}
	idx := int64(va/pageSize) + m.delta
	if va >= m.limit {
		// Past the file's bytes: a private page starts zeroed.
		return 0, 0, r.Flags&mm.RegionPrivate != 0
	}
	if idx < 0 {
		return 0, 0, false
	}
	pa, ok := cachePage(int(m.slot), uint64(idx))
	return pa, min(m.limit-va, pageSize), ok
}

// FileMapping describes a region of a process backed by an image file
// through the page cache (MapFile).
type FileMapping struct {
	VA, Size uint64  // the region (whole pages around it)
	Prot     mm.Prot // its protection
	// DataOff and FileSize place the image file; Off is the file offset
	// at VA (congruent to VA modulo the page size); Filesz the bytes from
	// the file at VA (the rest of the region reads zero).
	DataOff, FileSize, Off, Filesz uint64
	// Private: each page the process touches is its own copy (writable
	// data); otherwise the region is read-only and shares the cache's
	// pages (text, read-only data; Filesz must cover it).
	Private bool
}

// MapFile makes m's region of the address space process pid owns a
// file-backed region. It reports false when it cannot (the cache is full
// or m is not a mapping it takes): the loader then copies the segment.
func MapFile(pid int32, m FileMapping) (bool, error) {
	lo := m.VA &^ (pageSize - 1)
	hi := (m.VA + m.Size + pageSize - 1) &^ (pageSize - 1)
	if m.VA%pageSize != m.Off%pageSize || m.Size == 0 || hi <= lo || m.Filesz > m.Size || m.Off+m.Filesz > m.FileSize {
		return false, nil
	}
	flag := uint8(mm.RegionPrivate)
	if !m.Private {
		if m.Prot&mm.ProtWrite != 0 || m.Filesz != m.Size {
			return false, nil
		}
		flag = mm.RegionShared
	}
	ok := false
	err := withProcess(pid, func(p int) error {
		pp := pr(p)
		if cachePages >= cacheLimitPages() || imageReader == nil {
			return nil
		}
		k := freeFileMap(pp)
		slot := cacheSlot(m.DataOff, m.FileSize)
		if k < 0 || slot < 0 {
			return nil
		}
		if e := pp.as.VMAs.Set(lo, hi-lo, m.Prot, flag|uint8(k+1)); e != mm.OK {
			return e
		}
		pp.fileMaps[k] = fileMap{slot: int16(slot), delta: int64(m.Off/pageSize) - int64(m.VA/pageSize), limit: m.VA + m.Filesz}
		ok = true
		return nil
	})
	return ok, err
}

// initPageSharing sets up what address spaces share: the page cache
// behind programs' segments and the zero page behind memory only read so
// far (mm.ZeroPage). It reports false when there is no page for the zero
// page.
func initPageSharing() bool {
	mm.Backing = filePage
	pa, va := allocPages(1)
	if va == 0 {
		return false
	}
	mm.ZeroPage = pa
	mm.InvalidatePage = invalidateSpacePage
	return true
}

// invalidateSpacePage is mm.InvalidatePage: as is the first field of its
// process.
//
//go:nosplit
func invalidateSpacePage(as *mm.AddressSpace, va uint64) {
	invalidate(int((*process)(unsafe.Pointer(as)).slot), va, pageSize)
}

// CachePages returns the pages the page cache holds.
func CachePages() uint64 {
	var n uint64
	Locked(func() { n = cachePages })
	return n
}

// resetFileMaps forgets a process's file-backed regions (a new process,
// exec, the end of its address space), dropping the references its
// shared-memory mappings held: its pages must be unmapped by then.
func resetFileMaps(p *process) {
	for i := range p.fileMaps {
		if s := p.fileMaps[i].shm; s > 0 {
			p.fileMaps[i].shm = 0
			putObject(s - 1)
		}
		p.fileMaps[i] = fileMap{slot: -1}
	}
}
