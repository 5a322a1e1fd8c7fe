package rt

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/mm"
)

// The service queue (calls completed by kernel Go code), the process
// memory API it uses, and execve's two halves.

// TestServiceCallRoundTrip: a service row blocks the calling thread; the
// kernel picks the call up with its pid, tid and arguments, and Complete
// wakes the thread with the result.
func TestServiceCallRoundTrip(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	b := u.spawnThread(tf, u.top(4))
	switchTo(t, tf, b)
	calls := stats.ServiceCalls
	path := u.put(0, []byte("/etc/x\x00"))
	svc(tf, sysOpenat, neg(-100), path, oCLOEXEC, 0o644)
	requireBlocked(t, b, waitService)
	require.False(t, th(b).intr, "not interruptible")
	require.Equal(t, calls+1, stats.ServiceCalls)
	checkKernel(t)

	c := NextServiceCall()
	require.Equal(t, ServiceCall{Tid: th(b).tid, Pid: u.pid, Nr: sysOpenat, Args: [6]uint64{neg(-100), path, oCLOEXEC, 0o644}}, c)
	requireBlocked(t, b, waitService)
	require.True(t, c.Complete(Errno(ENOENT)))
	requireWoken(t, b, errno(ENOENT))
	require.False(t, c.Complete(0), "completed already")
}

// TestKernelServiceCallsFailAtOnce: the kernel's own runtime asking for a
// file gets ENOENT without blocking.
func TestKernelServiceCallsFailAtOnce(t *testing.T) {
	resetKernel(t, 256)
	var tf Frame
	for _, nr := range []uint64{sysOpenat, sysNewfstatat, sysFaccessat, sysReadlinkat} {
		require.Equal(t, errno(ENOENT), svc(&tf, nr, neg(-100), 0, 0, 0), syscalls[nr].name)
		require.Equal(t, uint8(tsRunning), th(0).state)
	}
	require.Zero(t, svcTail)
}

// TestServiceSkipsCallsOfKilledProcesses: a call whose process was killed
// while it waited in the queue is not handed to the kernel, and whatever
// the kernel still does for it (OpenFile, Complete) is refused without
// leaking anything.
func TestServiceSkipsCallsOfKilledProcesses(t *testing.T) {
	resetKernel(t, 256)
	base := TakeCensus()
	a, tfa := newUserFrame(t, 4)
	svc(tfa, sysOpenat, neg(-100), a.put(0, []byte("a\x00")), 0)
	requireBlocked(t, a.main, waitService)
	b, tfb := newUserFrame(t, 4)
	svc(tfb, sysOpenat, neg(-100), b.put(0, []byte("b\x00")), 0)

	exitProcess(a.p, sigKILL, true)
	c := NextServiceCall()
	require.Equal(t, b.pid, c.Pid,
		"BUG: the call of a killed process was handed to the service (its thread stays blocked in waitService until the reaper frees it)")
	require.True(t, c.Complete(7))
	endAll(t)
	require.Equal(t, base, TakeCensus())
}

// TestServiceCallOfKilledProcessIsRefused: a call the kernel picked up
// before its process was killed cannot install a descriptor in (or wake
// a thread of) the dead process: nothing leaks.
func TestServiceCallOfKilledProcessIsRefused(t *testing.T) {
	resetKernel(t, 256)
	base := TakeCensus()
	a, tfa := newUserFrame(t, 4)
	svc(tfa, sysOpenat, neg(-100), a.put(0, []byte("a\x00")), 0)
	c := NextServiceCall()
	require.Equal(t, a.pid, c.Pid)
	runKernel() // a's thread waits in its call
	exitProcess(a.p, sigKILL, true)

	assert.Equal(t, errno(ESRCH), OpenFile(c, FileObject{Special: SpecialNull}),
		"BUG: the service installed a descriptor in a dying process (its thread is still blocked in the call until the reaper frees it)")
	assert.False(t, c.Complete(0), "BUG: a thread of a dying process was woken")
	assert.Equal(t, FileNone, FileOf(c, 0).Kind)
	_, err := ExecBegin(c)
	assert.ErrorIs(t, err, ErrNoProcess)
	endAll(t)
	require.Equal(t, base, TakeCensus(), "nothing leaked")
}

