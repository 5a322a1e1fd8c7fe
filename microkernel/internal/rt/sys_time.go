package rt

// Time system calls. Processes normally read the clock through the vDSO
// without entering the kernel; these are the system call fallbacks, and
// the kernel's own runtime uses them.

// Clock IDs (include/uapi/linux/time.h).
const (
	clockRealtime         = 0
	clockMonotonic        = 1
	clockProcessCPUTimeID = 2
	clockThreadCPUTimeID  = 3
	clockMonotonicRaw     = 4
	clockRealtimeCoarse   = 5
	clockMonotonicCoarse  = 6
	clockBoottime         = 7
	clockRealtimeAlarm    = 8
	clockBoottimeAlarm    = 9
	clockTAI              = 11

	timerAbstime = 1
)

// clockNS returns clock id's time in ns; ok is false for an unknown clock.
// CPU-time clocks count the time since the process started (armos keeps
// no per-thread CPU accounting yet).
//
//go:nosplit
func clockNS(id uint64) (uint64, bool) {
	if id < 64 && vv.ClockMask&(1<<id) != 0 {
		return vv.ClockNS(int32(id), now()) // exactly what the vDSO computes
	}
	t := ticksToNS(now())
	switch id {
	case clockRealtime, clockRealtimeCoarse, clockRealtimeAlarm, clockTAI:
		return t + realtimeBase, true
	case clockMonotonic, clockMonotonicRaw, clockMonotonicCoarse, clockBoottime, clockBoottimeAlarm:
		return t, true
	case clockProcessCPUTimeID, clockThreadCPUTimeID:
		return ticksToNS(now() - pr(curProc()).spawned), true
	}
	return 0, false
}

// clock_gettime(clock, ts)
//
//go:nosplit
func sysClockGettimeFn(tf *Frame) uint64 {
	t, ok := clockNS(tf.X[0])
	if !ok {
		return errno(EINVAL)
	}
	if !writeTimespec(tf.X[1], t) {
		return errno(EFAULT)
	}
	return 0
}

// clock_getres(clock, res): the counter's period, rounded up to 1 ns.
//
//go:nosplit
func sysClockGetresFn(tf *Frame) uint64 {
	if _, ok := clockNS(tf.X[0]); !ok {
		return errno(EINVAL)
	}
	if tf.X[1] == 0 {
		return 0
	}
	res := (1_000_000_000 + counterFreq - 1) / counterFreq
	if !writeTimespec(tf.X[1], res) {
		return errno(EFAULT)
	}
	return 0
}

// gettimeofday(tv, tz)
//
//go:nosplit
func sysGettimeofdayFn(tf *Frame) uint64 {
	if tf.X[0] != 0 {
		t := ticksToNS(now()) + realtimeBase
		if !writeU64(tf.X[0], t/1_000_000_000) || !writeU64(tf.X[0]+8, t%1_000_000_000/1000) {
			return errno(EFAULT)
		}
	}
	if tf.X[1] != 0 && !writeU64(tf.X[1], 0) {
		return errno(EFAULT)
	}
	return 0
}

// nanosleep(req, rem): blocks the thread until the deadline; a signal ends
// it early with EINTR (rem is not filled: Go does not use it).
//
//go:nosplit
func sysNanosleepFn(tf *Frame) uint64 {
	ns, ok, valid := readTimespec(tf.X[0])
	if !ok {
		return errno(EFAULT)
	}
	if !valid {
		return errno(EINVAL)
	}
	return sleepFor(tf, ns)
}

// sleepFor blocks the running thread for ns (0: yields).
//
//go:nosplit
func sleepFor(tf *Frame, ns uint64) uint64 {
	if ns == 0 {
		reschedule = true
		return 0
	}
	block(tf, -1, waitSleep, deadlineAfter(ns), 0, true)
	return 0
}

// clock_nanosleep(clock, flags, req, rem)
//
//go:nosplit
func sysClockNanosleepFn(tf *Frame) uint64 {
	now, ok := clockNS(tf.X[0])
	if !ok || tf.X[0] == clockThreadCPUTimeID {
		return errno(EINVAL)
	}
	ns, ok, valid := readTimespec(tf.X[2])
	if !ok {
		return errno(EFAULT)
	}
	if !valid {
		return errno(EINVAL)
	}
	if tf.X[1]&timerAbstime != 0 {
		if ns <= now {
			return 0
		}
		ns -= now
	}
	return sleepFor(tf, ns)
}
