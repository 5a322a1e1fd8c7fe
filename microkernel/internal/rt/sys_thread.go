package rt

import "unsafe"

// Thread and process system calls: clone (threads, and vfork for
// os/exec), exit, exit_group, wait4/waitid, futex, sched_yield, the IDs,
// sched_getaffinity.

// clone flags (include/uapi/linux/sched.h).
const (
	cloneVM            = 0x100
	cloneFS            = 0x200
	cloneFiles         = 0x400
	cloneSighand       = 0x800
	clonePidfd         = 0x1000
	cloneVfork         = 0x4000
	cloneParent        = 0x8000
	cloneThread        = 0x10000
	cloneSysvsem       = 0x40000
	cloneSetTLS        = 0x80000
	cloneParentSettid  = 0x100000
	cloneChildCleartid = 0x200000
	cloneChildSettid   = 0x1000000
	cloneSignalMask    = 0xff
	// clone flags armos does not implement: CLONE_PTRACE, CLONE_PARENT,
	// CLONE_NEWNS, CLONE_UNTRACED, the other namespaces, CLONE_IO.
	cloneUnsupported = 0x2000 | cloneParent | 0x20000 | 0x800000 | 0xfe00_0000
)

// futex operations (include/uapi/linux/futex.h).
const (
	futexOpWait       = 0
	futexOpWake       = 1
	futexOpWaitBitset = 9
	futexOpWakeBitset = 10
	futexPrivateFlag  = 128
	futexClockRT      = 256
)

// virtualCPUs is what sched_getaffinity reports to the kernel's own
// runtime: two Ps time-sliced on one CPU, so that a goroutine spinning on
// one P does not stop the other (see docs/boot.md). Processes see the one
// real CPU, as they would under Linux on this machine.
const virtualCPUs = 2

// clone(flags, stack, ptid, tls, ctid)
func sysCloneFn(tf *Frame) uint64 {
	flags, stack := tf.X[0], tf.X[1]
	if flags&cloneUnsupported != 0 {
		return errno(EINVAL)
	}
	if flags&cloneThread != 0 {
		return cloneThreadCall(tf, flags, stack)
	}
	if flags&cloneVM != 0 && flags&cloneVfork != 0 {
		return vforkCall(tf, flags, stack)
	}
	// A copying fork needs copy-on-write memory, which no Go program
	// uses (os/exec vforks).
	return errno(ENOSYS)
}

// cloneThreadCall creates a thread in the caller's process.
func cloneThreadCall(tf *Frame, flags, stack uint64) uint64 {
	if flags&(cloneVM|cloneSighand) != cloneVM|cloneSighand || stack == 0 {
		return errno(EINVAL)
	}
	p := curProc()
	pp := pr(p)
	if pp.nthreads >= pp.threadLimit {
		stats.CloneFailed++
		threadLimitReached(p)
		return errno(EAGAIN)
	}
	fpFlush(cur, tf) // the new thread starts with tf's FP/SIMD registers too
	i := newThread(p, tf, th(cur).user)
	if i < 0 {
		stats.CloneFailed++
		return errno(EAGAIN)
	}
	t := th(i)
	t.regs.X[0] = 0
	t.regs.SP = stack
	t.tls = th(cur).tls
	if cur != idle && th(cur).user {
		t.tls = getTPIDR0()
	}
	if flags&cloneSetTLS != 0 {
		t.tls = tf.X[3]
	}
	t.sigs.mask = th(cur).sigs.mask
	if flags&cloneParentSettid != 0 && !writeU32(tf.X[2], uint32(t.tid)) {
		freeThread(i)
		return errno(EFAULT)
	}
	if flags&cloneChildCleartid != 0 {
		t.clearTID = tf.X[4]
	}
	if flags&cloneChildSettid != 0 && !writeU32(tf.X[4], uint32(t.tid)) {
		freeThread(i)
		return errno(EFAULT)
	}
	makeRunnable(i)
	stats.Clones++
	return uint64(t.tid)
}

