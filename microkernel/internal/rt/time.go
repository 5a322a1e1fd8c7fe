package rt

import (
	"math/bits"

	"armos/microkernel/internal/arch"
)

// Time comes from the generic timer: CNTVCT_EL0 counts at CNTFRQ_EL0 Hz
// (62.5 MHz on QEMU virt). CLOCK_MONOTONIC is the counter since entry;
// CLOCK_REALTIME adds the wall-clock time at boot (from the PL031 RTC when
// main provides it via SetRealtimeBase).

var (
	counterFreq  uint64 // CNTFRQ_EL0, set by earlyInit (setCounterFreq)
	realtimeBase uint64 // ns since 1970 at counter value 0
	// nsPerTick is 1e9/counterFreq when that is a whole number (62.5 MHz:
	// 16; 1 GHz: 1), else 0. Then the conversions below need no 128-bit
	// division (math/bits.Div64 is a loop of a few dozen instructions)
	// and give the same results.
	nsPerTick uint64
)

// setCounterFreq sets the counter's frequency (Hz).
//
//go:nosplit
func setCounterFreq(f uint64) {
	counterFreq, nsPerTick = f, 0
	if f != 0 && f <= 1_000_000_000 && 1_000_000_000%f == 0 {
		nsPerTick = 1_000_000_000 / f
	}
	quantumTicks = nsToTicks(quantumNS)
}

// quantumTicks is quantumNS in counter ticks (startSlice runs at most
// thread switches).
var quantumTicks uint64

// now reads the counter.
//
//go:nosplit
func now() uint64 { return arch.Counter() }

// ticksToNS converts counter ticks to nanoseconds.
//
//go:nosplit
func ticksToNS(t uint64) uint64 {
	if k := nsPerTick; k != 0 { // t*1e9/f = t*k exactly
		hi, lo := bits.Mul64(t, k)
		if hi != 0 {
			return ^uint64(0)
		}
		return lo
	}
	hi, lo := bits.Mul64(t, 1_000_000_000)
	if hi >= counterFreq {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, counterFreq)
	return q
}

// nsToTicks converts nanoseconds to counter ticks, rounding up so that a
// sleep never ends early.
//
//go:nosplit
func nsToTicks(ns uint64) uint64 {
	if k := nsPerTick; k != 0 { // ns*f/1e9 = ns/k exactly (never beyond the bound)
		q := ns / k
		if q*k != ns {
			q++
		}
		return q
	}
	hi, lo := bits.Mul64(ns, counterFreq)
	if hi >= 1_000_000_000 {
		return ^uint64(0) >> 1
	}
	q, r := bits.Div64(hi, lo, 1_000_000_000)
	if r != 0 {
		q++
	}
	return q
}

// timespec is struct timespec on linux/arm64.
type timespec struct {
	Sec, Nsec int64
}

// timespecNS returns the duration a user timespec names, in ns (negative
// values count as 0).
//
//go:nosplit
func timespecNS(ts *timespec) uint64 {
	if ts.Sec < 0 || ts.Nsec < 0 {
		return 0
	}
	return uint64(ts.Sec)*1_000_000_000 + uint64(ts.Nsec)
}

// deadlineAfter returns the counter value ns from now (never 0, which means
// "no deadline").
//
//go:nosplit
func deadlineAfter(ns uint64) uint64 {
	d := now() + nsToTicks(ns)
	if d == 0 {
		d = 1
	}
	return d
}

// SetRealtimeBase sets CLOCK_REALTIME: unixNS is the wall-clock time now.
// The vDSO's data page follows.
func SetRealtimeBase(unixNS uint64) {
	realtimeBase = unixNS - ticksToNS(now())
	publishRealtime()
}

// Nanotime returns the monotonic time since the counter started, in ns.
func Nanotime() uint64 { return ticksToNS(now()) }

// CounterToNS converts a counter value to nanoseconds.
func CounterToNS(t uint64) uint64 { return ticksToNS(t) }
