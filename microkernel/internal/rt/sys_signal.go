package rt

import "unsafe"

// Signal system calls. The Go runtime installs handlers for every signal at
// start (rt_sigaction must succeed), gives each M an alternate signal stack
// and sends SIGURG to a thread (tgkill) to preempt the goroutine running
// there. Delivery builds a Linux rt_sigframe (signal.go).

// Signal numbers (include/uapi/asm-generic/signal.h) and flags.
const (
	sigHUP   = 1
	sigINT   = 2
	sigQUIT  = 3
	sigILL   = 4
	sigTRAP  = 5
	sigABRT  = 6
	sigBUS   = 7
	sigFPE   = 8
	sigKILL  = 9
	sigUSR1  = 10
	sigSEGV  = 11
	sigUSR2  = 12
	sigPIPE  = 13
	sigALRM  = 14
	sigTERM  = 15
	sigCHLD  = 17
	sigCONT  = 18
	sigSTOP  = 19
	sigURG   = 23
	sigWINCH = 28
	nsig     = 64

	sigBlock   = 0
	sigUnblock = 1
	sigSetmask = 2

	ssOnstack = 1
	ssDisable = 2
	// minSigstksz is MINSIGSTKSZ on arm64.
	minSigstksz = 5120
)

// sigaction is struct sigaction as the arm64 kernel takes it.
type sigaction struct {
	Handler, Flags, Restorer, Mask uint64
}

// stackT is stack_t on linux/arm64.
type stackT struct {
	SP    uint64
	Flags int32
	_     int32
	Size  uint64
}

// sigState is a thread's signal state.
type sigState struct {
	mask    uint64 // blocked signals (bit sig-1)
	pending uint64 // sent to this thread, not yet delivered
	alt     stackT // alternate signal stack (Flags ssDisable when none)
}

// rt_sigaction(sig, act, oldact, sigsetsize)
func sysRtSigactionFn(tf *Frame) uint64 {
	sig := tf.X[0]
	if sig < 1 || sig > nsig || tf.X[3] != 8 {
		return errno(EINVAL)
	}
	pp := pr(curProc())
	var act sigaction
	if tf.X[1] != 0 && !copyIn(bytesOf(unsafe.Pointer(&act), unsafe.Sizeof(act)), tf.X[1]) {
		return errno(EFAULT)
	}
	if old := tf.X[2]; old != 0 {
		o := pp.sigact[sig]
		if !copyOut(old, bytesOf(unsafe.Pointer(&o), unsafe.Sizeof(o))) {
			return errno(EFAULT)
		}
	}
	if tf.X[1] != 0 {
		if sig == sigKILL || sig == sigSTOP {
			return errno(EINVAL)
		}
		act.Mask &^= unblockable
		pp.sigact[sig] = act
		if act.Handler == sigIgnore || (act.Handler == sigDefault && defaultIgnored(sig)) {
			// Pending instances of a now-ignored signal are discarded.
			pp.sigPending &^= sigBit(sig)
		}
	}
	return 0
}

// rt_sigprocmask(how, set, oldset, sigsetsize)
//
//go:nosplit
func sysRtSigprocmaskFn(tf *Frame) uint64 {
	if tf.X[3] != 8 {
		return errno(EINVAL)
	}
	s := &th(cur).sigs
	var v uint64
	if set := tf.X[1]; set != 0 {
		var ok bool
		if v, ok = readU64(set); !ok {
			return errno(EFAULT)
		}
		if tf.X[0] > sigSetmask {
			return errno(EINVAL)
		}
	}
	if old := tf.X[2]; old != 0 && !writeU64(old, s.mask) {
		return errno(EFAULT)
	}
	if tf.X[1] != 0 {
		switch tf.X[0] {
		case sigBlock:
			s.mask |= v
		case sigUnblock:
			s.mask &^= v
		case sigSetmask:
			s.mask = v
		}
		s.mask &^= unblockable
	}
	return 0
}

