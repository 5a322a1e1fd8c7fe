package ipc

import (
	"context"
	"sync"
	"sync/atomic"
)

// Channel bounds.
const (
	// QueueLen is the capacity of each direction of a channel: Send
	// fails with EAGAIN when the receiver already has QueueLen messages
	// queued (libipc.DefaultQueueLen).
	QueueLen = 64
	// MaxRecvWaiters bounds the threads blocked in RecvWait on one
	// endpoint; more fail with EBUSY.
	MaxRecvWaiters = 16
)

// EndpointState is the state of an endpoint's receive side, the seL4-style
// state machine of the channel (see State):
//
//	         Send (no waiter)           Recv takes the last
//	Idle ─────────────────────▶ Queued ─────────────────────▶ Idle
//	 │  RecvWait, queue empty                 Send with a waiter: hand-off
//	 └──────────────────────▶ RecvBlocked ───────────────────▶ Idle
//	any ── peer's last handle closed ──▶ PeerClosed (once drained)
//	any ── own last handle closed ─────▶ Closed (queue dropped)
//
// Queued and RecvBlocked exclude each other: a sender that finds a
// receiver blocked hands its message over directly and never queues it.
type EndpointState uint8

// Endpoint states.
const (
	StateIdle        EndpointState = iota // nothing queued, nobody waiting
	StateQueued                           // messages wait for a receiver
	StateRecvBlocked                      // receivers wait for a message
	StatePeerClosed                       // drained; the peer is gone: Recv gives ECONNRESET
	StateClosed                           // every handle to this endpoint is closed
)

var stateNames = [...]string{"idle", "queued", "recv-blocked", "peer-closed", "closed"}

// String names the state.
func (s EndpointState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// channel is the lock shared by the two endpoints of a pair.
type channel struct{ mu sync.Mutex }

// Endpoint is one end of a channel. Its queue holds the messages sent to it
// by its peer (bounded by QueueLen); its waiters are the threads blocked in
// RecvWait on it.
type Endpoint struct {
	objBase
	sig  signalState
	ch   *channel
	peer *Endpoint

	// guarded by ch.mu
	q       msgRing
	waiters []*recvWaiter
	closed  bool

	sent, received, dropped, bytes, handoffs, full atomic.Uint64
}

func (e *Endpoint) objType() Type       { return TypeChannel }
func (e *Endpoint) state() *signalState { return &e.sig }

// EndpointStats are an endpoint's counters: messages it sent and received,
// messages dropped from its queue when it closed, payload bytes sent,
// sends handed directly to a blocked receiver, and sends refused (EAGAIN)
// because the peer's queue was full; Queued is its queue length now.
type EndpointStats struct {
	Sent, Received, Dropped, Bytes, Handoffs, Full uint64
	Queued                                         int
}

// Stats returns a snapshot of the endpoint's counters.
func (e *Endpoint) Stats() EndpointStats {
	e.ch.mu.Lock()
	n := e.q.n
	e.ch.mu.Unlock()
	return EndpointStats{
		Sent: e.sent.Load(), Received: e.received.Load(), Dropped: e.dropped.Load(),
		Bytes: e.bytes.Load(), Handoffs: e.handoffs.Load(), Full: e.full.Load(), Queued: n,
	}
}

// State returns the endpoint's state in the channel state machine.
func (e *Endpoint) State() EndpointState {
	e.ch.mu.Lock()
	defer e.ch.mu.Unlock()
	switch {
	case e.closed:
		return StateClosed
	case len(e.waiters) > 0:
		return StateRecvBlocked
	case e.q.n > 0:
		return StateQueued
	case e.peer.closed:
		return StatePeerClosed
	}
	return StateIdle
}

// refreshLocked recomputes the Signals of both ends. Caller holds ch.mu.
func (e *Endpoint) refreshLocked() {
	for _, x := range [2]*Endpoint{e, e.peer} {
		var set Signals
		if x.q.n > 0 {
			set |= SigReadable
		}
		if x.peer.closed {
			set |= SigPeerClosed
		} else if x.peer.q.n < QueueLen && !x.closed {
			set |= SigWritable
		}
		x.sig.update(set, ^set)
	}
}

// recvWaiter is a thread blocked in RecvWait (or a caller's receive).
// Senders hand a message to it directly when it fits what the waiter
// can take: bufCap bytes, hCap handles and slots table slots (reserved).
type recvWaiter struct {
	ready  chan struct{} // cap 1
	msg    *message      // set by the sender under ch.mu
	bufCap int
	hCap   int
	slots  int
}

var waiterPool = sync.Pool{New: func() any { return &recvWaiter{ready: make(chan struct{}, 1)} }}

func (w *recvWaiter) wake() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

func (w *recvWaiter) fits(m *message) bool {
	return len(m.data) <= w.bufCap && m.nh <= w.hCap && m.slotsNeeded() <= w.slots
}

// ChannelCreate makes a channel and returns a handle to each endpoint,
// both with DefaultRights(TypeChannel).
func (t *Table) ChannelCreate() (Handle, Handle, Errno) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead {
		return InvalidHandle, InvalidHandle, EBADF
	}
	if t.room() < 2 {
		return InvalidHandle, InvalidHandle, EMFILE
	}
	a, b := newChannel(t.k)
	r := DefaultRights(TypeChannel)
	return t.insertLocked(a, r), t.insertLocked(b, r), OK
}

