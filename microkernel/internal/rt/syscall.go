package rt

// The system call table of the kernel's own Go runtime: number -> handler.
//
// The runtime issues Linux arm64 system calls (SVC #0, number in X8,
// arguments in X0..X5, result or -errno in X0). This table is the whole
// contract between the stock runtime and armos; docs/boot.md says why each
// call is needed. Calls not in the table return -ENOSYS and are named once on
// the console.

// Linux arm64 system call numbers (include/uapi/asm-generic/unistd.h).
const (
	sysEventfd2         = 19
	sysEpollCreate1     = 20
	sysEpollCtl         = 21
	sysEpollPwait       = 22
	sysFcntl            = 25
	sysOpenat           = 56
	sysClose            = 57
	sysRead             = 63
	sysWrite            = 64
	sysPread64          = 67
	sysExit             = 93
	sysExitGroup        = 94
	sysFutex            = 98
	sysNanosleep        = 101
	sysClockGettime     = 113
	sysSchedYield       = 124
	sysSchedGetaffinity = 123
	sysTkill            = 130
	sysTgkill           = 131
	sysSigaltstack      = 132
	sysRtSigaction      = 134
	sysRtSigprocmask    = 135
	sysRtSigreturn      = 139
	sysPrctl            = 167
	sysGetpid           = 172
	sysGettid           = 178
	sysMunmap           = 215
	sysClone            = 220
	sysMmap             = 222
	sysMadvise          = 233
	sysPrlimit64        = 261
	sysGetrandom        = 278

	maxSyscall = 512
)

// Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h).
const (
	EPERM     = 1
	ENOENT    = 2
	EINTR     = 4
	EBADF     = 9
	EAGAIN    = 11
	ENOMEM    = 12
	EFAULT    = 14
	ESRCH     = 3
	EEXIST    = 17
	EINVAL    = 22
	EMFILE    = 24
	ENOSYS    = 38
	ETIMEDOUT = 110
)

// errno encodes a Linux error as a system call result (-e).
//
//go:nosplit
func errno(e int) uint64 { return uint64(-int64(e)) }

// sysEntry is one row of the table.
type sysEntry struct {
	name string
	fn   func(tf *Frame) uint64 // nil: -ENOSYS, reported once
}

// syscalls is THE table. It is statically initialized data (no init code),
// because the runtime calls mmap before any package is initialized.
var syscalls = [maxSyscall]sysEntry{
	// memory (sys_mm.go)
	sysMmap:    {"mmap", sysMmapFn},       // demand-zero anonymous memory; MAP_FIXED commits
	sysMunmap:  {"munmap", sysMunmapFn},   // frees pages and address space
	sysMadvise: {"madvise", sysMadviseFn}, // DONTNEED really frees; other advice ignored

	// threads and time (sys_thread.go, sys_time.go)
	sysClone:            {"clone", sysCloneFn},                // a new kernel thread sharing everything
	sysExit:             {"exit", sysExitFn},                  // ends the calling thread
	sysExitGroup:        {"exit_group", sysExitGroupFn},       // ends the kernel: powers off
	sysFutex:            {"futex", sysFutexFn},                // WAIT/WAKE (private), with timeouts
	sysSchedYield:       {"sched_yield", sysSchedYieldFn},     // round robin to the next thread
	sysGettid:           {"gettid", sysGettidFn},              // thread id
	sysGetpid:           {"getpid", sysGetpidFn},              // always 1
	sysSchedGetaffinity: {"sched_getaffinity", sysAffinityFn}, // NumCPU, hence GOMAXPROCS
	sysNanosleep:        {"nanosleep", sysNanosleepFn},        // blocks until a deadline
	sysClockGettime:     {"clock_gettime", sysClockGettimeFn}, // generic timer

	// files: console, epoll, eventfd (sys_file.go)
	sysWrite:        {"write", sysWriteFn},                // fd 1, 2: PL011; eventfd: signal
	sysRead:         {"read", sysReadFn},                  // eventfd: take the count
	sysClose:        {"close", sysCloseFn},                // epoll and eventfd descriptors
	sysFcntl:        {"fcntl", sysFcntlFn},                // F_GETFD on live fds returns 0
	sysEpollCreate1: {"epoll_create1", sysEpollCreate1Fn}, // the netpoller
	sysEpollCtl:     {"epoll_ctl", sysEpollCtlFn},         // ADD/MOD/DEL on eventfds
	sysEpollPwait:   {"epoll_pwait", sysEpollPwaitFn},     // blocks with a timeout (timers)
	sysEventfd2:     {"eventfd2", sysEventfd2Fn},          // the netpoller's wakeup
	sysOpenat:       {"openat", sysOpenatFn},              // no file system: ENOENT

	// signals (sys_signal.go)
	sysRtSigaction:   {"rt_sigaction", sysRtSigactionFn},     // records handlers
	sysRtSigprocmask: {"rt_sigprocmask", sysRtSigprocmaskFn}, // per-thread mask
	sysSigaltstack:   {"sigaltstack", sysSigaltstackFn},      // per-thread alternate stack
	sysTgkill:        {"tgkill", sysTgkillFn},                // SIGURG: async preemption
	sysTkill:         {"tkill", sysTkillFn},
	sysRtSigreturn:   {"rt_sigreturn", sysRtSigreturnFn}, // back from a handler

	// known and refused: the runtime copes with an error
	sysPread64:   {"pread64", nil},
	sysPrctl:     {"prctl", nil},
	sysPrlimit64: {"prlimit64", nil},
	sysGetrandom: {"getrandom", nil},
}

// reported remembers which unimplemented calls were named on the console;
// bit maxSyscall stands for every number beyond the table, named once for
// all (the first one seen).
var reported [maxSyscall/64 + 1]uint64

// syscall dispatches the SVC whose registers are in tf and stores the result
// in X0 (unless the handler blocked the thread or replaced tf).
//
//go:nosplit
func syscall(tf *Frame) {
	nr := tf.X[regSyscallNo]
	stats.Syscalls++
	if nr == sysEnterUser {
		enterUser(tf)
		return
	}
	if nr < maxSyscall {
		if fn := syscalls[nr].fn; fn != nil {
			tf.X[0] = fn(tf)
			return
		}
	}
	nosys(nr)
	tf.X[0] = errno(ENOSYS)
}

// nosys names an unimplemented call once.
//
//go:nosplit
func nosys(nr uint64) {
	bit := nr
	if bit > maxSyscall {
		bit = maxSyscall
	}
	if reported[bit/64]&(1<<(bit%64)) != 0 {
		return
	}
	reported[bit/64] |= 1 << (bit % 64)
	puts("armos: syscall ")
	if nr < maxSyscall && syscalls[nr].name != "" {
		puts(syscalls[nr].name)
		puts(" ")
	}
	puts("(")
	putDec(nr)
	puts(") not implemented: ENOSYS\n")
}
