package rt

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// vfork (how os/exec starts programs), wait4 and waitid.

// vfork makes the running thread of u vfork and returns the child's slot
// and its thread; the parent thread is left blocked.
func vfork(t *testing.T, u *uproc, tf *Frame) (int, int) {
	t.Helper()
	svc(tf, sysClone, vforkFlags, 0, 0, 0, 0)
	requireBlocked(t, u.main, waitVfork)
	kids := childrenOf(u.p)
	require.NotEmpty(t, kids)
	c := kids[len(kids)-1]
	return c, int(pr(c).threadHead)
}

// TestVforkChildRunsInParentSpace: the child runs in the parent's address
// space (same tables, same ASID), with X0 = 0, the parent's registers,
// TLS, signal mask, dispositions and descriptors; the parent waits until
// the child exits and then gets the child's pid. Reaping the child leaves
// the parent's memory alone.
func TestVforkChildRunsInParentSpace(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	msg := u.put(0, []byte("parent data\n"))
	setTPIDR0(0x77)
	th(u.main).sigs.mask = sigBit(sigUSR2)
	pr(u.p).sigact[sigUSR1] = sigaction{Handler: 0x40_5000}
	tf.X[21] = 0x2121
	ptid := u.putU32(64, 0)
	svc(tf, sysClone, vforkFlags|cloneParentSettid, 0, ptid, 0, 0)
	requireBlocked(t, u.main, waitVfork)
	require.False(t, th(u.main).intr, "a vfork wait is not interruptible")
	kids := childrenOf(u.p)
	require.Len(t, kids, 1)
	c := kids[0]
	ci := int(pr(c).threadHead)
	cp := pr(c)
	require.Equal(t, uint32(cp.pid), u.u32(ptid))
	require.Equal(t, u.pid, cp.ppid)
	require.Equal(t, int16(u.p), cp.asOwner)
	require.Same(t, &pr(u.p).as, space(c))
	require.Equal(t, procTTBR(u.p), procTTBR(c), "same root, same ASID")
	require.Equal(t, pr(u.p).name, cp.name)
	require.Equal(t, pr(u.p).sigact, cp.sigact)
	require.Equal(t, cp.pid, th(ci).tid)

	switchTo(t, tf, ci)
	require.Zero(t, tf.X[0])
	require.Equal(t, uint64(0x2121), tf.X[21])
	require.Equal(t, uint64(userPC), tf.PC)
	require.Equal(t, uint64(0x77), getTPIDR0())
	require.Equal(t, sigBit(sigUSR2), th(ci).sigs.mask)
	require.Equal(t, uint64(u.pid), svc(tf, sysGetppid))
	require.Equal(t, uint64(cp.pid), svc(tf, sysGetpid))
	out := captureOut(t)
	require.EqualValues(t, 12, svc(tf, sysWrite, 1, msg, 12), "the child reads the parent's memory")
	require.Contains(t, out.String(), "test: parent data\n")
	require.EqualValues(t, 8, svc(tf, sysGetrandom, u.scratch+128, 8, 0))
	rnd := u.get(u.scratch+128, 8)

	owned := pr(u.p).as.OwnedPages()
	svc(tf, sysExitGroup, 9)
	requireWoken(t, u.main, uint64(cp.pid))
	reapAll(t)
	require.Equal(t, uint8(psZombie), pr(c).state)
	require.Equal(t, owned, pr(u.p).as.OwnedPages(), "the child's end does not unmap the parent")
	require.Equal(t, "parent data\n", string(u.get(msg, 12)))
	require.Equal(t, rnd, u.get(u.scratch+128, 8), "the child wrote into the parent's memory")
	checkKernel(t)
}

// TestVforkChildExecReleasesParent: execve in the child (a service call)
// gives it its own address space; the parent resumes with the child's
// pid at ExecCommit, before the child ends.
func TestVforkChildExecReleasesParent(t *testing.T) {
	resetKernel(t, 256)
	base := TakeCensus()
	u, tf := newUserFrame(t, 8)
	c, ci := vfork(t, u, tf)
	cpid := pr(c).pid
	switchTo(t, tf, ci)
	path := u.put(0, []byte("/bin/x\x00"))
	svc(tf, sysExecve, path, 0, 0)
	requireBlocked(t, ci, waitService)
	requireBlocked(t, u.main, waitVfork)

	call := NextServiceCall()
	require.Equal(t, ServiceCall{Tid: cpid, Pid: cpid, Nr: sysExecve, Args: [6]uint64{path}}, call)
	pid, err := ExecBegin(call)
	require.NoError(t, err)
	require.Equal(t, cpid, pid)
	requireBlocked(t, u.main, waitVfork)
	require.NoError(t, ExecCommit(call, "x", 0x40_0000, 0x7fff_0000))
	requireWoken(t, u.main, uint64(cpid))
	require.Equal(t, int16(c), pr(c).asOwner)
	require.NotEqual(t, procTTBR(u.p)&(1<<48-1), procTTBR(c)&(1<<48-1), "its own tables now")
	require.Equal(t, "x", ProcessName(cpid))
	n := th(ci)
	require.Equal(t, uint8(tsRunnable), n.state)
	require.Equal(t, uint64(0x40_0000), n.regs.PC)
	require.Equal(t, uint64(0x7fff_0000), n.regs.SP)
	require.Equal(t, uint64(pstateEL0t), n.regs.PSTATE)
	require.Zero(t, n.tls)

	// The child ends; the parent collects it with wait4.
	switchTo(t, tf, ci)
	svc(tf, sysExitGroup, 4)
	reapAll(t)
	switchTo(t, tf, u.main)
	st := u.put(256, make([]byte, 4))
	require.Equal(t, uint64(cpid), svc(tf, sysWait4, uint64(cpid), st, 0, 0))
	require.Equal(t, uint32(4<<8), u.u32(st))
	svc(tf, sysExitGroup, 0)
	reapAll(t)
	collect(t, u.pid)
	require.Equal(t, base, TakeCensus())
}

