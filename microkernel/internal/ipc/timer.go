package ipc

import (
	"sync"
	"time"
)

// Timer is a one-shot deadline object: SigSignaled is set when its
// deadline passes and stays set (level-triggered) until it is re-armed or
// cancelled. It is how a server waits for "a message, an interrupt or a
// deadline" in one Wait with several deadlines of its own; the deadline
// argument of Wait covers the simple case.
type Timer struct {
	objBase
	sig signalState

	mu       sync.Mutex // guards the fields below
	tm       *time.Timer
	seq      uint64 // arm generation: a stale firing is ignored
	deadline time.Time
	closed   bool
}

func (tm *Timer) objType() Type       { return TypeTimer }
func (tm *Timer) state() *signalState { return &tm.sig }

// TimerCreate makes a disarmed timer.
func (t *Table) TimerCreate() (Handle, Errno) {
	tm := &Timer{}
	tm.init(t.k, TypeTimer)
	return t.Install(tm, DefaultRights(TypeTimer))
}

// TimerSet arms the timer h (RightWrite) for deadline, replacing any
// earlier deadline and clearing SigSignaled; a zero deadline disarms it;
// a past one signals at once.
func (t *Table) TimerSet(h Handle, deadline time.Time) Errno {
	tm, e := lookup[*Timer](t, h, TypeTimer, RightWrite)
	if e != OK {
		return e
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.closed {
		return EBADF
	}
	tm.seq++
	if tm.tm != nil {
		tm.tm.Stop()
		tm.tm = nil
	}
	tm.deadline = deadline
	tm.sig.update(0, SigSignaled)
	if deadline.IsZero() {
		return OK
	}
	seq := tm.seq
	tm.tm = time.AfterFunc(time.Until(deadline), func() { tm.fire(seq) })
	return OK
}

func (tm *Timer) fire(seq uint64) {
	tm.mu.Lock()
	if seq == tm.seq && !tm.closed {
		tm.sig.update(SigSignaled, 0)
	}
	tm.mu.Unlock()
}

func (tm *Timer) lastClose() {
	tm.mu.Lock()
	tm.closed = true
	if tm.tm != nil {
		tm.tm.Stop()
		tm.tm = nil
	}
	tm.mu.Unlock()
	tm.sig.detachAll()
	tm.freed(TypeTimer)
}
