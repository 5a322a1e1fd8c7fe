package tcptest

import (
	"container/heap"
	"math/rand/v2"
	"net/netip"
	"time"

	"armos/servers/netd/stack/stacktest"
	"armos/servers/tcpd/tcp"
)

// Faults describes what Link does to the segments it carries. Each
// probability applies to each segment independently; all randomness comes
// from Seed.
type Faults struct {
	Loss      float64 // the segment is dropped
	Duplicate float64 // it is delivered twice
	Corrupt   float64 // one byte is changed (the checksum must catch it)
	Reorder   float64 // it is held back by ReorderDelay, so later ones overtake it

	ReorderDelay time.Duration // 0 means 3*Delay+1ms
	Delay        time.Duration // one-way propagation delay
	Jitter       time.Duration // extra delay, uniform in [0, Jitter), keeping each direction in order

	// Rate, when not 0, serializes each direction at that many bytes per
	// second; QueueBytes, when not 0, bounds what waits to be serialized
	// (drop-tail), making a bottleneck whose overflow congestion control
	// must handle.
	Rate       int
	QueueBytes int

	Seed uint64
}

// LinkStats counts what the link did.
type LinkStats struct {
	Sent       uint64 // segments handed to the link
	Bytes      uint64 // their bytes
	Delivered  uint64 // segments delivered (duplicates included)
	Lost       uint64 // dropped by Loss
	QueueDrops uint64 // dropped by the bottleneck queue
	Tapped     uint64 // dropped by Tap
	Duplicated uint64
	Corrupted  uint64
	Reordered  uint64
	Offloaded  uint64 // segments of many MSS cut before the faults (SendOffloaded)
}

// Packet is a segment in flight.
type Packet struct {
	Src, Dst netip.Addr
	Seg      []byte // the link's own copy
}

// Link connects engines by address. Every engine made with NewStack sends
// through it; segments arrive after their delay, on the shared Clock, when
// Step or Run advances it.
type Link struct {
	Clock  *stacktest.FakeClock
	Faults Faults
	// Tap, if set, sees every segment before the faults apply and drops
	// it by returning false (a test's scripted loss).
	Tap   func(p Packet) bool
	Stats LinkStats

	// Coalesce delivers an offloaded segment (SendOffloaded) whole, as a
	// receiver sees it whose host coalesced the pieces (GRO), instead of
	// cut into MSS pieces (Cut) as netd sends them.
	Coalesce bool
	// Plain gives the engines NewStack makes an Output that is not a
	// tcp.OffloadOutput.
	Plain bool

	rng   *rand.Rand
	hosts []host
	q     packetHeap
	n     uint64                      // order of enqueueing, to break ties deterministically
	busy  map[[2]netip.Addr]time.Time // per direction: when the bottleneck is free
	last  map[[2]netip.Addr]time.Time // per direction: the latest jittered arrival
}

type host struct {
	addr netip.Addr
	s    *tcp.Stack
}

// NewLink returns a link with faults f and a fresh fake clock.
func NewLink(f Faults) *Link {
	return &Link{
		Clock:  stacktest.NewFakeClock(),
		Faults: f,
		rng:    rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15)),
		busy:   make(map[[2]netip.Addr]time.Time),
		last:   make(map[[2]netip.Addr]time.Time),
	}
}

// NewStack makes an engine at addr that sends through the link (an
// OffloadOutput unless Plain is set). Its ISN
// secret derives from the seed and address unless cfg sets one, so runs
// repeat exactly. It panics on a bad config (a test bug).
func (l *Link) NewStack(addr netip.Addr, cfg tcp.Config) *tcp.Stack {
	if cfg.Secret == nil {
		a := addr.As4()
		cfg.Secret = []byte{byte(l.Faults.Seed), byte(l.Faults.Seed >> 8), a[0], a[1], a[2], a[3]}
	}
	s, err := tcp.New(cfg, l.output(), l.Clock)
	if err != nil {
		panic(err)
	}
	l.hosts = append(l.hosts, host{addr, s})
	return s
}

