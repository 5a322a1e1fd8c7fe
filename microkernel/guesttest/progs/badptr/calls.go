package main

import (
	"bytes"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"armos/microkernel/guesttest/progs/check"
)

// A ptrCase is a system call with one pointer argument made bad in turn.
type ptrCase struct {
	name string
	// out: the kernel writes through the pointer (so a read-only page
	// is bad too); otherwise it only reads.
	out bool
	// want overrides the expected EFAULT for some kinds; 0 is success.
	want map[string]syscall.Errno
	// qemu overrides want under qemu-user, where it departs from Linux.
	qemu map[string]syscall.Errno
	// skip lists kinds that do not apply (for example NULL where it
	// means "wait forever").
	skip []string
	// call makes the system call with the bad pointer p.
	call func(t *check.T, p uintptr) syscall.Errno
}

// A valueCase is one system call with an expected errno.
type valueCase struct {
	name string
	want syscall.Errno
	call func(t *check.T) syscall.Errno
	qemu *syscall.Errno // if not nil, what qemu-user returns instead
}

// qemuSays is a valueCase's errno under qemu-user.
func qemuSays(e syscall.Errno) *syscall.Errno { return &e }

type valueGroup struct {
	name  string
	cases []valueCase
}

// Constants the syscall package does not name on every GOARCH.
const (
	sigBlock       = 0      // SIG_BLOCK
	sigsetSize     = 8      // the kernel's sigset_t
	grndNonblock   = 1      // GRND_NONBLOCK
	fionread       = 0x541b // FIONREAD
	futexWait      = 0      // FUTEX_WAIT
	futexPrivate   = 128    // FUTEX_PRIVATE_FLAG
	rlimitNofile   = 7      // RLIMIT_NOFILE
	itimerReal     = 0      // ITIMER_REAL
	wnohang        = 1      // WNOHANG
	pollOut        = 4      // POLLOUT
	clockMonotonic = 1      // CLOCK_MONOTONIC
	msAsync        = 1      // MS_ASYNC
	badClock       = 100    // no such clock
)

// atFDCWD is AT_FDCWD (-100) as a system call argument.
const atFDCWD = ^uintptr(100 - 1)

// good is a read-write page for the valid arguments of a call; mmap'd so
// that the garbage collector neither moves nor frees it while the kernel
// holds its address.
var good = func() []byte {
	b, err := syscall.Mmap(-1, 0, syscall.Getpagesize(), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic(err)
	}
	return b
}()

// goodAt returns the address of good[off:], cleared for n bytes.
func goodAt(off, n int) uintptr {
	clear(good[off : off+n])
	return uintptr(unsafe.Pointer(&good[off]))
}

// putTimespec writes a timespec at good[off:] and returns its address.
func putTimespec(off int, d time.Duration) uintptr {
	p := goodAt(off, 16)
	*(*syscall.Timespec)(unsafe.Pointer(&good[off])) = syscall.NsecToTimespec(int64(d))
	return p
}

// putIovec writes one struct iovec at good[off:] and returns its address.
func putIovec(off int, base, n uintptr) uintptr {
	p := goodAt(off, 16)
	*(*[2]uintptr)(unsafe.Pointer(&good[off])) = [2]uintptr{base, n}
	return p
}

// sysR makes a raw system call and returns its result and errno.
func sysR(nr uintptr, a ...uintptr) (uintptr, syscall.Errno) {
	var args [6]uintptr
	copy(args[:], a)
	r, _, errno := syscall.RawSyscall6(nr, args[0], args[1], args[2], args[3], args[4], args[5])
	return r, errno
}

// pipe returns a fresh non-blocking pipe, with 8 bytes in it if full. The
// caller closes both ends.
func pipe(t *check.T, full bool) (r, w uintptr) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	if full {
		if _, err := syscall.Write(fds[1], []byte("12345678")); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	return uintptr(fds[0]), uintptr(fds[1])
}

// closeFDs closes file descriptors, ignoring errors.
func closeFDs(fds ...uintptr) {
	for _, fd := range fds {
		syscall.Close(int(fd))
	}
}

