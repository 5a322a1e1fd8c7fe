package rt

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Clocks and sleeping.

// readTS reads a struct timespec from u.
func readTS(u *uproc, va uint64) timespec {
	return timespec{Sec: int64(u.u64(va)), Nsec: int64(u.u64(va + 8))}
}

// TestClockGettime: every Linux clock id answers; unknown ids are EINVAL;
// the monotonic clock does not go back; realtime follows the base set at
// boot.
func TestClockGettime(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	ts := u.scratch + 64
	for _, id := range []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11} {
		require.Zero(t, svc(tf, sysClockGettime, id, ts), "clock %d", id)
		v := readTS(u, ts)
		require.GreaterOrEqual(t, v.Sec, int64(0), "clock %d", id)
		require.True(t, v.Nsec >= 0 && v.Nsec < 1e9, "clock %d nsec %d", id, v.Nsec)
	}
	for _, id := range []uint64{10, 12, 64, 1 << 32, neg(-1)} {
		require.Equal(t, errno(EINVAL), svc(tf, sysClockGettime, id, ts), "clock %d", id)
	}
	require.Equal(t, errno(EFAULT), svc(tf, sysClockGettime, clockMonotonic, 0x8))

	var last int64
	for k := 0; k < 20; k++ {
		require.Zero(t, svc(tf, sysClockGettime, clockMonotonic, ts))
		v := readTS(u, ts)
		ns := v.Sec*1e9 + v.Nsec
		require.GreaterOrEqual(t, ns, last, "monotonic")
		last = ns
	}

	const epoch = 1_700_000_000
	saved := realtimeBase
	t.Cleanup(func() { SetRealtimeBase(saved + ticksToNS(now())) })
	SetRealtimeBase(epoch * 1_000_000_000)
	require.Zero(t, svc(tf, sysClockGettime, clockRealtime, ts))
	require.InDelta(t, float64(epoch), float64(readTS(u, ts).Sec), 2)
	require.Zero(t, svc(tf, sysGettimeofday, ts, ts+16))
	require.InDelta(t, float64(epoch), float64(u.u64(ts)), 2)
	require.Less(t, u.u64(ts+8), uint64(1_000_000), "microseconds")
	require.Zero(t, u.u64(ts+16), "the timezone is UTC")
	require.Zero(t, svc(tf, sysGettimeofday, 0, 0))
	require.Equal(t, errno(EFAULT), svc(tf, sysGettimeofday, 0x8, 0))
}

// TestClockGetres: the counter's period (16 ns at 62.5 MHz).
func TestClockGetres(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	ts := u.scratch + 64
	require.Zero(t, svc(tf, sysClockGetres, clockMonotonic, ts))
	require.Equal(t, timespec{Nsec: 16}, readTS(u, ts))
	require.Zero(t, svc(tf, sysClockGetres, clockRealtime, 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysClockGetres, 10, ts))
	require.Equal(t, errno(EFAULT), svc(tf, sysClockGetres, clockMonotonic, 0x8))
}

// TestNanosleep: the thread sleeps until its deadline, then the call
// returns 0; a zero sleep yields; bad timespecs are refused.
func TestNanosleep(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	start := now()
	svc(tf, sysNanosleep, u.putTimespec(0, 0, 2_000_000), 0)
	requireBlocked(t, u.main, waitSleep)
	dl := th(u.main).deadline
	require.GreaterOrEqual(t, dl, start+nsToTicks(2_000_000), "never early")
	require.Less(t, dl, start+nsToTicks(2_000_000)+100)
	expire(dl - 1)
	requireBlocked(t, u.main, waitSleep)
	expire(dl)
	requireWoken(t, u.main, 0)

	switchTo(t, tf, u.main)
	reschedule = false
	require.Zero(t, svc(tf, sysNanosleep, u.putTimespec(0, 0, 0), 0))
	require.True(t, reschedule, "a zero sleep yields")
	require.Equal(t, uint8(tsRunning), th(u.main).state)
	require.Equal(t, errno(EINVAL), svc(tf, sysNanosleep, u.putTimespec(0, 0, 1_000_000_000), 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysNanosleep, u.putTimespec(0, -1, 0), 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysNanosleep, u.putTimespec(0, 0, -1), 0))
	require.Equal(t, errno(EFAULT), svc(tf, sysNanosleep, 0x8, 0))

	// A huge sleep saturates instead of wrapping into the past.
	svc(tf, sysNanosleep, u.putTimespec(0, 1<<62, 0), 0)
	requireBlocked(t, u.main, waitSleep)
	require.Greater(t, th(u.main).deadline, now()+nsToTicks(1_000_000_000_000))
}

