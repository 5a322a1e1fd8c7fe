package stacktest

import (
	"sync"
	"time"
)

// FakeClock is a manually advanced clock for deterministic tests. It satisfies
// stack.Clock. The zero value is not usable; create one with NewFakeClock.
// It is safe for concurrent use, although the stack itself is single-goroutine.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// FakeEpoch is the time a FakeClock starts at: fixed so that test output and
// failures are reproducible.
var FakeEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// NewFakeClock returns a clock reading FakeEpoch.
func NewFakeClock() *FakeClock { return &FakeClock{now: FakeEpoch} }

// Now returns the clock's current reading.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (negative d is ignored: clocks are
// monotonic) and returns the new reading.
func (c *FakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return c.now
}

// Set moves the clock to t if t is later than the current reading.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// Since returns the time elapsed since FakeEpoch.
func (c *FakeClock) Since() time.Duration { return c.Now().Sub(FakeEpoch) }
