package ipc

import "sync"

// MaxSharedPages bounds one shared-memory object (16 MiB of 4 KiB pages).
const MaxSharedPages = 4096

// SharedMemory is a fixed set of physical pages that several processes may
// map (the zero-copy packet path). This package does the object and its
// accounting; mapping is the VM code's: it calls Table.SharedMemMap to
// count a mapping and SharedMemory.Unmap when the mapping goes. A mapping
// keeps the pages alive after the last handle closes (as a mapped file
// outlives its descriptor); the pages go back to the allocator, through
// the free function given at creation, when there is neither a handle nor
// a mapping left.
type SharedMemory struct {
	objBase
	pages []uint64 // physical page numbers; immutable
	free  func(pfns []uint64)

	mu       sync.Mutex // guards the fields below
	mappings int
	noHandle bool
	released bool
}

func (s *SharedMemory) objType() Type { return TypeSharedMem }

// NewSharedMemory makes an object of the physical pages pfns (1 to
// MaxSharedPages; copied), accounted in Stats.SharedPages. free is called
// once with the pages when the object goes away. The caller owns the first
// reference (give it to a table with Install).
func (k *Kernel) NewSharedMemory(pfns []uint64, free func(pfns []uint64)) (*SharedMemory, Errno) {
	if len(pfns) == 0 || len(pfns) > MaxSharedPages || free == nil {
		return nil, EINVAL
	}
	s := &SharedMemory{pages: append([]uint64(nil), pfns...), free: free}
	s.init(k, TypeSharedMem)
	k.shmPages.Add(int64(len(pfns)))
	return s, OK
}

// Pages returns the physical page numbers (the caller must not modify it).
func (s *SharedMemory) Pages() []uint64 { return s.pages }

// Mappings returns the number of live mappings.
func (s *SharedMemory) Mappings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mappings
}

// SharedMemMap counts a new mapping of the object h (RightMap) and returns
// the object for the VM code to map its Pages; it calls Unmap when done.
func (t *Table) SharedMemMap(h Handle) (*SharedMemory, Errno) {
	s, e := lookup[*SharedMemory](t, h, TypeSharedMem, RightMap)
	if e != OK {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noHandle {
		return nil, EBADF
	}
	s.mappings++
	return s, OK
}

// Unmap ends one mapping; the last one after the last handle frees the
// pages. An Unmap without a mapping is EINVAL.
func (s *SharedMemory) Unmap() Errno {
	s.mu.Lock()
	if s.mappings == 0 {
		s.mu.Unlock()
		return EINVAL
	}
	s.mappings--
	s.releaseLocked()
	return OK
}

func (s *SharedMemory) lastClose() {
	s.mu.Lock()
	s.noHandle = true
	s.releaseLocked()
}

// releaseLocked frees the pages if nothing uses them; it unlocks s.mu.
func (s *SharedMemory) releaseLocked() {
	done := s.noHandle && s.mappings == 0 && !s.released
	if done {
		s.released = true
	}
	s.mu.Unlock()
	if done {
		s.k.shmPages.Add(-int64(len(s.pages)))
		s.free(s.pages)
		s.freed(TypeSharedMem)
	}
}
