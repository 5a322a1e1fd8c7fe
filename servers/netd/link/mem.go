package link

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"time"

	"armos/libipc/skbuff"
)

// MemQueueLen bounds the frames waiting to be read at one end of a Mem link,
// like a NIC's receive ring. Frames arriving at a full queue are dropped and
// counted in MemCounters.QueueFull.
const MemQueueLen = 256

// Clock is where a Mem link reads the time for rate limiting. stack.Clock and
// stacktest.FakeClock satisfy it; nil means the system clock.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Faults configures the fault injector on the frames one end of a Mem link
// transmits (in the style of smoltcp's FaultInjector). Percentages are
// 0..100; values outside are clamped. The zero value injects nothing.
type Faults struct {
	DropPct      int // frames silently lost
	CorruptPct   int // frames with one byte XORed with a random non-zero value
	DuplicatePct int // frames delivered twice
	// MaxSize drops frames longer than this many bytes (0: no limit), like a
	// link with a smaller MTU than the sender believes.
	MaxSize int
	// RateLimit lets at most this many frames through per RateInterval
	// (token bucket refilled at each interval boundary); 0 is unlimited.
	RateLimit    int
	RateInterval time.Duration
	// Seed makes the random choices reproducible.
	Seed uint64
}

// MemCounters counts what one end of a Mem link did with the frames it was
// asked to transmit. Every frame Transmit accepted is either Delivered or
// counted in exactly one drop counter (duplicates add a Delivered each).
type MemCounters struct {
	Transmitted uint64 // frames passed to Transmit
	Delivered   uint64 // frames queued at the peer (including duplicates)
	Dropped     uint64 // drop: fault injector (DropPct)
	TooBig      uint64 // drop: longer than Faults.MaxSize or MaxFrame
	RateLimited uint64 // drop: over Faults.RateLimit
	QueueFull   uint64 // drop: peer's queue held MemQueueLen frames
	PeerClosed  uint64 // drop: the peer end was closed
	Corrupted   uint64 // frames delivered with a corrupted byte
	Duplicated  uint64 // extra copies delivered
}

// Mem is one end of an in-memory point-to-point Ethernet link. Frames one end
// transmits pass through that end's fault injector and are queued, in the
// sender's own buffer, at the other end, where ReadFrame/ReadBuf (blocking)
// or Next (non-blocking) copy them out. All methods are safe for concurrent
// use.
type Mem struct {
	peer  *Mem
	clock Clock
	rx    chan *skbuff.Buf
	done  chan struct{}
	once  sync.Once

	mu       sync.Mutex // guards everything below
	faults   Faults
	rng      *rand.Rand
	tokens   int
	refillAt time.Time
	counters MemCounters
}

// NewMemPair returns the two ends of a fresh link. clock drives rate limiting
// (nil: the system clock).
func NewMemPair(clock Clock) (a, b *Mem) {
	if clock == nil {
		clock = systemClock{}
	}
	a = newMem(clock)
	b = newMem(clock)
	a.peer, b.peer = b, a
	return a, b
}

func newMem(clock Clock) *Mem {
	m := &Mem{clock: clock, rx: make(chan *skbuff.Buf, MemQueueLen), done: make(chan struct{})}
	m.SetFaults(Faults{})
	return m
}

// SetFaults replaces the fault injector configuration for frames this end
// transmits and reseeds its random source.
func (m *Mem) SetFaults(f Faults) {
	clamp := func(p *int) { *p = min(max(*p, 0), 100) }
	clamp(&f.DropPct)
	clamp(&f.CorruptPct)
	clamp(&f.DuplicatePct)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = f
	m.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	m.tokens = f.RateLimit
	m.refillAt = m.clock.Now().Add(f.RateInterval)
}

// Counters returns a snapshot of this end's transmit counters.
func (m *Mem) Counters() MemCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counters
}

