package rt

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/mm"
)

// Signals: dispositions, masks, alternate stacks, the arm64 signal frame
// and rt_sigreturn, sending, interrupting blocked calls, default actions
// and faults.

// Offsets into a signal frame (struct rt_sigframe) for the checks below.
const (
	frameMC     = sfUC + ucMcontext
	frameFPSIMD = frameMC + scReserved
	handlerPC   = 0x40_2000
)

// setAction installs act for sig through rt_sigaction and returns the old
// action as the call reported it.
func setAction(t *testing.T, u *uproc, tf *Frame, sig uint64, act sigaction) sigaction {
	t.Helper()
	a := u.put(pageSize-96, bytesOfStruct(&act))
	old := pageSize - 48 + u.scratch
	require.Zero(t, svc(tf, sysRtSigaction, sig, a, old, 8))
	var o sigaction
	copy(bytesOfStruct(&o), u.get(old, 32))
	return o
}

// TestRtSigaction: dispositions per process; SIGKILL and SIGSTOP cannot be
// changed (but can be queried); the old action comes back; unblockable
// signals are dropped from the handler's mask.
func TestRtSigaction(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	act := sigaction{Handler: handlerPC, Flags: saOnstack | saRestart, Restorer: 0x40_3000, Mask: sigBit(sigUSR2) | sigBit(sigKILL) | sigBit(sigSTOP)}
	require.Equal(t, sigaction{}, setAction(t, u, tf, sigUSR1, act))
	stored := pr(u.p).sigact[sigUSR1]
	require.Equal(t, sigBit(sigUSR2), stored.Mask, "SIGKILL and SIGSTOP dropped from sa_mask")
	require.Equal(t, uint64(handlerPC), stored.Handler)
	old := setAction(t, u, tf, sigUSR1, sigaction{Handler: sigIgnore})
	require.Equal(t, stored, old)

	a := u.put(0, bytesOfStruct(&act))
	oldVA := u.scratch + 64
	require.Equal(t, errno(EINVAL), svc(tf, sysRtSigaction, sigKILL, a, 0, 8))
	require.Equal(t, errno(EINVAL), svc(tf, sysRtSigaction, sigSTOP, a, 0, 8))
	require.Zero(t, svc(tf, sysRtSigaction, sigKILL, 0, oldVA, 8), "querying SIGKILL is fine")
	require.Equal(t, errno(EINVAL), svc(tf, sysRtSigaction, 0, a, 0, 8))
	require.Equal(t, errno(EINVAL), svc(tf, sysRtSigaction, nsig+1, a, 0, 8))
	require.Equal(t, errno(EINVAL), svc(tf, sysRtSigaction, sigUSR2, a, 0, 4), "sigsetsize")
	require.Equal(t, errno(EFAULT), svc(tf, sysRtSigaction, sigUSR2, 0x8, 0, 8))
	require.Equal(t, errno(EFAULT), svc(tf, sysRtSigaction, sigUSR2, a, 0x8, 8))
	require.Zero(t, svc(tf, sysRtSigaction, nsig, a, 0, 8), "signal 64 exists")

	// Dispositions are per process.
	v, tf2 := newUserFrame(t, 4)
	require.Equal(t, sigaction{}, setAction(t, v, tf2, sigUSR1, sigaction{}))

	// Ignoring a signal discards its pending instances.
	switchTo(t, tf, u.main)
	th(u.main).sigs.mask = sigBit(sigUSR2)
	setAction(t, u, tf, sigUSR2, sigaction{Handler: handlerPC})
	sendSignal(u.p, sigUSR2)
	require.Equal(t, sigBit(sigUSR2), pr(u.p).sigPending)
	setAction(t, u, tf, sigUSR2, sigaction{Handler: sigIgnore})
	require.Zero(t, pr(u.p).sigPending)
}