// TestNanosleepInterruptedBySignal: a signal with a handler ends the
// sleep early with EINTR.
func TestNanosleepInterruptedBySignal(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	pr(u.p).sigact[sigALRM] = sigaction{Handler: handlerPC}
	svc(tf, sysNanosleep, u.putTimespec(0, 100, 0), 0)
	requireBlocked(t, u.main, waitSleep)
	sendSignal(u.p, sigALRM)
	requireWoken(t, u.main, errno(EINTR))
	require.Zero(t, heapN)
	switchTo(t, tf, u.main)
	finishTrap(tf)
	require.Equal(t, uint64(handlerPC), tf.PC, "the handler runs next")
	require.Equal(t, errno(EINTR), u.u64(tf.SP+frameMC+scRegs), "and the frame's x0 holds EINTR")
}

// TestClockNanosleep: relative and absolute sleeps; an absolute time in
// the past returns at once; the thread CPU clock is refused.
func TestClockNanosleep(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	ts := u.putTimespec(0, 0, 3_000_000)
	svc(tf, sysClockNanosleep, clockMonotonic, 0, ts, 0)
	requireBlocked(t, u.main, waitSleep)
	require.InDelta(t, float64(now()+nsToTicks(3_000_000)), float64(th(u.main).deadline), 100)
	expire(th(u.main).deadline)
	switchTo(t, tf, u.main)

	require.Zero(t, svc(tf, sysClockNanosleep, clockMonotonic, timerAbstime, u.putTimespec(0, 0, 1), 0))
	require.Equal(t, uint8(tsRunning), th(u.main).state, "already past")
	at := ticksToNS(now()) + 4_000_000
	svc(tf, sysClockNanosleep, clockMonotonic, timerAbstime, u.putTimespec(0, int64(at/1e9), int64(at%1e9)), 0)
	requireBlocked(t, u.main, waitSleep)
	require.InDelta(t, float64(now()+nsToTicks(4_000_000)), float64(th(u.main).deadline), 100)
	expire(th(u.main).deadline)
	switchTo(t, tf, u.main)

	require.Equal(t, errno(EINVAL), svc(tf, sysClockNanosleep, clockThreadCPUTimeID, 0, ts, 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysClockNanosleep, 10, 0, ts, 0))
	require.Equal(t, errno(EFAULT), svc(tf, sysClockNanosleep, clockMonotonic, 0, 0x8, 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysClockNanosleep, clockMonotonic, 0, u.putTimespec(32, 0, 2e9), 0))
}

// TestTimeConversions: ns to ticks rounds up (a sleep is never short);
// neither direction overflows (ticks to ns saturates).
func TestTimeConversions(t *testing.T) {
	resetKernel(t, 16)
	require.Equal(t, uint64(1), nsToTicks(1))
	require.Equal(t, uint64(62_500_000), nsToTicks(1_000_000_000))
	require.Equal(t, uint64(1_000_000_000), ticksToNS(62_500_000))
	require.Equal(t, uint64(16), ticksToNS(1))
	require.Equal(t, uint64(1)<<60, nsToTicks(^uint64(0)), "62.5 MHz: 1/16 tick per ns, no overflow")
	require.Equal(t, ^uint64(0), ticksToNS(^uint64(0)))
	for _, ns := range []uint64{0, 1, 15, 16, 17, 999, 123_456_789} {
		require.GreaterOrEqual(t, ticksToNS(nsToTicks(ns)), ns)
	}
	require.NotZero(t, deadlineAfter(0))
}

// TestTimeConversionsShortcut: with a frequency dividing 1 GHz the
// conversions skip the 128-bit division and give its results exactly.
func TestTimeConversionsShortcut(t *testing.T) {
	resetKernel(t, 16)
	defer setCounterFreq(62_500_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range []uint64{62_500_000, 1_000_000_000, 50_000_000, 100_000_000, 1, 24_000_000, 19_200_000} {
		setCounterFreq(f)
		require.Equal(t, 1_000_000_000%f == 0, nsPerTick != 0, "%d Hz", f)
		vals := []uint64{0, 1, 15, 16, 17, 999, 1e9, 1e9 + 1, ^uint64(0), ^uint64(0) >> 1, 1 << 63, 1<<63 + 1}
		for range 2000 {
			vals = append(vals, rng.Uint64()>>rng.UintN(64))
		}
		for _, v := range vals {
			k := nsPerTick
			fastT, fastN := nsToTicks(v), ticksToNS(v)
			nsPerTick = 0
			require.Equal(t, nsToTicks(v), fastT, "nsToTicks(%d) at %d Hz", v, f)
			require.Equal(t, ticksToNS(v), fastN, "ticksToNS(%d) at %d Hz", v, f)
			nsPerTick = k
		}
	}
}
