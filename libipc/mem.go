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
}

// memPipe is the state shared by the two ends of an in-memory pair. One
// mutex guards both queues. changed is made when a caller has to wait and
// closed at the next state change, waking all waiters, which then re-check;
// with nobody waiting a state change costs no allocation.
type memPipe struct {
	capacity int

	mu      sync.Mutex
	queue   [2][]Message // queue[i]: messages waiting for end i
	closed  [2]bool
	changed chan struct{}

	stats [2]struct{ sent, received, full, dropped atomic.Uint64 }
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

// signal wakes every waiter; called with p.mu held.
func (p *memPipe) signal() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// waitChan returns the channel closed at the next state change; called with
// p.mu held.
func (p *memPipe) waitChan() <-chan struct{} {
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
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

// trySend queues m; with p.mu held. It returns the wait channel when the
// queue is full.
func (e *MemEndpoint) trySendLocked(m Message) (<-chan struct{}, error) {
	p, peer := e.p, 1-e.side
	switch {
	case p.closed[e.side]:
		return nil, ErrClosed
	case p.closed[peer]:
		return nil, ErrPeerClosed
	case len(p.queue[peer]) >= p.capacity:
		return p.waitChan(), ErrWouldBlock
	}
	m.Data = append([]byte(nil), m.Data...) // the kernel copies too
	if len(m.Caps) > 0 {
		m.Caps = append([]Cap(nil), m.Caps...)
	}
	p.queue[peer] = append(p.queue[peer], m)
	p.stats[e.side].sent.Add(1)
	p.signal()
	return nil, nil
}

// TrySend implements Endpoint.
func (e *MemEndpoint) TrySend(m Message) error {
	if err := checkBounds(m); err != nil {
		return err
	}
	e.p.mu.Lock()
	_, err := e.trySendLocked(m)
	e.p.mu.Unlock()
	if err == ErrWouldBlock {
		e.p.stats[e.side].full.Add(1)
	}
	return err
}

// Send implements Endpoint.
func (e *MemEndpoint) Send(ctx context.Context, m Message) error {
	if err := checkBounds(m); err != nil {
		return err
	}
	for {
		e.p.mu.Lock()
		wait, err := e.trySendLocked(m)
		e.p.mu.Unlock()
		if err != ErrWouldBlock {
			return err
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (e *MemEndpoint) tryRecvLocked() (Message, <-chan struct{}, error) {
	p := e.p
	q := p.queue[e.side]
	switch {
	case p.closed[e.side]:
		return Message{}, nil, ErrClosed
	case len(q) > 0:
		m := q[0]
		q[0] = Message{}
		p.queue[e.side] = q[1:]
		if len(p.queue[e.side]) == 0 {
			p.queue[e.side] = q[:0] // reuse the backing array
		}
		p.stats[e.side].received.Add(1)
		p.signal()
		return m, nil, nil
	case p.closed[1-e.side]:
		return Message{}, nil, ErrPeerClosed
	}
	return Message{}, p.waitChan(), ErrWouldBlock
}

// TryRecv implements Endpoint.
func (e *MemEndpoint) TryRecv() (Message, error) {
	e.p.mu.Lock()
	m, _, err := e.tryRecvLocked()
	e.p.mu.Unlock()
	return m, err
}

// Recv implements Endpoint.
func (e *MemEndpoint) Recv(ctx context.Context) (Message, error) {
	for {
		e.p.mu.Lock()
		m, wait, err := e.tryRecvLocked()
		e.p.mu.Unlock()
		if err != ErrWouldBlock {
			return m, err
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
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
	p.signal()
	p.mu.Unlock()
	for _, m := range dropped {
		for _, h := range m.Caps {
			h.Close()
		}
	}
	return nil
}

// Stats returns this end's counters.
func (e *MemEndpoint) Stats() MemStats {
	s := &e.p.stats[e.side]
	return MemStats{Sent: s.sent.Load(), Received: s.received.Load(), Full: s.full.Load(), Dropped: s.dropped.Load()}
}

// Queued returns how many messages wait in this end's receive queue.
func (e *MemEndpoint) Queued() int {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return len(e.p.queue[e.side])
}

// Poll reports whether Recv would return at once (a message is queued, or
// either end is closed) and returns a channel that is closed at the next
// state change of the pair. It implements Waitable.
func (e *MemEndpoint) Poll() (ready bool, changed <-chan struct{}) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	ready = len(p.queue[e.side]) > 0 || p.closed[0] || p.closed[1]
	return ready, p.waitChan()
}
