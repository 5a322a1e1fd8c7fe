package skbuff

import "errors"

// Queue errors.
var (
	ErrQueueFull = errors.New("skbuff: queue full")
	ErrQueued    = errors.New("skbuff: buffer already in a queue")
)

// Queue is a bounded FIFO of Bufs, linked through the buffers themselves (the
// handbook's sk_buff next pointer), so queueing allocates nothing. A Buf can be
// in at most one Queue. Queue is not safe for concurrent use.
//
// The zero Queue has limit 0 and refuses everything; use NewQueue or Init.
type Queue struct {
	head, tail *Buf
	n, limit   int
	dropped    uint64
}

// NewQueue returns an empty queue holding at most limit buffers.
func NewQueue(limit int) *Queue {
	q := new(Queue)
	q.Init(limit)
	return q
}

// Init empties q (without freeing anything it held) and sets its limit.
// Negative limits are treated as 0.
func (q *Queue) Init(limit int) {
	for b := q.head; b != nil; {
		next := b.next
		b.next, b.queued = nil, false
		b = next
	}
	if limit < 0 {
		limit = 0
	}
	*q = Queue{limit: limit}
}

// Enqueue appends b. If the queue is full it returns ErrQueueFull, counts a
// drop, and leaves b with the caller (who normally frees it). A buffer already
// in a queue is ErrQueued; a freed one is ErrFreed.
func (q *Queue) Enqueue(b *Buf) error {
	if b == nil {
		return ErrNilBuf
	}
	if b.free {
		return ErrFreed
	}
	if b.queued {
		return ErrQueued
	}
	if q.n >= q.limit {
		q.dropped++
		return ErrQueueFull
	}
	b.queued = true
	b.next = nil
	if q.tail == nil {
		q.head = b
	} else {
		q.tail.next = b
	}
	q.tail = b
	q.n++
	return nil
}

// Dequeue removes and returns the oldest buffer, or nil if q is empty.
func (q *Queue) Dequeue() *Buf {
	b := q.head
	if b == nil {
		return nil
	}
	q.head = b.next
	if q.head == nil {
		q.tail = nil
	}
	b.next, b.queued = nil, false
	q.n--
	return b
}

// Peek returns the oldest buffer without removing it, or nil.
func (q *Queue) Peek() *Buf { return q.head }

// Len returns the number of queued buffers.
func (q *Queue) Len() int { return q.n }

// Limit returns the queue's bound.
func (q *Queue) Limit() int { return q.limit }

// Dropped returns how many Enqueues were refused because the queue was full.
func (q *Queue) Dropped() uint64 { return q.dropped }

// Drain dequeues every buffer and frees it, returning how many were freed.
// Use it when the queue's owner goes away (a socket closes, an ARP entry
// fails).
func (q *Queue) Drain() int {
	n := 0
	for b := q.Dequeue(); b != nil; b = q.Dequeue() {
		if b.Free() == nil {
			n++
		}
	}
	return n
}
