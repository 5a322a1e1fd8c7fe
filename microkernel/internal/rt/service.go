package rt

import (
	"errors"
	gosys "syscall"
	"unsafe"

	"armos/microkernel/internal/mm"
)

// System-call services: the calls that need ordinary kernel Go code (path
// lookups in the boot image, execve's ELF loading) are not completed in
// trap context. The calling thread blocks (waitService), its slot goes
// into a ring, and a kernel goroutine waiting in NextServiceCall picks the
// call up, does the work with the full Go language (allocation, maps,
// the boot image index) and ends the call with Complete, which makes the
// thread runnable with the result. Process memory is reached with
// ReadProcess/WriteProcess, through the process's tables, under the
// kernel lock.

// ServiceCall is a system call waiting for kernel Go code.
type ServiceCall struct {
	Tid  int32
	Pid  int32
	Nr   uint64
	Args [6]uint64
}

// The ring holds thread ids, not slots: a thread that dies with its call
// queued leaves a stale entry, which must never name the next thread in
// that slot. Every live thread has at most one entry; stale ones are
// dropped when the ring would overflow (compactServiceRing).
var (
	svcRing          [maxThreads]int32
	svcHead, svcTail uint32
	// svcSeq counts queued calls; NextServiceCall futex-waits on it.
	svcSeq uint32
)

// deferToService queues the running thread's call for kernel Go code.
//
//go:nosplit
func deferToService(tf *Frame) {
	block(tf, -1, waitService, 0, 0, false)
	if svcTail-svcHead == maxThreads {
		compactServiceRing()
	}
	svcRing[svcTail%maxThreads] = th(cur).tid
	svcTail++
	svcSeq++
	stats.ServiceCalls++
	futexWakeKernel(uintptr(unsafe.Pointer(&svcSeq)))
}

// compactServiceRing drops the entries of threads no longer waiting for
// the service. The running thread waits in its call and has no entry yet,
// so a full ring always holds at least one stale entry.
//
//go:nosplit
func compactServiceRing() {
	kept := svcHead
	for k := svcHead; k != svcTail; k++ {
		tid := svcRing[k%maxThreads]
		if serviceThread(tid) >= 0 {
			svcRing[kept%maxThreads] = tid
			kept++
		}
	}
	svcTail = kept
}

// NextServiceCall returns the next queued call, waiting for one.
func NextServiceCall() ServiceCall {
	for {
		var c ServiceCall
		var seen uint32
		found := false
		Locked(func() {
			seen = svcSeq
			for svcHead != svcTail {
				i := serviceThread(svcRing[svcHead%maxThreads])
				svcHead++
				if i < 0 {
					continue // its process was killed meanwhile
				}
				t := th(i)
				c = ServiceCall{Tid: t.tid, Pid: pr(int(t.proc)).pid, Nr: t.regs.X[regSyscallNo]}
				copy(c.Args[:], t.regs.X[:6])
				found = true
				return
			}
		})
		if found {
			return c
		}
		futexWaitWord(&svcSeq, seen)
	}
}

// futexWaitWord blocks the calling goroutine's thread while *w == seen.
func futexWaitWord(w *uint32, seen uint32) {
	const futexWaitPrivate = futexOpWait | futexPrivateFlag
	gosys.Syscall6(gosys.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWaitPrivate, uintptr(seen), 0, 0, 0)
}

// serviceThread returns the slot of thread tid if it waits in a service
// call and its process lives, else -1: the call of a process being killed
// is not served (its thread stays blocked until the reaper frees it).
//
//go:nosplit
func serviceThread(tid int32) int {
	i := findTid(tid)
	if i < 0 || th(i).state != tsBlocked || th(i).wait != waitService || pr(int(th(i).proc)).state != psLive {
		return -1
	}
	return i
}

// Complete ends call c with result (a value, or errno(-e) for an error).
// It reports false if the thread is gone (its process was killed).
func (c ServiceCall) Complete(result uint64) bool {
	ok := false
	Locked(func() {
		if i := serviceThread(c.Tid); i >= 0 {
			wake(i, result)
			ok = true
		}
	})
	return ok
}

// Errno returns the system call result for errno e (-e).
func Errno(e int) uint64 { return errno(e) }

// ErrNoProcess is returned when the process a call names has ended.
var ErrNoProcess = errors.New("rt: no such process")

// ErrFault is returned when process memory cannot be read or written.
var ErrFault = errors.New("rt: bad address in process memory")

// touch faults in every page of b (and keeps the compiler from dropping
// the writes), so a locked section may copy into it.
func touch(b []byte) {
	for i := 0; i < len(b); i += pageSize {
		b[i] = 0
	}
	if len(b) > 0 {
		b[len(b)-1] = 0
	}
}

// withProcess runs fn under the kernel lock with the slot of live process
// pid, or returns ErrNoProcess.
func withProcess(pid int32, fn func(p int) error) error {
	var err error
	Locked(func() {
		p := findPid(pid)
		if p < 0 || pr(p).state != psLive {
			err = ErrNoProcess
			return
		}
		err = fn(p)
	})
	return err
}

// ReadProcess copies len(dst) bytes at va of process pid into dst.
func ReadProcess(pid int32, va uint64, dst []byte) error {
	touch(dst)
	return withProcess(pid, func(p int) error {
		if _, e := space(p).CopyIn(dst, va); e != mm.OK {
			return ErrFault
		}
		return nil
	})
}

// WriteProcess copies src to va of process pid.
func WriteProcess(pid int32, va uint64, src []byte) error {
	return withProcess(pid, func(p int) error {
		if _, e := space(p).CopyOut(va, src); e != mm.OK {
			return ErrFault
		}
		return nil
	})
}

// ReadProcessString reads a NUL-terminated string at va of process pid;
// the string and its NUL take at most max bytes (Linux's PATH_MAX
// convention), or it is an error.
func ReadProcessString(pid int32, va uint64, max int) (string, error) {
	buf := make([]byte, 0, 256)
	chunk := make([]byte, 256)
	for len(buf) < max {
		n := pageSize - int(va%pageSize)
		n = min(n, len(chunk), max-len(buf))
		if err := ReadProcess(pid, va, chunk[:n]); err != nil {
			return "", err
		}
		for i := 0; i < n; i++ {
			if chunk[i] == 0 {
				return string(append(buf, chunk[:i]...)), nil
			}
		}
		buf = append(buf, chunk[:n]...)
		va += uint64(n)
	}
	return "", errors.New("rt: string too long")
}
