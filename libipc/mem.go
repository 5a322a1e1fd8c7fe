package libipc

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// DefaultQueueLen is the per-direction queue capacity NewPair uses when given
// a capacity below 1.
const DefaultQueueLen = 64

// MemStats counts what happened on one in-memory endpoint.
type MemStats struct {
	Sent     uint64 // messages this end queued for its peer
	Received uint64 // messages this end took from its queue
	Full     uint64 // TrySend calls refused with ErrWouldBlock
	Dropped  uint64 // messages to this end discarded because it closed with them queued
	// Wakes counts the times a blocked Send or Recv on this end was woken
	// to re-check (for a message, room or a close); one per message a
	// parked reader gets when nothing wakes it for nothing.
	Wakes uint64
}

// memPipe is the state shared by the two ends of an in-memory pair. One
// mutex guards both queues. A goroutine that has to wait in Send or Recv
// registers a wake-up channel in the list for what it waits for: a message
// in queue i (recvWaiters[i]) or room in it (sendWaiters[i]). A change
// wakes only that list (wake posts one token to each channel and empties
// it), and the woken goroutines re-check; a close wakes every list. So the
// two ends' readers, each parked in Recv, do not wake each other for
// nothing at every message. The wake-up channels come from wakePool and go
// back to it once their waiter is done, so steady-state waiting allocates
// nothing.
type memPipe struct {
	capacity int

	mu          sync.Mutex
	queue       [2][]Message // queue[i]: messages waiting for end i
	closed      [2]bool
	recvWaiters [2][]chan struct{} // blocked Recv calls of end i: want a message in queue[i]
	sendWaiters [2][]chan struct{} // blocked Send calls to end i: want room in queue[i]
	watchers    []chan<- struct{}  // WaitAny's wake-up channels (Watch), until stopped

	stats [2]struct{ sent, received, full, dropped, wakes atomic.Uint64 }
}

// MemEndpoint is one end of an in-memory pair (see NewPair). It implements
// Endpoint with the semantics the kernel's channels will have.
type MemEndpoint struct {
	p    *memPipe
	side int
}

// NewPair returns the two connected ends of an in-memory channel whose
// queues (one per direction) hold at most capacity messages each.
func NewPair(capacity int) (*MemEndpoint, *MemEndpoint) {
	if capacity < 1 {
		capacity = DefaultQueueLen
	}
	p := &memPipe{capacity: capacity}
	return &MemEndpoint{p: p, side: 0}, &MemEndpoint{p: p, side: 1}
}

// wakePool recycles the wake-up channels of blocked Send/Recv calls. Each
// has room for one token. Invariant: a channel in the pool is empty and in no
// pipe's waiters list.
var wakePool = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

// wake posts a token to each waiter in *list and empties it; called with
// p.mu held.
func wake(list *[]chan struct{}) {
	ws := *list
	for i, w := range ws {
		select {
		case w <- struct{}{}:
		default: // already holds a token
		}
		ws[i] = nil
	}
	*list = ws[:0]
}

// queued is called with p.mu held after a message was added to queue[i]:
// it wakes end i's receivers and the watchers.
func (p *memPipe) queued(i int) {
	wake(&p.recvWaiters[i])
	p.notifyWatchers()
}