// TestRtSigprocmask: the three operations on the calling thread's mask;
// SIGKILL and SIGSTOP never get blocked.
func TestRtSigprocmask(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	other := u.spawnThread(tf, u.top(4))
	set := func(v uint64) uint64 { return u.putU64(0, v) }
	old := u.scratch + 64
	require.Zero(t, svc(tf, sysRtSigprocmask, sigBlock, set(sigBit(sigUSR1)|sigBit(sigKILL)|sigBit(sigSTOP)), old, 8))
	require.Zero(t, u.u64(old))
	require.Equal(t, sigBit(sigUSR1), th(u.main).sigs.mask)
	require.Zero(t, svc(tf, sysRtSigprocmask, sigBlock, set(sigBit(sigUSR2)), old, 8))
	require.Equal(t, sigBit(sigUSR1), u.u64(old))
	require.Zero(t, svc(tf, sysRtSigprocmask, sigUnblock, set(sigBit(sigUSR1)), 0, 8))
	require.Equal(t, sigBit(sigUSR2), th(u.main).sigs.mask)
	require.Zero(t, svc(tf, sysRtSigprocmask, sigSetmask, set(^uint64(0)), old, 8))
	require.Equal(t, ^uint64(0)&^uint64(unblockable), th(u.main).sigs.mask)
	require.Equal(t, sigBit(sigUSR2), u.u64(old))
	require.Zero(t, th(other).sigs.mask, "masks are per thread")

	require.Zero(t, svc(tf, sysRtSigprocmask, 7, 0, old, 8), "how is ignored without a set")
	require.Equal(t, errno(EINVAL), svc(tf, sysRtSigprocmask, 3, set(0), 0, 8))
	require.Equal(t, errno(EINVAL), svc(tf, sysRtSigprocmask, sigBlock, set(0), 0, 16))
	require.Equal(t, errno(EFAULT), svc(tf, sysRtSigprocmask, sigBlock, 0x8, 0, 8))
	require.Equal(t, errno(EFAULT), svc(tf, sysRtSigprocmask, sigBlock, set(0), 0x8, 8))
	require.Equal(t, ^uint64(0)&^uint64(unblockable), th(u.main).sigs.mask, "failed calls change nothing")
}

// TestSigaltstack: setting, querying, the size minimum, SS_DISABLE, and
// EPERM while running on it.
func TestSigaltstack(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	ss := func(sp uint64, flags int32, size uint64) uint64 {
		return u.put(0, bytesOfStruct(&stackT{SP: sp, Flags: flags, Size: size}))
	}
	oldVA := u.scratch + 64
	query := func() stackT {
		t.Helper()
		require.Zero(t, svc(tf, sysSigaltstack, 0, oldVA))
		var s stackT
		copy(bytesOfStruct(&s), u.get(oldVA, 24))
		return s
	}
	require.Equal(t, stackT{Flags: ssDisable}, query())
	alt := u.scratch + 2*pageSize
	require.Zero(t, svc(tf, sysSigaltstack, ss(alt, 0, 2*pageSize), 0))
	require.Equal(t, stackT{SP: alt, Size: 2 * pageSize}, query())
	require.Equal(t, errno(ENOMEM), svc(tf, sysSigaltstack, ss(alt, 0, minSigstksz-1), 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysSigaltstack, ss(alt, 4, 2*pageSize), 0))
	require.Equal(t, errno(EFAULT), svc(tf, sysSigaltstack, 0x8, 0))
	require.Equal(t, errno(EFAULT), svc(tf, sysSigaltstack, 0, 0x8))

	// On the stack: reported as SS_ONSTACK, and it cannot change.
	tf.SP = alt + pageSize
	require.Equal(t, stackT{SP: alt, Flags: ssOnstack, Size: 2 * pageSize}, query())
	require.Equal(t, errno(EPERM), svc(tf, sysSigaltstack, ss(0, ssDisable, 0), 0))
	tf.SP = u.top(8)
	require.Zero(t, svc(tf, sysSigaltstack, ss(alt, ssOnstack, minSigstksz), 0), "SS_ONSTACK is accepted and ignored")
	require.Equal(t, stackT{SP: alt, Size: minSigstksz}, query())
	require.Zero(t, svc(tf, sysSigaltstack, ss(0x1234, ssDisable, 1), 0))
	require.Equal(t, stackT{Flags: ssDisable}, query())
}

// fillRegs gives tf recognizable register values.
func fillRegs(tf *Frame) {
	for i := range tf.X {
		tf.X[i] = 0x1000 + uint64(i)
	}
	for i := range tf.Q {
		tf.Q[i] = [2]uint64{0xa000 + uint64(i), ^uint64(i)}
	}
	tf.FPSR, tf.FPCR = 0x0800_0010, 0x0300_0000
	tf.PSTATE = 0x2000_0000 // C set, EL0t
	tf.PC = userPC
}

