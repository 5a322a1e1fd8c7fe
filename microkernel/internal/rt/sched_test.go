package rt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// svc runs a system call the way the trap path does (dispatch, then
// deadline expiry, scheduling and timer arming) on the running thread's
// live frame tf.
func svc(tf *Frame, nr uint64, args ...uint64) uint64 {
	for i, a := range args {
		tf.X[i] = a
	}
	tf.X[regSyscallNo] = nr
	syscall(tf)
	finishTrap(tf)
	return tf.X[0]
}

func TestCloneCreatesRunnableThreadWithChildRegisters(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	tf.PC, tf.X[19] = 0x1234, 77
	tid := svc(&tf, sysClone, cloneVM|cloneThread|0x50000, 0x9000)
	require.EqualValues(t, 2, tid)
	i := findTid(2)
	require.Equal(t, 1, i)
	require.Equal(t, uint8(tsRunnable), threads[i].state)
	require.Zero(t, threads[i].regs.X[0], "the child sees clone return 0")
	require.EqualValues(t, 0x9000, threads[i].regs.SP)
	require.EqualValues(t, 0x1234, threads[i].regs.PC)
	require.EqualValues(t, 77, threads[i].regs.X[19])

	require.Equal(t, errno(EINVAL), svc(&tf, sysClone, 0, 0x9000), "fork-like clone is refused")
}

func TestCloneFailsWhenTableFull(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	for i := 1; i < maxThreads; i++ {
		require.False(t, int64(svc(&tf, sysClone, cloneVM|cloneThread, 0x9000)) < 0)
	}
	require.Equal(t, errno(EAGAIN), svc(&tf, sysClone, cloneVM|cloneThread, 0x9000))
	require.EqualValues(t, 1, stats.CloneFailed)
}

func TestRoundRobinAndIdle(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	tf.PC = 0x100
	svc(&tf, sysClone, cloneVM|cloneThread, 0x9000)
	svc(&tf, sysClone, cloneVM|cloneThread, 0xa000)
	require.Equal(t, 0, cur)

	svc(&tf, sysSchedYield)
	require.Equal(t, 1, cur)
	require.EqualValues(t, 0x9000, tf.SP, "the frame now holds thread 1")
	svc(&tf, sysSchedYield)
	require.Equal(t, 2, cur)
	svc(&tf, sysSchedYield)
	require.Equal(t, 0, cur, "round robin wraps around")

	// Everyone exits: the idle loop runs.
	svc(&tf, sysExit, 0)
	svc(&tf, sysExit, 0)
	svc(&tf, sysExit, 0)
	require.Equal(t, idle, cur)
	require.EqualValues(t, idleLoopPC(), tf.PC)
	require.EqualValues(t, pstateEL1t, tf.PSTATE, "idle runs at EL1t with interrupts enabled")
}

func TestFutexWaitWake(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	word := new(uint32)
	*word = 5
	addr := uint64(addrOf32(word))
	svc(&tf, sysClone, cloneVM|cloneThread, 0x9000)

	require.Equal(t, errno(EAGAIN), svc(&tf, sysFutex, addr, futexWait|futexPrivateFlag, 4, 0),
		"wait with a stale value returns at once")

	svc(&tf, sysFutex, addr, futexWait|futexPrivateFlag, 5, 0)
	require.Equal(t, 1, cur, "the waiter blocked, thread 1 runs")
	require.Equal(t, uint8(tsBlocked), threads[0].state)

	require.EqualValues(t, 1, svc(&tf, sysFutex, addr, futexWake|futexPrivateFlag, 1))
	require.Equal(t, uint8(tsRunnable), threads[0].state)
	require.Zero(t, threads[0].regs.X[0], "the woken wait returns 0")
	require.EqualValues(t, 0, svc(&tf, sysFutex, addr, futexWake|futexPrivateFlag, 1), "nobody left to wake")
}

func TestFutexTimeoutAndNanosleepDeadlines(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	word := new(uint32)
	ts := &timespec{Nsec: 1000}
	svc(&tf, sysClone, cloneVM|cloneThread, 0x9000)
	svc(&tf, sysFutex, uint64(addrOf32(word)), futexWait, 0, uint64(addrOfTS(ts)))
	require.Equal(t, uint8(tsBlocked), threads[0].state)
	dl := threads[0].deadline
	require.NotZero(t, dl)
	require.Equal(t, dl, nextEvent(), "the timer is armed for the deadline")

	expire(dl - 1)
	require.Equal(t, uint8(tsBlocked), threads[0].state, "not woken before the deadline")
	expire(dl)
	require.Equal(t, uint8(tsRunnable), threads[0].state)
	require.Equal(t, errno(ETIMEDOUT), threads[0].regs.X[0])

	svc(&tf, sysNanosleep, uint64(addrOfTS(&timespec{Nsec: 5000})), 0)
	sleeper := findTid(2)
	require.Equal(t, uint8(tsBlocked), threads[sleeper].state)
	expire(threads[sleeper].deadline)
	require.Equal(t, uint8(tsRunnable), threads[sleeper].state)
	require.Zero(t, threads[sleeper].regs.X[0], "nanosleep returns 0")
}

func TestQuantumStartsOnlyWithCompetition(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	startSlice(1000)
	require.Zero(t, sliceEnd, "a lone thread runs without a quantum")
	svc(&tf, sysClone, cloneVM|cloneThread, 0x9000)
	startSlice(1000)
	require.Equal(t, 1000+nsToTicks(quantumNS), sliceEnd)
}

func TestTimeConversions(t *testing.T) {
	counterFreq = 62_500_000
	require.EqualValues(t, 16, ticksToNS(1))
	require.EqualValues(t, 1, nsToTicks(1), "rounds up")
	require.EqualValues(t, 625_000, nsToTicks(10_000_000))
	require.EqualValues(t, 10_000_000, ticksToNS(625_000))
	require.EqualValues(t, uint64(1)<<60, nsToTicks(^uint64(0)), "2^64 ns at 62.5 MHz")
	require.Equal(t, ^uint64(0), ticksToNS(^uint64(0)), "saturates")
}

func TestQuantumExpiryPreempts(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	tf.PC = 0x100
	svc(&tf, sysClone, cloneVM|cloneThread, 0x9000)
	require.Equal(t, 0, cur)
	sliceEnd = 1 // the quantum is over (the host counter is past 1)
	finishTrap(&tf)
	require.Equal(t, 1, cur, "the timer interrupt hands the CPU to the other thread")
	require.Equal(t, uint8(tsRunnable), threads[0].state)
	require.EqualValues(t, 0x100, threads[0].regs.PC, "the preempted thread's registers are saved")
	require.NotZero(t, sliceEnd, "a new quantum started because thread 0 waits")
}
