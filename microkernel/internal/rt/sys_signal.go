package rt

import "unsafe"

// Signal system calls. The runtime installs handlers for every signal at
// start (rt_sigaction must succeed), gives each M an alternate signal stack
// and sends SIGURG to a thread (tgkill) to preempt the goroutine running
// there. Delivery builds a Linux rt_sigframe (signal.go).

// Signal numbers and flags (include/uapi/asm-generic/signal.h).
const (
	sigBUS  = 7
	sigSEGV = 11
	sigURG  = 23
	nsig    = 64

	sigBlock   = 0
	sigUnblock = 1
	sigSetmask = 2

	ssOnstack = 1
	ssDisable = 2
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
	pending uint64 // sent, not yet delivered
	alt     stackT // alternate signal stack (Flags ssDisable when none)
}

var sigactions [nsig + 1]sigaction

// rt_sigaction(sig, act, oldact, sigsetsize)
//
//go:nosplit
func sysRtSigactionFn(tf *Frame) uint64 {
	sig := tf.X[0]
	if sig < 1 || sig > nsig {
		return errno(EINVAL)
	}
	if old := uintptr(tf.X[2]); old != 0 {
		p := userMem(old, unsafe.Sizeof(sigaction{}))
		if p == nil {
			return errno(EFAULT)
		}
		*(*sigaction)(p) = sigactions[sig]
	}
	if act := uintptr(tf.X[1]); act != 0 {
		p := userMem(act, unsafe.Sizeof(sigaction{}))
		if p == nil {
			return errno(EFAULT)
		}
		sigactions[sig] = *(*sigaction)(p)
	}
	return 0
}

// rt_sigprocmask(how, set, oldset, sigsetsize)
//
//go:nosplit
func sysRtSigprocmaskFn(tf *Frame) uint64 {
	s := &threads[cur].sigs
	if old := uintptr(tf.X[2]); old != 0 {
		p := userMem(old, 8)
		if p == nil {
			return errno(EFAULT)
		}
		*(*uint64)(p) = s.mask
	}
	if set := uintptr(tf.X[1]); set != 0 {
		p := userMem(set, 8)
		if p == nil {
			return errno(EFAULT)
		}
		v := *(*uint64)(p)
		switch tf.X[0] {
		case sigBlock:
			s.mask |= v
		case sigUnblock:
			s.mask &^= v
		case sigSetmask:
			s.mask = v
		default:
			return errno(EINVAL)
		}
	}
	return 0
}

// sigaltstack(ss, old_ss)
//
//go:nosplit
func sysSigaltstackFn(tf *Frame) uint64 {
	s := &threads[cur].sigs
	if old := uintptr(tf.X[1]); old != 0 {
		p := userMem(old, unsafe.Sizeof(stackT{}))
		if p == nil {
			return errno(EFAULT)
		}
		o := s.alt
		if o.Size == 0 {
			o.Flags = ssDisable
		} else if onAltStack(s, tf.SP) {
			o.Flags = ssOnstack
		}
		*(*stackT)(p) = o
	}
	if ss := uintptr(tf.X[0]); ss != 0 {
		p := userMem(ss, unsafe.Sizeof(stackT{}))
		if p == nil {
			return errno(EFAULT)
		}
		n := *(*stackT)(p)
		if n.Flags&ssDisable != 0 {
			n = stackT{Flags: ssDisable}
		}
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
//
//go:nosplit
func sysTgkillFn(tf *Frame) uint64 { return kill(int32(tf.X[1]), tf.X[2]) }

// tkill(tid, sig)
//
//go:nosplit
func sysTkillFn(tf *Frame) uint64 { return kill(int32(tf.X[0]), tf.X[1]) }

// kill marks sig pending on thread tid; it is delivered when the thread next
// returns from a trap (signal.go).
//
//go:nosplit
func kill(tid int32, sig uint64) uint64 {
	i := findTid(tid)
	if i < 0 {
		return errno(ESRCH)
	}
	if sig < 1 || sig > nsig {
		return errno(EINVAL)
	}
	threads[i].sigs.pending |= 1 << (sig - 1)
	stats.SignalsSent++
	return 0
}