// sigaltstack(ss, old_ss)
//
//go:nosplit
func sysSigaltstackFn(tf *Frame) uint64 {
	s := &th(cur).sigs
	var n stackT
	if ss := tf.X[0]; ss != 0 && !copyIn(bytesOf(unsafe.Pointer(&n), unsafe.Sizeof(n)), ss) {
		return errno(EFAULT)
	}
	if old := tf.X[1]; old != 0 {
		o := s.alt
		if o.Size == 0 {
			o.Flags = ssDisable
		} else if onAltStack(s, tf.SP) {
			o.Flags = ssOnstack
		}
		if !copyOut(old, bytesOf(unsafe.Pointer(&o), unsafe.Sizeof(o))) {
			return errno(EFAULT)
		}
	}
	if tf.X[0] != 0 {
		if onAltStack(s, tf.SP) {
			return errno(EPERM)
		}
		switch {
		case n.Flags&ssDisable != 0:
			n = stackT{Flags: ssDisable}
		case n.Flags&^ssOnstack != 0:
			return errno(EINVAL)
		case n.Size < minSigstksz:
			return errno(ENOMEM)
		}
		n.Flags &^= ssOnstack
		s.alt = n
	}
	return 0
}

// onAltStack reports whether sp lies on the thread's alternate stack.
//
//go:nosplit
func onAltStack(s *sigState, sp uint64) bool {
	return s.alt.Size != 0 && sp > s.alt.SP && sp <= s.alt.SP+s.alt.Size
}

// tgkill(tgid, tid, sig)
func sysTgkillFn(tf *Frame) uint64 {
	i := findTid(int32(tf.X[1]))
	if int32(tf.X[0]) <= 0 || int32(tf.X[1]) <= 0 {
		return errno(EINVAL)
	}
	if i < 0 || pr(int(th(i).proc)).pid != int32(tf.X[0]) {
		return errno(ESRCH)
	}
	return killThread(i, tf.X[2])
}

// tkill(tid, sig)
func sysTkillFn(tf *Frame) uint64 {
	if int32(tf.X[0]) <= 0 {
		return errno(EINVAL)
	}
	i := findTid(int32(tf.X[0]))
	if i < 0 {
		return errno(ESRCH)
	}
	return killThread(i, tf.X[1])
}

// killThread sends sig (0: only check) to thread i of the caller's
// process or of another process.
func killThread(i int, sig uint64) uint64 {
	if sig > nsig {
		return errno(EINVAL)
	}
	if !maySignal(int(th(i).proc)) {
		return errno(EPERM)
	}
	if sig != 0 {
		stats.SignalsSent++
		signalThread(i, sig)
	}
	return 0
}

// kill(pid, sig): pid > 0 names a process; 0 and -1 (the caller's group,
// everyone) reach every process the caller may signal except the kernel
// and, for -1, itself; a negative pid names a process group, which here is
// the single process -pid.
func sysKillFn(tf *Frame) uint64 {
	pid, sig := int32(tf.X[0]), tf.X[1]
	if sig > nsig {
		return errno(EINVAL)
	}
	self := curProc()
	if pid == 0 || pid == -1 {
		n := 0
		for p := 1; p < maxProcs; p++ {
			if procPage[p] == 0 || pr(p).state != psLive || (pid == -1 && p == self) || !maySignal(p) {
				continue
			}
			if pid == 0 && p != self && pr(p).parent != int16(self) {
				continue
			}
			n++
			if sig != 0 {
				sendSignal(p, sig)
			}
		}
		if n == 0 {
			return errno(ESRCH)
		}
		return 0
	}
	if pid < 0 {
		pid = -pid
	}
	p := findPid(pid)
	if p < 0 || pr(p).state == psFree {
		return errno(ESRCH)
	}
	if !maySignal(p) {
		return errno(EPERM)
	}
	if sig != 0 && pr(p).state == psLive {
		sendSignal(p, sig)
	}
	return 0
}

// maySignal reports whether the running thread may signal process p: the
// kernel may signal anyone; a process may signal any process but the
// kernel.
//
//go:nosplit
func maySignal(p int) bool { return p != 0 || curProc() == 0 }