// Transmit sends the frame in b towards the peer through the fault injector.
// Frames lost to a fault or a full queue are not errors (a real wire loses
// frames silently too); they are counted. Following the stack's Link
// contract, Transmit takes ownership of b: it is queued at the peer as is
// (no copy) or freed.
func (m *Mem) Transmit(b *skbuff.Buf) error {
	if b == nil {
		return skbuff.ErrNilBuf
	}
	select {
	case <-m.done:
		releaseBuf(b)
		return ErrClosed
	default:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counters.Transmitted++
	f := &m.faults
	n := b.Len()
	switch {
	case n > MaxFrame || (f.MaxSize > 0 && n > f.MaxSize):
		m.counters.TooBig++
		releaseBuf(b)
		return nil
	case !m.takeToken():
		m.counters.RateLimited++
		releaseBuf(b)
		return nil
	case m.chance(f.DropPct):
		m.counters.Dropped++
		releaseBuf(b)
		return nil
	}
	if frame := b.Bytes(); n > 0 && m.chance(f.CorruptPct) {
		frame[m.rng.IntN(n)] ^= byte(1 + m.rng.IntN(255))
		m.counters.Corrupted++
	}
	if m.chance(f.DuplicatePct) {
		dup := skbuff.Get()
		if err := dup.Append(b.Bytes()); err == nil {
			m.counters.Duplicated++
			m.deliver(dup)
		} else {
			releaseBuf(dup)
		}
	}
	m.deliver(b)
	return nil
}

// WriteFrame is Transmit for a plain byte slice; p is copied into a packet
// buffer first.
func (m *Mem) WriteFrame(p []byte) error {
	b := skbuff.Get()
	if len(p) > b.Tailroom() {
		// Still counted, as Transmit would.
		releaseBuf(b)
		m.mu.Lock()
		m.counters.Transmitted++
		m.counters.TooBig++
		m.mu.Unlock()
		return nil
	}
	_ = b.Append(p) // fits: checked above
	return m.Transmit(b)
}

// deliver queues b at the peer, or frees it and counts why not. Called with
// m.mu held.
func (m *Mem) deliver(b *skbuff.Buf) {
	select {
	case <-m.peer.done:
		m.counters.PeerClosed++
		releaseBuf(b)
		return
	default:
	}
	select {
	case m.peer.rx <- b:
		m.counters.Delivered++
	default:
		m.counters.QueueFull++
		releaseBuf(b)
	}
}

// chance reports true with probability pct percent. Called with m.mu held.
func (m *Mem) chance(pct int) bool {
	return pct > 0 && m.rng.IntN(100) < pct
}

// takeToken applies the rate limit. Called with m.mu held.
func (m *Mem) takeToken() bool {
	f := &m.faults
	if f.RateLimit <= 0 {
		return true
	}
	if now := m.clock.Now(); !now.Before(m.refillAt) {
		m.tokens = f.RateLimit
		m.refillAt = now.Add(f.RateInterval)
	}
	if m.tokens == 0 {
		return false
	}
	m.tokens--
	return true
}

// ReadFrame blocks until a frame arrives and copies it into p, returning its
// length; a frame longer than p is truncated. After Close it returns
// ErrClosed (frames still queued are discarded).
func (m *Mem) ReadFrame(p []byte) (int, error) {
	select {
	case <-m.done:
		return 0, ErrClosed
	default:
	}
	select {
	case <-m.done:
		return 0, ErrClosed
	case b := <-m.rx:
		n := copy(p, b.Bytes())
		releaseBuf(b)
		return n, nil
	}
}

// ReadBuf blocks until a frame arrives and appends it to b, which must be
// empty. The caller keeps ownership of b.
func (m *Mem) ReadBuf(b *skbuff.Buf) error { return readBuf(m, b) }

// Next returns (a copy of) the oldest queued frame without blocking, or
// ok=false if none is waiting. Tests use it to read what the stack
// transmitted.
func (m *Mem) Next() (frame []byte, ok bool) {
	select {
	case b := <-m.rx:
		frame = bytes.Clone(b.Bytes())
		releaseBuf(b)
		return frame, true
	default:
		return nil, false
	}
}

// Pending is the number of frames queued for reading at this end.
func (m *Mem) Pending() int { return len(m.rx) }

// Close shuts this end: pending and future reads return ErrClosed, writes
// return ErrClosed, and the peer's transmissions towards it are counted as
// PeerClosed. Frames still queued are freed. Closing twice is harmless.
func (m *Mem) Close() error {
	m.once.Do(func() {
		close(m.done)
		for {
			select {
			case b := <-m.rx:
				releaseBuf(b)
			default:
				return
			}
		}
	})
	return nil
}
