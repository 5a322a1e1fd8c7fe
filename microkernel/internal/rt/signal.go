package rt

import "unsafe"

// Signals, with Linux's semantics and its arm64 frame layout
// (arch/arm64/kernel/signal.c; Go reads it through its sigctxt type).
//
// Dispositions belong to a process (rt_sigaction), masks, pending sets and
// alternate stacks to a thread. A signal for a thread (tgkill, a fault) is
// pending on it; one for a process (kill) goes to a thread that does not
// block it. A blocked, interruptible system call of the chosen thread ends
// with EINTR (Go retries every such call). Delivery happens when the
// thread next returns from a trap: the kernel writes a struct rt_sigframe
// {siginfo; ucontext} on the handler's stack (the alternate one with
// SA_ONSTACK), points X0..X2 at (sig, &info, &uc), LR at the rt_sigreturn
// trampoline (arm64 Go leaves sa_restorer unset; Linux uses the vDSO), and
// resumes the thread at the handler. rt_sigreturn restores the (possibly
// edited) context: Go's async preemption edits PC, LR and SP there.
//
// A signal with the default action terminates the process (a user one:
// the kernel's own runtime always has handlers), except those whose
// default is to be ignored. SIGKILL cannot be caught or blocked.

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
	// sigframeUsed is the part the kernel writes (everything up to the
	// terminator after fpsimd_context); the rest of __reserved is left
	// as the stack had it, as Linux does for unused extra space.
	sigframeUsed = sfUC + ucMcontext + scReserved + fpsimdSize + 16

	siUser      = 0  // SI_USER: kill
	siCodeTkill = -6 // SI_TKILL
	segvMaperr  = 1  // SEGV_MAPERR
	segvAccerr  = 2  // SEGV_ACCERR
	busAdrerr   = 1  // BUS_ADRALN
	illIllopc   = 1  // ILL_ILLOPC
	trapBrkpt   = 1  // TRAP_BRKPT
	saOnstack   = 0x08000000
	saRestart   = 0x10000000
	saRestorer  = 0x04000000
	saNodefer   = 0x40000000
	saResethand = 0x80000000
	sigDefault  = 0
	sigIgnore   = 1
)

// sigframe is the part of a signal frame the kernel builds, assembled on
// the exception stack and copied out in one piece.
type sigframe [sigframeUsed]byte

//go:nosplit
func (b *sigframe) put32(off int, v uint32) {
	*(*uint32)(unsafe.Pointer(&b[off])) = v
}

//go:nosplit
func (b *sigframe) put64(off int, v uint64) {
	*(*uint64)(unsafe.Pointer(&b[off])) = v
}

//go:nosplit
func (b *sigframe) get32(off int) uint32 { return *(*uint32)(unsafe.Pointer(&b[off])) }

//go:nosplit
func (b *sigframe) get64(off int) uint64 { return *(*uint64)(unsafe.Pointer(&b[off])) }

// sigBit returns sig's bit in a signal set.
//
//go:nosplit
func sigBit(sig uint64) uint64 { return 1 << (sig - 1) }

// unblockable is the set no mask can block.
const unblockable = 1<<(sigKILL-1) | 1<<(sigSTOP-1)

// defaultIgnored reports whether sig's default action is to do nothing.
//
//go:nosplit
func defaultIgnored(sig uint64) bool {
	switch sig {
	case sigCHLD, sigURG, sigWINCH, sigCONT:
		return true
	}
	return false
}

// sendSignal makes sig pending for process p: on a thread that does not
// block it (a blocked interruptible call of that thread ends with EINTR),
// or on the process until a thread unblocks it.
func sendSignal(p int, sig uint64) {
	pp := pr(p)
	if pp.state != psLive || sig < 1 || sig > nsig {
		return
	}
	stats.SignalsSent++
	if sig == sigKILL {
		killProcess(p, sigKILL, "")
		return
	}
	if ignored(p, sig) {
		return
	}
	// Prefer the running thread, then any that does not block it.
	target := -1
	if cur != idle && int(th(cur).proc) == p && th(cur).sigs.mask&sigBit(sig) == 0 {
		target = cur
	}
	if target < 0 && pp.threadHead >= 0 {
		i := int(pp.threadHead)
		for {
			if th(i).sigs.mask&sigBit(sig) == 0 {
				target = i
				break
			}
			i = int(th(i).pnext)
			if i == int(pp.threadHead) {
				break
			}
		}
	}
	if target < 0 {
		pp.sigPending |= sigBit(sig)
		return
	}
	signalThread(target, sig)
}

// signalThread makes sig pending on thread i and interrupts its blocking
// call if it can take the signal now.
func signalThread(i int, sig uint64) {
	t := th(i)
	if sig == sigKILL {
		killProcess(int(t.proc), sigKILL, "")
		return
	}
	if ignored(int(t.proc), sig) {
		return
	}
	t.sigs.pending |= sigBit(sig)
	if t.state == tsBlocked && t.intr && t.sigs.mask&sigBit(sig) == 0 {
		interrupt(i, sig)
	}
}

