package ipc

import "sync"

// Handle is a process's name for a kernel Object: an index into its
// handle table in the low IndexBits bits and the slot's generation above
// them. A closed slot's generation is bumped, and freed slots are reused in
// FIFO order only once the table has grown to MaxHandles, so a stale
// handle value fails with EBADF instead of naming a newer Object. Handle
// values are below 2^31 (a syscall returns them in a positive int) and
// never 0, which is InvalidHandle.
type Handle uint32

// Handle layout and bounds.
const (
	// MaxHandles bounds each process's handle table.
	MaxHandles = 1 << IndexBits
	// IndexBits is the width of the slot index in a Handle.
	IndexBits = 10
	// GenBits is the width of the generation; it wraps to 1 after
	// 2^GenBits-1 reuses of one slot.
	GenBits = 31 - IndexBits

	// InvalidHandle is never issued.
	InvalidHandle Handle = 0

	indexMask = MaxHandles - 1
	genMax    = 1<<GenBits - 1
)

func makeHandle(idx int, gen uint32) Handle { return Handle(gen<<IndexBits | uint32(idx)) }

// slot is one table entry; obj == nil means free.
type slot struct {
	obj    Object
	rights Rights
	gen    uint32
}

// Table is one process's handle table. It is safe for concurrent use by the
// process's threads. Lock order: Kernel.xfer, then Table.mu, then an
// Object's lock; no lock is held while a reference is released.
type Table struct {
	k  *Kernel
	mu sync.Mutex
	// guarded by mu
	slots    []slot             // grows up to MaxHandles
	free     [MaxHandles]uint16 // ring (FIFO) of free slot indices, reused once slots is full
	freeHead int
	freeN    int
	used     int  // slots holding an Object
	reserved int  // slots promised to blocked receivers and callers
	dead     bool // Destroy ran
}

// NewTable returns an empty table accounted to k.
func NewTable(k *Kernel) *Table {
	k.tables.Add(1)
	return &Table{k: k}
}

// Len returns the number of handles in the table.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.used
}

// room returns how many more handles fit. Caller holds t.mu.
func (t *Table) room() int { return MaxHandles - t.used - t.reserved }

// insertLocked stores a reference the caller already owns. The caller
// checked room (or holds a reservation it gives up here).
func (t *Table) insertLocked(o Object, r Rights) Handle {
	var idx int
	if len(t.slots) < MaxHandles {
		t.slots = append(t.slots, slot{gen: 1})
		idx = len(t.slots) - 1
	} else {
		idx = int(t.free[t.freeHead])
		t.freeHead = (t.freeHead + 1) % MaxHandles
		t.freeN--
	}
	s := &t.slots[idx]
	s.obj, s.rights = o, r
	t.used++
	t.k.handles.Add(1)
	return makeHandle(idx, s.gen)
}

// removeLocked empties the slot and returns its reference to the caller.
func (t *Table) removeLocked(idx int) Object {
	s := &t.slots[idx]
	o := s.obj
	s.obj, s.rights = nil, 0
	s.gen++
	if s.gen > genMax {
		s.gen = 1
	}
	t.free[(t.freeHead+t.freeN)%MaxHandles] = uint16(idx)
	t.freeN++
	t.used--
	t.k.handles.Add(-1)
	return o
}

// slotLocked returns the live slot named by h, or EBADF.
func (t *Table) slotLocked(h Handle) (*slot, int, Errno) {
	if t.dead {
		return nil, 0, EBADF
	}
	idx := int(h & indexMask)
	gen := uint32(h) >> IndexBits
	if h == InvalidHandle || idx >= len(t.slots) || t.slots[idx].obj == nil || t.slots[idx].gen != gen {
		return nil, 0, EBADF
	}
	return &t.slots[idx], idx, OK
}

// lookupLocked checks h's type (TypeNone: any) and rights.
func (t *Table) lookupLocked(h Handle, typ Type, need Rights) (*slot, int, Errno) {
	s, idx, e := t.slotLocked(h)
	if e != OK {
		return nil, 0, e
	}
	if typ != TypeNone && s.obj.objType() != typ {
		return nil, 0, EPROTOTYPE
	}
	if s.rights&need != need {
		return nil, 0, EACCES
	}
	return s, idx, OK
}

