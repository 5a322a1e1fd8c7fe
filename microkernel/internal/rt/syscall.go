package rt

import "armos/abi"

// THE system call table: number -> handler, for the kernel's own Go
// runtime (SVC at EL1) and for every process (SVC from EL0) alike.
//
// Calls use the Linux arm64 convention (SVC #0, number in X8, arguments in
// X0..X5, result or -errno in X0) and Linux's numbers
// (include/uapi/asm-generic/unistd.h; TestSyscallNumbersMatchLinux checks
// them against the Go toolchain's syscall package). A handler runs in trap
// context on behalf of the running thread (cur) and its process
// (curProc()); it reaches that process's memory only through the copy
// helpers (uaccess.go). Rows marked service are completed by ordinary
// kernel Go code (the file system calls and execve: ServiceCall); calls
// not in the table return -ENOSYS and are named once on the console.

// Linux arm64 system call numbers.
const (
	sysGetcwd           = 17
	sysEventfd2         = 19
	sysEpollCreate1     = 20
	sysEpollCtl         = 21
	sysEpollPwait       = 22
	sysDup              = 23
	sysDup3             = 24
	sysFcntl            = 25
	sysIoctl            = 29
	sysFaccessat        = 48
	sysChdir            = 49
	sysOpenat           = 56
	sysClose            = 57
	sysPipe2            = 59
	sysGetdents64       = 61
	sysLseek            = 62
	sysRead             = 63
	sysWrite            = 64
	sysReadv            = 65
	sysWritev           = 66
	sysPread64          = 67
	sysReadlinkat       = 78
	sysNewfstatat       = 79
	sysFstat            = 80
	sysExit             = 93
	sysExitGroup        = 94
	sysWaitid           = 95
	sysSetTidAddress    = 96
	sysFutex            = 98
	sysSetRobustList    = 99
	sysNanosleep        = 101
	sysClockGettime     = 113
	sysClockGetres      = 114
	sysClockNanosleep   = 115
	sysSchedSetaffinity = 122
	sysSchedGetaffinity = 123
	sysSchedYield       = 124
	sysKill             = 129
	sysTkill            = 130
	sysTgkill           = 131
	sysSigaltstack      = 132
	sysRtSigaction      = 134
	sysRtSigprocmask    = 135
	sysRtSigpending     = 136
	sysRtSigreturn      = 139
	sysGetresuid        = 148
	sysGetresgid        = 150
	sysTimes            = 153
	sysGetrusage        = 165
	sysMsync            = 227
	sysUname            = 160
	sysUmask            = 166
	sysPrctl            = 167
	sysGettimeofday     = 169
	sysGetpid           = 172
	sysGetppid          = 173
	sysGetuid           = 174
	sysGeteuid          = 175
	sysGetgid           = 176
	sysGetegid          = 177
	sysGettid           = 178
	sysSysinfo          = 179
	sysMunmap           = 215
	sysClone            = 220
	sysExecve           = 221
	sysMmap             = 222
	sysMprotect         = 226
	sysMincore          = 232
	sysMadvise          = 233
	sysWait4            = 260
	sysPrlimit64        = 261
	sysGetrandom        = 278
	sysStatx            = 291
	sysFaccessat2       = 439
	sysRseq             = 293
	sysPidfdOpen        = 434
	sysClone3           = 435
	sysPidfdSendSignal  = 424

	maxSyscall = 528
)

// Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h).
const (
	EPERM        = 1
	ENOENT       = 2
	ESRCH        = 3
	EINTR        = 4
	EIO          = 5
	ENOEXEC      = 8
	EBADF        = 9
	ECHILD       = 10
	EAGAIN       = 11
	ENOMEM       = 12
	EACCES       = 13
	EFAULT       = 14
	EEXIST       = 17
	ENODEV       = 19
	ENOTDIR      = 20
	EISDIR       = 21
	EINVAL       = 22
	ENFILE       = 23
	EMFILE       = 24
	ENOTTY       = 25
	ENOSPC       = 28
	ESPIPE       = 29
	EPIPE        = 32
	ERANGE       = 34
	ENAMETOOLONG = 36
	ENOSYS       = 38
	ETIMEDOUT    = 110
)

