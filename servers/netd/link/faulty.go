package link

import (
	"math/rand/v2"
	"sync"
	"time"

	"armos/libipc/skbuff"
)

// FrameDevice is a device that moves whole frames as byte slices (TAP).
type FrameDevice interface {
	ReadFrame(p []byte) (int, error)
	WriteFrame(p []byte) error
	Close() error
}

// FaultyFaults configures a Faulty device, in both directions. Percentages
// are 0..100 (clamped). The zero value injects nothing.
type FaultyFaults struct {
	DropPct      int // frames lost
	DuplicatePct int // frames delivered twice
	CorruptPct   int // frames with one byte changed
	// DelayPct of the frames are held back: a transmitted frame is written
	// Delay later (frames sent meanwhile overtake it), a received one is
	// handed to the stack after the next frame (reordered).
	DelayPct int
	Delay    time.Duration
	Seed     uint64
}

// FaultyCounters counts what a Faulty device did, per direction.
type FaultyCounters struct {
	TxDropped, TxDuplicated, TxCorrupted, TxDelayed uint64
	RxDropped, RxDuplicated, RxCorrupted, RxDelayed uint64
}

// Faulty wraps a FrameDevice (a TAP, so that a real peer is on the other
// side) with a fault injector on both directions: what tests use to give
// Linux's TCP and armos's a lossy, duplicating, reordering link where the
// host has no netem. It is a netd device: ReadBuf for the pump, Transmit
// for the stack. Safe for concurrent use.
type Faulty struct {
	d FrameDevice

	mu       sync.Mutex
	f        FaultyFaults
	rng      *rand.Rand
	counters FaultyCounters
	pending  [][]byte // received frames to hand out first (duplicates)
	held     []byte   // a received frame delayed until after the next
}

// NewFaulty wraps d, injecting nothing until SetFaults.
func NewFaulty(d FrameDevice) *Faulty {
	f := &Faulty{d: d}
	f.SetFaults(FaultyFaults{})
	return f
}

// SetFaults replaces the configuration and reseeds the random source.
func (f *Faulty) SetFaults(c FaultyFaults) {
	clamp := func(p *int) { *p = min(max(*p, 0), 100) }
	clamp(&c.DropPct)
	clamp(&c.DuplicatePct)
	clamp(&c.CorruptPct)
	clamp(&c.DelayPct)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.f = c
	f.rng = rand.New(rand.NewPCG(c.Seed, c.Seed^0x5bd1e995))
}

// Counters returns what was injected so far.
func (f *Faulty) Counters() FaultyCounters {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counters
}

func (f *Faulty) chance(pct int) bool { return pct > 0 && f.rng.IntN(100) < pct }

// ReadFrame reads the next frame that survives the receive faults.
func (f *Faulty) ReadFrame(p []byte) (int, error) {
	for {
		f.mu.Lock()
		if len(f.pending) > 0 {
			n := copy(p, f.pending[0])
			f.pending = f.pending[1:]
			f.mu.Unlock()
			return n, nil
		}
		f.mu.Unlock()
		n, err := f.d.ReadFrame(p)
		if err != nil {
			return n, err
		}
		f.mu.Lock()
		c := f.f
		switch {
		case f.chance(c.DropPct):
			f.counters.RxDropped++
			f.mu.Unlock()
			continue
		case n > 0 && f.chance(c.CorruptPct):
			p[f.rng.IntN(n)] ^= byte(1 + f.rng.IntN(255))
			f.counters.RxCorrupted++
		}
		if f.chance(c.DuplicatePct) {
			f.counters.RxDuplicated++
			f.pending = append(f.pending, append([]byte(nil), p[:n]...))
		}
		if f.held != nil { // the delayed frame goes after this one
			f.pending = append(f.pending, f.held)
			f.held = nil
		} else if f.chance(c.DelayPct) {
			f.counters.RxDelayed++
			f.held = append([]byte(nil), p[:n]...)
			f.mu.Unlock()
			continue
		}
		f.mu.Unlock()
		return n, nil
	}
}

// ReadBuf is ReadFrame into a packet buffer (link.Device).
func (f *Faulty) ReadBuf(b *skbuff.Buf) error { return readBuf(f, b) }

// WriteFrame writes p through the transmit faults.
func (f *Faulty) WriteFrame(p []byte) error {
	f.mu.Lock()
	c := f.f
	switch {
	case f.chance(c.DropPct):
		f.counters.TxDropped++
		f.mu.Unlock()
		return nil
	case f.chance(c.DelayPct):
		f.counters.TxDelayed++
		f.mu.Unlock()
		frame := append([]byte(nil), p...)
		time.AfterFunc(c.Delay, func() { _ = f.d.WriteFrame(frame) })
		return nil
	}
	dup := f.chance(c.DuplicatePct)
	if dup {
		f.counters.TxDuplicated++
	}
	var frame []byte
	if len(p) > 0 && f.chance(c.CorruptPct) {
		f.counters.TxCorrupted++
		frame = append([]byte(nil), p...)
		frame[f.rng.IntN(len(frame))] ^= byte(1 + f.rng.IntN(255))
		p = frame
	}
	f.mu.Unlock()
	err := f.d.WriteFrame(p)
	if dup && err == nil {
		err = f.d.WriteFrame(p)
	}
	return err
}

// Transmit sends b through the transmit faults (stack.Link); it takes b.
func (f *Faulty) Transmit(b *skbuff.Buf) error {
	if b == nil {
		return skbuff.ErrNilBuf
	}
	err := f.WriteFrame(b.Bytes())
	releaseBuf(b)
	return err
}

// Close closes the wrapped device.
func (f *Faulty) Close() error { return f.d.Close() }