// TestSignalFrameAndSigreturn: pushSignal writes a Linux arm64 rt_sigframe
// below the stack pointer (siginfo, ucontext with the mask, every general
// and FP/SIMD register), points the thread at the handler; rt_sigreturn
// restores every register from the (edited) frame, sanitizing PSTATE to
// EL0t with only the condition flags kept.
func TestSignalFrameAndSigreturn(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	setAction(t, u, tf, sigUSR1, sigaction{Handler: handlerPC, Mask: sigBit(sigUSR2)})
	th(u.main).sigs.mask = sigBit(sigHUP)
	fillRegs(tf)
	sp := u.top(8) - 8
	tf.SP = sp
	orig := *tf
	delivered := stats.Delivered

	require.True(t, pushSignal(tf, sigUSR1, siCodeTkill, 0))
	frame := (sp - sigframeSize) &^ 15
	require.Equal(t, frame, tf.SP)
	require.Equal(t, uint64(handlerPC), tf.PC)
	require.Equal(t, uint64(sigUSR1), tf.X[0])
	require.Equal(t, frame+sfInfo, tf.X[1])
	require.Equal(t, frame+sfUC, tf.X[2])
	require.Zero(t, tf.X[29], "frame pointer chain ends")
	require.Equal(t, uint64(sigtrampVA), tf.X[regLR], "returns through the trampoline")
	require.Equal(t, sigBit(sigHUP)|sigBit(sigUSR1)|sigBit(sigUSR2), th(u.main).sigs.mask)
	require.Equal(t, delivered+1, stats.Delivered)

	require.Equal(t, uint32(sigUSR1), u.u32(frame+sfInfo))
	require.Equal(t, int32(siCodeTkill), u.i32(frame+sfInfo+8))
	require.Equal(t, u.pid, u.i32(frame+sfInfo+16))
	require.Equal(t, int32(ssDisable), u.i32(frame+sfUC+ucStack+8))
	require.Equal(t, sigBit(sigHUP), u.u64(frame+sfUC+ucSigmask), "the mask to restore")
	for i := 0; i < 31; i++ {
		require.Equal(t, orig.X[i], u.u64(frame+frameMC+scRegs+8*uint64(i)), "x%d", i)
	}
	require.Equal(t, sp, u.u64(frame+frameMC+scSP))
	require.Equal(t, uint64(userPC), u.u64(frame+frameMC+scPC))
	require.Equal(t, orig.PSTATE, u.u64(frame+frameMC+scPSTATE))
	require.Equal(t, uint32(fpsimdMagic), u.u32(frame+frameFPSIMD))
	require.Equal(t, uint32(fpsimdSize), u.u32(frame+frameFPSIMD+4))
	require.Equal(t, uint32(orig.FPSR), u.u32(frame+frameFPSIMD+8))
	require.Equal(t, uint32(orig.FPCR), u.u32(frame+frameFPSIMD+12))
	for i := uint64(0); i < 32; i++ {
		require.Equal(t, orig.Q[i][0], u.u64(frame+frameFPSIMD+16+16*i))
		require.Equal(t, orig.Q[i][1], u.u64(frame+frameFPSIMD+24+16*i))
	}
	require.Equal(t, make([]byte, 16), u.get(frame+frameFPSIMD+fpsimdSize, 16), "the terminator record")

	// The handler runs (clobbering everything), edits the saved PC and
	// tries to return to EL1h with interrupts masked, then returns.
	u.putU64(frame+frameMC+scPC-u.scratch, userPC+8)
	u.putU64(frame+frameMC+scPSTATE-u.scratch, 0x9000_0000|0x3c0|pstateEL1h)
	u.putU64(frame+frameMC+scRegs+8*7-u.scratch, 0x7777)
	*tf = Frame{SP: frame, PC: sigtrampVA + 8, PSTATE: 0x6000_0000}
	for i := range tf.X {
		tf.X[i] = 0xbad
	}
	svc(tf, sysRtSigreturn)
	want := orig
	want.X[7] = 0x7777
	want.PC = userPC + 8
	want.PSTATE = 0x9000_0000 | pstateEL0t
	require.Equal(t, want, *tf, "every register back, PSTATE sanitized")
	require.Equal(t, sigBit(sigHUP), th(u.main).sigs.mask)
}

// TestSigreturnRestoresMaskWithoutUnblockable: a frame whose mask names
// SIGKILL does not block it.
func TestSigreturnRestoresMaskWithoutUnblockable(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	setAction(t, u, tf, sigUSR1, sigaction{Handler: handlerPC})
	require.True(t, pushSignal(tf, sigUSR1, siUser, 0))
	u.putU64(tf.SP+sfUC+ucSigmask-u.scratch, ^uint64(0))
	svc(tf, sysRtSigreturn)
	require.Equal(t, ^uint64(0)&^uint64(unblockable), th(u.main).sigs.mask)
}

// TestSigreturnWithBadFrameKills: a user thread whose rt_sigreturn finds
// no frame cannot continue: its process dies of SIGSEGV.
func TestSigreturnWithBadFrameKills(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	out := captureOut(t)
	tf.SP = 0x2000_0000
	svc(tf, sysRtSigreturn)
	require.Equal(t, uint8(psDying), pr(u.p).state)
	require.Equal(t, uint32(sigSEGV), pr(u.p).exitStatus)
	require.Contains(t, out.String(), "killed by SIGSEGV (bad signal frame in rt_sigreturn)\n")
}