// TestVforkParentKilledWhileChildBorrowsSpace: the parent process ends
// (exit_group from another thread, or a kill) while its vfork child still
// runs in the parent's address space. The child must keep a working
// address space until it execs or exits, as on Linux (the child holds a
// reference to the mm).
func TestVforkParentKilledWhileChildBorrowsSpace(t *testing.T) {
	resetKernel(t, 256)
	base := TakeCensus()
	u, tf := newUserFrame(t, 8)
	msg := u.put(0, []byte("still here\n"))
	c, ci := vfork(t, u, tf)
	cpid := pr(c).pid

	exitProcess(u.p, sigKILL, true)
	reapAll(t)
	require.Equal(t, uint8(psLive), pr(c).state, "the child lives on")

	// The child's next system call reads the memory it runs in.
	switchTo(t, tf, ci)
	out := captureOut(t)
	r := svc(tf, sysWrite, 1, msg, 11)
	require.EqualValues(t, 11, int64(r),
		"BUG: the reaper tore down the parent's address space while the vfork child runs in it (see report)")
	require.Contains(t, out.String(), "still here")

	svc(tf, sysExitGroup, 0)
	reapAll(t)
	require.Equal(t, -1, findPid(cpid), "an orphan is freed when it ends")
	collect(t, u.pid)
	require.Equal(t, base, TakeCensus())
}

// TestExecWhileVforkChildBorrowsSpace: another thread of the parent
// execs while the vfork child still runs in the parent's address space;
// on Linux the exec gets a new mm and the child keeps the old one. Here
// the child must at least not find its memory gone.
func TestExecWhileVforkChildBorrowsSpace(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	msg := u.put(0, []byte("mine\n"))
	other := u.spawnThread(tf, u.top(8))
	_, ci := vfork(t, u, tf)
	switchTo(t, tf, other)
	svc(tf, sysExecve, u.put(64, []byte("/bin/x\x00")), 0, 0)
	c := NextServiceCall()
	require.Equal(t, u.pid, c.Pid)
	_, err := ExecBegin(c)
	require.NoError(t, err)

	switchTo(t, tf, ci)
	require.EqualValues(t, 5, int64(svc(tf, sysWrite, 1, msg, 5)),
		"BUG: ExecBegin emptied the address space the vfork child runs in")
}

// TestWait4 covers wait4's answers: ECHILD without children, WNOHANG while
// a child runs, the exit status encoding, a killed child's signal, and a
// bad status pointer (EFAULT, but the child is reaped all the same).
func TestWait4(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	st := u.put(0, make([]byte, 4))
	require.Equal(t, errno(ECHILD), svc(tf, sysWait4, neg(-1), st, 0, 0))
	require.Equal(t, errno(ECHILD), svc(tf, sysWait4, neg(-1), st, wNohang, 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysWait4, neg(-1), st, 0x100, 0))

	a := u.newChild(2)
	b := u.newChild(2)
	require.Zero(t, svc(tf, sysWait4, neg(-1), st, wNohang, 0), "children still run")
	require.Equal(t, errno(ECHILD), svc(tf, sysWait4, 99999, st, wNohang, 0), "not a child")
	require.Zero(t, svc(tf, sysWait4, uint64(a.pid), st, wNohang, 0))

	// a exits with 42; while it is being torn down it is still no zombie.
	exitProcess(a.p, 42<<8, false)
	require.Zero(t, svc(tf, sysWait4, neg(-1), st, wNohang, 0))
	reapAll(t)
	ru := u.put(64, make([]byte, 144))
	u.put(64, []byte{0xff, 0xff})
	require.Equal(t, uint64(a.pid), svc(tf, sysWait4, neg(-1), st, 0, ru))
	require.Equal(t, uint32(42<<8), u.u32(st))
	require.Zero(t, u.u32(ru), "rusage zeroed")
	require.Equal(t, -1, findPid(a.pid), "reaped")

	// b is killed by a signal: the status is the signal number.
	sendSignal(b.p, sigKILL)
	reapAll(t)
	require.Equal(t, uint64(b.pid), svc(tf, sysWait4, 0 /* own group */, st, 0, 0))
	require.Equal(t, uint32(sigKILL), u.u32(st))
	require.Equal(t, errno(ECHILD), svc(tf, sysWait4, neg(-1), st, 0, 0))

	// A bad status pointer: EFAULT, and the child is gone anyway.
	c := u.newChild(2)
	exitProcess(c.p, 0, false)
	reapAll(t)
	require.Equal(t, errno(EFAULT), svc(tf, sysWait4, neg(-1), 0x8, 0, 0))
	require.Equal(t, -1, findPid(c.pid))
	require.Equal(t, errno(ECHILD), svc(tf, sysWait4, neg(-1), 0, 0, 0))
	checkKernel(t)
}

