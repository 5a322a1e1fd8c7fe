package rt

import (
	"testing"

	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/mm"
)

// exit, exit_group and the teardown of a process: the reaper's batches and
// the census coming back to where it was.

// requireNeverRuns runs the scheduler until idle and checks that no
// thread of process p is ever picked.
func requireNeverRuns(t *testing.T, tf *Frame, p int) {
	t.Helper()
	for k := 0; k < maxThreads && cur != idle; k++ {
		schedule(tf, now())
		if cur != idle {
			require.NotEqual(t, p, int(th(cur).proc), "a thread of the ended process runs")
			th(cur).state = tsBlocked // park whatever else runs
			th(cur).wait = waitSleep
			th(cur).deadline = ^uint64(0) >> 1
			heapPush(cur)
		}
	}
	schedule(tf, now())
	require.Equal(t, idle, cur)
}

// TestExitOfLastThreadEndsProcess: exit(code) of the only thread ends the
// process with that code; reaped and collected, it leaves nothing behind.
func TestExitOfLastThreadEndsProcess(t *testing.T) {
	resetKernel(t, 256)
	base := TakeCensus()
	u, tf := newUserFrame(t, 4)
	u.put(0, []byte("touch"))
	svc(tf, sysGetpid)
	svc(tf, sysExit, 0x107) // only the low 8 bits count
	require.Equal(t, idle, cur)
	require.Equal(t, uint8(psDying), pr(u.p).state)
	require.Equal(t, uint32(7<<8), pr(u.p).exitStatus)
	require.False(t, pr(u.p).killed)
	checkKernel(t)

	reapAll(t)
	checkKernel(t)
	info := collect(t, u.pid)
	require.Equal(t, ExitInfo{Pid: u.pid, Status: 7, Syscalls: 2, ThreadsEv: 1}, info)
	require.Equal(t, 7, info.Code())
	require.Equal(t, base, TakeCensus())
}

// TestExitOfOtherThreadKeepsProcess: a thread that is not the last one
// ends alone.
func TestExitOfOtherThreadKeepsProcess(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	b := u.spawnThread(tf, u.top(4))
	census := TakeCensus()
	switchTo(t, tf, b)
	svc(tf, sysExit, 3)
	require.Zero(t, thrPage[b])
	require.Equal(t, idle, cur)
	require.True(t, reschedule)
	require.Equal(t, uint8(psLive), pr(u.p).state)
	require.EqualValues(t, 1, pr(u.p).nthreads)
	after := TakeCensus()
	require.Equal(t, census.Threads-1, after.Threads)
	require.Equal(t, census.Pages-1, after.Pages, "the thread's page is back")
	checkKernel(t)
}

// TestExitGroupEndsEveryThread: exit_group ends the running thread and
// every other one, blocked (on a queue, with a deadline) or runnable; none
// of them runs again, and after the reaper nothing is left.
func TestExitGroupEndsEveryThread(t *testing.T) {
	resetKernel(t, 256)
	base := TakeCensus()
	u, tf := newUserFrame(t, 8)
	fds := u.put(0, make([]byte, 8))
	require.Zero(t, svc(tf, sysPipe2, fds, 0))
	rfd := uint64(u.u32(fds))
	word := u.putU32(16, 0)
	ts := u.putTimespec(32, 10, 0)
	t1 := u.spawnThread(tf, u.top(8))
	t2 := u.spawnThread(tf, u.top(8))
	t3 := u.spawnThread(tf, u.top(8))

	switchTo(t, tf, t1)
	svc(tf, sysFutex, word, futexWaitPriv, 0, ts)
	requireBlocked(t, t1, waitFutex)
	switchTo(t, tf, t2)
	svc(tf, sysRead, rfd, u.scratch+4096, 10)
	requireBlocked(t, t2, waitPipe)
	switchTo(t, tf, u.main)
	require.Equal(t, []int{t3}, runQueue())

	svc(tf, sysExitGroup, 5)
	require.Equal(t, idle, cur)
	require.Equal(t, uint8(psDying), pr(u.p).state)
	require.Equal(t, uint32(5<<8), pr(u.p).exitStatus)
	checkKernel(t)

	// Nothing of it runs again, not even when t1's deadline passes.
	expire(^uint64(0) >> 1)
	requireNeverRuns(t, tf, u.p)
	checkKernel(t)

	reapAll(t)
	for _, i := range []int{u.main, t1, t2, t3} {
		require.Zero(t, thrPage[i], "thread %d freed", i)
	}
	require.Zero(t, heapN)
	require.Empty(t, runQueue())
	require.Zero(t, queueLen(futexBucket(futexKey(u.p, word))))
	checkKernel(t)
	info := collect(t, u.pid)
	require.Equal(t, 5, info.Status)
	require.EqualValues(t, 4, info.ThreadsEv)
	require.Equal(t, base, TakeCensus())
}

