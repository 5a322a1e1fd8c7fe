package main

// Why calls are excluded: each would legitimately end or freeze the fuzzer
// (or reach beyond it), so a kernel that lets it do so is not at fault. The
// per-architecture tables (exclude_GOARCH.go) map call numbers to these.
const (
	endsProcess   = "ends the fuzzer (exit, exit_group)"
	sigreturn     = "restores a garbage register frame: the thread jumps to a random address"
	sendsSignal   = "can send SIGKILL or SIGSTOP to the fuzzer, or with pid -1 to every process"
	replacesImage = "replaces the fuzzer with another program"
	newTask       = "starts a child or thread on garbage registers and stack, or a second fuzzer"
	ownMemory     = "can unmap, move, protect or zero the fuzzer's own memory (the Go heap and stacks)"
	prctl         = "can install seccomp, a parent-death signal or other process-wide settings that end the fuzzer"
	seccomp       = "a filter can kill the fuzzer at its next system call"
	ptrace        = "can stop the fuzzer as a tracee or stop other processes"
	reboot        = "restarts or powers off the machine"
	blocksForever = "waits with no timeout (pause, sigsuspend, wait4, waitid)"
	futex         = "can wait forever, and can wake or requeue the Go runtime's own futexes"
	sigaction     = "a garbage handler for a signal the runtime needs (SIGURG, SIGSEGV) crashes the fuzzer"
	sigaltstack   = "a garbage signal stack makes every signal delivery on the thread fault"
	rseq          = "a garbage rseq area makes the kernel kill the thread when it is preempted"
	closesFD      = "can close or replace the runtime's epoll and eventfd descriptors (the runtime throws) or the console"
	epollCtl      = "can put garbage user data into the runtime's epoll set, which the runtime follows as a pointer"
	rlimit        = "lowering RLIMIT_AS, NOFILE, CPU or FSIZE starves or kills the runtime"
	realtime      = "a real-time policy on the busy fuzzer thread starves its own watchdog on one CPU"
	timerCreate   = "a POSIX timer can deliver SIGKILL or SIGSTOP to the fuzzer"
	vmWrite       = "writes into the fuzzer's own memory when the pid is its own"
	vhangup       = "hangs up the console the fuzzer reports on"
	network       = "sockets could send packets to random addresses on a real network"
	threadPointer = "ARCH_SET_FS replaces the thread pointer the Go runtime keeps its state in"
	readsStdin    = "a read on descriptor 0 may wait for console input forever"
)
