package rt

import "unsafe"

// Signal delivery with the Linux arm64 frame layout (arch/arm64/kernel/
// signal.c; the Go runtime reads it through its sigctxt type): on the
// handler's stack the kernel writes a struct rt_sigframe {siginfo;
// ucontext}, points X0..X2 at (sig, &info, &uc), LR at the rt_sigreturn
// trampoline, and resumes the thread at the handler. rt_sigreturn restores
// the (possibly edited) context: the runtime's async preemption edits PC, LR
// and SP there to inject a call to asyncPreempt.

// Frame layout (byte offsets), struct rt_sigframe on arm64.
const (
	sfInfo      = 0   // siginfo_t, 128 bytes
	sfUC        = 128 // struct ucontext
	ucStack     = 16  // uc_stack (stack_t)
	ucSigmask   = 40  // uc_sigmask
	ucMcontext  = 176 // uc_mcontext (struct sigcontext), 16-byte aligned
	scFault     = 0   // fault_address
	scRegs      = 8   // regs[31]
	scSP        = 256
	scPC        = 264
	scPSTATE    = 272
	scReserved  = 288 // __reserved[4096]: fpsimd_context, then a terminator
	fpsimdMagic = 0x46508001
	fpsimdSize  = 528 // head (8) + fpsr, fpcr (8) + vregs (512)

	sigframeSize = sfUC + ucMcontext + scReserved + 4096

	siCodeTkill = -6 // SI_TKILL
	segvMaperr  = 1  // SEGV_MAPERR
	saOnstack   = 0x08000000
	saRestorer  = 0x04000000
	saNodefer   = 0x40000000
	sigDefault  = 0
	sigIgnore   = 1
	sigILL      = 4
	sigTRAP     = 5
)

// deliverSignals delivers the lowest pending unblocked signal of the
// running thread, whose registers are in tf.
//
//go:nosplit
func deliverSignals(tf *Frame) {
	s := &threads[cur].sigs
	p := s.pending &^ s.mask
	if p == 0 {
		return
	}
	sig := uint64(1)
	for p&1 == 0 {
		p >>= 1
		sig++
	}
	s.pending &^= 1 << (sig - 1)
	pushSignal(tf, sig, siCodeTkill, 0)
}

// raiseFault turns a kernel fault into a synchronous signal for the runtime
// (SIGSEGV, SIGBUS, SIGILL or SIGTRAP by exception class). It returns false
// if the runtime cannot take it (no handler, or the signal is blocked: the
// fault happened inside the handler).
//
//go:nosplit
func raiseFault(tf *Frame, esr, far uint64) bool {
	sig := uint64(sigSEGV)
	switch esr >> 26 {
	case ecUnknown:
		sig = sigILL
	case ecBRK:
		sig = sigTRAP
	case ecPCAlign, ecSPAlign:
		sig = sigBUS
	}
	if threads[cur].sigs.mask&(1<<(sig-1)) != 0 {
		return false
	}
	return pushSignal(tf, sig, segvMaperr, far)
}

