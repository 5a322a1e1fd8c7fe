package rt

import (
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// Fuzz targets: system calls whose arguments (and the memory they point
// at) come from a hostile process.

// fuzzRows lists the numbers of every row of the system call table.
func fuzzRows() []uint64 {
	var rows []uint64
	for nr, e := range syscalls {
		if e.fn != nil || e.service {
			rows = append(rows, uint64(nr))
		}
	}
	return rows
}

// fuzzInput hands out fuzz bytes (zeros once they run out).
type fuzzInput struct{ b []byte }

func (in *fuzzInput) more() bool { return len(in.b) > 0 }

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) u16() uint64 { return uint64(in.byte()) | uint64(in.byte())<<8 }

func (in *fuzzInput) u64() uint64 {
	var v [8]byte
	for i := range v {
		v[i] = in.byte()
	}
	return binary.LittleEndian.Uint64(v[:])
}

// arg makes one argument word: small numbers (descriptors, flags, sizes),
// pointers into the process's scratch region or near its end, negative
// numbers, single bits, addresses that are unmapped or in the kernel half,
// and raw garbage.
func (in *fuzzInput) arg(scratch, size uint64) uint64 {
	switch in.byte() % 9 {
	case 0:
		return uint64(in.byte() % 16)
	case 1:
		return uint64(in.byte())
	case 2:
		return scratch + in.u16()%size&^7
	case 3:
		return scratch + size - uint64(in.byte())
	case 4:
		return uint64(-int64(in.byte() % 128))
	case 5:
		return 1 << (in.byte() % 64)
	case 6:
		return []uint64{1 << 47, 0x2000_0000, 0, 8, scratch - 8, ^uint64(0)}[in.byte()%6]
	case 7:
		return in.u16() * pageSize
	default:
		return in.u64()
	}
}

// checkRunning is the cheap per-call invariant: the running thread, if
// any, is a live, running thread of a user process, on no queue.
func checkRunning(t *testing.T) {
	if cur == idle {
		return
	}
	require.NotZero(t, thrPage[cur], "the running thread was freed")
	x := th(cur)
	require.Equal(t, uint8(tsRunning), x.state)
	require.Equal(t, int16(-1), x.queue)
	require.NotZero(t, procPage[x.proc])
	require.NotZero(t, int(x.proc), "a user call ended in a kernel thread")
}

// serveOne completes one queued service call, if there is one, as the
// kernel's service would: openat gets /dev/null, anything else ENOENT.
// (NextServiceCall waits for a call, so it is only called when a live
// process has one queued.)
func serveOne() {
	ready := false
	for i := 0; i < maxThreads && !ready; i++ {
		ready = thrPage[i] != 0 && th(i).state == tsBlocked && th(i).wait == waitService &&
			pr(int(th(i).proc)).state == psLive
	}
	if !ready {
		return
	}
	c := NextServiceCall()
	if c.Nr == sysOpenat {
		c.Complete(OpenFile(c, FileObject{Special: SpecialNull, Flags: oRDWR}))
		return
	}
	c.Complete(Errno(ENOENT))
}

// runSyscalls makes the system calls data describes as threads of a user
// process (and whatever processes and threads those calls create), each
// followed by the trap exit path (expiry, scheduling, signal delivery),
// then ends every process and checks that all is given back.
func runSyscalls(t *testing.T, data []byte) {
	resetKernel(t, 384)
	base := TakeCensus()
	const scratchPages = 6
	u, tf := newUserFrame(t, scratchPages)
	size := uint64(scratchPages) * pageSize
	// Something to work on: a pipe, an eventfd, an epoll watching both.
	fds := u.put(size-64, make([]byte, 8))
	require.Zero(t, svc(tf, sysPipe2, fds, 0))
	svc(tf, sysEventfd2, 1, 0)
	ep := svc(tf, sysEpollCreate1, 0)
	ev := u.put(size-48, bytesOfStruct(&epollEvent{Events: epollIn | epollOut | epollET}))
	svc(tf, sysEpollCtl, ep, epollCtlAdd, 3, ev)
	svc(tf, sysEpollCtl, ep, epollCtlAdd, 5, ev)

	rows := fuzzRows()
	in := &fuzzInput{b: data}
	for step := 0; step < 48 && in.more(); step++ {
		if cur == idle {
			// Every thread waits: let time pass, then give up if
			// nothing wakes.
			expire(^uint64(0) >> 1)
			schedule(tf, now())
			if cur == idle {
				break
			}
		}
		checkRunning(t)
		op := in.byte()
		switch {
		case op == 0xff:
			reapStep() // the reaper runs between two traps
			continue
		case op == 0xfe:
			schedule(tf, now()) // a timer interrupt
			continue
		case op == 0xfd:
			serveOne() // the kernel's service goroutine runs
			continue
		case op == 0xfc:
			expire(now() + nsToTicks(uint64(in.byte())*10_000_000)) // time passes
			continue
		}
		var nr uint64
		if op >= 0xf0 {
			nr = in.u16() % (maxSyscall + 64) // anything, the unimplemented too
		} else {
			nr = rows[int(in.byte())%len(rows)]
		}
		var args [6]uint64
		for k := range args {
			args[k] = in.arg(u.scratch, size)
		}
		tf.PC = userPC
		svc(tf, nr, args[:]...)
		finishTrap(tf)
		syncTTBR()
		checkRunning(t)
	}
	checkKernel(t)
	endAll(t)
	checkKernel(t)
	require.Equal(t, base, TakeCensus(), "a process that ended left something behind")
	require.Zero(t, nThreads-1, "only the kernel's thread is left")
}