// TestKernelSignalFrameReturnsToEL1t: the kernel's own runtime gets the
// same frame on its heap, returns through sigreturnPC, and rt_sigreturn
// puts it back at EL1t.
func TestKernelSignalFrameReturnsToEL1t(t *testing.T) {
	resetKernel(t, 256)
	_, _, e := kas.Mmap(mm.KernelHeapBase, 4*pageSize, mm.ProtRead|mm.ProtWrite, 0, true, nil)
	require.Equal(t, mm.OK, e)
	var tf Frame
	act := sigaction{Handler: 0xffff_0000_1000}
	_, e = kas.CopyOut(mm.KernelHeapBase, bytesOfStruct(&act))
	require.Equal(t, mm.OK, e)
	require.Zero(t, svc(&tf, sysRtSigaction, sigSEGV, mm.KernelHeapBase, 0, 8))
	fillRegs(&tf)
	tf.PSTATE = 0x4000_0000 | pstateEL1t
	tf.SP = mm.KernelHeapBase + 4*pageSize
	orig := tf
	require.True(t, raiseFault(&tf, ecDataAbortSame<<26|0x07, 0xdead_0000))
	require.Equal(t, act.Handler, tf.PC)
	require.Equal(t, uint64(sigreturnPC()), tf.X[regLR])
	require.Equal(t, uint64(sigSEGV), tf.X[0])
	var info [24]byte
	_, e = kas.CopyIn(info[:], tf.X[1])
	require.Equal(t, mm.OK, e)
	require.Equal(t, byte(segvMaperr), info[8])
	require.Equal(t, le64(0xdead_0000), info[16:24])
	// A second fault while SIGSEGV is blocked (inside the handler) cannot
	// be raised.
	f2 := tf
	require.False(t, raiseFault(&f2, ecDataAbortSame<<26|0x07, 0))
	tf.PSTATE = pstateEL0t
	svc(&tf, sysRtSigreturn)
	require.Equal(t, orig, tf)
	require.Equal(t, uint64(pstateEL1t), tf.PSTATE&0xf)
}

// TestSignalOnAlternateStack: with SA_ONSTACK the frame goes on the
// thread's alternate stack (unless already on it), and uc_stack says so.
func TestSignalOnAlternateStack(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 16)
	setAction(t, u, tf, sigURG, sigaction{Handler: handlerPC, Flags: saOnstack | saNodefer})
	alt := u.scratch + 8*pageSize
	size := uint64(4 * pageSize)
	th(u.main).sigs.alt = stackT{SP: alt, Size: size}
	tf.SP = u.top(16) - 64
	require.True(t, pushSignal(tf, sigURG, siCodeTkill, 0))
	f1 := (alt + size - sigframeSize) &^ 15
	require.Equal(t, f1, tf.SP)
	require.Equal(t, alt, u.u64(f1+sfUC+ucStack))
	require.Equal(t, size, u.u64(f1+sfUC+ucStack+16))
	require.Zero(t, th(u.main).sigs.mask, "SA_NODEFER: the signal stays unblocked")

	// Nested, while on the alternate stack: right below the first frame.
	require.True(t, pushSignal(tf, sigURG, siCodeTkill, 0))
	require.Equal(t, (f1-sigframeSize)&^15, tf.SP)

	// A frame that does not fit (the stack runs into unmapped memory):
	// no delivery.
	tf.SP = u.scratch + 100
	th(u.main).sigs.alt = stackT{Flags: ssDisable}
	require.False(t, pushSignal(tf, sigURG, siCodeTkill, 0))
}

// TestSAResethandAndRestorer: SA_RESETHAND reverts the disposition at
// delivery; SA_RESTORER with a restorer sets LR to it.
func TestSAResethandAndRestorer(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	setAction(t, u, tf, sigUSR2, sigaction{Handler: handlerPC, Flags: saResethand | saRestorer, Restorer: 0x40_9000})
	require.True(t, pushSignal(tf, sigUSR2, siUser, 0))
	require.Equal(t, uint64(0x40_9000), tf.X[regLR])
	require.Equal(t, uint64(sigDefault), pr(u.p).sigact[sigUSR2].Handler)
}