// threadLimitReached names the limit once per process on the console.
//
//go:nosplit
func threadLimitReached(p int) {
	pp := pr(p)
	if pp.warnedThreads {
		return
	}
	pp.warnedThreads = true
	kmsgStart()
	puts("armos: process ")
	putName(pp)
	puts(" (pid ")
	putDec(uint64(pp.pid))
	puts(") reached its thread limit (")
	putDec(uint64(pp.threadLimit))
	puts("): clone fails with EAGAIN\n")
}

// vforkCall creates a child process that runs in the caller's address
// space until it calls execve or exits; the calling thread waits until
// then (CLONE_VFORK). This is how os/exec starts programs.
func vforkCall(tf *Frame, flags, stack uint64) uint64 {
	p := curProc()
	if p == 0 {
		return errno(EINVAL) // the kernel starts processes with Spawn
	}
	c, i, e := newProcess(p, "")
	if c < 0 {
		return errno(e)
	}
	cp := pr(c)
	cp.name = pr(p).name
	cp.traced, cp.straceAt = pr(p).traced, now()
	cp.asOwner = pr(p).asOwner
	ttbrChanged()
	copyFiles(c, p)
	cp.sigact = pr(p).sigact
	fpFlush(cur, tf) // the child starts with tf's FP/SIMD registers too
	t := th(i)
	t.regs = *tf
	t.regs.X[0] = 0
	if stack != 0 {
		t.regs.SP = stack
	}
	t.tls = getTPIDR0()
	t.sigs.mask = th(cur).sigs.mask
	if flags&cloneParentSettid != 0 {
		writeU32(tf.X[2], uint32(cp.pid))
	}
	if flags&clonePidfd != 0 {
		writeU32(tf.X[2], ^uint32(0)) // no pidfd support: -1
	}
	makeRunnable(i)
	stats.Clones++
	// The parent resumes with the child's pid when the child execs or
	// exits (releaseVfork).
	block(tf, cp.vforkQ, waitVfork, 0, 0, false)
	return 0
}

// exit(code): the calling thread ends; the last thread of a process ends
// the process with code.
func sysExitFn(tf *Frame) uint64 {
	p := curProc()
	if p != 0 && pr(p).nthreads == 1 {
		exitProcess(p, uint32(tf.X[0]&0xff)<<8, false)
		return 0
	}
	clearChildTID(cur)
	freeThread(cur)
	return 0
}

// clearChildTID does CLONE_CHILD_CLEARTID for an ending thread: zero the
// word and wake one futex waiter on it.
//
//go:nosplit
func clearChildTID(i int) {
	t := th(i)
	if t.clearTID == 0 || !t.user {
		return
	}
	owner := int(pr(int(t.proc)).asOwner)
	saved := cur
	cur = i // copy into the thread's own process
	writeU32(t.clearTID, 0)
	cur = saved
	futexWake(owner, t.clearTID, 1)
}

// exit_group(code): the process ends (the kernel: powers off).
func sysExitGroupFn(tf *Frame) uint64 {
	p := curProc()
	if p == 0 {
		exitKernel(int(int32(tf.X[0])))
		return 0
	}
	exitProcess(p, uint32(tf.X[0]&0xff)<<8, false)
	return 0
}

// set_tid_address(tidptr)
//
//go:nosplit
func sysSetTidAddressFn(tf *Frame) uint64 {
	th(cur).clearTID = tf.X[0]
	return uint64(th(cur).tid)
}

// wait options.
const (
	wNohang   = 1
	wExited   = 4
	wNowait   = 0x01000000
	wAll      = 0x40000000
	wClone    = 0x80000000
	pAll      = 0
	pPid      = 1
	pPgid     = 2
	cldExited = 1
	cldKilled = 2
)

// findChild returns a child of p matching pid (-1: any) and whether p has
// any matching child at all; zombie is a matching zombie slot or -1.
//
//go:nosplit
func findChild(p int, pid int32) (zombie int, any bool) {
	zombie = -1
	for c := 1; c < maxProcs; c++ {
		if procPage[c] == 0 || pr(c).parent != int16(p) || c == p {
			continue
		}
		if pid > 0 && pr(c).pid != pid {
			continue
		}
		any = true
		if pr(c).state == psZombie {
			return c, true
		}
	}
	return zombie, any
}