// TestWait4BlocksAndRetries: a wait4 with nothing to reap blocks on the
// parent's child queue and is woken to retry when a child becomes a zombie.
func TestWait4BlocksAndRetries(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	st := u.put(0, make([]byte, 4))
	kid := u.newChild(2)
	svc(tf, sysWait4, neg(-1), st, 0, 0)
	requireBlocked(t, u.main, waitChild)
	require.True(t, th(u.main).intr)

	exitProcess(kid.p, 1<<8, false)
	requireBlocked(t, u.main, waitChild)
	reapAll(t)
	requireRetrying(t, u.main, sysWait4)
	switchTo(t, tf, u.main)
	require.Equal(t, uint64(kid.pid), retry(t, tf))
	require.Equal(t, uint32(1<<8), u.u32(st))
	require.Empty(t, childrenOf(u.p))
}

// TestWaitid: WNOWAIT reports without reaping; the siginfo says how the
// child ended; WNOHANG with nothing ready zeroes it; bad arguments.
func TestWaitid(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	info := u.put(0, make([]byte, 128))
	require.Equal(t, errno(ECHILD), svc(tf, sysWaitid, pAll, 0, info, wExited))
	require.Equal(t, errno(EINVAL), svc(tf, sysWaitid, pAll, 0, info, wNohang), "no WEXITED")
	require.Equal(t, errno(EINVAL), svc(tf, sysWaitid, pPid, 0, info, wExited))
	require.Equal(t, errno(EINVAL), svc(tf, sysWaitid, 7, 0, info, wExited))

	kid := u.newChild(2)
	u.put(0, []byte(strings.Repeat("\xff", 128)))
	require.Zero(t, svc(tf, sysWaitid, pPid, uint64(kid.pid), info, wExited|wNohang))
	require.Equal(t, make([]byte, 128), u.get(info, 128), "zeroed: no child was ready")

	exitProcess(kid.p, 3<<8, false)
	reapAll(t)
	require.Zero(t, svc(tf, sysWaitid, pPid, uint64(kid.pid), info, wExited|wNowait))
	require.Equal(t, int32(sigCHLD), u.i32(info))
	require.Equal(t, int32(cldExited), u.i32(info+8))
	require.Equal(t, kid.pid, u.i32(info+16))
	require.Equal(t, int32(3), u.i32(info+24))
	require.Equal(t, uint8(psZombie), pr(kid.p).state, "WNOWAIT leaves the zombie")
	require.Zero(t, svc(tf, sysWaitid, pAll, 0, info, wExited))
	require.Equal(t, -1, findPid(kid.pid))

	killed := u.newChild(2)
	sendSignal(killed.p, sigKILL)
	reapAll(t)
	require.Zero(t, svc(tf, sysWaitid, pAll, 0, info, wExited))
	require.Equal(t, int32(cldKilled), u.i32(info+8))
	require.Equal(t, int32(sigKILL), u.i32(info+24))

	// Blocking: woken to retry when the child ends.
	k2 := u.newChild(2)
	svc(tf, sysWaitid, pPid, uint64(k2.pid), info, wExited)
	requireBlocked(t, u.main, waitChild)
	exitProcess(k2.p, 0, false)
	reapAll(t)
	requireRetrying(t, u.main, sysWaitid)
	switchTo(t, tf, u.main)
	require.Zero(t, retry(t, tf))
	require.Equal(t, k2.pid, u.i32(info+16))
}

// TestOrphansAreFreedWhenTheyEnd: when a parent ends, its zombie children
// are freed and its live children become orphans (ppid 1) that are freed
// as soon as they end.
func TestOrphansAreFreedWhenTheyEnd(t *testing.T) {
	resetKernel(t, 256)
	base := TakeCensus()
	u, tf := newUserFrame(t, 4)
	zombie := u.newChild(2)
	live := u.newChild(2)
	exitProcess(zombie.p, 0, false)
	reapAll(t)
	require.Equal(t, uint8(psZombie), pr(zombie.p).state)

	svc(tf, sysExitGroup, 0)
	reapAll(t)
	require.Equal(t, -1, findPid(zombie.pid), "the zombie child went with its parent")
	require.Equal(t, int16(-1), pr(live.p).parent)
	require.Equal(t, int32(1), pr(live.p).ppid)
	switchTo(t, tf, live.main)
	require.EqualValues(t, 1, svc(tf, sysGetppid))
	svc(tf, sysExit, 0)
	reapAll(t)
	require.Equal(t, -1, findPid(live.pid), "nobody waits for an orphan")
	collect(t, u.pid)
	require.Equal(t, base, TakeCensus())
}