// nextFD returns the lowest free file descriptor.
func nextFD(t *check.T) int {
	fd, err := syscall.Dup(2)
	if err != nil {
		t.Fatalf("dup: %v", err)
	}
	syscall.Close(fd)
	return fd
}

// noLeak wraps a call that creates file descriptors: when it fails, the
// lowest free descriptor must be what it was before.
func noLeak(call func(p uintptr) (uintptr, syscall.Errno)) func(*check.T, uintptr) syscall.Errno {
	return func(t *check.T, p uintptr) syscall.Errno {
		before := nextFD(t)
		_, errno := call(p)
		if errno == 0 || underQEMU { // qemu-user leaks the host descriptors
			return errno
		}
		if after := nextFD(t); after != before {
			t.Errorf("%#x: the failed call left file descriptor %d open", p, before)
			syscall.Close(before)
		}
		return errno
	}
}

// zombie starts a child that exits at once and returns its process ID.
func zombie(t *check.T) uintptr {
	pid, err := syscall.ForkExec(os.Args[0], []string{os.Args[0]},
		&syscall.ProcAttr{Env: []string{childEnv + "=1"}})
	if err != nil {
		t.Fatalf("starting a child: %v", err)
	}
	return uintptr(pid)
}

// wait4 waits for the child pid with bad status or rusage pointers (one of
// them p), then checks the child is gone either way: Linux reaps it even
// when copying the status out fails.
func wait4(t *check.T, pid, status, rusage uintptr) syscall.Errno {
	// Syscall6, not RawSyscall6: this one blocks until the child exits.
	_, _, errno := syscall.Syscall6(syscall.SYS_WAIT4, pid, status, 0, rusage, 0, 0)
	if r, again := sysR(syscall.SYS_WAIT4, pid, 0, wnohang, 0); again != syscall.ECHILD {
		t.Errorf("after wait4 with status %#x, rusage %#x: the child was not reaped (wait4 again: %d, %s)",
			status, rusage, r, errnoName(again))
		if again == 0 && r == 0 { // still running or still a zombie: reap it
			syscall.Syscall6(syscall.SYS_WAIT4, pid, 0, 0, 0, 0, 0)
		}
	}
	return errno
}

// epollReady returns an epoll instance with one ready descriptor (the
// write end of an empty pipe, for EPOLLOUT) and the descriptors to close.
func epollReady(t *check.T) (epfd uintptr, fds []uintptr) {
	r, w := pipe(t, false)
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatalf("epoll_create1: %v", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLOUT, Fd: int32(w)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, int(w), &ev); err != nil {
		t.Fatalf("epoll_ctl: %v", err)
	}
	return uintptr(ep), []uintptr{uintptr(ep), r, w}
}

// onThread runs f locked to one OS thread, for state that is per thread.
func onThread(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f()
}

// sameBytes fails the check if the n bytes at good[off:] differ from before.
func sameBytes(t *check.T, what string, before []byte, off int) {
	if after := good[off : off+len(before)]; !bytes.Equal(before, after) {
		t.Errorf("the failed call changed the %s: %x, was %x", what, after, before)
	}
}

// allKinds maps every kind to errno e.
func allKinds(e syscall.Errno) map[string]syscall.Errno {
	m := make(map[string]syscall.Errno)
	for _, k := range kinds {
		m[k.name] = e
	}
	return m
}

// ok is success as an expectation.
const ok = syscall.Errno(0)

// nullOK: NULL means "not wanted" for this pointer.
var nullOK = map[string]syscall.Errno{"null": ok}

