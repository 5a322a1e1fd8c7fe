// Package rt is the allocation-free layer that hosts the kernel's own Go
// runtime on bare metal.
//
// armos runs the stock Go runtime (GOOS=linux GOARCH=arm64) at EL1. The
// runtime believes it is a Linux process: it starts from a Linux initial
// stack and makes Linux system calls with SVC. This package is what answers
// them. It owns the boot path (entry_arm64.s, early.go), the exception
// vectors (vectors_arm64.s), the trap dispatcher (trap.go), the one system
// call table (syscall.go) with its handlers (sys_*.go), kernel threads and
// the scheduler (sched.go), demand-zero memory (vm.go, pmm.go), signal
// delivery (signal.go) and kernel faults (fault.go).
//
// Trap-level code rule. Everything reachable from trap runs on the
// exception stack (SP_EL1) with interrupts masked. It is //go:nosplit, never
// allocates, takes no Go locks, stores no Go pointers (thread and file
// tables hold integers only, so no write barrier can fire), uses no
// interfaces, maps or defer, and calls nothing in the runtime. The linker
// checks the nosplit chains. The one exception is the recursive page-table
// walk (addrSpace.walk), which no nosplit analysis can bound: for it, and
// for anything else with a stack check, the vector code sets g to trapG, a
// fake g whose stack guard is 0, so every prologue check passes and
// morestack is never reached on the exception stack (64 KiB, sized for the
// deepest path). The same trick lets earlyInit run Go code before the
// runtime exists.
//
// docs/boot.md describes the boot sequence, the memory map and every place
// where armos relies on Go runtime internals.
package rt
