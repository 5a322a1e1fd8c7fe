package ipc

import (
	"sync"
	"sync/atomic"
)

// Object is what a handle points at. Every Object embeds an objBase that
// counts its references; the type-specific teardown runs once, when the
// last reference goes away.
type Object interface {
	base() *objBase
	objType() Type
	// lastClose runs when the reference count drops to zero. The caller
	// holds no lock.
	lastClose()
}

// objBase is the reference count shared by every Object. refs counts
// handles in tables plus handles travelling inside messages (inFlight of
// them); an Object with refs == inFlight is reachable only through
// messages, which is what Kernel.Collect looks for.
type objBase struct {
	k        *Kernel
	refs     atomic.Int32
	inFlight atomic.Int32
}

func (b *objBase) base() *objBase { return b }

func (b *objBase) init(k *Kernel, t Type) {
	b.k = k
	b.refs.Store(1)
	k.live[t].Add(1)
}

// acquire adds a reference (a new handle to the Object).
func acquire(o Object) { o.base().refs.Add(1) }

// release drops a reference and tears the Object down with the last one.
// The caller must not hold any lock of this package: teardown takes the
// Object's own locks and may release further objects.
func release(o Object) {
	b := o.base()
	if n := b.refs.Add(-1); n == 0 {
		o.lastClose()
	} else if n < 0 {
		panic("ipc: reference count below zero")
	}
}

// freed is called by a type's teardown when its memory is no longer
// accounted to anyone.
func (b *objBase) freed(t Type) { b.k.live[t].Add(-1) }

// Kernel holds the IPC accounting of one kernel instance (tests make many):
// live objects per type, handles, queued messages and bytes, shared pages,
// and the registry of channel endpoints that Collect scans. All counters
// are atomics; Stats takes a snapshot.
type Kernel struct {
	live         [numTypes]atomic.Int64
	handles      atomic.Int64
	tables       atomic.Int64
	queuedMsgs   atomic.Int64
	queuedBytes  atomic.Int64
	shmPages     atomic.Int64
	droppedMsgs  atomic.Int64
	droppedRepl  atomic.Int64
	collected    atomic.Int64
	irqCoalesced atomic.Int64

	// xfer orders handle moves against Collect: operations that move
	// handles into or out of messages hold it shared, Collect exclusive.
	xfer sync.RWMutex

	regMu     sync.Mutex
	endpoints map[*Endpoint]struct{} // every open endpoint, for Collect
	irqs      map[uint32]*Interrupt  // bound INTIDs
}

// NewKernel returns an empty IPC accounting domain.
func NewKernel() *Kernel {
	return &Kernel{
		endpoints: make(map[*Endpoint]struct{}),
		irqs:      make(map[uint32]*Interrupt),
	}
}

// Stats is a snapshot of a Kernel's counters. A kernel with no tables and
// no kernel-held objects has every Live entry, Handles, QueuedMessages,
// QueuedBytes and SharedPages at zero: that is the no-leak invariant the
// tests check.
type Stats struct {
	Live            [numTypes]int64 // live objects by Type
	Handles         int64           // handles installed in tables
	Tables          int64           // live handle tables
	QueuedMessages  int64           // messages in channel queues
	QueuedBytes     int64           // their payload bytes
	SharedPages     int64           // pages held by shared-memory objects
	DroppedMessages int64           // messages discarded because their receiver closed
	DroppedReplies  int64           // replies whose caller had gone
	Collected       int64           // endpoints freed by Collect (handle cycles in flight)
	IRQCoalesced    int64           // interrupt signals that found one already pending
}

// LiveObjects is the total of Live.
func (s Stats) LiveObjects() int64 {
	var n int64
	for _, v := range s.Live {
		n += v
	}
	return n
}

// Stats returns a snapshot of the counters.
func (k *Kernel) Stats() Stats {
	var s Stats
	for i := range k.live {
		s.Live[i] = k.live[i].Load()
	}
	s.Handles = k.handles.Load()
	s.Tables = k.tables.Load()
	s.QueuedMessages = k.queuedMsgs.Load()
	s.QueuedBytes = k.queuedBytes.Load()
	s.SharedPages = k.shmPages.Load()
	s.DroppedMessages = k.droppedMsgs.Load()
	s.DroppedReplies = k.droppedRepl.Load()
	s.Collected = k.collected.Load()
	s.IRQCoalesced = k.irqCoalesced.Load()
	return s
}
