package skbuff

import (
	"errors"
	"sync"
)

// DefaultPoolFree bounds the free list of the Default pool: enough to refill a
// 256-entry virtio rx ring and a 256-entry tx ring without allocating.
const DefaultPoolFree = 512

// Pool errors.
var (
	ErrDoubleFree = errors.New("skbuff: buffer freed twice")
	ErrNotPooled  = errors.New("skbuff: buffer does not belong to a pool")
	ErrNilBuf     = errors.New("skbuff: nil buffer")
)

// PoolStats are a pool's counters. All counts are totals since the pool was
// created.
type PoolStats struct {
	Gets        uint64 // buffers handed out by Get
	Allocs      uint64 // Gets that had to allocate (free list empty)
	Frees       uint64 // successful Frees
	Discards    uint64 // Frees that found the free list full (buffer left to the GC)
	DoubleFrees uint64 // Frees of an already-free buffer (rejected)
	Idle        int    // buffers on the free list now
}

// Pool hands out Bufs and takes them back, keeping at most maxFree of them on
// a free list so the steady-state packet path allocates nothing. It is safe
// for concurrent use.
type Pool struct {
	mu      sync.Mutex
	free    []*Buf
	maxFree int
	stats   PoolStats
}

// NewPool returns a pool whose free list holds at most maxFree buffers
// (values below 1 are treated as 1).
func NewPool(maxFree int) *Pool {
	if maxFree < 1 {
		maxFree = 1
	}
	return &Pool{free: make([]*Buf, 0, maxFree), maxFree: maxFree}
}

// Default is the process-wide pool used by Get and Free.
var Default = NewPool(DefaultPoolFree)

// Get returns an empty buffer from the Default pool with DefaultHeadroom
// reserved.
func Get() *Buf { return Default.Get() }

// Free returns b to the pool it came from. It is b.Free().
func Free(b *Buf) error {
	if b == nil {
		return ErrNilBuf
	}
	return b.Free()
}

// Get returns an empty buffer with DefaultHeadroom reserved, Dev 0 and no
// marks. It allocates only when the free list is empty.
func (p *Pool) Get() *Buf {
	p.mu.Lock()
	p.stats.Gets++
	var b *Buf
	if n := len(p.free); n > 0 {
		b = p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
	} else {
		p.stats.Allocs++
	}
	p.mu.Unlock()
	if b == nil {
		b = new(Buf)
		b.pool = p
	}
	b.free = false
	b.Dev = 0
	b.data, b.tail = DefaultHeadroom, DefaultHeadroom
	b.mark = [numLayers]int{}
	return b
}

// Free returns b to its pool. Freeing a buffer twice returns ErrDoubleFree (and
// is counted) without touching the pool; a buffer that did not come from a Pool
// returns ErrNotPooled; a buffer still linked into a Queue returns ErrQueued.
func (b *Buf) Free() error {
	if b == nil {
		return ErrNilBuf
	}
	p := b.pool
	if p == nil {
		return ErrNotPooled
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if b.free {
		p.stats.DoubleFrees++
		return ErrDoubleFree
	}
	if b.queued {
		return ErrQueued
	}
	b.free = true
	p.stats.Frees++
	if len(p.free) < p.maxFree {
		p.free = append(p.free, b)
	} else {
		p.stats.Discards++
	}
	return nil
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Idle = len(p.free)
	return s
}
