package ipc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// MaxWaitItems bounds the objects one wait set watches; WaitSetAdd beyond
// it fails with ENOSPC.
const MaxWaitItems = 64

// WaitSet is the wait-on-many object (a port): a bounded set of entries
// {object, signal mask, key}. Wait returns the keys of entries whose
// object's Signals intersect their mask, and blocks while there is none.
//
// Semantics are level-triggered (like epoll without EPOLLET): an entry is
// reported on every Wait for as long as its condition holds, so a server
// that reads one message of several sees the channel again next time, and
// nothing is lost between wake-ups. Entries are scanned round-robin from
// where the last Wait stopped, so a busy object cannot starve the others.
//
// A wait set does not keep what it watches open: when an object's last
// handle closes, its entry is removed (counted in WaitSetStats.AutoRemoved),
// as epoll forgets a closed file. Waiting objects wake through a
// one-slot channel that objects kick without locks or allocation
// (Interrupt.Signal depends on it).
type WaitSet struct {
	objBase
	kickCh chan struct{}

	mu      sync.Mutex
	entries []*waitEntry // guarded by mu
	next    int          // round-robin start
	waiting int          // threads blocked in Wait
	closed  bool

	autoRemoved atomic.Uint64
}

type waitEntry struct {
	ws   *WaitSet
	obj  waitable
	mask Signals
	key  uint64
	dead atomic.Bool // the object's last handle closed
}

// WaitResult is one ready entry: its key and the signals (within its
// mask) that are set.
type WaitResult struct {
	Key     uint64
	Signals Signals
}

// WaitSetStats are a wait set's counters.
type WaitSetStats struct {
	Entries     int
	AutoRemoved uint64
}

func (w *WaitSet) objType() Type { return TypeWaitSet }

func (w *WaitSet) kick() {
	select {
	case w.kickCh <- struct{}{}:
	default:
	}
}

// Stats returns the wait set's counters.
func (w *WaitSet) Stats() WaitSetStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WaitSetStats{Entries: len(w.entries), AutoRemoved: w.autoRemoved.Load()}
}

// WaitSetCreate makes an empty wait set.
func (t *Table) WaitSetCreate() (Handle, Errno) {
	w := &WaitSet{kickCh: make(chan struct{}, 1)}
	w.init(t.k, TypeWaitSet)
	return t.Install(w, DefaultRights(TypeWaitSet))
}

// WaitSetAdd watches the object h (RightWait; a channel, interrupt, timer
// or process) for the signals in mask, reported with key. The wait set
// ws needs RightWrite. EEXIST for a key already present, ENOSPC beyond
// MaxWaitItems, EPROTOTYPE for an object that has no signals, EINVAL for
// an empty mask.
func (t *Table) WaitSetAdd(ws, h Handle, mask Signals, key uint64) Errno {
	if mask == 0 {
		return EINVAL
	}
	t.mu.Lock()
	s, _, e := t.lookupLocked(ws, TypeWaitSet, RightWrite)
	if e != OK {
		t.mu.Unlock()
		return e
	}
	w := s.obj.(*WaitSet)
	s, _, e = t.lookupLocked(h, TypeNone, 0)
	if e != OK {
		t.mu.Unlock()
		return e
	}
	obj, ok := s.obj.(waitable)
	if !ok {
		t.mu.Unlock()
		return EPROTOTYPE
	}
	if s.rights&RightWait == 0 {
		t.mu.Unlock()
		return EACCES
	}
	en := &waitEntry{ws: w, obj: obj, mask: mask, key: key}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		t.mu.Unlock()
		return EBADF
	}
	for _, x := range w.entries {
		if x.key == key && !x.dead.Load() {
			w.mu.Unlock()
			t.mu.Unlock()
			return EEXIST
		}
	}
	w.pruneLocked()
	if len(w.entries) >= MaxWaitItems {
		w.mu.Unlock()
		t.mu.Unlock()
		return ENOSPC
	}
	w.entries = append(w.entries, en)
	w.mu.Unlock()
	t.mu.Unlock()
	obj.state().addObserver(en)
	if obj.base().refs.Load() == 0 { // closed meanwhile: detachAll may have missed en
		en.dead.Store(true)
		obj.state().removeObserver(en)
		w.kick()
	}
	return OK
}

