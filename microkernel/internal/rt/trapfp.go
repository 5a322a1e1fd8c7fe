package rt

// The FP/SIMD registers across traps.
//
// Trap code is Go, and the Go compiler uses V16 and V17 for copies of
// structures; arch.Copy's wide loop uses V0-V3; the runtime's memmove and
// memclr use none. Those six (trapFPRegs) are all the FP/SIMD registers
// trap code may change, which TestTrapCodeFPRegisters checks on the built
// kernel (every function trap, trapCommon's callers and the system call
// table reach). The trap entry saves only them into the interrupted
// context's Frame, with FPSR and FPCR, and the exit restores them.
//
// The other 26 (V4-V15, V18-V31) keep the values of fpOwner, the thread
// that runs or, while the idle loop runs, last ran, across any number of
// traps and idle periods. They are stored into its Frame and loaded from
// the next one's only when schedule switches to another thread
// (fpSwitchTo): a trap that returns to the thread that took it, the
// common case, moves 6 Q registers, not 32.
//
// So the Frame of fpOwner is stale for those registers. Trap code that
// reads the running thread's FP registers in its Frame (a signal frame,
// clone's copy) first calls fpFlush; code that rewrites them
// (rt_sigreturn) calls fpReload after. Code that rewrites another thread's
// Frame (execve's reset, in a locked section) calls fpRelease for it first.
// Never any of them for the running kernel thread from its own Go code
// (the registers change under it).

// trapFPRegs lists the V registers trap code may change (documentation;
// TestTrapCodeFPRegisters checks the built kernel against the same list).
var trapFPRegs = [...]int{0, 1, 2, 3, 16, 17}

// fpOwner is the thread whose V4-V15 and V18-V31 the CPU holds, or idle
// for none (the Frames are complete).
var fpOwner = idle

// fpSwitchTo makes thread i the owner: the old owner's registers go to its
// Frame, i's come from its own.
//
//go:nosplit
func fpSwitchTo(i int) {
	var save *Frame
	if fpOwner != idle {
		save = &th(fpOwner).regs
	}
	fpSwap(save, &th(i).regs)
	fpOwner = i
}

// fpFlush completes tf, the Frame of the running thread i, if it owns the
// registers (it keeps them).
//
//go:nosplit
func fpFlush(i int, tf *Frame) {
	if i != idle && i == fpOwner {
		fpSaveRest(tf)
	}
}

// fpReload loads the registers of the running thread i from tf, its
// rewritten Frame, if it owns them.
//
//go:nosplit
func fpReload(i int, tf *Frame) {
	if i != idle && i == fpOwner {
		fpLoadRest(tf)
	}
}

// fpRelease completes the Frame of thread i, which is not running, if it
// owns the registers, and drops the ownership: its Frame may then be
// rewritten, and the switch to it loads them back.
//
//go:nosplit
func fpRelease(i int) {
	if i != idle && i == fpOwner && i != cur {
		fpSaveRest(&th(i).regs)
		fpOwner = idle
	}
}