// restartCall is what a handler returns when it did a bounded part of a
// long call (munmap of a huge range...) and rewrote the argument registers
// to describe the rest: the caller makes the call again. It is never a
// result a program sees (Linux's ERESTARTNOINTR plays the same role).
const restartCall = ^uint64(512)

// errno encodes a Linux error as a system call result (-e).
//
//go:nosplit
func errno(e int) uint64 { return uint64(-int64(e)) }

// sysEntry is one row of the table.
type sysEntry struct {
	name    string
	fn      func(tf *Frame) uint64 // nil: -ENOSYS, reported once
	service bool                   // completed by kernel Go code (ServiceCall)
}

// syscalls is THE table. It is statically initialized data (no init code),
// because the kernel's runtime calls mmap before any package is initialized.
var syscalls = [maxSyscall]sysEntry{
	// memory (sys_mm.go)
	sysMmap:     {name: "mmap", fn: sysMmapFn},         // demand-zero anonymous memory; MAP_FIXED replaces
	sysMunmap:   {name: "munmap", fn: sysMunmapFn},     // frees pages and address space
	sysMadvise:  {name: "madvise", fn: sysMadviseFn},   // DONTNEED really frees; other advice ignored
	sysMprotect: {name: "mprotect", fn: sysMprotectFn}, // enforced by the MMU
	sysMincore:  {name: "mincore", fn: sysMincoreFn},
	sysMsync:    {name: "msync", fn: sysMsyncFn},

	// threads and processes (sys_thread.go)
	sysClone:            {name: "clone", fn: sysCloneFn}, // threads; vfork for os/exec
	sysExit:             {name: "exit", fn: sysExitFn},   // ends the thread (the last one ends the process)
	sysExitGroup:        {name: "exit_group", fn: sysExitGroupFn},
	sysWait4:            {name: "wait4", fn: sysWait4Fn},
	sysWaitid:           {name: "waitid", fn: sysWaitidFn},
	sysSetTidAddress:    {name: "set_tid_address", fn: sysSetTidAddressFn},
	sysSetRobustList:    {name: "set_robust_list", fn: sysZeroFn}, // accepted; futex owner death is not tracked
	sysFutex:            {name: "futex", fn: sysFutexFn},          // WAIT/WAKE (+BITSET), with timeouts
	sysSchedYield:       {name: "sched_yield", fn: sysSchedYieldFn},
	sysGettid:           {name: "gettid", fn: sysGettidFn},
	sysGetpid:           {name: "getpid", fn: sysGetpidFn},
	sysGetppid:          {name: "getppid", fn: sysGetppidFn},
	sysSchedGetaffinity: {name: "sched_getaffinity", fn: sysAffinityFn},
	sysSchedSetaffinity: {name: "sched_setaffinity", fn: sysSetAffinityFn},

	// time (sys_time.go)
	sysNanosleep:      {name: "nanosleep", fn: sysNanosleepFn},
	sysClockNanosleep: {name: "clock_nanosleep", fn: sysClockNanosleepFn},
	sysClockGettime:   {name: "clock_gettime", fn: sysClockGettimeFn},
	sysClockGetres:    {name: "clock_getres", fn: sysClockGetresFn},
	sysGettimeofday:   {name: "gettimeofday", fn: sysGettimeofdayFn},

	// descriptors: console, pipes, eventfd, epoll, files (files.go)
	sysRead:         {name: "read", fn: sysReadFn},
	sysReadv:        {name: "readv", fn: sysReadvFn},
	sysPread64:      {name: "pread64", fn: sysPreadFn},
	sysWrite:        {name: "write", fn: sysWriteFn},
	sysWritev:       {name: "writev", fn: sysWritevFn},
	sysLseek:        {name: "lseek", fn: sysLseekFn},
	sysClose:        {name: "close", fn: sysCloseFn},
	sysDup:          {name: "dup", fn: sysDupFn},
	sysDup3:         {name: "dup3", fn: sysDup3Fn},
	sysFcntl:        {name: "fcntl", fn: sysFcntlFn},
	sysPipe2:        {name: "pipe2", fn: sysPipe2Fn},
	sysEventfd2:     {name: "eventfd2", fn: sysEventfd2Fn},
	sysEpollCreate1: {name: "epoll_create1", fn: sysEpollCreate1Fn},
	sysEpollCtl:     {name: "epoll_ctl", fn: sysEpollCtlFn},
	sysEpollPwait:   {name: "epoll_pwait", fn: sysEpollPwaitFn},
	sysFstat:        {name: "fstat", fn: sysFstatFn},
	sysIoctl:        {name: "ioctl", fn: sysIoctlFn},

	// the boot image's file system and execve: kernel Go code (service.go)
	sysOpenat:     {name: "openat", service: true},
	sysNewfstatat: {name: "newfstatat", service: true},
	sysFaccessat:  {name: "faccessat", service: true},
	sysFaccessat2: {name: "faccessat2", service: true},
	sysReadlinkat: {name: "readlinkat", service: true},
	sysGetdents64: {name: "getdents64", service: true},
	sysChdir:      {name: "chdir", service: true},
	sysExecve:     {name: "execve", service: true},
	sysGetcwd:     {name: "getcwd", fn: sysGetcwdFn},
	sysUmask:      {name: "umask", fn: sysUmaskFn},

	// signals (sys_signal.go, signal.go)
	sysRtSigaction:   {name: "rt_sigaction", fn: sysRtSigactionFn},
	sysRtSigprocmask: {name: "rt_sigprocmask", fn: sysRtSigprocmaskFn},
	sysSigaltstack:   {name: "sigaltstack", fn: sysSigaltstackFn},
	sysKill:          {name: "kill", fn: sysKillFn},
	sysTgkill:        {name: "tgkill", fn: sysTgkillFn}, // SIGURG: async preemption
	sysTkill:         {name: "tkill", fn: sysTkillFn},
	sysRtSigreturn:   {name: "rt_sigreturn", fn: sysRtSigreturnFn},
	sysRtSigpending:  {name: "rt_sigpending", fn: sysRtSigpendingFn},

	// identity, limits, randomness, system information (sys_misc.go, rng.go)
	sysGetuid:    {name: "getuid", fn: sysZeroFn},
	sysGeteuid:   {name: "geteuid", fn: sysZeroFn},
	sysGetgid:    {name: "getgid", fn: sysZeroFn},
	sysGetegid:   {name: "getegid", fn: sysZeroFn},
	sysGetresuid: {name: "getresuid", fn: sysGetresFn},
	sysGetresgid: {name: "getresgid", fn: sysGetresFn},
	sysGetrusage: {name: "getrusage", fn: sysGetrusageFn},
	sysTimes:     {name: "times", fn: sysTimesFn},
	sysUname:     {name: "uname", fn: sysUnameFn},
	sysPrlimit64: {name: "prlimit64", fn: sysPrlimitFn},
	sysPrctl:     {name: "prctl", fn: sysPrctlFn},
	sysGetrandom: {name: "getrandom", fn: sysGetrandomFn},
	sysSysinfo:   {name: "sysinfo", fn: sysSysinfoFn},

	// Probed by programs that fall back without them (Go's os/exec and
	// runtime, glibc): refused quietly with ENOSYS.
	sysPidfdOpen:       {name: "pidfd_open", fn: sysPidfdOpenFn}, // a process's end, for epoll (irq.go)
	sysPidfdSendSignal: {name: "pidfd_send_signal", fn: sysNoneFn},
	sysClone3:          {name: "clone3", fn: sysNoneFn},

	// armos: deliberate faults for the guest tests (debug.go)
	sysArmosDebug: {name: "armos_debug", fn: sysArmosDebugFn},
	// armos: device grants (devices.go)
	sysArmosDevInfo:  {name: "armos_dev_info", fn: sysArmosDevInfoFn},
	sysArmosDevMap:   {name: "armos_dev_map", fn: sysArmosDevMapFn},
	sysArmosDevRead:  {name: "armos_dev_read", fn: sysArmosDevReadFn},
	sysArmosDevWrite: {name: "armos_dev_write", fn: sysArmosDevWriteFn},
	// armos: IPC channels (chan.go, docs/kernel-ipc.md)
	abi.SysChanCreate: {name: "armos_chan_create", fn: sysChanCreateFn},
	abi.SysChanSend:   {name: "armos_chan_send", fn: sysChanSendFn},
	abi.SysChanRecv:   {name: "armos_chan_recv", fn: sysChanRecvFn},
	abi.SysChanCall:   {name: "armos_chan_call", fn: sysChanCallFn},
	abi.SysReply:      {name: "armos_reply", fn: sysReplyFn},
	abi.SysReplyRecv:  {name: "armos_reply_recv", fn: sysReplyRecvFn},
	abi.SysHandleDup:  {name: "armos_handle_dup", fn: sysHandleDupFn},
	abi.SysHandleInfo: {name: "armos_handle_info", fn: sysHandleInfoFn},
	abi.SysShmCreate:  {name: "armos_shm_create", fn: sysShmCreateFn},
	abi.SysShmInfo:    {name: "armos_shm_info", fn: sysShmInfoFn},
	abi.SysDevIRQ:     {name: "armos_dev_irq", fn: sysDevIRQFn},
	abi.SysDevOpen:    {name: "armos_dev_open", fn: sysDevOpenFn},
	abi.SysDevAttach:  {name: "armos_dev_attach", fn: sysDevAttachFn},
	abi.SysProcList:   {name: "armos_proc_list", fn: sysProcListFn},
	sysRseq:           {name: "rseq", fn: sysNoneFn},
	sysStatx:          {name: "statx", fn: sysNoneFn},
}

