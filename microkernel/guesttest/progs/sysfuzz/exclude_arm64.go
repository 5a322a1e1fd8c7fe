package main

import "syscall"

// sysMmap is mmap(2), whose flags sanitize restricts.
const sysMmap = syscall.SYS_MMAP

// excludedCalls maps the arm64 numbers of the calls never made to why.
var excludedCalls = map[uintptr]string{
	syscall.SYS_EXIT:               endsProcess,
	syscall.SYS_EXIT_GROUP:         endsProcess,
	syscall.SYS_RT_SIGRETURN:       sigreturn,
	syscall.SYS_KILL:               sendsSignal,
	syscall.SYS_TKILL:              sendsSignal,
	syscall.SYS_TGKILL:             sendsSignal,
	syscall.SYS_RT_SIGQUEUEINFO:    sendsSignal,
	syscall.SYS_RT_TGSIGQUEUEINFO:  sendsSignal,
	424:                            sendsSignal, // pidfd_send_signal
	syscall.SYS_EXECVE:             replacesImage,
	syscall.SYS_EXECVEAT:           replacesImage,
	syscall.SYS_CLONE:              newTask,
	435:                            newTask, // clone3
	syscall.SYS_MUNMAP:             ownMemory,
	syscall.SYS_MREMAP:             ownMemory,
	syscall.SYS_MPROTECT:           ownMemory,
	288:                            ownMemory, // pkey_mprotect
	syscall.SYS_MADVISE:            ownMemory,
	syscall.SYS_BRK:                ownMemory,
	syscall.SYS_PRCTL:              prctl,
	syscall.SYS_SECCOMP:            seccomp,
	syscall.SYS_PTRACE:             ptrace,
	syscall.SYS_REBOOT:             reboot,
	syscall.SYS_RT_SIGSUSPEND:      blocksForever,
	syscall.SYS_WAIT4:              blocksForever,
	syscall.SYS_WAITID:             blocksForever,
	syscall.SYS_FUTEX:              futex,
	449:                            futex, // futex_waitv
	syscall.SYS_RT_SIGACTION:       sigaction,
	syscall.SYS_SIGALTSTACK:        sigaltstack,
	293:                            rseq, // rseq
	syscall.SYS_CLOSE:              closesFD,
	436:                            closesFD, // close_range
	syscall.SYS_DUP3:               closesFD,
	syscall.SYS_EPOLL_CTL:          epollCtl,
	syscall.SYS_SETRLIMIT:          rlimit,
	syscall.SYS_PRLIMIT64:          rlimit,
	syscall.SYS_SCHED_SETSCHEDULER: realtime,
	syscall.SYS_SCHED_SETPARAM:     realtime,
	syscall.SYS_SCHED_SETATTR:      realtime,
	syscall.SYS_TIMER_CREATE:       timerCreate,
	syscall.SYS_PROCESS_VM_WRITEV:  vmWrite,
	syscall.SYS_VHANGUP:            vhangup,
	syscall.SYS_SOCKET:             network,
}

// readCalls are the calls whose first argument is a descriptor read from.
var readCalls = map[uintptr]bool{
	syscall.SYS_READ:    true,
	syscall.SYS_READV:   true,
	syscall.SYS_PREAD64: true,
	syscall.SYS_PREADV:  true,
	286:                 true, // preadv2
}