// pushSignal builds a signal frame for sig on the running thread and points
// tf at its handler. It returns false if there is no handler to run.
//
//go:nosplit
func pushSignal(tf *Frame, sig uint64, code int32, addr uint64) bool {
	act := &sigactions[sig]
	if act.Handler == sigDefault || act.Handler == sigIgnore {
		return false
	}
	s := &threads[cur].sigs
	sp := tf.SP
	if act.Flags&saOnstack != 0 && s.alt.Size != 0 && s.alt.Flags&ssDisable == 0 && !onAltStack(s, sp) {
		sp = s.alt.SP + s.alt.Size
	}
	frame := uintptr(sp-sigframeSize) &^ 15
	base := userMem(frame, sigframeSize)
	if base == nil {
		return false
	}
	b := (*[sigframeSize]byte)(base)
	for i := range b[:sfUC+ucMcontext+scReserved+fpsimdSize+16] {
		b[i] = 0
	}
	put32(b, sfInfo+0, uint32(sig))
	put32(b, sfInfo+8, uint32(code))
	put64(b, sfInfo+16, addr) // si_addr for faults; si_pid/si_uid = 1/0 otherwise
	if code == siCodeTkill {
		put64(b, sfInfo+16, 1)
	}
	uc := sfUC
	put64(b, uc+ucStack, s.alt.SP)
	put32(b, uc+ucStack+8, uint32(s.alt.Flags))
	put64(b, uc+ucStack+16, s.alt.Size)
	put64(b, uc+ucSigmask, s.mask)
	mc := uc + ucMcontext
	put64(b, mc+scFault, addr)
	for i := 0; i < 31; i++ {
		put64(b, mc+scRegs+8*i, tf.X[i])
	}
	put64(b, mc+scSP, tf.SP)
	put64(b, mc+scPC, tf.PC)
	put64(b, mc+scPSTATE, tf.PSTATE)
	fp := mc + scReserved
	put32(b, fp, fpsimdMagic)
	put32(b, fp+4, fpsimdSize)
	put32(b, fp+8, uint32(tf.FPSR))
	put32(b, fp+12, uint32(tf.FPCR))
	for i := 0; i < 32; i++ {
		put64(b, fp+16+16*i, tf.Q[i][0])
		put64(b, fp+24+16*i, tf.Q[i][1])
	}
	// The {0, 0} terminator after fpsimd_context is already zero.

	if act.Flags&saNodefer == 0 {
		s.mask |= 1 << (sig - 1)
	}
	s.mask |= act.Mask
	tf.X[0] = sig
	tf.X[1] = uint64(frame + sfInfo)
	tf.X[2] = uint64(frame + sfUC)
	tf.X[29] = 0
	tf.X[regLR] = uint64(sigreturnPC())
	if act.Flags&saRestorer != 0 && act.Restorer != 0 {
		tf.X[regLR] = act.Restorer
	}
	tf.SP = uint64(frame)
	tf.PC = act.Handler
	stats.Delivered++
	return true
}

// rt_sigreturn(): the frame is at SP, where the handler found it.
//
//go:nosplit
func sysRtSigreturnFn(tf *Frame) uint64 {
	frame := uintptr(tf.SP)
	base := userMem(frame, sigframeSize)
	if base == nil {
		syncFault(tf, ecSVC64<<26, uint64(frame))
		return 0
	}
	b := (*[sigframeSize]byte)(base)
	mc := sfUC + ucMcontext
	for i := 0; i < 31; i++ {
		tf.X[i] = get64(b, mc+scRegs+8*i)
	}
	tf.SP = get64(b, mc+scSP)
	tf.PC = get64(b, mc+scPC)
	// Only the condition flags may change: the mode stays EL1t, interrupts on.
	tf.PSTATE = get64(b, mc+scPSTATE)&0xf0000000 | pstateEL1t
	fp := mc + scReserved
	if get32(b, fp) == fpsimdMagic {
		tf.FPSR = uint64(get32(b, fp+8))
		tf.FPCR = uint64(get32(b, fp+12))
		for i := 0; i < 32; i++ {
			tf.Q[i][0] = get64(b, fp+16+16*i)
			tf.Q[i][1] = get64(b, fp+24+16*i)
		}
	}
	threads[cur].sigs.mask = get64(b, sfUC+ucSigmask)
	stats.Sigreturns++
	return tf.X[0] // syscall stores this back into X0
}

//go:nosplit
func put32(b *[sigframeSize]byte, off int, v uint32) {
	*(*uint32)(unsafe.Pointer(&b[off])) = v
}

//go:nosplit
func put64(b *[sigframeSize]byte, off int, v uint64) {
	*(*uint64)(unsafe.Pointer(&b[off])) = v
}

//go:nosplit
func get32(b *[sigframeSize]byte, off int) uint32 {
	return *(*uint32)(unsafe.Pointer(&b[off]))
}

//go:nosplit
func get64(b *[sigframeSize]byte, off int) uint64 {
	return *(*uint64)(unsafe.Pointer(&b[off]))
}
