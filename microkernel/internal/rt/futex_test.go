package rt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// futex(2): what the Go runtime's locks and notes are built on.

const (
	futexWaitPriv = futexOpWait | futexPrivateFlag
	futexWakePriv = futexOpWake | futexPrivateFlag
)

// TestFutexWaitBlocksOnlyWhileValueMatches: WAIT returns EAGAIN when the
// word has changed, and blocks (without a deadline) when it has not.
func TestFutexWaitBlocksOnlyWhileValueMatches(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	w := u.putU32(0, 5)
	require.Equal(t, errno(EAGAIN), svc(tf, sysFutex, w, futexWaitPriv, 4, 0))
	require.Equal(t, uint8(tsRunning), th(u.main).state)

	waits := stats.FutexWaits
	svc(tf, sysFutex, w, futexWaitPriv, 5, 0)
	requireBlocked(t, u.main, waitFutex)
	require.Equal(t, futexKey(u.p, w), th(u.main).key)
	require.Equal(t, int16(-1), th(u.main).heapIdx, "no timeout, no deadline")
	require.True(t, th(u.main).intr)
	require.Equal(t, waits+1, stats.FutexWaits)
	checkKernel(t)
}

// TestFutexWakeCountAndOrder: WAKE wakes at most n waiters of that word,
// oldest first, with result 0, and reports how many.
func TestFutexWakeCountAndOrder(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	a := u.putU32(0, 0)
	b := u.putU32(64, 0)
	var ws []int
	for k := 0; k < 4; k++ {
		ws = append(ws, u.spawnThread(tf, u.top(4)))
	}
	for k, i := range ws {
		switchTo(t, tf, i)
		word := a
		if k == 3 {
			word = b
		}
		svc(tf, sysFutex, word, futexWaitPriv, 0, 0)
		requireBlocked(t, i, waitFutex)
	}
	switchTo(t, tf, u.main)
	require.Empty(t, runQueue())

	require.EqualValues(t, 2, svc(tf, sysFutex, a, futexWakePriv, 2))
	require.Equal(t, []int{ws[0], ws[1]}, runQueue(), "FIFO")
	requireWoken(t, ws[0], 0)
	requireWoken(t, ws[1], 0)
	requireBlocked(t, ws[2], waitFutex)
	requireBlocked(t, ws[3], waitFutex)

	require.EqualValues(t, 1, svc(tf, sysFutex, a, futexWakePriv, 0), "a count of 0 wakes one, as on Linux")
	requireWoken(t, ws[2], 0)
	switchTo(t, tf, ws[2])
	svc(tf, sysFutex, a, futexWaitPriv, 0, 0)
	requireBlocked(t, ws[2], waitFutex)
	switchTo(t, tf, u.main)
	require.EqualValues(t, 1, svc(tf, sysFutex, a, futexWakePriv, 10), "only one left on that word")
	require.Zero(t, svc(tf, sysFutex, a, futexWakePriv, 10))
	requireBlocked(t, ws[3], waitFutex)
	require.EqualValues(t, 1, svc(tf, sysFutex, b, futexOpWakeBitset, 1, 0, 0, ^uint64(0)))
	requireWoken(t, ws[3], 0)
	checkKernel(t)
}

// TestFutexIsPerAddressSpace: two processes waiting on the same numeric
// address do not wake each other.
func TestFutexIsPerAddressSpace(t *testing.T) {
	resetKernel(t, 256)
	u1, tf := newUserFrame(t, 4)
	w := u1.putU32(0, 1)
	helper := u1.spawnThread(tf, u1.top(4))
	svc(tf, sysFutex, w, futexWaitPriv, 1, 0)
	requireBlocked(t, u1.main, waitFutex)

	u2, tf2 := newUserFrame(t, 4)
	require.Equal(t, w, u2.putU32(0, 1), "same address in both")
	require.Zero(t, svc(tf2, sysFutex, w, futexWakePriv, 100))
	requireBlocked(t, u1.main, waitFutex)

	switchTo(t, tf, helper)
	require.EqualValues(t, 1, svc(tf, sysFutex, w, futexWakePriv, 100))
	requireWoken(t, u1.main, 0)
}

// TestFutexTimeout: a relative timeout puts the waiter in the deadline
// heap; expiry ends the wait with ETIMEDOUT.
func TestFutexTimeout(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	w := u.putU32(0, 3)
	ts := u.putTimespec(16, 0, 1_000_000)
	start := now()
	svc(tf, sysFutex, w, futexWaitPriv, 3, ts)
	requireBlocked(t, u.main, waitFutex)
	dl := th(u.main).deadline
	require.GreaterOrEqual(t, dl, start+nsToTicks(1_000_000))
	require.Less(t, dl, start+nsToTicks(1_000_000)+100)
	require.Equal(t, dl, nextEvent())

	expire(dl - 1)
	requireBlocked(t, u.main, waitFutex)
	expire(dl)
	requireWoken(t, u.main, errno(ETIMEDOUT))
	require.Zero(t, heapN)
	checkKernel(t)
}