// TestServiceRingEntryOfDeadThreadIsNotRedelivered: a queued call of a
// thread that died stays in the ring; when a new thread reuses the slot
// and makes a call of its own, that call must be handed out once, not
// twice (the service handles each call in its own goroutine).
func TestServiceRingEntryOfDeadThreadIsNotRedelivered(t *testing.T) {
	resetKernel(t, 256)
	a, tfa := newUserFrame(t, 4)
	svc(tfa, sysOpenat, neg(-100), a.put(0, []byte("a\x00")), 0)
	slot := a.main
	exitProcess(a.p, sigKILL, true)
	reapAll(t) // its thread is freed
	require.Zero(t, thrPage[slot])

	b, tfb := newUserFrame(t, 4)
	if b.main != slot {
		t.Skip("the slot was not reused")
	}
	svc(tfb, sysOpenat, neg(-100), b.put(0, []byte("b\x00")), 0)
	c, tfc := newUserFrame(t, 4)
	svc(tfc, sysOpenat, neg(-100), c.put(0, []byte("c\x00")), 0)

	first := NextServiceCall()
	require.Equal(t, b.pid, first.Pid)
	second := NextServiceCall()
	require.Equal(t, c.pid, second.Pid,
		"BUG: the dead thread's ring entry named only a slot; the call of the thread now in that slot was handed out twice")
}

// TestOpenFileSpecialsAndFileOf: the service installs /dev/null and the
// console at the lowest free descriptor, FileOf describes descriptors.
func TestOpenFileSpecialsAndFileOf(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	require.Zero(t, svc(tf, sysClose, 0))
	svc(tf, sysOpenat, neg(-100), u.put(0, []byte("/dev/null\x00")), oRDWR)
	c := NextServiceCall()
	require.Zero(t, OpenFile(c, FileObject{Special: SpecialNull, Flags: oRDWR}))
	require.EqualValues(t, 3, OpenFile(c, FileObject{Special: SpecialConsole, Flags: oRDWR, Cloexec: true}))
	require.Equal(t, uint8(objNull), objs[pr(u.p).fds[0].obj].kind)
	require.True(t, pr(u.p).fds[3].cloexec)

	st := FileOf(c, 0)
	require.Equal(t, FileOther, st.Kind)
	var sb statBuf
	copy(bytesOfStruct(&sb), st.Stat[:])
	require.Equal(t, uint32(sIFCHR|0o666), sb.Mode)
	require.Equal(t, FileNone, FileOf(c, 50).Kind)
	require.Equal(t, FileNone, FileOf(c, -1).Kind)
	img := OpenFile(c, FileObject{Ino: 3, Size: 100, Mode: sIFREG | 0o644})
	require.EqualValues(t, 4, img)
	SetFilePos(c, 4, 42)
	require.Equal(t, FileState{Kind: FileImage, Ino: 3, Mode: sIFREG | 0o644, Pos: 42}, withoutStat(FileOf(c, 4)))
	require.True(t, c.Complete(0))
	require.Equal(t, FileNone, FileOf(c, 4).Kind, "only for a waiting call")
}

// withoutStat drops the stat bytes from a FileState for comparison.
func withoutStat(s FileState) FileState {
	s.Stat = [128]byte{}
	return s
}

// TestProcessMemoryAPI: ReadProcess, WriteProcess and ReadProcessString
// reach a live process's memory through its tables.
func TestProcessMemoryAPI(t *testing.T) {
	resetKernel(t, 256)
	u, _ := newUserFrame(t, 4)
	va := u.put(pageSize-3, []byte("hello, world\x00"))
	buf := make([]byte, 5)
	require.NoError(t, ReadProcess(u.pid, va, buf))
	require.Equal(t, "hello", string(buf))
	s, err := ReadProcessString(u.pid, va, 100)
	require.NoError(t, err)
	require.Equal(t, "hello, world", s, "across a page boundary")
	require.NoError(t, WriteProcess(u.pid, va, []byte("HE")))
	require.Equal(t, "HEllo", string(u.get(va, 5)))
	require.ErrorIs(t, ReadProcess(u.pid, 0x2000_0000, buf), ErrFault)
	require.ErrorIs(t, WriteProcess(u.pid, 1<<47, buf), ErrFault)
	require.ErrorIs(t, ReadProcess(999_999, va, buf), ErrNoProcess)

	require.NoError(t, WithSpace(u.pid, func(as *mm.AddressSpace) mm.Errno {
		_, _, e := as.Mmap(0x6000_0000, pageSize, mm.ProtRead, 0, true, SpaceInvalidate(u.pid))
		return e
	}))
	_, found := pr(u.p).as.VMAs.Find(0x6000_0000)
	require.True(t, found)
	require.Error(t, WithSpace(u.pid, func(as *mm.AddressSpace) mm.Errno { return mm.ErrInvalid }))

	exitProcess(u.p, 0, false)
	require.ErrorIs(t, ReadProcess(u.pid, va, buf), ErrNoProcess, "a dying process")
}