// TestReapStepsAreBounded: the reaper frees a big address space in
// batches of at most mm.FreeBatchCap pages, invalidating the process's
// ASID before each batch's pages go back.
func TestReapStepsAreBounded(t *testing.T) {
	const pages = 600
	resetKernel(t, 1400)
	base := TakeCensus()
	u, tf := newUserFrame(t, pages)
	for k := 0; k < pages; k++ {
		u.put(uint64(k)*pageSize, []byte{byte(k)})
	}
	require.GreaterOrEqual(t, pr(u.p).as.OwnedPages(), uint64(pages))
	procTTBR(u.p) // it has run: its ASID is current
	svc(tf, sysExitGroup, 0)

	batches := 0
	for step := 0; ; step++ {
		require.Less(t, step, 10_000)
		used, threads, tl := physPages.Stats().Used, nThreads, tlbiCalls()
		require.True(t, reapStep(), "a dying process is there")
		freed := used - physPages.Stats().Used
		if pr(u.p).state == psZombie {
			require.LessOrEqual(t, freed, uint64(mm.FreeBatchCap+8), "the last step frees a batch and the tables")
			break
		}
		require.LessOrEqual(t, freed, uint64(mm.FreeBatchCap), "one bounded batch per step")
		if freed > 0 && threads == nThreads {
			batches++
			if hostStandIns {
				require.Greater(t, tlbiCalls(), tl, "the batch was invalidated before it was freed")
			}
		}
	}
	require.GreaterOrEqual(t, batches, pages/mm.FreeBatchCap, "several batches")
	require.False(t, reapStep(), "nothing left to reap")
	collect(t, u.pid)
	require.Equal(t, base, TakeCensus())
}

// TestCensusAfterBusyProcess: a process that used pipes, epoll, eventfds,
// threads, mapped memory and a vfork child (collected with wait4) gives
// everything back once it has ended and been collected.
func TestCensusAfterBusyProcess(t *testing.T) {
	resetKernel(t, 512)
	base := TakeCensus()
	u, tf := newUserFrame(t, 16)
	fds := u.put(0, make([]byte, 8))
	require.Zero(t, svc(tf, sysPipe2, fds, oCLOEXEC))
	rfd, wfd := uint64(u.u32(fds)), uint64(u.u32(fds+4))
	efd := svc(tf, sysEventfd2, 1, 0)
	require.Less(t, int64(efd), int64(maxFds))
	ep := svc(tf, sysEpollCreate1, 0)
	ev := u.put(64, bytesOfStruct(&epollEvent{Events: epollIn | epollET, Data: 1}))
	require.Zero(t, svc(tf, sysEpollCtl, ep, epollCtlAdd, rfd, ev))
	require.Zero(t, svc(tf, sysEpollCtl, ep, epollCtlAdd, efd, ev))
	require.Zero(t, svc(tf, sysEpollCtl, ep, epollCtlAdd, wfd, ev))
	require.EqualValues(t, 3, svc(tf, sysWrite, wfd, u.put(128, []byte("abc")), 3))
	dup := svc(tf, sysDup, wfd)
	require.Positive(t, int64(dup))
	m := svc(tf, sysMmap, 0, 64*pageSize, 3, mapPrivate|mapAnonymous, neg(-1), 0)
	require.Less(t, m, uint64(mm.UserHigh))
	for k := uint64(0); k < 64; k += 3 {
		u.put(m-u.scratch+k*pageSize, []byte{1})
	}

	// Threads: one blocked in epoll_pwait with a timeout, one runnable.
	ep2 := svc(tf, sysEpollCreate1, epollCloexec)
	waiter := u.spawnThread(tf, u.top(16))
	u.spawnThread(tf, u.top(12))
	switchTo(t, tf, waiter)
	svc(tf, sysEpollPwait, ep2, u.scratch+256, 4, 5000)
	requireBlocked(t, waiter, waitEpoll)

	// A vfork child that makes its own pipe and exits, collected by wait4.
	switchTo(t, tf, u.main)
	svc(tf, sysClone, vforkFlags, 0, 0, 0, 0)
	requireBlocked(t, u.main, waitVfork)
	kids := childrenOf(u.p)
	require.Len(t, kids, 1)
	kid := int(pr(kids[0]).threadHead)
	switchTo(t, tf, kid)
	require.Zero(t, svc(tf, sysPipe2, u.put(512, make([]byte, 8)), 0))
	svc(tf, sysExitGroup, 3)
	requireWoken(t, u.main, uint64(pr(kids[0]).pid))
	reapAll(t)
	switchTo(t, tf, u.main)
	status := u.put(600, make([]byte, 4))
	require.Equal(t, uint64(pr(kids[0]).pid), svc(tf, sysWait4, neg(-1), status, 0, 0))
	require.Equal(t, uint32(3<<8), u.u32(status))

	svc(tf, sysExitGroup, 0)
	reapAll(t)
	checkKernel(t)
	collect(t, u.pid)
	require.Equal(t, base, TakeCensus())
}