// TestTgkillAndTkill: argument checks, ESRCH for stale or foreign thread
// IDs, EPERM for the kernel's threads, pending signals on the target.
func TestTgkillAndTkill(t *testing.T) {
	resetKernel(t, 256)
	kernelTid := uint64(th(0).tid)
	u, tf := newUserFrame(t, 4)
	setAction(t, u, tf, sigUSR1, sigaction{Handler: handlerPC})
	b := u.spawnThread(tf, u.top(4))
	tid := uint64(th(b).tid)
	pid := uint64(u.pid)
	require.Zero(t, svc(tf, sysTgkill, pid, tid, 0))
	require.Zero(t, svc(tf, sysTgkill, pid, tid, sigUSR1))
	require.Equal(t, sigBit(sigUSR1), th(b).sigs.pending)
	require.Zero(t, th(u.main).sigs.pending)
	require.Equal(t, errno(EINVAL), svc(tf, sysTgkill, pid, tid, nsig+1))
	require.Equal(t, errno(EINVAL), svc(tf, sysTgkill, 0, tid, 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysTgkill, pid, neg(-1), 0))
	require.Equal(t, errno(ESRCH), svc(tf, sysTgkill, pid+1, tid, 0), "wrong thread group")
	require.Equal(t, errno(ESRCH), svc(tf, sysTgkill, pid, tid+maxThreads, 0), "stale generation")
	require.Equal(t, errno(EPERM), svc(tf, sysTgkill, 1, kernelTid, 0), "the kernel's threads")
	require.Equal(t, errno(EINVAL), svc(tf, sysTkill, 0, 0))
	require.Equal(t, errno(ESRCH), svc(tf, sysTkill, tid+maxThreads, 0))
	require.Zero(t, svc(tf, sysTkill, uint64(th(u.main).tid), sigUSR1))
	require.Equal(t, sigBit(sigUSR1), th(u.main).sigs.pending)
	require.Equal(t, errno(EPERM), svc(tf, sysTkill, kernelTid, sigUSR1))
}

// TestKillPicksThreadThatDoesNotBlock: a process-directed signal goes to
// the running thread if it can take it, else to a thread that does not
// block it, else it stays pending on the process until one unblocks it.
func TestKillPicksThreadThatDoesNotBlock(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	setAction(t, u, tf, sigUSR1, sigaction{Handler: handlerPC})
	b := u.spawnThread(tf, u.top(8))
	c := u.spawnThread(tf, u.top(6))
	th(u.main).sigs.mask = sigBit(sigUSR1)
	th(b).sigs.mask = sigBit(sigUSR1)
	require.Zero(t, svc(tf, sysKill, uint64(u.pid), sigUSR1))
	require.Equal(t, sigBit(sigUSR1), th(c).sigs.pending)
	require.Zero(t, th(u.main).sigs.pending|th(b).sigs.pending)

	th(c).sigs = sigState{mask: sigBit(sigUSR1), alt: stackT{Flags: ssDisable}}
	require.Zero(t, svc(tf, sysKill, uint64(u.pid), sigUSR1))
	require.Equal(t, sigBit(sigUSR1), pr(u.p).sigPending, "everyone blocks it")
	require.False(t, signalsPending(u.main))

	// The main thread unblocks it; the trap exit delivers it there.
	require.Zero(t, svc(tf, sysRtSigprocmask, sigUnblock, u.putU64(0, sigBit(sigUSR1)), 0, 8))
	require.True(t, signalsPending(u.main))
	finishTrap(tf)
	require.Equal(t, u.main, cur)
	require.Equal(t, uint64(handlerPC), tf.PC)
	require.Equal(t, uint64(sigUSR1), tf.X[0])
	require.Zero(t, pr(u.p).sigPending)

	// The running thread is preferred when it does not block it.
	th(u.main).sigs.mask = 0
	th(b).sigs.mask = 0
	require.Zero(t, svc(tf, sysKill, uint64(u.pid), sigUSR1))
	require.Equal(t, sigBit(sigUSR1), th(u.main).sigs.pending)
	require.Zero(t, th(b).sigs.pending)

	require.Zero(t, svc(tf, sysKill, uint64(u.pid), 0))
	require.Equal(t, errno(ESRCH), svc(tf, sysKill, 99999, 0))
	require.Equal(t, errno(EPERM), svc(tf, sysKill, 1, 0), "the kernel")
	require.Equal(t, errno(EINVAL), svc(tf, sysKill, uint64(u.pid), nsig+1))
	require.Equal(t, errno(ESRCH), svc(tf, sysKill, neg(-1), sigUSR1), "nobody else")
	require.Zero(t, svc(tf, sysKill, neg(-int64(u.pid)), 0), "a group is the one process")
}