// interrupt ends blocked thread i's call for signal sig: with SA_RESTART
// and a call Linux restarts (reads and writes of pipes and eventfds,
// wait4/waitid), the call is made again after the handler returns (the
// thread resumes on the SVC with its original arguments); otherwise it
// returns EINTR.
//
//go:nosplit
func interrupt(i int, sig uint64) {
	t := th(i)
	restartable := t.wait == waitPipe || t.wait == waitEventfd || t.wait == waitChild || t.wait == waitChanRecv || t.wait == waitChanSend || t.wait == waitIRQ || t.wait == waitConsole
	if restartable && pr(int(t.proc)).sigact[sig].Flags&saRestart != 0 {
		wakeRetry(i)
		return
	}
	wake(i, errno(EINTR))
}

// ignored reports whether process p discards sig (SIG_IGN, or a default
// action of ignoring it).
//
//go:nosplit
func ignored(p int, sig uint64) bool {
	h := pr(p).sigact[sig].Handler
	return h == sigIgnore || (h == sigDefault && defaultIgnored(sig))
}

// signalsPending reports whether the running thread has a signal to take.
//
//go:nosplit
func signalsPending(i int) bool {
	t := th(i)
	if t.sigs.pending&^t.sigs.mask != 0 {
		return true
	}
	pp := pr(int(t.proc))
	return pp.sigPending&^t.sigs.mask != 0
}

// deliverSignals delivers the lowest pending unblocked signal of the
// running thread, whose registers are in tf.
func deliverSignals(tf *Frame) {
	t := th(cur)
	pp := pr(int(t.proc))
	// Process-directed signals this thread can take move onto it.
	if take := pp.sigPending &^ t.sigs.mask; take != 0 {
		t.sigs.pending |= take
		pp.sigPending &^= take
	}
	p := t.sigs.pending &^ t.sigs.mask
	if p == 0 {
		return
	}
	sig := uint64(1)
	for p&1 == 0 {
		p >>= 1
		sig++
	}
	t.sigs.pending &^= sigBit(sig)
	if !pushSignal(tf, sig, siCodeTkill, 0) {
		defaultAction(sig)
	}
}

// defaultAction applies the default action of sig to the running thread's
// process: nothing, or termination.
func defaultAction(sig uint64) {
	p := curProc()
	if defaultIgnored(sig) || pr(p).sigact[sig].Handler == sigIgnore {
		return
	}
	if p == 0 {
		return // the kernel's runtime handles everything it unblocks
	}
	killProcess(p, sig, "")
}

// pushSignal builds a signal frame for sig on the running thread (whose
// registers are in tf) and points tf at its handler. It returns false if
// there is no handler to run or the frame cannot be written. (Not
// nosplit: the frame under construction is bigger than the nosplit stack
// allowance; the exception stack has room.)
func pushSignal(tf *Frame, sig uint64, code int32, addr uint64) bool {
	fpFlush(cur, tf) // tf.Q complete for the frame (trapfp.go)
	t := th(cur)
	pp := pr(int(t.proc))
	act := &pp.sigact[sig]
	if act.Handler == sigDefault || act.Handler == sigIgnore {
		return false
	}
	s := &t.sigs
	sp := tf.SP
	if act.Flags&saOnstack != 0 && s.alt.Size != 0 && s.alt.Flags&ssDisable == 0 && !onAltStack(s, sp) {
		sp = s.alt.SP + s.alt.Size
	}
	frame := (sp - sigframeSize) &^ 15
	var b sigframe
	b.put32(sfInfo+0, uint32(sig))
	b.put32(sfInfo+8, uint32(code))
	switch code {
	case siCodeTkill, siUser:
		b.put32(sfInfo+16, uint32(pp.pid)) // si_pid of the sender (approximated by the receiver)
	default:
		b.put64(sfInfo+16, addr) // si_addr for faults
	}
	uc := sfUC
	b.put64(uc+ucStack, s.alt.SP)
	b.put32(uc+ucStack+8, uint32(s.alt.Flags))
	b.put64(uc+ucStack+16, s.alt.Size)
	b.put64(uc+ucSigmask, s.mask)
	mc := uc + ucMcontext
	b.put64(mc+scFault, addr)
	for i := 0; i < 31; i++ {
		b.put64(mc+scRegs+8*i, tf.X[i])
	}
	b.put64(mc+scSP, tf.SP)
	b.put64(mc+scPC, tf.PC)
	b.put64(mc+scPSTATE, tf.PSTATE)
	fp := mc + scReserved
	b.put32(fp, fpsimdMagic)
	b.put32(fp+4, fpsimdSize)
	b.put32(fp+8, uint32(tf.FPSR))
	b.put32(fp+12, uint32(tf.FPCR))
	for i := 0; i < 32; i++ {
		b.put64(fp+16+16*i, tf.Q[i][0])
		b.put64(fp+24+16*i, tf.Q[i][1])
	}
	// The {0, 0} terminator after fpsimd_context is already zero.
	if !copyOut(frame, b[:]) {
		return false
	}
	if act.Flags&saNodefer == 0 {
		s.mask |= sigBit(sig)
	}
	s.mask |= act.Mask &^ unblockable
	tf.X[0] = sig
	tf.X[1] = frame + sfInfo
	tf.X[2] = frame + sfUC
	tf.X[29] = 0
	tf.X[regLR] = uint64(sigreturnPC())
	if t.user {
		tf.X[regLR] = vdsoSigreturn(int(t.proc))
	}
	if act.Flags&saRestorer != 0 && act.Restorer != 0 {
		tf.X[regLR] = act.Restorer
	}
	tf.SP = frame
	tf.PC = act.Handler
	if act.Flags&saResethand != 0 {
		act.Handler = sigDefault
	}
	stats.Delivered++
	return true
}

