package sockets

import (
	"container/heap"
	"time"

	"armos/libipc"
)

// waiter is one parked receive.
type waiter struct {
	sk       *socket
	r        *libipc.Request
	max      uint32    // largest payload wanted
	count    int       // most datagrams wanted at once (1: a plain recvfrom)
	tag      uint32    // for OpCancel; 0 if not cancellable
	deadline time.Time // zero: no timeout
	hidx     int       // index in Service.waits, -1 when not there
}

// freeWaitersMax bounds the recycled waiters a Service keeps (a parked
// receive per datagram was an allocation per datagram).
const freeWaitersMax = 64

// newWaiter returns a recycled waiter or a new one (on the loop).
func (s *Service) newWaiter() *waiter {
	if n := len(s.freeWaiters); n > 0 {
		w := s.freeWaiters[n-1]
		s.freeWaiters = s.freeWaiters[:n-1]
		return w
	}
	return new(waiter)
}

// freeWaiter recycles w, which nothing refers to any more.
func (s *Service) freeWaiter(w *waiter) {
	*w = waiter{}
	if len(s.freeWaiters) < freeWaitersMax {
		s.freeWaiters = append(s.freeWaiters, w)
	}
}

// waitHeap orders the parked receives that have a deadline, earliest
// first (container/heap).
type waitHeap []*waiter

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}

// Push adds a *waiter (for container/heap).
func (h *waitHeap) Push(x any) {
	w := x.(*waiter)
	w.hidx = len(*h)
	*h = append(*h, w)
}

// Pop removes the last element (for container/heap).
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.hidx = -1
	return w
}

// add parks w's deadline.
func (h *waitHeap) add(w *waiter) { heap.Push(h, w) }

// remove takes w out if it is there.
func (h *waitHeap) remove(w *waiter) {
	if w.hidx >= 0 {
		heap.Remove(h, w.hidx)
	}
}