// TestReadProcessStringHonoursMax: a string longer than max is an error,
// never a longer string (execve bounds paths and arguments with it).
func TestReadProcessStringHonoursMax(t *testing.T) {
	resetKernel(t, 256)
	u, _ := newUserFrame(t, 4)
	va := u.put(pageSize-3, []byte("hello, world\x00"))
	s, err := ReadProcessString(u.pid, va, 13) // with its NUL
	require.NoError(t, err)
	require.Equal(t, "hello, world", s)
	s, err = ReadProcessString(u.pid, va, 4)
	require.Error(t, err, "BUG: ReadProcessString returned %q, longer than its max of 4 bytes", s)
}

// TestExecOfThreadedProcess: execve in a process of its own: the other
// threads end, the address space is emptied (the shared pages come back),
// close-on-exec descriptors close, caught signals revert to default while
// ignored ones stay ignored, and the caller starts afresh.
func TestExecOfThreadedProcess(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	for k := 0; k < 8; k++ {
		u.touch(u.scratch+uint64(k)*pageSize, 1)
	}
	r, w := pipeFds(t, u, tf, oCLOEXEC)
	keep := svc(tf, sysDup, w)
	pr(u.p).sigact[sigUSR1] = sigaction{Handler: handlerPC}
	pr(u.p).sigact[sigPIPE] = sigaction{Handler: sigIgnore}
	pr(u.p).sigPending = sigBit(sigUSR2)
	others := []int{u.spawnThread(tf, u.top(8)), u.spawnThread(tf, u.top(8))}
	setTPIDR0(0x55)
	svc(tf, sysExecve, u.put(0, []byte("/bin/y\x00")), 0, 0)
	c := NextServiceCall()
	pid, err := ExecBegin(c)
	require.NoError(t, err)
	require.Equal(t, u.pid, pid)
	for _, i := range others {
		require.Zero(t, thrPage[i], "other threads end")
	}
	require.EqualValues(t, 1, pr(u.p).nthreads)
	require.Zero(t, pr(u.p).as.PT.Stats().Owned, "every page of the old image is back")
	_, found := pr(u.p).as.VMAs.Find(u.scratch)
	require.False(t, found)
	_, found = pr(u.p).as.VMAs.Find(sigtrampVA)
	require.True(t, found, "the shared pages are mapped again")

	require.NoError(t, ExecCommit(c, "y", 0x40_0000, 0x7000))
	require.Equal(t, int32(-1), pr(u.p).fds[r].obj, "close-on-exec")
	require.Equal(t, int32(-1), pr(u.p).fds[w].obj)
	require.GreaterOrEqual(t, pr(u.p).fds[keep].obj, int32(0))
	require.Equal(t, sigaction{}, pr(u.p).sigact[sigUSR1])
	require.Equal(t, uint64(sigIgnore), pr(u.p).sigact[sigPIPE].Handler)
	require.Zero(t, pr(u.p).sigPending)
	n := th(u.main)
	require.Equal(t, uint8(tsRunnable), n.state)
	require.Equal(t, Frame{PC: 0x40_0000, SP: 0x7000, PSTATE: pstateEL0t}, n.regs)
	require.Zero(t, n.tls)
	require.Equal(t, "y", ProcessName(u.pid))
	require.ErrorIs(t, ExecCommit(c, "z", 0, 0), ErrNoProcess, "the call is over")
	checkKernel(t)
}