// wait4(pid, status, options, rusage)
func sysWait4Fn(tf *Frame) uint64 {
	pid, opts := int32(tf.X[0]), tf.X[2]
	if opts&^(wNohang|0x2|0x8|wAll|wClone|0x20000000) != 0 {
		return errno(EINVAL)
	}
	if pid < -1 || pid == 0 {
		pid = -1 // process groups: every child is in the caller's
	}
	p := curProc()
	c, any := findChild(p, pid)
	if !any {
		return errno(ECHILD)
	}
	if c < 0 {
		if opts&wNohang != 0 {
			return 0
		}
		return blockOn(tf, pr(p).childQ, waitChild, 0, 0)
	}
	// As on Linux, the child is reaped even when the status cannot be
	// written out.
	cp := pr(c)
	r := uint64(cp.pid)
	if tf.X[1] != 0 && !writeU32(tf.X[1], cp.exitStatus) {
		r = errno(EFAULT)
	}
	if tf.X[3] != 0 {
		var ru [18]uint64 // struct rusage: no accounting yet
		if !copyOut(tf.X[3], bytesOf(unsafe.Pointer(&ru), unsafe.Sizeof(ru))) {
			r = errno(EFAULT)
		}
	}
	dropProcess(c)
	return r
}

// waitid(idtype, id, infop, options, rusage)
func sysWaitidFn(tf *Frame) uint64 {
	idtype, opts := tf.X[0], tf.X[3]
	if opts&(wExited) == 0 || opts&^(wNohang|wExited|wNowait|0x2|0x8|wAll|wClone|0x20000000) != 0 {
		return errno(EINVAL)
	}
	pid := int32(-1)
	switch idtype {
	case pAll, pPgid:
	case pPid:
		pid = int32(tf.X[1])
		if pid <= 0 {
			return errno(EINVAL)
		}
	default:
		return errno(EINVAL)
	}
	p := curProc()
	c, any := findChild(p, pid)
	if !any {
		return errno(ECHILD)
	}
	if c < 0 {
		if opts&wNohang != 0 {
			if tf.X[2] != 0 {
				var zero [128]byte
				if !copyOut(tf.X[2], zero[:]) {
					return errno(EFAULT)
				}
			}
			return 0
		}
		return blockOn(tf, pr(p).childQ, waitChild, 0, 0)
	}
	cp := pr(c)
	if tf.X[2] != 0 {
		var si [128]byte
		*(*int32)(unsafe.Pointer(&si[0])) = sigCHLD
		code, status := int32(cldExited), int32(cp.exitStatus>>8)
		if cp.killed {
			code, status = cldKilled, int32(cp.exitStatus&0x7f)
		}
		*(*int32)(unsafe.Pointer(&si[8])) = code
		*(*int32)(unsafe.Pointer(&si[16])) = cp.pid
		*(*int32)(unsafe.Pointer(&si[24])) = status
		if !copyOut(tf.X[2], si[:]) {
			return errno(EFAULT)
		}
	}
	if opts&wNowait == 0 {
		dropProcess(c)
	}
	return 0
}

// futexKey names a futex word: the address space it lives in and its
// address.
//
//go:nosplit
func futexKey(owner int, addr uint64) uint64 { return uint64(owner)<<56 | addr }

// futexBucket returns the wait queue of key.
//
//go:nosplit
func futexBucket(key uint64) int16 {
	h := (key >> 2) ^ (key >> 13) ^ (key >> 56)
	return int16(qFutex + h%futexBuckets)
}