// NewChannel makes a channel for kernel use (init's bootstrap channels):
// the caller owns one reference to each endpoint and gives them to tables
// with Table.Install.
func (k *Kernel) NewChannel() (*Endpoint, *Endpoint) { return newChannel(k) }

func newChannel(k *Kernel) (*Endpoint, *Endpoint) {
	ch := &channel{}
	a, b := &Endpoint{ch: ch}, &Endpoint{ch: ch}
	a.peer, b.peer = b, a
	a.init(k, TypeChannel)
	b.init(k, TypeChannel)
	a.sig.update(SigWritable, 0)
	b.sig.update(SigWritable, 0)
	k.regMu.Lock()
	k.endpoints[a] = struct{}{}
	k.endpoints[b] = struct{}{}
	k.regMu.Unlock()
	return a, b
}

// Send queues a copy of data and moves hs (each needing RightTransfer)
// out of t into the message, on the channel endpoint h (RightWrite).
// It never blocks: EAGAIN when the peer's queue is full (nothing moved),
// EPIPE when the peer is closed, EMSGSIZE over MaxMessageBytes or
// MaxMessageHandles, EINVAL for a repeated handle or either end of this
// channel among hs. A receiver already blocked in RecvWait gets the
// message directly (hand-off) without queueing.
func (t *Table) Send(h Handle, data []byte, hs []Handle) Errno {
	return t.send(h, data, hs, nil)
}

func (t *Table) send(h Handle, data []byte, hs []Handle, reply *Reply) Errno {
	if len(data) > MaxMessageBytes || len(hs) > MaxMessageHandles {
		return EMSGSIZE
	}
	m := newMessage(data) // copy-in outside the locks
	if len(hs) > 0 {
		t.k.xfer.RLock()
		defer t.k.xfer.RUnlock()
	}
	t.mu.Lock()
	s, _, e := t.lookupLocked(h, TypeChannel, RightWrite)
	if e == OK {
		e = t.checkTransferLocked(hs, h)
	}
	if e != OK {
		t.mu.Unlock()
		m.recycle()
		return e
	}
	ep := s.obj.(*Endpoint)
	for _, x := range hs {
		if t.slots[x&indexMask].obj == ep.peer {
			t.mu.Unlock()
			m.recycle()
			return EINVAL
		}
	}
	ep.ch.mu.Lock()
	peer := ep.peer
	if peer.closed {
		ep.ch.mu.Unlock()
		t.mu.Unlock()
		m.recycle()
		return EPIPE
	}
	m.nh = len(hs)
	m.reply = reply
	var w *recvWaiter
	if peer.q.n == 0 { // hand-off only when nothing is queued: delivery stays FIFO
		for _, x := range peer.waiters {
			if x.msg == nil && x.fits(m) {
				w = x
				break
			}
		}
	}
	if w == nil && peer.q.n >= QueueLen {
		ep.ch.mu.Unlock()
		t.mu.Unlock()
		ep.full.Add(1)
		m.reply = nil
		m.nh = 0
		m.recycle()
		return EAGAIN
	}
	t.moveOutLocked(hs, m.refs[:], false)
	t.mu.Unlock()
	if reply != nil {
		reply.inFlight.Add(1)
	}
	ep.sent.Add(1)
	ep.bytes.Add(uint64(len(data)))
	if w != nil {
		w.msg = m
		w.wake()
		ep.handoffs.Add(1)
	} else {
		peer.q.push(m)
		t.k.queuedMsgs.Add(1)
		t.k.queuedBytes.Add(int64(len(m.data)))
		for _, x := range peer.waiters { // a waiter that could not take it reports EMSGSIZE/EMFILE
			x.wake()
		}
	}
	ep.refreshLocked()
	ep.ch.mu.Unlock()
	return OK
}

