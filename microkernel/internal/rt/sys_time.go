package rt

import "unsafe"

// Clock IDs (include/uapi/linux/time.h).
const (
	clockRealtime       = 0
	clockMonotonic      = 1
	clockRealtimeCoarse = 5
)

// clock_gettime(clock, ts): every clock but REALTIME is the monotonic
// counter time.
//
//go:nosplit
func sysClockGettimeFn(tf *Frame) uint64 {
	p := userMem(uintptr(tf.X[1]), unsafe.Sizeof(timespec{}))
	if p == nil {
		return errno(EFAULT)
	}
	t := ticksToNS(now())
	if c := tf.X[0]; c == clockRealtime || c == clockRealtimeCoarse {
		t += realtimeBase
	}
	ts := (*timespec)(p)
	ts.Sec, ts.Nsec = int64(t/1_000_000_000), int64(t%1_000_000_000)
	return 0
}

// nanosleep(req, rem): blocks the thread until the deadline.
//
//go:nosplit
func sysNanosleepFn(tf *Frame) uint64 {
	p := userMem(uintptr(tf.X[0]), unsafe.Sizeof(timespec{}))
	if p == nil {
		return errno(EFAULT)
	}
	ns := timespecNS((*timespec)(p))
	if ns == 0 {
		reschedule = true
		return 0
	}
	block(waitSleep, deadlineAfter(ns))
	return 0
}