// futex(addr, op, val, timeout, addr2, val3): FUTEX_WAIT blocks while
// *addr == val (until woken or the relative timeout passes); FUTEX_WAKE
// wakes up to val waiters. The _BITSET variants are accepted with the
// all-ones mask (what everything but glibc's condvars uses).
func sysFutexFn(tf *Frame) uint64 {
	addr, val := tf.X[0], uint32(tf.X[2])
	op := tf.X[1] &^ (futexPrivateFlag | futexClockRT)
	if addr&3 != 0 {
		return errno(EINVAL)
	}
	owner := int(pr(curProc()).asOwner)
	switch op {
	case futexOpWait, futexOpWaitBitset:
		if op == futexOpWaitBitset && uint32(tf.X[5]) == 0 {
			return errno(EINVAL)
		}
		// Linux reads the timeout before the futex word.
		var deadline uint64
		if ts := tf.X[3]; ts != 0 {
			ns, ok, valid := readTimespec(ts)
			if !ok {
				return errno(EFAULT)
			}
			if !valid {
				return errno(EINVAL)
			}
			if op == futexOpWaitBitset {
				// An absolute deadline on the monotonic or realtime clock.
				base := ticksToNS(now())
				if tf.X[1]&futexClockRT != 0 {
					base += realtimeBase
				}
				if ns <= base {
					return errno(ETIMEDOUT)
				}
				ns -= base
			}
			deadline = deadlineAfter(ns)
		}
		v, ok := readU32(addr)
		if !ok {
			return errno(EFAULT)
		}
		if v != val {
			return errno(EAGAIN)
		}
		key := futexKey(owner, addr)
		th(cur).key = key
		block(tf, futexBucket(key), waitFutex, deadline, errno(ETIMEDOUT), true)
		stats.FutexWaits++
		return 0
	case futexOpWake, futexOpWakeBitset:
		if op == futexOpWakeBitset && uint32(tf.X[5]) == 0 {
			return errno(EINVAL)
		}
		// As on Linux (futex_wake counts after waking), a count of 0 or
		// less still wakes one waiter.
		return uint64(futexWake(owner, addr, max(1, int(int32(val)))))
	}
	return errno(ENOSYS)
}

// futexWake wakes up to n threads
// waiting on the word at addr of address space owner, and returns how many.
//
//go:nosplit
func futexWake(owner int, addr uint64, n int) int {
	key := futexKey(owner, addr)
	q := futexBucket(key)
	woken := 0
	for i := int(queues[q].head); i >= 0 && woken < n; {
		next := int(th(i).next)
		if th(i).key == key {
			wake(i, 0)
			woken++
		}
		i = next
	}
	return woken
}

// futexWakeKernel wakes every kernel thread waiting on the kernel word at
// va (the rt side of the events kernel goroutines wait for).
//
//go:nosplit
func futexWakeKernel(va uintptr) { futexWake(0, uint64(va), 1<<30) }

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
func sysGettidFn(tf *Frame) uint64 { return uint64(th(cur).tid) }

// getpid()
//
//go:nosplit
func sysGetpidFn(tf *Frame) uint64 { return uint64(pr(curProc()).pid) }

// getppid()
//
//go:nosplit
func sysGetppidFn(tf *Frame) uint64 {
	pp := pr(curProc())
	if pp.parent < 0 {
		return 1
	}
	return uint64(pp.ppid)
}

// sched_getaffinity(pid, size, mask): returns the bytes written.
//
//go:nosplit
func sysAffinityFn(tf *Frame) uint64 {
	if tf.X[1] < 8 || tf.X[1]&7 != 0 {
		return errno(EINVAL)
	}
	cpus := uint64(1)
	if curProc() == 0 {
		cpus = 1<<virtualCPUs - 1
	}
	if !writeU64(tf.X[2], cpus) {
		return errno(EFAULT)
	}
	return 8
}

// sched_setaffinity(pid, size, mask): the one CPU is all there is.
//
//go:nosplit
func sysSetAffinityFn(tf *Frame) uint64 {
	v, ok := readU64(tf.X[2])
	if !ok {
		return errno(EFAULT)
	}
	if v&1 == 0 {
		return errno(EINVAL)
	}
	return 0
}

// getTLS returns the running user thread's TPIDR_EL0.
//
//go:nosplit
func getTLS() uint64 {
	if cur != idle && th(cur).user {
		return getTPIDR0()
	}
	return 0
}
