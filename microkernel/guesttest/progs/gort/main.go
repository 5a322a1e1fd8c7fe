// Command gort checks that the Go runtime works on the operating system it
// runs on: OS threads, futexes, timers, the garbage collector, memory faults
// turned into panics, asynchronous preemption, the network poller, signals,
// clocks, randomness and memory mapping. It passes on Linux; armos must pass
// it too.
//
// Usage:
//
//	gort [-run REGEXP] [-v] [-list] [-timeout D]
//
// Output follows package check: one "ok NAME" or "FAIL NAME: REASON" line
// per check, then "N passed, N failed"; the exit status is 1 if a check
// failed. -list prints the check names.
//
// The preempt check runs with GOMAXPROCS(1) and a goroutine spinning
// without function calls; while it spins, no other goroutine (the -timeout
// timer included) can run unless the kernel delivers the runtime's SIGURG.
// If it never does, the spinner gives up after 2^33 loops (seconds natively,
// minutes emulated) and the check fails.
package main

import (
	"runtime"
	"syscall"

	"armos/microkernel/guesttest/progs/check"
)

// mainTID is the thread ID of the initial thread, which runs main because
// init locks it there.
var mainTID int

func init() { runtime.LockOSThread() }

func main() {
	mainTID = syscall.Gettid()
	check.Add("numcpu", checkNumCPU)
	check.Add("threads", checkThreads)
	check.Add("channels", checkChannels)
	check.Add("threads-100", checkHundredThreads)
	check.Add("sleep", checkSleep)
	check.Add("ticker", checkTicker)
	check.Add("afterfunc", checkAfterFunc)
	check.Add("select-timeout", checkSelectTimeout)
	check.Add("gosched", checkGosched)
	check.Add("gc", checkGC)
	check.Add("preempt", checkPreempt)
	check.Add("nil-deref", checkNilDeref)
	check.Add("fault-readonly", checkFaultReadOnly)
	check.Add("fault-protnone", checkFaultProtNone)
	check.Add("mmap", checkMmap)
	check.Add("pipe-epoll", checkPipeEpoll)
	check.Add("signal-kill", checkSignalKill)
	check.Add("signal-tgkill", checkSignalTgkill)
	check.Add("clock-monotonic", checkClockMonotonic)
	check.Add("clock-realtime", checkClockRealtime)
	check.Add("crypto-rand", checkCryptoRand)
	check.Main()
}
