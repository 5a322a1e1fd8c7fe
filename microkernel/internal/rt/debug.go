package rt

import (
	gosys "syscall"
	"unsafe"
)

// Checks that prove the kernel's protections work by breaking them on
// purpose: guest tests boot with a boot argument that runs one, and
// expect the kernel's fault report. They go through one kernel-only
// system call (number sysArmosDebug, unused by Linux), refused to
// processes unless the kernel command line has armos.debug.

const (
	sysArmosDebug = 500

	debugOverflowTrapStack = 1 // recurse on the exception stack into its guard page
	debugPeekUser          = 2 // read process memory through its user address (PAN stops it)
)

// debugAllowed is set from the command line (armos.debug): processes may
// then use sysArmosDebug.
var debugAllowed bool

// sysArmosDebugFn is the debug call: op in X0, an argument in X1.
func sysArmosDebugFn(tf *Frame) uint64 {
	if curProc() != 0 && !debugAllowed {
		return errno(ENOSYS)
	}
	switch tf.X[0] {
	case debugOverflowTrapStack:
		return uint64(recurse(1 << 20))
	case debugPeekUser:
		// Deliberately wrong: trap code must never dereference a user
		// pointer. With PAN the access faults (an EL1 access to an EL0
		// page); without it, it reads the value.
		return *(*uint64)(ptrOf(uintptr(tf.X[1])))
	}
	return errno(EINVAL)
}

// recurse uses about 1 KiB of stack per level, n levels deep.
//
//go:noinline
func recurse(n int) int {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return recurse(n-1) + int(pad[n%len(pad)])
}

// OverflowTrapStack makes the trap layer overflow its exception stack:
// the guard page below it turns that into the fatal report. Never returns.
func OverflowTrapStack() {
	gosys.Syscall(sysArmosDebug, debugOverflowTrapStack, 0, 0)
}

// ViolateLock makes a system call inside a locked section, which the
// kernel lock's checks turn into the fatal report. Never returns.
func ViolateLock() {
	var x uint64
	Locked(func() { gosys.Syscall(gosys.SYS_GETPID, uintptr(unsafe.Pointer(&x)), 0, 0) })
}