// TestSignalInterruptsBlockedCalls: a signal the thread does not block
// ends its interruptible wait with EINTR; with SA_RESTART, pipe reads,
// eventfd reads and child waits are retried instead; futex waits and
// sleeps always see EINTR; blocked or ignored signals do nothing.
func TestSignalInterruptsBlockedCalls(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	r, _ := pipeFds(t, u, tf, 0)
	efd := svc(tf, sysEventfd2, 0, 0)
	w := u.putU32(64, 0)
	ts := u.putTimespec(128, 5, 0)
	u.newChild(1) // something for wait4 to wait for
	b := u.spawnThread(tf, u.top(8))

	type blocking struct {
		name    string
		nr      uint64
		args    []uint64
		wait    uint8
		restart bool // retried under SA_RESTART
	}
	calls := []blocking{
		{"futex", sysFutex, []uint64{w, futexWaitPriv, 0, 0}, waitFutex, false},
		{"nanosleep", sysNanosleep, []uint64{ts, 0}, waitSleep, false},
		{"pipe read", sysRead, []uint64{r, u.scratch + 512, 8}, waitPipe, true},
		{"eventfd read", sysRead, []uint64{efd, u.scratch + 512, 8}, waitEventfd, true},
		{"wait4", sysWait4, []uint64{neg(-1), 0, 0, 0}, waitChild, true},
	}
	for _, restart := range []bool{false, true} {
		flags := uint64(0)
		if restart {
			flags = saRestart
		}
		pr(u.p).sigact[sigUSR1] = sigaction{Handler: handlerPC, Flags: flags}
		for _, c := range calls {
			name := fmt.Sprintf("%s, SA_RESTART %v", c.name, restart)
			switchTo(t, tf, b)
			th(b).sigs = sigState{alt: stackT{Flags: ssDisable}}
			tf.PC = userPC // a fresh call, wherever the last one left off
			svc(tf, c.nr, c.args...)
			requireBlocked(t, b, c.wait)
			switchTo(t, tf, u.main)
			require.Zero(t, svc(tf, sysTgkill, uint64(u.pid), uint64(th(b).tid), sigUSR1), name)
			if restart && c.restart {
				requireRetrying(t, b, c.nr)
			} else {
				requireWoken(t, b, errno(EINTR))
			}
			require.Equal(t, sigBit(sigUSR1), th(b).sigs.pending, name)
			require.Zero(t, heapN, name)
		}
	}

	// Blocked by the thread's mask: it keeps waiting, the signal pends.
	switchTo(t, tf, b)
	th(b).sigs = sigState{mask: sigBit(sigUSR1), alt: stackT{Flags: ssDisable}}
	svc(tf, sysFutex, w, futexWaitPriv, 0, 0)
	switchTo(t, tf, u.main)
	require.Zero(t, svc(tf, sysTgkill, uint64(u.pid), uint64(th(b).tid), sigUSR1))
	requireBlocked(t, b, waitFutex)
	require.Equal(t, sigBit(sigUSR1), th(b).sigs.pending)
	// Ignored by default (SIGURG without a handler): nothing at all.
	th(b).sigs.mask = 0
	th(b).sigs.pending = 0
	require.Zero(t, svc(tf, sysTgkill, uint64(u.pid), uint64(th(b).tid), sigURG))
	requireBlocked(t, b, waitFutex)
	require.Zero(t, th(b).sigs.pending)
}

// TestDefaultActions: ignored-by-default signals vanish, SIGTERM without a
// handler ends the process when delivered (status = the signal), SIGKILL
// ends it at once whatever the mask, SIG_IGN ignores.
func TestDefaultActions(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	for _, sig := range []uint64{sigCHLD, sigURG, sigWINCH, sigCONT} {
		require.Zero(t, svc(tf, sysKill, uint64(u.pid), sig))
	}
	require.Zero(t, th(u.main).sigs.pending|pr(u.p).sigPending)
	pr(u.p).sigact[sigTERM].Handler = sigIgnore
	require.Zero(t, svc(tf, sysKill, uint64(u.pid), sigTERM))
	require.Zero(t, th(u.main).sigs.pending)
	pr(u.p).sigact[sigTERM].Handler = sigDefault

	out := captureOut(t)
	require.Zero(t, svc(tf, sysKill, uint64(u.pid), sigTERM))
	require.Equal(t, uint8(psLive), pr(u.p).state)
	finishTrap(tf)
	require.Equal(t, uint8(psDying), pr(u.p).state)
	require.Equal(t, uint32(sigTERM), pr(u.p).exitStatus)
	require.True(t, pr(u.p).killed)
	require.Contains(t, out.String(), fmt.Sprintf("armos: process test (pid %d) killed by SIGTERM\n", u.pid))
	require.Equal(t, idle, cur)

	v, tf2 := newUserFrame(t, 4)
	setAction(t, v, tf2, sigUSR1, sigaction{Handler: handlerPC})
	th(v.main).sigs.mask = ^uint64(0) &^ uint64(unblockable)
	svc(tf2, sysNanosleep, v.putTimespec(0, 10, 0), 0)
	runKernel()
	var tk Frame
	require.Zero(t, svc(&tk, sysKill, uint64(v.pid), sigKILL))
	require.Equal(t, uint8(psDying), pr(v.p).state, "SIGKILL ignores masks and handlers")
	require.Equal(t, uint32(sigKILL), pr(v.p).exitStatus)
	require.Contains(t, out.String(), fmt.Sprintf("armos: process test (pid %d) killed", v.pid))
	require.Contains(t, out.String(), "SIGKILL")
}

