//go:build arm64

// Command microkernel is the armos kernel. QEMU enters it at boot (see
// internal/rt and docs/boot.md); by the time main runs, the kernel's own Go
// runtime is up, hosted by the trap layer in internal/rt.
package main

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"armos/microkernel/internal/fdt"
	"armos/microkernel/internal/rt"
	"armos/microkernel/internal/selftest"
)

func main() {
	m := readMachine()  // the device tree: RAM, UART, GIC, timer, virtio slots, RTC
	report(m)           // the boot report: version, CPU, EL, memory, devices
	registerDevices(m)  // the virtio devices driver processes may be granted
	args := bootArgs(m) // the kernel command line (-append)
	fs := openImage()   // the boot image: programs to run
	startCPUStat(m)     // armos.cpustat=MS: where the CPU's time went, every MS ms
	consoleInput(m)     // what is typed on the serial console reaches readers of fd 0
	ready()             // "ready" with the time since entry and memory in use
	if _, cmds := commands(m.Bootargs); len(cmds) > 0 {
		// How each program started and ended is on the console; a
		// program that cannot start is the program's failure, not the
		// kernel's, so the kernel powers off cleanly either way.
		if fs == nil {
			fmt.Println("armos: no boot image: nothing to run")
		} else {
			runCommands(fs, cmds)
		}
		if args["wait"] {
			select {}
		}
		rt.PowerOff(0)
	}
	switch {
	case args["crash"]: // fault path test: an unrecovered nil dereference
		crash()
	case args["crashregs"]: // the same with SIGSEGV blocked: the kernel's fault report
		crashWithSIGSEGVBlocked()
	case args["oom"]: // out-of-memory path test: keep allocating until RAM runs out
		exhaustMemory()
	case args["crashstack"]: // the exception stack's guard page: overflow it in trap code
		rt.OverflowTrapStack()
	case args["crashlock"]: // the kernel lock's checks: a system call inside a locked section
		rt.ViolateLock()
	case args["selftest"]: // in-kernel test suite (guest tests parse its lines)
		failed := selftest.Run(selftest.Options{Only: only(m)})
		rt.PowerOff(exitStatus(failed))
	case args["wait"]: // stay up (nothing else runs yet)
		select {}
	}
	rt.PowerOff(0)
}

// bootArgs splits the kernel's part of /chosen/bootargs (before any
// "--") into a set of words.
func bootArgs(m *fdt.Machine) map[string]bool {
	set := map[string]bool{}
	if m != nil {
		kernel, _ := commands(m.Bootargs)
		for _, w := range kernel {
			set[w] = true
		}
	}
	return set
}

// only returns the test names of a "selftest.only=a,b" boot argument.
func only(m *fdt.Machine) []string {
	for _, w := range strings.Fields(m.Bootargs) {
		if v, ok := strings.CutPrefix(w, "selftest.only="); ok {
			return strings.Split(v, ",")
		}
	}
	return nil
}

// exitStatus is the kernel's exit status after the self-tests.
func exitStatus(failed int) int {
	if failed > 0 {
		return 1
	}
	return 0
}

type crashNode struct{ next *crashNode }

// crash dereferences nil without recovering: the runtime must print a panic
// with a traceback and the kernel must stop with the failure marker.
func crash() {
	var n *crashNode
	println(n.next)
}

// crashWithSIGSEGVBlocked blocks SIGSEGV on this thread and dereferences
// nil, so the runtime cannot take the fault: the trap layer prints the
// exception (ESR decoded, FAR, registers) and powers off with the failure
// marker.
func crashWithSIGSEGVBlocked() {
	runtime.LockOSThread()
	set := uint64(1) << (syscall.SIGSEGV - 1)
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 0 /* SIG_BLOCK */, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	crash()
}

// hog keeps exhaustMemory's allocations reachable.
var hog [][]byte

// exhaustMemory allocates and touches memory until the kernel runs out of
// physical pages, which must stop it with the out-of-memory report.
func exhaustMemory() {
	for {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hog = append(hog, b)
	}
}