// FuzzSyscallArgs makes random system calls (numbers from the table,
// arguments mixing small values, pointers into the process and garbage)
// as a user process, checking after each that the kernel is sane and,
// at the end, that every process's resources come back.
func FuzzSyscallArgs(f *testing.F) {
	rnd := rand.New(rand.NewSource(7))
	for k := 0; k < 24; k++ {
		b := make([]byte, 64+rnd.Intn(512))
		rnd.Read(b)
		f.Add(b)
	}
	// A few sequences that reach deeper states: a thread that blocks, a
	// vfork child, signals.
	rows := fuzzRows()
	index := func(nr uint64) byte {
		for i, r := range rows {
			if r == nr {
				return byte(i)
			}
		}
		panic("no row")
	}
	small := func(v byte) []byte { return []byte{0, v} } // arg kind 0: v%16
	ptr := func(off uint16) []byte { return []byte{2, byte(off), byte(off >> 8)} }
	call := func(nr uint64, args ...[]byte) []byte {
		b := []byte{0, index(nr)}
		for _, a := range args {
			b = append(b, a...)
		}
		for k := len(args); k < 6; k++ {
			b = append(b, small(0)...)
		}
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	f.Add(cat(
		call(sysClone, []byte{5, 16} /* CLONE_THREAD */, ptr(4000)), // EINVAL: no VM
		call(sysWrite, small(4), ptr(0), small(8)),
		call(sysRead, small(3), ptr(64), small(8)),
		call(sysRead, small(3), ptr(64), small(8)), // blocks
		call(sysGetpid),
	))
	f.Add(cat(
		call(sysClone, []byte{8, 0x11, 0x41, 0, 0, 0, 0, 0, 0}), // vfork: CLONE_VM|CLONE_VFORK|SIGCHLD
		call(sysGetppid),
		call(sysKill, []byte{4, 1} /* -1 */, small(9)),
		[]byte{0xff, 0xff, 0xff},
		call(sysExitGroup, small(3)),
		call(sysWait4, []byte{4, 1}, ptr(128)),
	))
	f.Add(cat(
		call(sysRtSigaction, small(10), ptr(256), small(0), small(8)),
		call(sysTgkill, small(0), small(0), small(10)),
		call(sysRtSigreturn),
		call(sysFutex, ptr(512), small(0), small(0), small(0)),
		call(sysNanosleep, ptr(512)),
	))
	f.Fuzz(runSyscalls)
}

// FuzzSigreturnFrame: rt_sigreturn parses a frame the process wrote (any
// bytes at all); it must restore EL0t with only the condition flags of
// the saved PSTATE, never block SIGKILL or SIGSTOP, and take registers
// from the frame.
func FuzzSigreturnFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, sigframeUsed))
	seed := make([]byte, sigframeUsed)
	for i := range seed {
		seed[i] = 0xff
	}
	binary.LittleEndian.PutUint32(seed[frameFPSIMD:], fpsimdMagic)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, frame []byte) {
		resetKernel(t, 64)
		u, tf := newUserFrame(t, 4)
		buf := make([]byte, sigframeUsed)
		copy(buf, frame)
		sp := u.scratch + 256
		u.put(256, buf)
		tf.SP = sp
		svc(tf, sysRtSigreturn)
		require.Equal(t, uint8(psLive), pr(u.p).state)
		require.Zero(t, tf.PSTATE&^uint64(pstateUserMask), "PSTATE %#x", tf.PSTATE)
		require.Zero(t, th(u.main).sigs.mask&unblockable)
		require.Equal(t, binary.LittleEndian.Uint64(buf[frameMC+scPC:]), tf.PC)
		require.Equal(t, binary.LittleEndian.Uint64(buf[frameMC+scSP:]), tf.SP)
		require.Equal(t, binary.LittleEndian.Uint64(buf[frameMC+scRegs+8*17:]), tf.X[17])
		// And a delivery on top of whatever it restored either works or
		// ends the process; it never panics.
		pr(u.p).sigact[sigUSR1] = sigaction{Handler: handlerPC}
		if !pushSignal(tf, sigUSR1, siCodeTkill, 0) {
			defaultAction(sigUSR1)
		}
	})
}