// TestCensusAfterKilledProcess: the same for a process killed by SIGKILL
// from the kernel (Kill) while its threads were blocked, then dropped
// without anyone waiting (dropProcess).
func TestCensusAfterKilledProcess(t *testing.T) {
	resetKernel(t, 512)
	base := TakeCensus()
	u, tf := newUserFrame(t, 8)
	fds := u.put(0, make([]byte, 8))
	require.Zero(t, svc(tf, sysPipe2, fds, 0))
	rfd := uint64(u.u32(fds))
	efd := svc(tf, sysEventfd2, 0, 0)
	b := u.spawnThread(tf, u.top(8))
	c := u.spawnThread(tf, u.top(6))
	switchTo(t, tf, b)
	svc(tf, sysRead, rfd, u.scratch+1024, 8)
	switchTo(t, tf, c)
	svc(tf, sysRead, efd, u.scratch+2048, 8)
	requireBlocked(t, c, waitEventfd)
	switchTo(t, tf, u.main)
	svc(tf, sysNanosleep, u.putTimespec(64, 1, 0), 0)
	requireBlocked(t, u.main, waitSleep)

	runKernel()
	require.NoError(t, Kill(u.pid, sigKILL))
	require.Equal(t, uint8(psDying), pr(u.p).state)
	require.True(t, pr(u.p).killed)
	checkKernel(t)
	reapAll(t)
	dropProcess(u.p)
	checkKernel(t)
	require.Equal(t, base, TakeCensus())
}

// TestKernelProcessAPI: NewProcess, StartProcess, Kill and WaitProcess as
// the kernel's spawner uses them.
func TestKernelProcessAPI(t *testing.T) {
	resetKernel(t, 256)
	base := TakeCensus()
	pid, err := NewProcess("svc", Limits{Pages: 100, Threads: 7})
	require.NoError(t, err)
	p := findPid(pid)
	require.GreaterOrEqual(t, p, 0)
	require.Equal(t, uint64(100), pr(p).as.Limit)
	require.EqualValues(t, 7, pr(p).threadLimit)
	require.Equal(t, "svc", ProcessName(pid))
	require.Equal(t, uint8(tsNew), th(findTid(pid)).state)

	require.NoError(t, StartProcess(pid, 0x40_0000, 0x7000))
	i := findTid(pid)
	require.Equal(t, uint8(tsRunnable), th(i).state)
	require.Equal(t, uint64(0x40_0000), th(i).regs.PC)
	require.Equal(t, uint64(0x7000), th(i).regs.SP)
	require.Equal(t, uint64(pstateEL0t), th(i).regs.PSTATE)
	require.ErrorIs(t, StartProcess(pid, 0, 0), ErrBusy)

	list := ProcessList()
	require.Len(t, list, 2)
	require.Equal(t, "kernel", list[0].Name)
	require.Equal(t, ProcInfo{Pid: pid, PPid: 1, Name: "svc", State: "running", Threads: 1, ThreadsEv: 1, Pages: pr(p).as.OwnedPages()}, list[1])

	// A default-action fatal signal ends it once it runs.
	require.NoError(t, Kill(pid, sigTERM))
	require.Equal(t, uint8(psLive), pr(p).state, "delivered when the thread next runs")
	var tf Frame
	switchTo(t, &tf, i)
	finishTrap(&tf)
	require.Equal(t, uint8(psDying), pr(p).state)
	reapAll(t)
	info := collect(t, pid)
	require.True(t, info.Killed)
	require.Equal(t, sigTERM, info.Signal)
	require.Equal(t, 128+sigTERM, info.Code())

	// Killing one that never started frees it without running it.
	pid2, err := NewProcess("never", Limits{})
	require.NoError(t, err)
	require.NoError(t, Kill(pid2, sigKILL))
	reapAll(t)
	require.Equal(t, sigKILL, collect(t, pid2).Signal)

	require.ErrorIs(t, Kill(pid2, sigKILL), ErrNoProcess)
	_, err = WaitProcess(12345)
	require.ErrorIs(t, err, ErrNoProcess)
	require.Equal(t, base, TakeCensus())
}