// rt_sigreturn(): the frame is at SP, where the handler found it.
func sysRtSigreturnFn(tf *Frame) uint64 {
	t := th(cur)
	var b sigframe
	if !copyIn(b[:], tf.SP) {
		// No frame to return to: the thread cannot continue.
		if t.user {
			killProcess(int(t.proc), sigSEGV, "bad signal frame in rt_sigreturn")
			return 0
		}
		syncFault(tf, ecSVC64<<26, tf.SP)
		return 0
	}
	mc := sfUC + ucMcontext
	for i := 0; i < 31; i++ {
		tf.X[i] = b.get64(mc + scRegs + 8*i)
	}
	tf.SP = b.get64(mc + scSP)
	tf.PC = b.get64(mc + scPC)
	// Only the condition flags may change: the mode stays what the thread
	// runs at (EL0t, or EL1t for the kernel's runtime), interrupts on.
	mode := pstateKernel
	if t.user {
		mode = pstateEL0t
	}
	tf.PSTATE = b.get64(mc+scPSTATE)&pstateUserMask | mode
	fp := mc + scReserved
	if b.get32(fp) == fpsimdMagic {
		tf.FPSR = uint64(b.get32(fp + 8))
		tf.FPCR = uint64(b.get32(fp + 12))
		for i := 0; i < 32; i++ {
			tf.Q[i][0] = b.get64(fp + 16 + 16*i)
			tf.Q[i][1] = b.get64(fp + 24 + 16*i)
		}
		fpReload(cur, tf) // the CPU's registers from the rewritten tf.Q (trapfp.go)
	}
	t.sigs.mask = b.get64(sfUC+ucSigmask) &^ unblockable
	stats.Sigreturns++
	return tf.X[0] // syscall stores this back into X0
}

// sigName names the signals a process may die of.
//
//go:nosplit
func sigName(sig uint64) string {
	switch sig {
	case sigHUP:
		return "SIGHUP"
	case sigINT:
		return "SIGINT"
	case sigQUIT:
		return "SIGQUIT"
	case sigILL:
		return "SIGILL"
	case sigTRAP:
		return "SIGTRAP"
	case sigABRT:
		return "SIGABRT"
	case sigBUS:
		return "SIGBUS"
	case sigFPE:
		return "SIGFPE"
	case sigKILL:
		return "SIGKILL"
	case sigUSR1:
		return "SIGUSR1"
	case sigSEGV:
		return "SIGSEGV"
	case sigUSR2:
		return "SIGUSR2"
	case sigPIPE:
		return "SIGPIPE"
	case sigALRM:
		return "SIGALRM"
	case sigTERM:
		return "SIGTERM"
	}
	return "signal"
}

// raiseFault turns a kernel fault into a synchronous signal for the
// kernel's runtime (SIGSEGV, SIGBUS, SIGILL or SIGTRAP by exception class).
// It returns false if the runtime cannot take it (no handler, or the
// signal is blocked: the fault happened inside the handler).
func raiseFault(tf *Frame, esr, far uint64) bool {
	sig := uint64(sigSEGV)
	code := int32(segvMaperr)
	switch esr >> 26 {
	case ecUnknown:
		sig, code = sigILL, illIllopc
	case ecBRK:
		sig, code = sigTRAP, trapBrkpt
	case ecPCAlign, ecSPAlign:
		sig, code = sigBUS, busAdrerr
	default:
		if isPermissionFault(esr) {
			code = segvAccerr
		}
	}
	if th(cur).sigs.mask&sigBit(sig) != 0 {
		return false
	}
	return pushSignal(tf, sig, code, far)
}