// TestSignalPendingOnNextThreadAfterKill: when a signal's default action
// ends the running process, the thread the trap switches to has its own
// pending signal delivered on the same return. It used to run on with it
// pending: a thread woken from a futex wait by SIGTERM went back to sleep
// without its handler (netd at poweroff: init's SIGTERM, sent to every
// service at once, reached it only when its next timer woke it).
func TestSignalPendingOnNextThreadAfterKill(t *testing.T) {
	resetKernel(t, 256)
	v, tfv := newUserFrame(t, 8)
	setAction(t, v, tfv, sigTERM, sigaction{Handler: handlerPC})
	w := v.putU32(64, 0)
	svc(tfv, sysFutex, w, futexWaitPriv, 0, 0)
	requireBlocked(t, v.main, waitFutex)
	finishTrap(tfv) // v's thread sleeps; nothing of v's is runnable

	u, tf := newUserFrame(t, 4) // SIGTERM: the default action
	sliceEnd = 0
	require.Zero(t, svc(tf, sysKill, uint64(v.pid), sigTERM))
	requireWoken(t, v.main, errno(EINTR))
	require.Zero(t, svc(tf, sysKill, uint64(u.pid), sigTERM))
	require.Equal(t, sigBit(sigTERM), th(u.main).sigs.pending, "pending on the running thread")
	require.Equal(t, []int{v.main}, runQueue())

	out := captureOut(t)
	finishTrap(tf) // u dies of its SIGTERM; v's thread runs next
	require.Equal(t, uint8(psDying), pr(u.p).state)
	require.Contains(t, out.String(), fmt.Sprintf("armos: process test (pid %d) killed by SIGTERM\n", u.pid))
	require.Equal(t, v.main, cur)
	require.Zero(t, th(v.main).sigs.pending, "v's SIGTERM was delivered")
	require.Equal(t, uint64(handlerPC), tf.PC, "v's thread resumes in its handler")
	require.Equal(t, uint64(sigTERM), tf.X[0])
}

// dataAbort is an ESR of a data abort from EL0: a translation fault at
// level 3, or a permission fault, reading or (write) writing.
func dataAbort(write, permission bool) uint64 {
	esr := uint64(ecDataAbortLow)<<26 | 0x07
	if permission {
		esr = uint64(ecDataAbortLow)<<26 | 0x0f
	}
	if write {
		esr |= 1 << 6
	}
	return esr
}

// TestUserFaultDemandZero: a fault in a region maps a zero page and the
// instruction is retried (no signal).
func TestUserFaultDemandZero(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	va := u.scratch + 5*pageSize + 8
	_, _, mapped := pr(u.p).as.PT.Lookup(va)
	require.False(t, mapped)
	faults := stats.UserFaults
	before := *tf
	userFault(tf, dataAbort(true, false), va)
	_, _, mapped = pr(u.p).as.PT.Lookup(va)
	require.True(t, mapped)
	require.Equal(t, before, *tf)
	require.Equal(t, faults+1, stats.UserFaults)
	require.EqualValues(t, 1, pr(u.p).faults)
	require.Equal(t, make([]byte, 16), u.get(va, 16))
	// A spurious fault (already mapped) changes nothing either.
	userFault(tf, dataAbort(false, false), va)
	require.Equal(t, before, *tf)
	require.Equal(t, uint8(psLive), pr(u.p).state)
}

// TestUserFaultSignals: SIGSEGV with SEGV_MAPERR outside every region,
// SEGV_ACCERR where the region forbids the access, SIGBUS for alignment;
// si_addr and the frame's fault_address are the faulting address.
func TestUserFaultSignals(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	setAction(t, u, tf, sigSEGV, sigaction{Handler: handlerPC, Flags: saNodefer})
	setAction(t, u, tf, sigBUS, sigaction{Handler: handlerPC + 4, Flags: saNodefer})
	ro := svc(tf, sysMmap, 0, pageSize, uint64(mm.ProtRead), mapPrivate|mapAnonymous, neg(-1), 0)
	require.Less(t, ro, uint64(mm.UserHigh))
	cases := []struct {
		name      string
		esr, far  uint64
		sig, code uint64
		handler   uint64
	}{
		{"unmapped", dataAbort(false, false), 0x5000_0010, sigSEGV, segvMaperr, handlerPC},
		{"read-only", dataAbort(true, false), ro + 24, sigSEGV, segvAccerr, handlerPC},
		{"alignment", uint64(ecDataAbortLow)<<26 | 0x21, u.scratch + 3, sigBUS, busAdrerr, handlerPC + 4},
	}
	raised := stats.FaultsRaised
	for _, c := range cases {
		tf.SP = u.top(8)
		tf.PC = userPC
		userFault(tf, c.esr, c.far)
		require.Equal(t, c.handler, tf.PC, c.name)
		require.Equal(t, c.sig, tf.X[0], c.name)
		frame := tf.SP
		require.Equal(t, uint32(c.sig), u.u32(frame), c.name)
		require.Equal(t, uint32(c.code), u.u32(frame+8), c.name)
		require.Equal(t, c.far, u.u64(frame+16), "%s: si_addr", c.name)
		require.Equal(t, c.far, u.u64(frame+frameMC+scFault), "%s: fault_address", c.name)
		require.Equal(t, uint64(userPC), u.u64(frame+frameMC+scPC), c.name)
	}
	require.Equal(t, raised+uint64(len(cases)), stats.FaultsRaised)
	require.Equal(t, uint8(psLive), pr(u.p).state)
}