// sysNoneFn refuses a call that programs probe and do without.
//
//go:nosplit
func sysNoneFn(tf *Frame) uint64 { return errno(ENOSYS) }

// reported remembers which unimplemented calls were named on the console;
// bit maxSyscall stands for every number beyond the table, named once for
// all (the first one seen).
var reported [maxSyscall/64 + 1]uint64

// syscall dispatches the SVC whose registers are in tf and stores the result
// in X0 (unless the handler blocked the thread or replaced tf). An
// untraced call with a handler, nearly every call, takes the short path;
// syscallFull does the rest.
//
//go:nosplit
func syscall(tf *Frame) {
	nr := tf.X[regSyscallNo]
	stats.Syscalls++
	syscallCounts[min(nr, maxSyscall)]++
	p := curProc()
	pp := pr(p)
	pp.syscalls++
	if nr >= maxSyscall || pp.traced {
		syscallFull(tf, p, nr)
		return
	}
	fn := syscalls[nr].fn
	if fn == nil {
		syscallFull(tf, p, nr)
		return
	}
	r := fn(tf)
	if r == restartCall {
		// The handler did part of the work and left the rest in the
		// argument registers: the thread makes the call again
		// (interrupts are taken in between).
		tf.PC -= 4
		return
	}
	if cur != idle && th(cur).state == tsRunning {
		tf.X[0] = r
	}
}

