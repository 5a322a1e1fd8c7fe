package stack

import "time"

// Clock is the stack's only source of time. The stack never sleeps and never
// reads the wall clock itself: every timer (ARP retries and expiry, fragment
// reassembly timeouts, ICMP rate limits, ping round-trip times) is computed
// from Clock.Now, so tests drive time with a fake clock instead of sleeping.
//
// Now must be monotonic: it never goes backwards between calls.
type Clock interface {
	Now() time.Time
}

// SystemClock is the Clock of a running netd: it returns time.Now, whose
// monotonic reading makes it safe for durations.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }
