package ipc

import (
	"sync"
	"sync/atomic"
)

// Signals is the readiness state of a waitable Object, one bit per
// condition. Wait sets are level-triggered: an entry is reported for as
// long as its Object's state has a bit of the entry's mask, not once per
// change.
type Signals uint32

// Signal bits.
const (
	SigReadable   Signals = 1 << iota // channel: a message is queued
	SigWritable                       // channel: the peer's queue has room and the peer is open
	SigPeerClosed                     // channel: the other endpoint is closed
	SigSignaled                       // interrupt: fired, not yet acked; timer: deadline passed
	SigExited                         // process: exited
)

// waitable objects carry a signalState.
type waitable interface {
	Object
	state() *signalState
}

// signalState holds an Object's Signals and the wait-set entries watching
// it. raise/clear are lock-free and allocation-free (Interrupt.Signal uses
// them): observers are an immutable slice swapped under obsMu by writers.
type signalState struct {
	bits  atomic.Uint32
	obsMu sync.Mutex
	obs   atomic.Pointer[[]*waitEntry]
}

// Signals returns the current state.
func (s *signalState) Signals() Signals { return Signals(s.bits.Load()) }

// update sets the bits in set and clears those in clr, then wakes wait
// sets watching any newly raised bit.
func (s *signalState) update(set, clr Signals) {
	for {
		old := s.bits.Load()
		nw := (old &^ uint32(clr)) | uint32(set)
		if old == nw {
			return
		}
		if s.bits.CompareAndSwap(old, nw) {
			if raised := Signals(nw &^ old); raised != 0 {
				s.notify(raised)
			}
			return
		}
	}
}

func (s *signalState) notify(raised Signals) {
	if p := s.obs.Load(); p != nil {
		for _, e := range *p {
			if e.mask&raised != 0 {
				e.ws.kick()
			}
		}
	}
}

func (s *signalState) addObserver(e *waitEntry) {
	s.obsMu.Lock()
	var n []*waitEntry
	if p := s.obs.Load(); p != nil {
		n = append(n, *p...)
	}
	n = append(n, e)
	s.obs.Store(&n)
	s.obsMu.Unlock()
	// The Object may already be ready: make the wait set look.
	if s.Signals()&e.mask != 0 {
		e.ws.kick()
	}
}

func (s *signalState) removeObserver(e *waitEntry) {
	s.obsMu.Lock()
	if p := s.obs.Load(); p != nil {
		n := make([]*waitEntry, 0, len(*p))
		for _, x := range *p {
			if x != e {
				n = append(n, x)
			}
		}
		if len(n) == 0 {
			s.obs.Store(nil)
		} else {
			s.obs.Store(&n)
		}
	}
	s.obsMu.Unlock()
}

// detachAll runs at the Object's last close: every watching entry is
// marked dead (its wait set drops it at its next scan) and woken.
func (s *signalState) detachAll() {
	s.obsMu.Lock()
	p := s.obs.Swap(nil)
	s.obsMu.Unlock()
	if p != nil {
		for _, e := range *p {
			e.dead.Store(true)
			e.ws.kick()
		}
	}
}