func ptrCases() []ptrCase {
	return []ptrCase{
		// Calls that write through the pointer.
		{name: "clock_gettime", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_CLOCK_GETTIME, clockMonotonic, p)
			return e
		}},
		// qemu-user ignores a failed copy-out here.
		{name: "clock_getres", out: true, want: nullOK, qemu: allKinds(ok), call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_CLOCK_GETRES, clockMonotonic, p)
			return e
		}},
		{name: "gettimeofday", out: true, want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_GETTIMEOFDAY, p, 0)
			return e
		}},
		{name: "read", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			r, w := pipe(t, true)
			defer closeFDs(r, w)
			_, e := sysR(syscall.SYS_READ, r, p, 8)
			return e
		}},
		{name: "readv-buffer", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			r, w := pipe(t, true)
			defer closeFDs(r, w)
			_, e := sysR(syscall.SYS_READV, r, putIovec(0, p, 8), 1)
			return e
		}},
		{name: "pipe2", out: true, call: noLeak(func(p uintptr) (uintptr, syscall.Errno) {
			return sysR(syscall.SYS_PIPE2, p, syscall.O_CLOEXEC)
		})},
		{name: "socketpair", out: true, call: noLeak(func(p uintptr) (uintptr, syscall.Errno) {
			return sysR(syscall.SYS_SOCKETPAIR, syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0, p)
		})},
		{name: "rt_sigprocmask-oldset", out: true, want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_RT_SIGPROCMASK, sigBlock, 0, p, sigsetSize)
			return e
		}},
		{name: "rt_sigaction-oldact", out: true, want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGUSR2), 0, p, sigsetSize)
			return e
		}},
		{name: "sigaltstack-old", out: true, want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_SIGALTSTACK, 0, p)
			return e
		}},
		{name: "rt_sigpending", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_RT_SIGPENDING, p, sigsetSize)
			return e
		}},
		// A partial copy returns the bytes copied: 2 for "straddle";
		// qemu-user checks the whole buffer first.
		{name: "getrandom", out: true, want: map[string]syscall.Errno{"straddle": ok},
			qemu: map[string]syscall.Errno{"straddle": syscall.EFAULT}, call: func(t *check.T, p uintptr) syscall.Errno {
				_, e := sysR(sysGetrandom, p, 16, grndNonblock)
				return e
			}},
		{name: "uname", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_UNAME, p)
			return e
		}},
		// qemu-user treats NULL as "not wanted".
		{name: "sysinfo", out: true, qemu: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_SYSINFO, p)
			return e
		}},
		{name: "getrusage", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_GETRUSAGE, 0, p)
			return e
		}},
		{name: "times", out: true, want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_TIMES, p)
			return e
		}},
		// A cwd of "/" fits in the two good bytes of "straddle".
		{name: "getcwd", out: true, skip: []string{"straddle"}, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_GETCWD, p, 4096)
			return e
		}},
		{name: "getresuid", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_GETRESUID, p, goodAt(0, 4), goodAt(4, 4))
			return e
		}},
		// qemu-user treats NULL as "not wanted".
		{name: "getitimer", out: true, qemu: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_GETITIMER, itimerReal, p)
			return e
		}},
		{name: "prlimit64-old", out: true, want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_PRLIMIT64, 0, rlimitNofile, 0, p)
			return e
		}},
		{name: "sched_getaffinity", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_SCHED_GETAFFINITY, 0, 128, p)
			return e
		}},
		{name: "fstat", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			r, w := pipe(t, false)
			defer closeFDs(r, w)
			_, e := sysR(syscall.SYS_FSTAT, r, p)
			return e
		}},
		{name: "ioctl-fionread", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			r, w := pipe(t, true)
			defer closeFDs(r, w)
			_, e := sysR(syscall.SYS_IOCTL, r, fionread, p)
			return e
		}},
		// One page needs one byte of vector: it fits in "straddle" (not
		// for qemu-user).
		{name: "mincore-vec", out: true, want: map[string]syscall.Errno{"straddle": ok},
			qemu: map[string]syscall.Errno{"straddle": syscall.EFAULT},
			call: func(t *check.T, p uintptr) syscall.Errno {
				_, e := sysR(syscall.SYS_MINCORE, mem.rw, mem.page, p)
				return e
			}},
		{name: "wait4-status", out: true, want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			return wait4(t, zombie(t), p, 0)
		}},
		{name: "wait4-rusage", out: true, want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			return wait4(t, zombie(t), 0, p)
		}},
		{name: "epoll_pwait-events", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			ep, fds := epollReady(t)
			defer closeFDs(fds...)
			_, e := sysR(syscall.SYS_EPOLL_PWAIT, ep, p, 1, 0, 0, sigsetSize)
			return e
		}},
		// ppoll reads the pollfds and writes their revents back.
		{name: "ppoll-fds", out: true, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_PPOLL, p, 1, putTimespec(0, 0), 0, sigsetSize)
			return e
		}},
		// pselect6 reads the fd_set and writes the result back; NULL is
		// no set.
		{name: "pselect6-readfds", out: true, want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_PSELECT6, 1, p, 0, 0, putTimespec(0, 0), 0)
			return e
		}},
		// The remaining time is written only if a signal interrupts the
		// sleep, so a bad rem goes unnoticed. A signal (the runtime's
		// SIGURG, a child's SIGCHLD) may interrupt even 1 ns: then the
		// result is EINTR, or EFAULT from writing rem, and we try again.
		{name: "nanosleep-rem", out: true, want: allKinds(ok), call: func(t *check.T, p uintptr) syscall.Errno {
			var e syscall.Errno
			for range 10 {
				_, e = sysR(syscall.SYS_NANOSLEEP, putTimespec(0, time.Nanosecond), p)
				if e != syscall.EINTR && e != syscall.EFAULT {
					break
				}
			}
			return e
		}},

		// Calls that only read through the pointer.
		// qemu-user ignores a failed copy-in here (and sleeps for
		// whatever its stack held).
		{name: "nanosleep-req", qemu: allKinds(ok), call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_NANOSLEEP, p, 0)
			return e
		}},
		{name: "write", call: func(t *check.T, p uintptr) syscall.Errno {
			r, w := pipe(t, false)
			defer closeFDs(r, w)
			_, e := sysR(syscall.SYS_WRITE, w, p, 8)
			return e
		}},
		{name: "writev-iov", call: func(t *check.T, p uintptr) syscall.Errno {
			r, w := pipe(t, false)
			defer closeFDs(r, w)
			_, e := sysR(syscall.SYS_WRITEV, w, p, 1)
			return e
		}},
		{name: "readv-iov", call: func(t *check.T, p uintptr) syscall.Errno {
			r, w := pipe(t, true)
			defer closeFDs(r, w)
			_, e := sysR(syscall.SYS_READV, r, p, 1)
			return e
		}},
		{name: "openat-path", call: func(t *check.T, p uintptr) syscall.Errno {
			fd, e := sysR(syscall.SYS_OPENAT, atFDCWD, p, syscall.O_RDONLY|syscall.O_CLOEXEC)
			if e == 0 {
				closeFDs(fd)
			}
			return e
		}},
		{name: "chdir-path", call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_CHDIR, p)
			return e
		}},
		{name: "execve-path", call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_EXECVE, p, 0, 0)
			return e
		}},
		{name: "rt_sigprocmask-set", want: nullOK, call: func(t *check.T, p uintptr) (e syscall.Errno) {
			onThread(func() { // the mask is per thread
				old := goodAt(0, 8)
				sysR(syscall.SYS_RT_SIGPROCMASK, sigBlock, 0, old, sigsetSize)
				before := bytes.Clone(good[:8])
				_, e = sysR(syscall.SYS_RT_SIGPROCMASK, sigBlock, p, 0, sigsetSize)
				sysR(syscall.SYS_RT_SIGPROCMASK, sigBlock, 0, old, sigsetSize)
				sameBytes(t, "signal mask", before, 0)
			})
			return e
		}},
		{name: "rt_sigaction-act", want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			old := goodAt(0, 64)
			sig := uintptr(syscall.SIGUSR2)
			sysR(syscall.SYS_RT_SIGACTION, sig, 0, old, sigsetSize)
			before := bytes.Clone(good[:64])
			_, e := sysR(syscall.SYS_RT_SIGACTION, sig, p, 0, sigsetSize)
			sysR(syscall.SYS_RT_SIGACTION, sig, 0, old, sigsetSize)
			sameBytes(t, "SIGUSR2 action", before, 0)
			return e
		}},
		{name: "sigaltstack-new", want: nullOK, call: func(t *check.T, p uintptr) (e syscall.Errno) {
			onThread(func() { // the alternate stack is per thread
				old := goodAt(0, 32)
				sysR(syscall.SYS_SIGALTSTACK, 0, old)
				before := bytes.Clone(good[:32])
				_, e = sysR(syscall.SYS_SIGALTSTACK, p, 0)
				sysR(syscall.SYS_SIGALTSTACK, 0, old)
				sameBytes(t, "signal stack", before, 0)
			})
			return e
		}},
		{name: "rt_sigtimedwait-set", call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_RT_SIGTIMEDWAIT, p, 0, putTimespec(0, 0), sigsetSize)
			return e
		}},
		{name: "epoll_ctl-event", call: func(t *check.T, p uintptr) syscall.Errno {
			ep, fds := epollReady(t)
			defer closeFDs(fds...)
			_, e := sysR(syscall.SYS_EPOLL_CTL, ep, syscall.EPOLL_CTL_ADD, fds[1], p)
			return e
		}},
		{name: "epoll_pwait-sigmask", want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			ep, fds := epollReady(t)
			defer closeFDs(fds...)
			_, e := sysR(syscall.SYS_EPOLL_PWAIT, ep, goodAt(0, 64), 1, 0, p, sigsetSize)
			return e
		}},
		// NULL would mean "no timeout". The pollfd is ready, so a kernel
		// that ignored a bad timeout would return at once, not hang.
		{name: "ppoll-timeout", skip: []string{"null"}, call: func(t *check.T, p uintptr) syscall.Errno {
			r, w := pipe(t, false)
			defer closeFDs(r, w)
			fds := goodAt(0, 8)
			*(*[2]int32)(unsafe.Pointer(&good[0])) = [2]int32{int32(w), pollOut}
			_, e := sysR(syscall.SYS_PPOLL, fds, 1, p, 0, sigsetSize)
			return e
		}},
		// The futex word must be 4-byte aligned: "straddle" is not.
		{name: "futex-word", want: map[string]syscall.Errno{"straddle": syscall.EINVAL},
			call: func(t *check.T, p uintptr) syscall.Errno {
				_, e := sysR(syscall.SYS_FUTEX, p, futexWait|futexPrivate, 0, putTimespec(0, time.Millisecond))
				return e
			}},
		// NULL would mean "no timeout". The word differs from the
		// expected value, so a kernel that ignored a bad timeout would
		// return EAGAIN, not hang; Linux reads the timeout first.
		{name: "futex-timeout", skip: []string{"null"}, call: func(t *check.T, p uintptr) syscall.Errno {
			word := goodAt(0, 4)
			good[0] = 1
			_, e := sysR(syscall.SYS_FUTEX, word, futexWait|futexPrivate, 0, p)
			return e
		}},
		{name: "sched_setaffinity", call: func(t *check.T, p uintptr) (e syscall.Errno) {
			onThread(func() { _, e = sysR(syscall.SYS_SCHED_SETAFFINITY, 0, 8, p) })
			return e
		}},
		// A NULL new value disarms the timer (a "misfeature" Linux keeps).
		{name: "setitimer-new", want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_SETITIMER, itimerReal, p, 0)
			return e
		}},
		{name: "prlimit64-new", want: nullOK, call: func(t *check.T, p uintptr) syscall.Errno {
			_, e := sysR(syscall.SYS_PRLIMIT64, 0, rlimitNofile, p, 0)
			return e
		}},
	}
}

