package rt

import "unsafe"

// Thread system calls: every Go M is a kernel thread (see sched.go).

// clone flags the runtime always passes (runtime/os_linux.go cloneFlags).
const (
	cloneVM     = 0x100
	cloneThread = 0x10000
)

// futex operations (include/uapi/linux/futex.h).
const (
	futexWait        = 0
	futexWake        = 1
	futexPrivateFlag = 128
	futexClockRT     = 256
)

// virtualCPUs is what sched_getaffinity reports, hence the runtime's
// GOMAXPROCS: two Ps time-sliced on one CPU, so that a goroutine spinning
// on one P does not stop the other (see docs/boot.md).
const virtualCPUs = 2

// clone(flags, stack, ptid, tls, ctid): the child resumes after the SVC with
// X0 = 0 on the given stack (runtime·clone finds mp, gp, fn there).
//
//go:nosplit
func sysCloneFn(tf *Frame) uint64 {
	flags, stack := tf.X[0], tf.X[1]
	if flags&(cloneVM|cloneThread) != cloneVM|cloneThread || stack == 0 {
		return errno(EINVAL)
	}
	i := newThread(tf)
	if i < 0 {
		stats.CloneFailed++
		return errno(EAGAIN)
	}
	t := &threads[i]
	t.regs.X[0] = 0
	t.regs.SP = stack
	t.sigs.mask = threads[cur].sigs.mask
	stats.Clones++
	return uint64(t.tid)
}

// exit(code): the runtime has already told whoever waits for this M
// (exitThread stores to m.freeWait before the call).
//
//go:nosplit
func sysExitFn(tf *Frame) uint64 {
	threads[cur].state = tsFree
	reschedule = true
	return 0
}

// exit_group(code) ends the kernel.
//
//go:nosplit
func sysExitGroupFn(tf *Frame) uint64 {
	exitKernel(int(int32(tf.X[0])))
	return 0
}

// futex(addr, op, val, timeout, ...): FUTEX_WAIT blocks while *addr == val
// (until woken or the relative timeout passes); FUTEX_WAKE wakes up to val
// waiters.
//
//go:nosplit
func sysFutexFn(tf *Frame) uint64 {
	addr, op, val := uintptr(tf.X[0]), tf.X[1]&^(futexPrivateFlag|futexClockRT), uint32(tf.X[2])
	if addr&3 != 0 {
		return errno(EINVAL)
	}
	switch op {
	case futexWait:
		p := userMem(addr, 4)
		if p == nil {
			return errno(EFAULT)
		}
		if *(*uint32)(p) != val {
			return errno(EAGAIN)
		}
		var deadline uint64
		if ts := tf.X[3]; ts != 0 {
			tp := userMem(uintptr(ts), unsafe.Sizeof(timespec{}))
			if tp == nil {
				return errno(EFAULT)
			}
			deadline = deadlineAfter(timespecNS((*timespec)(tp)))
		}
		block(waitFutex, deadline)
		threads[cur].futexAddr = addr
		stats.FutexWaits++
		return 0
	case futexWake:
		return uint64(futexWakeAddr(addr, int(val)))
	}
	return errno(ENOSYS)
}

// futexWakeAddr wakes up to n threads waiting on addr and returns how many.
//
//go:nosplit
func futexWakeAddr(addr uintptr, n int) int {
	woken := 0
	for i := 0; i < highWater && woken < n; i++ {
		t := &threads[i]
		if t.state == tsBlocked && t.wait == waitFutex && t.futexAddr == addr {
			wake(i, 0)
			woken++
		}
	}
	return woken
}

// sched_yield()
//
//go:nosplit
func sysSchedYieldFn(tf *Frame) uint64 {
	reschedule = true
	return 0
}

// gettid()
//
//go:nosplit
func sysGettidFn(tf *Frame) uint64 { return uint64(threads[cur].tid) }

// getpid(): the kernel is process 1.
//
//go:nosplit
func sysGetpidFn(tf *Frame) uint64 { return 1 }

// sched_getaffinity(pid, size, mask): virtualCPUs CPUs; returns the bytes
// written.
//
//go:nosplit
func sysAffinityFn(tf *Frame) uint64 {
	if tf.X[1] < 8 {
		return errno(EINVAL)
	}
	p := userMem(uintptr(tf.X[2]), 8)
	if p == nil {
		return errno(EFAULT)
	}
	*(*uint64)(p) = 1<<virtualCPUs - 1
	return 8
}
