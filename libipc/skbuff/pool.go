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

// slabBufs is how many MaxPacketSize storages a pool carves from one
// allocation (a 32 KiB slab): fewer, larger allocations for the GC to
// track than one per buffer.
const slabBufs = 16

// PoolStats are a pool's counters. All counts are totals since the pool was
// created.
type PoolStats struct {
	Gets        uint64 // buffers handed out by Get
	Allocs      uint64 // Gets that had to allocate (free list empty)
	Slabs       uint64 // storage slabs allocated (slabBufs buffers each)
	Views       uint64 // views handed out by View
	Released    uint64 // views freed whose storage went back to its Owner
	Frees       uint64 // successful Frees
	Discards    uint64 // Frees that found the free list full (buffer left to the GC)
	DoubleFrees uint64 // Frees of an already-free buffer (rejected)
	Idle        int    // buffers on the free list now
}

// Owner owns the storage of views (Pool.View): a driver's DMA buffers, an
// IPC message buffer, a shared-memory region. Release is called exactly
// once per view, when it is freed, with the storage the view was given;
// the owner may then reuse it. Release must not block.
type Owner interface {
	Release(storage []byte)
}

// Pool hands out Bufs and takes them back, keeping at most maxFree of them on
// a free list so the steady-state packet path allocates nothing. Buffers
// from Get are views of MaxPacketSize storages carved from the pool's
// slabs; views from View are headers over storage someone else owns, also
// recycled (at most maxFree). It is safe for concurrent use.
type Pool struct {
	mu      sync.Mutex
	free    []*Buf
	headers []*Buf // recycled view headers (no storage)
	slab    []byte // what is left of the current slab
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
		if len(p.slab) < MaxPacketSize {
			p.slab = make([]byte, slabBufs*MaxPacketSize)
			p.stats.Slabs++
		}
		b = &Buf{pool: p, storage: p.slab[:MaxPacketSize:MaxPacketSize]}
		p.slab = p.slab[MaxPacketSize:]
	}
	p.mu.Unlock()
	b.free = false
	b.Dev, b.GSOSize = 0, 0
	b.data, b.tail = DefaultHeadroom, DefaultHeadroom
	b.mark = [numLayers]int{}
	return b
}

// View returns a Buf over storage, which owner owns (nil: nobody needs it
// back; the GC takes it), with headroom bytes of headroom and no data: Put
// (or Append) fills it, or SetLen when the bytes are already there. When
// the view is freed, owner.Release(storage) gives the storage back. The Buf
// never reaches outside storage, and its capacity is len(storage).
// ErrNoTailroom if headroom exceeds the storage, ErrNegative if it is
// negative.
func (p *Pool) View(storage []byte, headroom int, owner Owner) (*Buf, error) {
	if headroom < 0 {
		return nil, ErrNegative
	}
	if headroom > len(storage) {
		return nil, ErrNoTailroom
	}
	p.mu.Lock()
	p.stats.Views++
	var b *Buf
	if n := len(p.headers); n > 0 {
		b = p.headers[n-1]
		p.headers[n-1] = nil
		p.headers = p.headers[:n-1]
	}
	p.mu.Unlock()
	if b == nil {
		b = &Buf{pool: p}
	}
	if storage == nil {
		storage = []byte{} // a view of nothing, not a Buf to be given storage
	}
	b.free = false
	b.Dev, b.GSOSize = 0, 0
	b.storage = storage[:len(storage):len(storage)]
	b.owner = owner
	b.data, b.tail = headroom, headroom
	b.mark = [numLayers]int{}
	return b, nil
}

// SetLen makes the n bytes after the headroom the packet (bytes a device or
// a peer already wrote into a view's storage): tail = data + n.
// ErrNoTailroom if they do not fit.
func (b *Buf) SetLen(n int) error {
	if b.free {
		return ErrFreed
	}
	if n < 0 {
		return ErrNegative
	}
	if n > b.Cap()-b.data {
		return ErrNoTailroom
	}
	b.tail = b.data + n
	return nil
}

// Free returns b to its pool. Freeing a buffer twice returns ErrDoubleFree (and
// is counted) without touching the pool; a buffer that did not come from a Pool
// returns ErrNotPooled; a buffer still linked into a Queue returns ErrQueued.
// A view's storage goes back to its Owner.
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
	if b.owner != nil || len(b.storage) != MaxPacketSize {
		// A view: its storage goes back to whoever owns it (after the
		// lock: Release may take the owner's), its header to the
		// pool's header list.
		owner, storage := b.owner, b.storage
		b.owner, b.storage = nil, nil
		if len(p.headers) < p.maxFree {
			p.headers = append(p.headers, b)
		} else {
			p.stats.Discards++
		}
		if owner != nil {
			p.stats.Released++
			p.mu.Unlock()
			owner.Release(storage)
			p.mu.Lock() // for the deferred Unlock
		}
		return nil
	}
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