// TestForcedSignalBlockedKills: a fault whose signal is blocked (or has no
// handler) ends the process with a console line naming it.
func TestForcedSignalBlockedKills(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	setAction(t, u, tf, sigSEGV, sigaction{Handler: handlerPC})
	th(u.main).sigs.mask = sigBit(sigSEGV)
	out := captureOut(t)
	tf.PC = 0x40_1234
	forceSignal(tf, sigSEGV, segvMaperr, 0xdead, dataAbort(false, false))
	require.Equal(t, uint8(psDying), pr(u.p).state)
	require.Equal(t, uint32(sigSEGV), pr(u.p).exitStatus)
	line := fmt.Sprintf("armos: process test (pid %d) killed by SIGSEGV at pc 0x0000000000401234 addr 0x000000000000dead\n", u.pid)
	require.Equal(t, 1, strings.Count(out.String(), line), "%q", out.String())

	// No handler at all: the same.
	v, tf2 := newUserFrame(t, 4)
	userFault(tf2, dataAbort(false, false), 0x10)
	require.Equal(t, uint8(psDying), pr(v.p).state)
	require.Equal(t, uint32(sigSEGV), pr(v.p).exitStatus)
	require.Contains(t, out.String(), "killed by SIGSEGV at pc")

	// Other exceptions: BRK is SIGTRAP, an undefined instruction SIGILL.
	w, tf3 := newUserFrame(t, 4)
	userException(tf3, uint64(ecBRK)<<26, 0)
	require.Equal(t, uint32(sigTRAP), pr(w.p).exitStatus)
	x, tf4 := newUserFrame(t, 4)
	userException(tf4, 0, 0)
	require.Equal(t, uint32(sigILL), pr(x.p).exitStatus)
}

// TestUserFaultBeyondLimitKills: a process that reaches its memory limit
// is killed (SIGKILL) with an "out of memory" line.
func TestUserFaultBeyondLimitKills(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 16)
	out := captureOut(t)
	pr(u.p).as.Limit = pr(u.p).as.OwnedPages() + 6
	va := u.scratch
	for k := 0; k < 16 && pr(u.p).state == psLive; k++ {
		userFault(tf, dataAbort(true, false), va+uint64(k)*pageSize)
	}
	require.Equal(t, uint8(psDying), pr(u.p).state)
	require.Equal(t, uint32(sigKILL), pr(u.p).exitStatus)
	require.True(t, pr(u.p).killed)
	require.Contains(t, out.String(), fmt.Sprintf("armos: process test (pid %d) killed by SIGKILL (out of memory: reached its limit of ", u.pid))
}

// TestRestartedCallResumesOnSVCAfterHandler: with SA_RESTART, a pipe read
// interrupted by a signal runs the handler first; the frame's PC is the
// SVC and x0 the original descriptor, so sigreturn makes the call again.
func TestRestartedCallResumesOnSVCAfterHandler(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	r, _ := pipeFds(t, u, tf, 0)
	setAction(t, u, tf, sigUSR1, sigaction{Handler: handlerPC, Flags: saRestart})
	svc(tf, sysRead, r, u.scratch+64, 8)
	requireBlocked(t, u.main, waitPipe)
	signalThread(u.main, sigUSR1)
	requireRetrying(t, u.main, sysRead)
	switchTo(t, tf, u.main)
	finishTrap(tf)
	require.Equal(t, uint64(handlerPC), tf.PC)
	frame := tf.SP
	require.Equal(t, uint64(userPC-4), u.u64(frame+frameMC+scPC), "resumes on the SVC")
	require.Equal(t, r, u.u64(frame+frameMC+scRegs), "with the original x0")
	require.Equal(t, uint64(sysRead), u.u64(frame+frameMC+scRegs+8*regSyscallNo))
	svc(tf, sysRtSigreturn)
	require.Equal(t, uint64(userPC-4), tf.PC)
	require.Equal(t, r, tf.X[0])
	retry(t, tf)
	requireBlocked(t, u.main, waitPipe)
}
