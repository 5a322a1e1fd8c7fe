package rt

import (
	"math/rand"
	"sort"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The scheduler: run queue, blocking and waking, deadlines, switching.

// TestScheduleRoundRobin: runnable threads take turns in run-queue order,
// the preempted one going to the back.
func TestScheduleRoundRobin(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	a := u.main
	b := u.spawnThread(tf, u.top(4))
	c := u.spawnThread(tf, u.top(4))
	require.Equal(t, []int{b, c}, runQueue())

	switches := stats.Switches
	var order []int
	for k := 0; k < 6; k++ {
		schedule(tf, now())
		order = append(order, cur)
		require.NotZero(t, sliceEnd, "a quantum starts when others wait")
		checkKernel(t)
	}
	require.Equal(t, []int{b, c, a, b, c, a}, order)
	require.Equal(t, switches+6, stats.Switches)
	require.EqualValues(t, 2, th(b).switches)
}

// TestBlockAndWakeSetResult: a woken thread's call returns the value
// given to wake, and it goes to the back of the run queue.
func TestBlockAndWakeSetResult(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	b := u.spawnThread(tf, u.top(4))
	switchTo(t, tf, b)
	tf.X[0] = 7
	block(tf, -1, waitSleep, 0, 0, true)
	require.True(t, reschedule)
	requireBlocked(t, b, waitSleep)
	require.Equal(t, []int{u.main}, runQueue())

	wake(b, 42)
	requireWoken(t, b, 42)
	require.Equal(t, []int{u.main, b}, runQueue())
	require.Equal(t, uint8(waitNone), th(b).wait)
	checkKernel(t)
}

// TestDeadlinesExpireInOrder: sleepers wake in deadline order once their
// deadline passes, with their timeout result; nextEvent is the earliest
// deadline or the end of the quantum.
func TestDeadlinesExpireInOrder(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	ts := []int{u.main, u.spawnThread(tf, u.top(4)), u.spawnThread(tf, u.top(4)), u.spawnThread(tf, u.top(4))}
	base := now() + 1_000_000
	offs := []uint64{30, 10, 40, 20}
	for k, i := range ts {
		switchTo(t, tf, i)
		block(tf, -1, waitSleep, base+offs[k], uint64(100+k), true)
	}
	require.Equal(t, 4, heapN)
	require.Empty(t, runQueue())
	checkKernel(t)

	sliceEnd = 0
	require.Equal(t, base+10, nextEvent())
	sliceEnd = base + 5
	require.Equal(t, base+5, nextEvent(), "the quantum ends first")
	sliceEnd = base + 500
	require.Equal(t, base+10, nextEvent())
	sliceEnd = 0

	expire(base + 9)
	require.Empty(t, runQueue(), "nothing is due yet")
	expire(base + 25)
	require.Equal(t, []int{ts[1], ts[3]}, runQueue(), "woken in deadline order")
	require.EqualValues(t, 101, th(ts[1]).regs.X[0])
	require.EqualValues(t, 103, th(ts[3]).regs.X[0])
	require.Equal(t, int16(-1), th(ts[1]).heapIdx)
	require.Equal(t, base+30, nextEvent())
	expire(base + 40)
	require.Equal(t, []int{ts[1], ts[3], ts[0], ts[2]}, runQueue())
	require.Zero(t, heapN)
	require.Zero(t, nextEvent())
	checkKernel(t)
}

// TestDeadlineHeapRandomized: many deadlines, some threads woken early
// (removed from the middle of the heap), the rest expire in order.
func TestDeadlineHeapRandomized(t *testing.T) {
	resetKernel(t, 512)
	u, tf := newUserFrame(t, 4)
	rnd := rand.New(rand.NewSource(1))
	var ts []int
	for k := 0; k < 60; k++ {
		ts = append(ts, u.spawnThread(tf, u.top(4)))
	}
	base := now() + 1_000_000
	dl := map[int]uint64{}
	for _, i := range ts {
		switchTo(t, tf, i)
		dl[i] = base + uint64(rnd.Intn(1000))
		block(tf, -1, waitSleep, dl[i], 0, true)
	}
	switchTo(t, tf, u.main)
	checkKernel(t)
	requireHeapOrdered(t)
	var rest []int
	for _, i := range ts {
		if rnd.Intn(3) == 0 {
			wake(i, 0)
			checkKernel(t)
			requireHeapOrdered(t)
		} else {
			rest = append(rest, i)
		}
	}
	for _, i := range runQueue() {
		dequeue(i)
		th(i).state = tsBlocked // parked: only the expiry order matters
	}
	sort.SliceStable(rest, func(a, b int) bool { return dl[rest[a]] < dl[rest[b]] })
	var got []int
	for step := uint64(0); step <= 1000; step += 37 {
		expire(base + step)
		requireHeapOrdered(t)
		for _, i := range runQueue() {
			require.LessOrEqual(t, dl[i], base+step)
			got = append(got, i)
			dequeue(i)
		}
	}
	expire(base + 1000)
	got = append(got, runQueue()...)
	require.Len(t, got, len(rest))
	for k := 1; k < len(got); k++ {
		require.LessOrEqual(t, dl[got[k-1]], dl[got[k]], "expiry out of order")
	}
}

// requireHeapOrdered checks the deadline heap: no parent's deadline after
// a child's, each key its thread's deadline, each thread's heapIdx its
// position.
func requireHeapOrdered(t *testing.T) {
	t.Helper()
	for k := 0; k < heapN; k++ {
		i := int(theap[k])
		require.Equal(t, int16(k), th(i).heapIdx, "heapIdx of slot %d", i)
		require.Equal(t, th(i).deadline, hkey[k], "key at %d", k)
		if k > 0 {
			require.LessOrEqual(t, hkey[(k-1)/2], hkey[k], "parent of %d", k)
		}
	}
}

// TestScheduleKeepsLoneThread: with nothing else runnable the running
// thread keeps running, untouched, without a quantum.
func TestScheduleKeepsLoneThread(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	tf.X[5] = 55
	before := *tf
	switches := stats.Switches
	schedule(tf, now())
	require.Equal(t, u.main, cur)
	require.Equal(t, before, *tf)
	require.Zero(t, sliceEnd, "no quantum when alone")
	require.Equal(t, switches, stats.Switches)
	require.Equal(t, uint8(tsRunning), th(u.main).state)
}

// TestScheduleSwitchesRegistersAndTLS: each user thread gets back its own
// registers and TPIDR_EL0.
func TestScheduleSwitchesRegistersAndTLS(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	setTPIDR0(0xaaa0)
	tf.X[19] = 0x1919
	tf.Q[3] = [2]uint64{1, 2}
	tid := svc(tf, sysClone, goCloneFlags|cloneSetTLS, u.top(2), 0, 0xbbb0, 0)
	b := findTid(int32(tid))
	require.GreaterOrEqual(t, b, 0)

	schedule(tf, now())
	require.Equal(t, b, cur)
	require.Equal(t, uint64(0xbbb0), getTPIDR0())
	require.Zero(t, tf.X[0], "the new thread sees clone return 0")
	require.Equal(t, u.top(2), tf.SP)
	require.Equal(t, uint64(0x1919), tf.X[19], "a new thread starts with its creator's registers")
	tf.X[19] = 0x2929
	tf.Q[3] = [2]uint64{3, 4}
	setTPIDR0(0xbbb1)

	schedule(tf, now())
	require.Equal(t, u.main, cur)
	require.Equal(t, uint64(0xaaa0), getTPIDR0())
	require.Equal(t, tid, tf.X[0], "the creator sees the new tid")
	require.Equal(t, uint64(0x1919), tf.X[19])
	require.Equal(t, [2]uint64{1, 2}, tf.Q[3])
	require.Equal(t, u.top(4), tf.SP)

	schedule(tf, now())
	require.Equal(t, b, cur)
	require.Equal(t, uint64(0xbbb1), getTPIDR0())
	require.Equal(t, uint64(0x2929), tf.X[19])
	require.Equal(t, [2]uint64{3, 4}, tf.Q[3])
}

// TestIdleWhenNothingRuns: when the only thread blocks, the idle context
// runs (EL1t, its own stack, no quantum); a wake brings the thread back.
func TestIdleWhenNothingRuns(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	tf.X[3] = 33
	block(tf, -1, waitSleep, 0, 0, true)
	schedule(tf, now())
	require.Equal(t, idle, cur)
	require.Equal(t, uint64(idleLoopPC()), tf.PC)
	require.Equal(t, uint64(pstateEL1t), tf.PSTATE)
	require.NotZero(t, tf.SP)
	require.Zero(t, sliceEnd)
	require.Equal(t, 0, curProc())

	wake(u.main, 9)
	schedule(tf, now())
	require.Equal(t, u.main, cur)
	require.EqualValues(t, 9, tf.X[0])
	require.EqualValues(t, 33, tf.X[3])
	require.Equal(t, uint64(userPC), tf.PC)
}

// TestFinishTrapSwitchesAwayFromBlockedThread: the trap exit path picks
// the next thread when the running one blocked, and arms the timer for
// the earliest deadline.
func TestFinishTrapSwitchesAwayFromBlockedThread(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	b := u.spawnThread(tf, u.top(4))
	ts := u.putTimespec(0, 0, 5_000_000)
	svc(tf, sysNanosleep, ts, 0)
	requireBlocked(t, u.main, waitSleep)
	finishTrap(tf)
	require.Equal(t, b, cur)
	require.Zero(t, tf.X[0])
	require.Equal(t, th(u.main).deadline, armedAt, "timer armed for the sleeper")
	require.False(t, reschedule)
}

// TestFindTidRejectsStaleGenerations: a thread ID names one life of its
// slot; the slot's next thread has another ID.
func TestFindTidRejectsStaleGenerations(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	b := u.spawnThread(tf, u.top(4))
	old := th(b).tid
	require.Equal(t, b, findTid(old))

	switchTo(t, tf, b)
	svc(tf, sysExit, 0)
	require.Zero(t, thrPage[b])
	require.Equal(t, idle, cur)
	require.Equal(t, -1, findTid(old))

	switchTo(t, tf, u.main)
	c := u.spawnThread(tf, u.top(4))
	require.Equal(t, b, c, "the freed slot is reused first")
	require.NotEqual(t, old, th(c).tid)
	require.Equal(t, old&(maxThreads-1), th(c).tid&(maxThreads-1))
	require.Equal(t, -1, findTid(old))
	require.Equal(t, c, findTid(th(c).tid))
	require.Equal(t, -1, findTid(0))
	require.Equal(t, -1, findTid(-5))
	require.Equal(t, -1, findTid(int32(maxThreads-1)), "a never-used slot")
}

// TestSchedYieldReschedules: sched_yield asks for a switch and returns 0.
func TestSchedYieldReschedules(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	b := u.spawnThread(tf, u.top(4))
	reschedule = false
	require.Zero(t, svc(tf, sysSchedYield))
	require.True(t, reschedule)
	finishTrap(tf)
	require.Equal(t, b, cur)
	require.Equal(t, []int{u.main}, runQueue())
}

// TestQuantumEndPreempts: at the trap exit after its quantum ended the
// running thread goes to the back of the run queue; before, it keeps
// running; alone, it gets no quantum at all.
func TestQuantumEndPreempts(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	b := u.spawnThread(tf, u.top(4))
	sliceEnd = 0
	finishTrap(tf)
	require.Equal(t, u.main, cur, "a quantum starts; nobody is preempted yet")
	require.NotZero(t, sliceEnd)
	require.Equal(t, sliceEnd, armedAt, "the timer is armed for the quantum's end")
	finishTrap(tf)
	require.Equal(t, u.main, cur)
	sliceEnd = now() - 1 // the quantum is over
	finishTrap(tf)
	require.Equal(t, b, cur)
	require.Equal(t, []int{u.main}, runQueue())

	// Alone: no quantum, no timer.
	svc(tf, sysExit, 0)
	finishTrap(tf)
	require.Equal(t, u.main, cur)
	require.Zero(t, sliceEnd)
	require.Zero(t, armedAt)
}

// TestScheduleChargesCPU: each switch charges the time since the last one
// to the running thread's process, or to idle (armos.cpustat).
func TestScheduleChargesCPU(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	p := int(th(u.main).proc)
	base := max(chargedAt, now()) + 1000
	schedule(tf, base)
	require.Equal(t, u.main, cur)
	cpu0, idle0 := pr(p).cpu, idleTicks
	schedule(tf, base+200) // nothing else runnable: it keeps running
	block(tf, -1, waitSleep, 0, 0, true)
	schedule(tf, base+500)
	require.Equal(t, idle, cur)
	require.Equal(t, cpu0+500, pr(p).cpu)
	require.Equal(t, idle0, idleTicks)
	wake(u.main, 0)
	schedule(tf, base+800)
	require.Equal(t, u.main, cur)
	require.Equal(t, cpu0+500, pr(p).cpu)
	require.Equal(t, idle0+300, idleTicks)
	found := false
	for _, in := range ProcessList() {
		if in.Pid == pr(p).pid {
			require.Equal(t, ticksToNS(pr(p).cpu), in.CPUNS)
			found = true
		}
	}
	require.True(t, found)
}

// TestScheduleLiveFrame: with tf the live Frame (curFrame, as every trap
// passes it on the machine), block and schedule copy no Frame: curFrame
// moves to the next thread's own regs (or idleFrame), and each thread
// resumes with the registers it left, FP/SIMD ones included.
func TestScheduleLiveFrame(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	a := u.main
	b := u.spawnThread(tf, u.top(4))
	require.Equal(t, a, cur)
	live := &th(a).regs
	curFrame = uintptr(unsafe.Pointer(live))
	defer func() { curFrame = 0 }()
	live.X[19], live.Q[3] = 0xa19, [2]uint64{0xa, 0xa}

	got := schedule(live, now()) // a's quantum ends: b runs
	require.Equal(t, b, cur)
	require.Same(t, &th(b).regs, got)
	require.Equal(t, uintptr(unsafe.Pointer(got)), curFrame)
	require.Equal(t, []int{a}, runQueue())
	got.X[19], got.Q[3] = 0xb19, [2]uint64{0xb, 0xb}

	block(got, -1, waitSleep, now()+1<<40, 0, true)
	got = schedule(got, now())
	require.Equal(t, a, cur)
	require.Same(t, live, got)
	require.EqualValues(t, 0xa19, got.X[19])
	require.Equal(t, [2]uint64{0xa, 0xa}, got.Q[3])

	wake(b, 42)
	block(got, -1, waitSleep, now()+1<<40, 0, true)
	got = schedule(got, now())
	require.Equal(t, b, cur)
	require.EqualValues(t, 42, got.X[0])
	require.EqualValues(t, 0xb19, got.X[19])
	require.Equal(t, [2]uint64{0xb, 0xb}, got.Q[3])

	block(got, -1, waitSleep, now()+1<<40, 0, true) // nothing runnable: idle
	got = schedule(got, now())
	require.Equal(t, idle, cur)
	require.Same(t, &idleFrame, got)
	require.Equal(t, uintptr(unsafe.Pointer(&idleFrame)), curFrame)
	require.Equal(t, uint64(idleLoopPC()), got.PC)

	wake(a, 7)
	got = schedule(got, now())
	require.Equal(t, a, cur)
	require.Same(t, live, got)
	require.EqualValues(t, 7, got.X[0])
	require.EqualValues(t, 0xa19, got.X[19])
	checkKernel(t)
}