// TestFutexArgumentErrors: Linux checks the timeout (EFAULT, EINVAL)
// before the word, and the word's alignment first of all.
func TestFutexArgumentErrors(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	w := u.putU32(0, 5)
	bad := u.putTimespec(16, 0, 2_000_000_000)
	require.Equal(t, errno(EFAULT), svc(tf, sysFutex, w, futexWaitPriv, 4, 0x8), "bad timeout pointer before the value check")
	require.Equal(t, errno(EINVAL), svc(tf, sysFutex, w, futexWaitPriv, 4, bad), "invalid timeout before the value check")
	require.Equal(t, errno(EINVAL), svc(tf, sysFutex, w+2, futexWaitPriv, 5, 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysFutex, w+1, futexWakePriv, 1))
	require.Equal(t, errno(EFAULT), svc(tf, sysFutex, 0x2000_0000, futexWaitPriv, 0, 0), "unmapped word")
	require.Equal(t, errno(EFAULT), svc(tf, sysFutex, 1<<47, futexWaitPriv, 0, 0), "kernel word")
	require.Equal(t, errno(EINVAL), svc(tf, sysFutex, w, futexOpWaitBitset, 5, 0, 0, 0), "empty bitset")
	require.Equal(t, errno(EINVAL), svc(tf, sysFutex, w, futexOpWakeBitset, 1, 0, 0, 0), "empty bitset")
	require.Equal(t, errno(ENOSYS), svc(tf, sysFutex, w, 4 /* CMP_REQUEUE */, 1, 0, 0, 0))
	require.Equal(t, uint8(tsRunning), th(u.main).state)
	require.Zero(t, heapN)
}

// TestFutexWaitBitsetAbsoluteDeadline: WAIT_BITSET takes an absolute
// time on CLOCK_MONOTONIC, or CLOCK_REALTIME with FUTEX_CLOCK_REALTIME;
// a deadline already past is ETIMEDOUT at once.
func TestFutexWaitBitsetAbsoluteDeadline(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	w := u.putU32(0, 0)
	b := u.spawnThread(tf, u.top(4))

	at := ticksToNS(now()) + 5_000_000
	ts := u.putTimespec(16, int64(at/1e9), int64(at%1e9))
	svc(tf, sysFutex, w, futexOpWaitBitset|futexPrivateFlag, 0, ts, 0, ^uint64(0))
	requireBlocked(t, u.main, waitFutex)
	want := now() + nsToTicks(5_000_000)
	require.InDelta(t, float64(want), float64(th(u.main).deadline), 200)

	switchTo(t, tf, b)
	past := u.putTimespec(32, 0, 1)
	require.Equal(t, errno(ETIMEDOUT), svc(tf, sysFutex, w, futexOpWaitBitset, 0, past, 0, ^uint64(0)))

	saved := realtimeBase
	t.Cleanup(func() { realtimeBase = saved })
	realtimeBase = 1_000_000_000_000_000_000
	rt := realtimeBase + ticksToNS(now()) + 3_000_000
	rts := u.putTimespec(48, int64(rt/1e9), int64(rt%1e9))
	svc(tf, sysFutex, w, futexOpWaitBitset|futexClockRT, 0, rts, 0, ^uint64(0))
	requireBlocked(t, b, waitFutex)
	require.InDelta(t, float64(now()+nsToTicks(3_000_000)), float64(th(b).deadline), 200)
	require.Equal(t, th(b).deadline, nextEvent(), "the realtime waiter's deadline is earlier")
	checkKernel(t)
}

// TestCloneChildClearTIDWakesJoiner: CLONE_CHILD_CLEARTID zeroes the word
// and wakes a waiter when the thread exits (pthread_join's mechanism).
func TestCloneChildClearTIDWakesJoiner(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	ctid := u.putU32(0, 0)
	tid := svc(tf, sysClone, goCloneFlags|cloneChildCleartid|cloneChildSettid, u.top(4), 0, 0, ctid)
	i := findTid(int32(tid))
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, uint32(tid), u.u32(ctid), "CLONE_CHILD_SETTID")

	svc(tf, sysFutex, ctid, futexWaitPriv, tid, 0)
	requireBlocked(t, u.main, waitFutex)
	switchTo(t, tf, i)
	svc(tf, sysExit, 0)
	require.Zero(t, u.u32(ctid))
	requireWoken(t, u.main, 0)

	// set_tid_address does the same for the calling thread.
	switchTo(t, tf, u.main)
	require.Equal(t, uint64(th(u.main).tid), svc(tf, sysSetTidAddress, ctid+8))
	require.Equal(t, ctid+8, th(u.main).clearTID)
}