// RecvResult describes a received message: N payload bytes copied to the
// buffer, NHandles handles stored in the handle buffer, and for a call's
// request the Reply handle to answer it with (InvalidHandle otherwise).
// With EMSGSIZE, N and NHandles are the sizes the message needs; it stays
// queued.
type RecvResult struct {
	N        int
	NHandles int
	Reply    Handle
}

// Recv takes the oldest message queued on channel endpoint h (RightRead)
// without blocking: its bytes are copied to buf and its handles installed
// in t and stored in hbuf. EAGAIN when the queue is empty, ECONNRESET when
// it is empty and the peer is closed, EMSGSIZE when buf or hbuf is too
// small and EMFILE when t lacks room (the message stays queued).
func (t *Table) Recv(h Handle, buf []byte, hbuf []Handle) (RecvResult, Errno) {
	t.k.xfer.RLock()
	defer t.k.xfer.RUnlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	s, _, e := t.lookupLocked(h, TypeChannel, RightRead)
	if e != OK {
		return RecvResult{}, e
	}
	ep := s.obj.(*Endpoint)
	ep.ch.mu.Lock()
	defer ep.ch.mu.Unlock()
	return t.tryRecvLocked(ep, buf, hbuf)
}

// tryRecvLocked: caller holds xfer (shared), t.mu and ep.ch.mu.
func (t *Table) tryRecvLocked(ep *Endpoint, buf []byte, hbuf []Handle) (RecvResult, Errno) {
	if ep.closed {
		return RecvResult{}, EBADF
	}
	if ep.q.n == 0 {
		if ep.peer.closed {
			return RecvResult{}, ECONNRESET
		}
		return RecvResult{}, EAGAIN
	}
	m := ep.q.peek()
	if len(m.data) > len(buf) || m.nh > len(hbuf) {
		return RecvResult{N: len(m.data), NHandles: m.nh}, EMSGSIZE
	}
	if t.room() < m.slotsNeeded() {
		return RecvResult{}, EMFILE
	}
	ep.q.pop()
	t.k.queuedMsgs.Add(-1)
	t.k.queuedBytes.Add(-int64(len(m.data)))
	res := t.deliverLocked(ep, m, buf, hbuf)
	ep.refreshLocked()
	return res, OK
}

// deliverLocked copies m out to the receiver and installs its handles.
func (t *Table) deliverLocked(ep *Endpoint, m *message, buf []byte, hbuf []Handle) RecvResult {
	res := RecvResult{N: copy(buf, m.data), NHandles: m.nh}
	t.moveInLocked(m.refs[:m.nh], hbuf, false)
	if m.reply != nil {
		m.reply.inFlight.Add(-1)
		res.Reply = t.insertLocked(m.reply, DefaultRights(TypeReply))
	}
	ep.received.Add(1)
	m.recycle()
	return res
}