// Install puts a new reference to o (which the caller owns and gives up)
// into the table. On error the reference is released.
func (t *Table) Install(o Object, r Rights) (Handle, Errno) {
	t.mu.Lock()
	if t.dead || t.room() < 1 {
		e := EMFILE
		if t.dead {
			e = EBADF
		}
		t.mu.Unlock()
		release(o)
		return InvalidHandle, e
	}
	h := t.insertLocked(o, r)
	t.mu.Unlock()
	return h, OK
}

// Info returns the type and rights of h.
func (t *Table) Info(h Handle) (Type, Rights, Errno) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, _, e := t.slotLocked(h)
	if e != OK {
		return TypeNone, 0, e
	}
	return s.obj.objType(), s.rights, OK
}

// lookup returns the Object h names if it has type typ and the rights
// need. The Object stays valid memory after the lock is dropped; its own
// operations check whether it was closed meanwhile.
func lookup[T Object](t *Table, h Handle, typ Type, need Rights) (T, Errno) {
	var zero T
	t.mu.Lock()
	s, _, e := t.lookupLocked(h, typ, need)
	if e != OK {
		t.mu.Unlock()
		return zero, e
	}
	o := s.obj.(T)
	t.mu.Unlock()
	return o, OK
}

// Dup makes a second handle to h's Object with rights (a subset of h's).
// h needs RightDuplicate; asking for a right h lacks is EPERM.
func (t *Table) Dup(h Handle, rights Rights) (Handle, Errno) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, _, e := t.lookupLocked(h, TypeNone, RightDuplicate)
	if e != OK {
		return InvalidHandle, e
	}
	if rights&^s.rights != 0 {
		return InvalidHandle, EPERM
	}
	if t.room() < 1 {
		return InvalidHandle, EMFILE
	}
	o := s.obj
	acquire(o)
	return t.insertLocked(o, rights), OK
}

// Close removes h from the table and drops its reference; the last
// reference to an Object tears it down (a channel endpoint's peer sees
// "peer closed").
func (t *Table) Close(h Handle) Errno {
	t.mu.Lock()
	_, idx, e := t.slotLocked(h)
	if e != OK {
		t.mu.Unlock()
		return e
	}
	o := t.removeLocked(idx)
	t.mu.Unlock()
	release(o)
	return OK
}

// Destroy closes every handle (process teardown) and makes every later
// operation on the table fail with EBADF. Peers of the process's channels
// see "peer closed"; objects only it held are freed. Idempotent.
func (t *Table) Destroy() {
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		return
	}
	t.dead = true
	objs := make([]Object, 0, t.used)
	for i := range t.slots {
		if t.slots[i].obj != nil {
			objs = append(objs, t.removeLocked(i))
		}
	}
	t.slots, t.freeN = nil, 0
	t.mu.Unlock()
	t.k.tables.Add(-1)
	for _, o := range objs {
		release(o)
	}
}

// checkTransferLocked validates the handles to be moved into a message (each live,
// with RightTransfer, no duplicates, none equal to except) without
// removing them yet.
func (t *Table) checkTransferLocked(hs []Handle, except Handle) Errno {
	for i, h := range hs {
		if h == except {
			return EINVAL
		}
		for _, g := range hs[:i] {
			if g == h {
				return EINVAL
			}
		}
		if _, _, e := t.lookupLocked(h, TypeNone, RightTransfer); e != OK {
			return e
		}
	}
	return OK
}

// moveOutLocked removes the (already checked) handles into refs.
// Unless direct, they count as in flight (see objBase).
func (t *Table) moveOutLocked(hs []Handle, refs []handleRef, direct bool) {
	for i, h := range hs {
		idx := int(h & indexMask)
		r := t.slots[idx].rights
		o := t.removeLocked(idx)
		if !direct {
			o.base().inFlight.Add(1)
		}
		refs[i] = handleRef{obj: o, rights: r}
	}
}

// moveInLocked installs refs from a delivered message; the caller made
// sure there is room (a reservation it gives up by the same count).
func (t *Table) moveInLocked(refs []handleRef, out []Handle, direct bool) {
	for i := range refs {
		if !direct {
			refs[i].obj.base().inFlight.Add(-1)
		}
		out[i] = t.insertLocked(refs[i].obj, refs[i].rights)
		refs[i] = handleRef{}
	}
}