// SendSegment implements tcp.Output: it applies the faults and schedules
// delivery.
func (l *Link) SendSegment(src, dst netip.Addr, seg []byte) error {
	f := &l.Faults
	l.Stats.Sent++
	l.Stats.Bytes += uint64(len(seg))
	p := Packet{src, dst, append([]byte(nil), seg...)}
	if l.Tap != nil && !l.Tap(p) {
		l.Stats.Tapped++
		return nil
	}
	if l.rng.Float64() < f.Loss {
		l.Stats.Lost++
		return nil
	}
	now := l.Clock.Now()
	at := now
	if f.Rate > 0 {
		dir := [2]netip.Addr{src, dst}
		start := l.busy[dir]
		if start.Before(now) {
			start = now
		}
		if f.QueueBytes > 0 && int(start.Sub(now).Seconds()*float64(f.Rate)) > f.QueueBytes {
			l.Stats.QueueDrops++
			return nil
		}
		at = start.Add(time.Duration(len(seg)) * time.Second / time.Duration(f.Rate))
		l.busy[dir] = at
	}
	at = at.Add(f.Delay)
	dir := [2]netip.Addr{src, dst}
	if f.Jitter > 0 {
		at = at.Add(time.Duration(l.rng.Int64N(int64(f.Jitter))))
		if last := l.last[dir]; at.Before(last) {
			at = last // a queue delays; it does not reorder
		}
		l.last[dir] = at
	}
	if l.rng.Float64() < f.Reorder {
		l.Stats.Reordered++
		d := f.ReorderDelay
		if d == 0 {
			d = 3*f.Delay + time.Millisecond
		}
		at = at.Add(d)
	}
	if l.rng.Float64() < f.Corrupt && len(p.Seg) > 0 {
		l.Stats.Corrupted++
		p.Seg[l.rng.IntN(len(p.Seg))] ^= byte(1 + l.rng.IntN(255))
	}
	l.push(at, p)
	if l.rng.Float64() < f.Duplicate {
		l.Stats.Duplicated++
		l.push(at.Add(time.Microsecond), Packet{src, dst, append([]byte(nil), p.Seg...)})
	}
	return nil
}

func (l *Link) push(at time.Time, p Packet) {
	l.n++
	heap.Push(&l.q, queued{at, l.n, p})
}

// InFlight returns the segments not yet delivered.
func (l *Link) InFlight() int { return len(l.q) }

// next returns the time of the next event: a delivery or an engine's
// timer.
func (l *Link) next() (time.Time, bool) {
	var t time.Time
	if len(l.q) > 0 {
		t = l.q[0].at
	}
	for _, h := range l.hosts {
		if d, ok := h.s.NextDeadline(); ok && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	return t, !t.IsZero()
}

// Step moves the clock to the next event and processes everything due
// then: deliveries in order, then every engine's due timers. It returns
// false when nothing is scheduled.
func (l *Link) Step() bool {
	t, ok := l.next()
	if !ok {
		return false
	}
	l.Clock.Set(t)
	now := l.Clock.Now()
	for len(l.q) > 0 && !l.q[0].at.After(now) {
		p := heap.Pop(&l.q).(queued).p
		for _, h := range l.hosts {
			if h.addr == p.Dst {
				l.Stats.Delivered++
				h.s.Input(p.Src, p.Dst, p.Seg)
			}
		}
	}
	for _, h := range l.hosts {
		if d, ok := h.s.NextDeadline(); ok && !d.After(now) {
			h.s.Tick()
		}
	}
	return true
}

// Run calls done, then steps, until done returns true (Run then returns
// true), nothing is scheduled, or the clock has advanced by limit (Run
// returns false).
func (l *Link) Run(limit time.Duration, done func() bool) bool {
	end := l.Clock.Now().Add(limit)
	for {
		if done() {
			return true
		}
		if t, ok := l.next(); !ok || t.After(end) {
			return done()
		}
		l.Step()
	}
}

// RunFor steps until the clock reaches d from now (events after it stay
// scheduled).
func (l *Link) RunFor(d time.Duration) {
	end := l.Clock.Now().Add(d)
	for {
		t, ok := l.next()
		if !ok || t.After(end) {
			break
		}
		l.Step()
	}
	l.Clock.Set(end)
}

// queued is a packet and when it arrives; n orders packets due at the
// same time by when they were sent.
type queued struct {
	at time.Time
	n  uint64
	p  Packet
}

type packetHeap []queued

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].n < h[j].n
	}
	return h[i].at.Before(h[j].at)
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(queued)) }
func (h *packetHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