// WaitSetRemove stops watching the entry with key (ENOENT if none).
func (t *Table) WaitSetRemove(ws Handle, key uint64) Errno {
	w, e := lookup[*WaitSet](t, ws, TypeWaitSet, RightWrite)
	if e != OK {
		return e
	}
	w.mu.Lock()
	for i, x := range w.entries {
		if x.key == key && !x.dead.Load() {
			w.entries = append(w.entries[:i], w.entries[i+1:]...)
			w.mu.Unlock()
			x.obj.state().removeObserver(x)
			return OK
		}
	}
	w.mu.Unlock()
	return ENOENT
}

// pruneLocked drops entries whose object closed.
func (w *WaitSet) pruneLocked() {
	kept := w.entries[:0]
	for _, x := range w.entries {
		if x.dead.Load() {
			w.autoRemoved.Add(1)
			continue
		}
		kept = append(kept, x)
	}
	for i := len(kept); i < len(w.entries); i++ {
		w.entries[i] = nil
	}
	w.entries = kept
}

// Wait fills out with up to len(out) ready entries of wait set ws
// (RightRead) and returns how many. With none ready it blocks until one
// is, the deadline passes (ETIMEDOUT; a zero deadline waits forever, a
// past one polls), ws is closed (EBADF) or ctx ends (ECANCELED/ETIMEDOUT).
func (t *Table) Wait(ctx context.Context, ws Handle, deadline time.Time, out []WaitResult) (int, Errno) {
	if len(out) == 0 {
		return 0, EINVAL
	}
	w, e := lookup[*WaitSet](t, ws, TypeWaitSet, RightRead)
	if e != OK {
		return 0, e
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			w.kick() // pass the wake-up on to the next blocked Wait
			return 0, EBADF
		}
		w.pruneLocked()
		n := w.scanLocked(out)
		if n > 0 {
			if w.waiting > 0 {
				w.kick() // level-triggered: let the other waiters look too
			}
			w.mu.Unlock()
			return n, OK
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			w.mu.Unlock()
			return 0, ETIMEDOUT
		}
		w.waiting++
		w.mu.Unlock()
		var expired <-chan time.Time
		if !deadline.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(deadline))
			}
			expired = timer.C
		}
		var err Errno
		select {
		case <-w.kickCh:
		case <-expired:
			err = ETIMEDOUT
		case <-ctx.Done():
			err = ctxErrno(ctx)
		}
		w.mu.Lock()
		w.waiting--
		w.mu.Unlock()
		if err != OK {
			// One last look: report what became ready at the same time.
			w.mu.Lock()
			n := 0
			if !w.closed {
				n = w.scanLocked(out)
			}
			w.mu.Unlock()
			if n > 0 {
				return n, OK
			}
			return 0, err
		}
	}
}

// scanLocked collects ready entries round-robin.
func (w *WaitSet) scanLocked(out []WaitResult) int {
	n, cnt := 0, len(w.entries)
	for i := 0; i < cnt && n < len(out); i++ {
		x := w.entries[(w.next+i)%cnt]
		if sig := x.obj.state().Signals() & x.mask; sig != 0 && !x.dead.Load() {
			out[n] = WaitResult{Key: x.key, Signals: sig}
			n++
			if n == len(out) {
				w.next = (w.next + i + 1) % cnt
			}
		}
	}
	return n
}

func (w *WaitSet) lastClose() {
	w.mu.Lock()
	w.closed = true
	entries := w.entries
	w.entries = nil
	w.mu.Unlock()
	for _, x := range entries {
		x.obj.state().removeObserver(x)
	}
	// Wake every blocked Wait: each takes the token and passes it on.
	w.kick()
	w.freed(TypeWaitSet)
}
