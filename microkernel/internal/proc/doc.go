// Package proc runs user programs at EL0: static linux/arm64 ELF
// executables such as the Go program apps/hello (boot argument `userhello`).
//
// Loading: ParseELF validates the file (every offset, size and address is
// checked against the file and the user range [4 GiB, 2^47) before use),
// Load maps the PT_LOAD segments as regions of an mm.AddressSpace and fills
// them through mm's Load, then writes the Linux initial stack (BuildStack:
// argc, argv, envp, auxv with AT_PHDR, AT_RANDOM, AT_HWCAP...). The
// process's table also maps the kernel's RAM window [1 GiB, 4 GiB) EL1-only
// (rt.KernelWindow), so the exception vectors work under its TTBR0.
//
// Running (DESIGN.md section 3): each user thread is a kernel goroutine
// looping over rt.EnterUser, which runs the thread at EL0 until the next
// exception. The goroutine then serves the system call (sys.go: one table,
// number to handler), the page fault (demand-zero paging by
// mm.AddressSpace.Fault) or nothing (an interrupt). A fault the process
// cannot survive kills the process alone, with a one-line reason. Every
// access to user memory goes through the address space (CopyIn/CopyOut),
// never through a user pointer; every mm call runs with interrupts masked
// (rt.WithIRQsOff), because the page allocator is shared with the trap layer
// and there is one CPU.
//
// Not yet: signal delivery to processes (tgkill is accepted and dropped, so
// processes run with GODEBUG=asyncpreemptoff=1; a SIGSEGV kills), files
// beyond fd 1 and 2, more than one process at a time (fixed ASID 1).
package proc
