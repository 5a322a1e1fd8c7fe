package mm

// ASIDSpace hands out address space identifiers (TTBR0_EL1.ASID) by
// generation, so that each process's non-global TLB entries stay apart and
// switching between processes flushes nothing.
//
// A process keeps the ASID it was given for as long as the generation it
// got it in is current. ASIDs are handed out in order and never reused
// within a generation, so a process that dies needs no TLB invalidation for
// its ASID to be safe: nobody can run under that ASID again until the
// space rolls over. When the numbers run out, the generation advances and
// the caller flushes the whole TLB once; every process then gets a fresh
// ASID the next time it is switched in (Use with its stale tag).
//
// ASID 0 belongs to the kernel, whose tables hold only global entries.
// With more than one CPU, a rollover must also keep the ASIDs active on the
// other CPUs (as Linux does); armos runs one CPU today.
//
// The zero value is unusable until Init. Callers serialize access.
type ASIDSpace struct {
	gen       uint64 // current generation, from 1
	next      uint32 // next ASID to hand out in this generation
	limit     uint32 // number of ASIDs: 1<<8 or 1<<16 (or fewer, for tests)
	rollovers uint64
}

// ASIDTag is what a process keeps: its ASID and the generation it is valid in.
type ASIDTag struct {
	Gen  uint64
	ASID uint16
}

// MaxASIDs is the number of ASIDs with 16-bit ASIDs (TCR_EL1.AS = 1);
// with 8-bit ASIDs (AS = 0) there are 256.
const MaxASIDs = 1 << 16

// Init starts generation 1 with limit ASIDs (at least 2: 0 is the kernel's
// and at least one for processes; at most MaxASIDs).
//
//go:nosplit
func (s *ASIDSpace) Init(limit uint32) Errno {
	if limit < 2 || limit > MaxASIDs {
		return ErrInvalid
	}
	*s = ASIDSpace{gen: 1, next: 1, limit: limit}
	return OK
}

// Use returns the ASID to run tag's address space with, assigning a new
// one when tag is from an older generation (or new). flushAll reports that
// the generation rolled over: the caller must invalidate every non-global
// TLB entry (TLBI VMALLE1IS) before running under the returned ASID.
//
//go:nosplit
func (s *ASIDSpace) Use(tag *ASIDTag) (asid uint16, flushAll bool) {
	if tag.Gen == s.gen && tag.ASID != 0 {
		return tag.ASID, false
	}
	if s.next >= s.limit {
		s.gen++
		s.next = 1
		s.rollovers++
		flushAll = true
	}
	tag.Gen, tag.ASID = s.gen, uint16(s.next)
	s.next++
	return tag.ASID, flushAll
}

// Generation returns the current generation.
//
//go:nosplit
func (s *ASIDSpace) Generation() uint64 { return s.gen }

// Rollovers returns how many times the space ran out and started over.
//
//go:nosplit
func (s *ASIDSpace) Rollovers() uint64 { return s.rollovers }