// syscallFull is syscall for a traced process, a call without a handler
// (a service call or an unimplemented one) and a number beyond the table.
//
//go:nosplit
func syscallFull(tf *Frame, p int, nr uint64) {
	var args [6]uint64
	trace := pr(p).traced
	if trace {
		copy(args[:], tf.X[:6])
	}
	if nr < maxSyscall {
		e := &syscalls[nr]
		if e.fn != nil {
			r := e.fn(tf)
			if r == restartCall {
				tf.PC -= 4 // as in syscall
				if trace {
					straceLine(p, nr, &args, 0, "restart")
				}
				return
			}
			running := cur != idle && th(cur).state == tsRunning
			if running {
				tf.X[0] = r
			}
			if trace {
				switch {
				case running:
					straceLine(p, nr, &args, r, "")
				case nr == sysExit || nr == sysExitGroup || pr(p).state != psLive:
					straceLine(p, nr, &args, 0, "ended")
				default:
					straceLine(p, nr, &args, 0, "blocked")
				}
			}
			return
		}
		if e.service {
			if p != 0 {
				if trace {
					straceLine(p, nr, &args, 0, "service")
				}
				deferToService(tf)
				return
			}
			// The kernel's runtime looks for a few optional files
			// (transparent huge page size, cgroups): it has none.
			tf.X[0] = errno(ENOENT)
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
	kmsgStart()
	puts("armos: syscall ")
	if nr < maxSyscall && syscalls[nr].name != "" {
		puts(syscalls[nr].name)
		puts(" ")
	}
	puts("(")
	putDec(nr)
	puts(") not implemented: ENOSYS (first seen in ")
	putName(pr(curProc()))
	puts(")\n")
}
