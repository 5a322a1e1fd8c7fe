// Command regs checks that every general register of a thread survives
// preemption: it fills x0-x30 (x18, the platform register, and x28 included)
// with values derived from a seed, spins for a while checking them, and
// reports any register that changed. Run several copies with different
// seeds at once: each is preempted by the others (and by the kernel's own
// threads) many times, so a register the kernel fails to save or restore
// shows up as another process's value. Signals are blocked on the spinning
// thread (x28 holds Go's g, which a signal handler would need), so only
// preemption happens while it spins.
//
// With -fp it checks the FP/SIMD registers instead: V0-V31 filled from the
// seed survive preemption, the kernel's own use of its SIMD registers in a
// system call that copies 512 bytes (getrandom, every 256 rounds), and the
// Go runtime's preemption signals, which stay unblocked (their frames carry
// the FP registers out and rt_sigreturn brings them back).
//
// Usage: regs [-fp] [-seed N] [-rounds N]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

func main() {
	seed := flag.Uint64("seed", 1, "value the register pattern is derived from")
	rounds := flag.Uint64("rounds", 200_000_000, "checks of all registers")
	fp := flag.Bool("fp", false, "check the FP/SIMD registers V0-V31")
	flag.Parse()
	runtime.LockOSThread()
	if *fp {
		buf := make([]byte, 512)
		bad := spinFP(*seed, *rounds, &buf[0])
		runtime.KeepAlive(buf)
		if bad != 0 {
			fmt.Printf("FAIL fp registers: v%d changed (seed %d)\n0 passed, 1 failed\n", bad-1, *seed)
			os.Exit(1)
		}
		fmt.Printf("ok fp registers (seed %d, %d rounds)\n1 passed, 0 failed\n", *seed, *rounds)
		return
	}
	all := ^uint64(0)
	var old uint64
	// SIG_SETMASK all signals on this thread while it spins.
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		fmt.Println("regs: rt_sigprocmask:", e)
		os.Exit(1)
	}
	bad := spin(*seed, *rounds)
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 2, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	if bad != 0 {
		fmt.Printf("FAIL registers: x%d changed while the thread was preempted (seed %d)\n0 passed, 1 failed\n", bad, *seed)
		os.Exit(1)
	}
	fmt.Printf("ok registers (seed %d, %d rounds)\n1 passed, 0 failed\n", *seed, *rounds)
}