func valueGroups() []valueGroup {
	return []valueGroup{
		{"zero-length", []valueCase{
			{name: "read(pipe, NULL, 0)", want: ok, call: func(t *check.T) syscall.Errno {
				r, w := pipe(t, true)
				defer closeFDs(r, w)
				_, e := sysR(syscall.SYS_READ, r, 0, 0)
				return e
			}},
			{name: "write(pipe, NULL, 0)", want: ok, call: func(t *check.T) syscall.Errno {
				r, w := pipe(t, false)
				defer closeFDs(r, w)
				_, e := sysR(syscall.SYS_WRITE, w, 0, 0)
				return e
			}},
			{name: "readv(pipe, NULL, 0)", want: ok, call: func(t *check.T) syscall.Errno {
				r, w := pipe(t, true)
				defer closeFDs(r, w)
				_, e := sysR(syscall.SYS_READV, r, 0, 0)
				return e
			}},
			{name: "getrandom(NULL, 0)", want: ok, call: func(t *check.T) syscall.Errno {
				_, e := sysR(sysGetrandom, 0, 0, grndNonblock)
				return e
			}, qemu: qemuSays(syscall.EFAULT)},
		}},
		// Arguments that are checked before any memory is touched.
		{"checked-first", []valueCase{
			{name: "read(-1, NULL, 8)", want: syscall.EBADF, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_READ, ^uintptr(0), 0, 8)
				return e
			}, qemu: qemuSays(syscall.EFAULT)}, // qemu-user checks the buffer first
			{name: "write(-1, NULL, 8)", want: syscall.EBADF, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_WRITE, ^uintptr(0), 0, 8)
				return e
			}, qemu: qemuSays(syscall.EFAULT)},
			{name: "clock_gettime(100, NULL)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_CLOCK_GETTIME, badClock, 0)
				return e
			}},
			{name: "rt_sigprocmask(sigsetsize 4, oldset NULL)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_RT_SIGPROCMASK, sigBlock, 0, 0, 4)
				return e
			}},
			{name: "epoll_pwait(maxevents 0, events NULL)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				ep, fds := epollReady(t)
				defer closeFDs(fds...)
				_, e := sysR(syscall.SYS_EPOLL_PWAIT, ep, 0, 0, 0, 0, sigsetSize)
				return e
			}},
			{name: "futex(NULL+1, FUTEX_WAIT)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_FUTEX, 1, futexWait|futexPrivate, 0, putTimespec(0, time.Millisecond))
				return e
			}},
			{name: "sched_getaffinity(len 3, NULL)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_SCHED_GETAFFINITY, 0, 3, 0)
				return e
			}},
		}},
		// Lengths so large that pointer + length wraps around or leaves
		// the user half.
		{"wrapping-lengths", []valueCase{
			{name: "read(pipe, page, -1)", want: syscall.EFAULT, call: func(t *check.T) syscall.Errno {
				r, w := pipe(t, true)
				defer closeFDs(r, w)
				_, e := sysR(syscall.SYS_READ, r, mem.rw, ^uintptr(0))
				return e
			}},
			{name: "read(pipe, page, 2^64-page+16)", want: syscall.EFAULT, call: func(t *check.T) syscall.Errno {
				r, w := pipe(t, true)
				defer closeFDs(r, w)
				_, e := sysR(syscall.SYS_READ, r, mem.rw, -mem.rw+16)
				return e
			}},
			{name: "write(pipe, page, -1)", want: syscall.EFAULT, call: func(t *check.T) syscall.Errno {
				r, w := pipe(t, false)
				defer closeFDs(r, w)
				_, e := sysR(syscall.SYS_WRITE, w, mem.rw, ^uintptr(0))
				return e
			}},
			{name: "write(pipe, page, 2^63)", want: syscall.EFAULT, call: func(t *check.T) syscall.Errno {
				r, w := pipe(t, false)
				defer closeFDs(r, w)
				_, e := sysR(syscall.SYS_WRITE, w, mem.rw, 1<<63)
				return e
			}},
			{name: "writev(pipe, {page, -1})", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				r, w := pipe(t, false)
				defer closeFDs(r, w)
				_, e := sysR(syscall.SYS_WRITEV, w, putIovec(0, mem.rw, ^uintptr(0)), 1)
				return e
			}},
			{name: "readv(pipe, iov, -1 iovecs)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				r, w := pipe(t, true)
				defer closeFDs(r, w)
				_, e := sysR(syscall.SYS_READV, r, putIovec(0, mem.rw, 8), ^uintptr(0))
				return e
			}},
		}},
		// Address ranges given to the memory-management calls, which do
		// not dereference them and document other errors than EFAULT.
		{"mm-ranges", []valueCase{
			{name: "munmap(unmapped page)", want: ok, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MUNMAP, unmappedPage(), mem.page)
				return e
			}},
			{name: "munmap(page+1)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MUNMAP, mem.rw+1, mem.page)
				return e
			}},
			{name: "munmap(length 0)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MUNMAP, mem.rw, 0)
				return e
			}},
			{name: "munmap(kernel half)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MUNMAP, 0xffff<<48, mem.page)
				return e
			}},
			{name: "munmap(page, wrapping length)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MUNMAP, mem.rw, -mem.page)
				return e
			}},
			{name: "mprotect(unmapped page)", want: syscall.ENOMEM, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MPROTECT, unmappedPage(), mem.page, syscall.PROT_READ)
				return e
			}},
			{name: "mprotect(page+1)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MPROTECT, mem.rw+1, mem.page, syscall.PROT_READ)
				return e
			}},
			{name: "mprotect(kernel half)", want: syscall.ENOMEM, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MPROTECT, 0xffff<<48, mem.page, syscall.PROT_READ)
				return e
			}},
			{name: "mprotect(page, wrapping length)", want: syscall.ENOMEM, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MPROTECT, mem.rw, -mem.page, syscall.PROT_READ|syscall.PROT_WRITE)
				return e
			}},
			{name: "madvise(unmapped page, MADV_DONTNEED)", want: syscall.ENOMEM, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MADVISE, unmappedPage(), mem.page, syscall.MADV_DONTNEED)
				return e
			}, qemu: qemuSays(ok)}, // qemu-user ignores advice on unmapped pages
			{name: "mincore(unmapped page)", want: syscall.ENOMEM, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MINCORE, unmappedPage(), mem.page, goodAt(0, 8))
				return e
			}},
			{name: "msync(unmapped page)", want: syscall.ENOMEM, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MSYNC, unmappedPage(), mem.page, msAsync)
				return e
			}},
			{name: "mmap(MAP_FIXED, kernel half)", want: syscall.ENOMEM, call: func(t *check.T) syscall.Errno {
				addr, e := sysR(syscall.SYS_MMAP, 0xffff<<48, mem.page, syscall.PROT_READ,
					syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_FIXED, ^uintptr(0), 0)
				if e == 0 {
					sysR(syscall.SYS_MUNMAP, addr, mem.page)
				}
				return e
			}},
			{name: "mmap(MAP_FIXED, page+1)", want: syscall.EINVAL, call: func(t *check.T) syscall.Errno {
				_, e := sysR(syscall.SYS_MMAP, mem.rw+1, mem.page, syscall.PROT_READ,
					syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_FIXED, ^uintptr(0), 0)
				return e
			}},
			{name: "mmap(length -page)", want: syscall.ENOMEM, call: func(t *check.T) syscall.Errno {
				addr, e := sysR(syscall.SYS_MMAP, 0, -mem.page, syscall.PROT_READ,
					syscall.MAP_PRIVATE|syscall.MAP_ANON, ^uintptr(0), 0)
				if e == 0 {
					sysR(syscall.SYS_MUNMAP, addr, -mem.page)
				}
				return e
			}},
		}},
	}
}

// checkSurvived: after all that, the process still works: memory, threads,
// timers, the console.
func checkSurvived(t *check.T) {
	if os.Getpid() <= 0 {
		t.Errorf("getpid")
	}
	b := make([]byte, 8<<20)
	for i := range b {
		b[i] = byte(i)
	}
	runtime.GC()
	done := make(chan int)
	go func() {
		runtime.LockOSThread()
		done <- syscall.Gettid()
	}()
	if tid := <-done; tid <= 0 {
		t.Errorf("gettid on a new thread = %d", tid)
	}
	start := time.Now()
	time.Sleep(time.Millisecond)
	if time.Since(start) < time.Millisecond {
		t.Errorf("sleep returned early")
	}
	if i := 12345; b[i] != byte(i) {
		t.Errorf("memory lost its contents")
	}
}