// notifyWatchers gives each Watch channel a token; called with p.mu held.
func (p *memPipe) notifyWatchers() {
	for _, w := range p.watchers {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// closing wakes everyone (a close ends every wait); called with p.mu held.
func (p *memPipe) closing() {
	for i := range 2 {
		wake(&p.recvWaiters[i])
		wake(&p.sendWaiters[i])
	}
	p.notifyWatchers()
}

// addWaiter registers a wake-up channel in *list; called with p.mu held.
// The caller must pass both to await.
func (p *memPipe) addWaiter(list *[]chan struct{}) chan struct{} {
	w := wakePool.Get().(chan struct{})
	*list = append(*list, w)
	return w
}

// await blocks until w receives the token of the next state change or ctx
// ends, then returns w to the pool. Called without p.mu held.
func (p *memPipe) await(ctx context.Context, list *[]chan struct{}, w chan struct{}) error {
	select {
	case <-w: // wake removed w from the list before posting the token
		wakePool.Put(w)
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	ws := *list
	for i, x := range ws {
		if x == w {
			last := len(ws) - 1
			ws[i] = ws[last]
			ws[last] = nil
			*list = ws[:last]
			break
		}
	}
	p.mu.Unlock()
	// No signal can reach w any more; drop a token it may have got meanwhile.
	select {
	case <-w:
	default:
	}
	wakePool.Put(w)
	return ctx.Err()
}

func checkBounds(m Message) error {
	if len(m.Data) > MaxMessageSize {
		return fmt.Errorf("libipc: send %d bytes (max %d): %w", len(m.Data), MaxMessageSize, ErrTooLarge)
	}
	if len(m.Caps) > MaxCaps {
		return fmt.Errorf("libipc: send %d caps (max %d): %w", len(m.Caps), MaxCaps, ErrTooLarge)
	}
	return nil
}

// trySendLocked queues m; with p.mu held. It fails with ErrWouldBlock when
// the queue is full. owned says m.Data is a message buffer the receiver may
// take as it is (SendOwned); otherwise it gets a copy.
func (e *MemEndpoint) trySendLocked(m Message, owned bool) error {
	p, peer := e.p, 1-e.side
	switch {
	case p.closed[e.side]:
		return ErrClosed
	case p.closed[peer]:
		return ErrPeerClosed
	case len(p.queue[peer]) >= p.capacity:
		return ErrWouldBlock
	}
	if !owned {
		m.Data = copyToBuf(m.Data) // the kernel copies too; the receiver owns the copy
	}
	if len(m.Caps) > 0 {
		m.Caps = append([]Cap(nil), m.Caps...)
	}
	p.queue[peer] = append(p.queue[peer], m)
	p.stats[e.side].sent.Add(1)
	p.queued(peer)
	return nil
}

// TrySend implements Endpoint.
func (e *MemEndpoint) TrySend(m Message) error { return e.trySend(m, false) }

// TrySendOwned is TrySend handing m.Data itself to the receiver, without
// the copy a kernel send makes (OwnedSender). On error the caller keeps it.
func (e *MemEndpoint) TrySendOwned(m Message) error { return e.trySend(m, true) }

// SendOwned is Send handing m.Data itself to the receiver (OwnedSender).
func (e *MemEndpoint) SendOwned(ctx context.Context, m Message) error { return e.send(ctx, m, true) }

func (e *MemEndpoint) trySend(m Message, owned bool) error {
	if err := checkBounds(m); err != nil {
		return err
	}
	e.p.mu.Lock()
	err := e.trySendLocked(m, owned)
	e.p.mu.Unlock()
	if err == ErrWouldBlock {
		e.p.stats[e.side].full.Add(1)
	}
	return err
}

// Send implements Endpoint.
func (e *MemEndpoint) Send(ctx context.Context, m Message) error { return e.send(ctx, m, false) }

func (e *MemEndpoint) send(ctx context.Context, m Message, owned bool) error {
	if err := checkBounds(m); err != nil {
		return err
	}
	p := e.p
	for {
		p.mu.Lock()
		err := e.trySendLocked(m, owned)
		if err != ErrWouldBlock {
			p.mu.Unlock()
			return err
		}
		list := &p.sendWaiters[1-e.side]
		w := p.addWaiter(list)
		p.mu.Unlock()
		if err := p.await(ctx, list, w); err != nil {
			return err
		}
		p.stats[e.side].wakes.Add(1)
	}
}

func (e *MemEndpoint) tryRecvLocked() (Message, error) {
	p := e.p
	q := p.queue[e.side]
	switch {
	case p.closed[e.side]:
		return Message{}, ErrClosed
	case len(q) > 0:
		m := q[0]
		q[0] = Message{}
		p.queue[e.side] = q[1:]
		if len(p.queue[e.side]) == 0 {
			p.queue[e.side] = q[:0] // reuse the backing array
		}
		p.stats[e.side].received.Add(1)
		wake(&p.sendWaiters[e.side]) // room for the peer's blocked sends
		return m, nil
	case p.closed[1-e.side]:
		return Message{}, ErrPeerClosed
	}
	return Message{}, ErrWouldBlock
}

// TryRecv implements Endpoint.
func (e *MemEndpoint) TryRecv() (Message, error) {
	e.p.mu.Lock()
	m, err := e.tryRecvLocked()
	e.p.mu.Unlock()
	return m, err
}

// Recv implements Endpoint.
func (e *MemEndpoint) Recv(ctx context.Context) (Message, error) {
	p := e.p
	for {
		p.mu.Lock()
		m, err := e.tryRecvLocked()
		if err != ErrWouldBlock {
			p.mu.Unlock()
			return m, err
		}
		list := &p.recvWaiters[e.side]
		w := p.addWaiter(list)
		p.mu.Unlock()
		if err := p.await(ctx, list, w); err != nil {
			return Message{}, err
		}
		p.stats[e.side].wakes.Add(1)
	}
}

// Close closes this end. Messages still queued for it are dropped (counted
// in MemStats.Dropped) and the caps they carry are closed; the peer sees
// ErrPeerClosed once it has drained what this end sent. Closing twice returns
// ErrClosed.
func (e *MemEndpoint) Close() error {
	p := e.p
	p.mu.Lock()
	if p.closed[e.side] {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed[e.side] = true
	dropped := p.queue[e.side]
	p.queue[e.side] = nil
	p.stats[e.side].dropped.Add(uint64(len(dropped)))
	p.closing()
	p.mu.Unlock()
	for _, m := range dropped {
		m.Release() // nobody will ever see it
		for _, h := range m.Caps {
			h.Close()
		}
	}
	return nil
}

// Stats returns this end's counters.
func (e *MemEndpoint) Stats() MemStats {
	s := &e.p.stats[e.side]
	return MemStats{Sent: s.sent.Load(), Received: s.received.Load(), Full: s.full.Load(), Dropped: s.dropped.Load(),
		Wakes: s.wakes.Load()}
}

// Queued returns how many messages wait in this end's receive queue.
func (e *MemEndpoint) Queued() int {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return len(e.p.queue[e.side])
}

// Watch reports whether Recv would return at once (a message is queued,
// or either end is closed) and otherwise gives wake a token whenever a
// message is queued (for either end) or an end closes, until stop. It
// implements Waitable.
func (e *MemEndpoint) Watch(wake chan<- struct{}) (ready bool, stop func()) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue[e.side]) > 0 || p.closed[0] || p.closed[1] {
		return true, nil
	}
	p.watchers = append(p.watchers, wake)
	return false, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, w := range p.watchers {
			if w == wake {
				p.watchers = append(p.watchers[:i], p.watchers[i+1:]...)
				return
			}
		}
	}
}