// RecvWait is Recv that blocks while the queue is empty, until a message
// arrives (handed over directly by the sender when it fits), the peer
// closes (ECONNRESET), h is closed by another thread (EBADF) or ctx ends
// (ETIMEDOUT for a deadline, ECANCELED otherwise: the kernel cancels the
// contexts of a dying process's threads). While blocked it reserves table
// slots for the handles of a handed-over message; at most MaxRecvWaiters
// threads block on one endpoint (EBUSY).
func (t *Table) RecvWait(ctx context.Context, h Handle, buf []byte, hbuf []Handle) (RecvResult, Errno) {
	t.k.xfer.RLock()
	t.mu.Lock()
	s, _, e := t.lookupLocked(h, TypeChannel, RightRead)
	if e != OK {
		t.mu.Unlock()
		t.k.xfer.RUnlock()
		return RecvResult{}, e
	}
	ep := s.obj.(*Endpoint)
	ep.ch.mu.Lock()
	for {
		res, e := t.tryRecvLocked(ep, buf, hbuf)
		if e != EAGAIN {
			ep.ch.mu.Unlock()
			t.mu.Unlock()
			t.k.xfer.RUnlock()
			return res, e
		}
		if len(ep.waiters) >= MaxRecvWaiters {
			ep.ch.mu.Unlock()
			t.mu.Unlock()
			t.k.xfer.RUnlock()
			return RecvResult{}, EBUSY
		}
		w := waiterPool.Get().(*recvWaiter)
		w.bufCap = len(buf)
		w.slots = min(MaxMessageHandles+1, t.room())
		w.hCap = min(len(hbuf), w.slots)
		t.reserved += w.slots
		ep.waiters = append(ep.waiters, w)
		ep.ch.mu.Unlock()
		t.mu.Unlock()
		t.k.xfer.RUnlock()

		cancelled := false
		select {
		case <-w.ready:
		case <-ctx.Done():
			cancelled = true
		}

		t.k.xfer.RLock()
		t.mu.Lock()
		t.reserved -= w.slots
		ep.ch.mu.Lock()
		ep.removeWaiterLocked(w)
		m := w.msg
		w.msg = nil
		select { // a late wake-up must not reach the next user
		case <-w.ready:
		default:
		}
		waiterPool.Put(w)
		if m != nil {
			if t.dead {
				ep.ch.mu.Unlock()
				t.mu.Unlock()
				t.k.xfer.RUnlock()
				m.drop()
				return RecvResult{}, EBADF
			}
			res := t.deliverLocked(ep, m, buf, hbuf)
			ep.refreshLocked()
			ep.ch.mu.Unlock()
			t.mu.Unlock()
			t.k.xfer.RUnlock()
			return res, OK
		}
		if cancelled {
			ep.ch.mu.Unlock()
			t.mu.Unlock()
			t.k.xfer.RUnlock()
			return RecvResult{}, ctxErrno(ctx)
		}
		if t.dead {
			ep.ch.mu.Unlock()
			t.mu.Unlock()
			t.k.xfer.RUnlock()
			return RecvResult{}, EBADF
		}
	}
}

func (e *Endpoint) removeWaiterLocked(w *recvWaiter) {
	for i, x := range e.waiters {
		if x == w {
			copy(e.waiters[i:], e.waiters[i+1:])
			e.waiters[len(e.waiters)-1] = nil
			e.waiters = e.waiters[:len(e.waiters)-1]
			return
		}
	}
}

func ctxErrno(ctx context.Context) Errno {
	if ctx.Err() == context.DeadlineExceeded {
		return ETIMEDOUT
	}
	return ECANCELED
}

// lastClose: the endpoint's last handle is gone. Its queue is dropped
// (handles inside closed), its blocked receivers fail, and the peer sees
// SigPeerClosed: its sends fail with EPIPE, its receives drain then
// report ECONNRESET.
func (e *Endpoint) lastClose() {
	e.ch.mu.Lock()
	e.closed = true
	var dropped []*message
	for e.q.n > 0 {
		m := e.q.pop()
		e.k.queuedMsgs.Add(-1)
		e.k.queuedBytes.Add(-int64(len(m.data)))
		dropped = append(dropped, m)
	}
	for _, w := range e.waiters {
		if w.msg != nil { // handed over but not yet taken: the waiter now sees EBADF
			dropped = append(dropped, w.msg)
			w.msg = nil
		}
		w.wake()
	}
	for _, w := range e.peer.waiters {
		w.wake()
	}
	e.refreshLocked()
	e.ch.mu.Unlock()
	e.sig.detachAll()
	e.k.regMu.Lock()
	delete(e.k.endpoints, e)
	e.k.regMu.Unlock()
	e.dropped.Add(uint64(len(dropped)))
	e.k.droppedMsgs.Add(int64(len(dropped)))
	for _, m := range dropped {
		m.drop()
	}
	e.freed(TypeChannel)
}
