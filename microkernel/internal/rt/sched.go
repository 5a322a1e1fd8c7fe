package rt

// Kernel threads and the scheduler.
//
// Every Go M of the kernel is a kernel thread created by the emulated clone
// (sys_thread.go). A thread is either running (its registers live in the
// trap Frame on the exception stack), runnable or blocked (its registers are
// saved in threads[i].regs). Trap code runs to completion on one exception
// stack, so threads need no kernel stacks of their own: switching threads is
// copying Frames.
//
// Policy: round robin over the thread table. A thread runs until it blocks
// (futex, nanosleep, epoll_pwait), yields, exits or uses up its quantum
// (the timer interrupt preempts it). With nothing runnable, the idle context
// (idleLoop: WFI) runs with the timer armed for the earliest deadline.

// maxThreads bounds the thread table; clone fails with EAGAIN beyond it
// (counted in Stats.CloneFailed). The Go runtime creates one M per P plus
// sysmon, GC and blocked-syscall threads: tens, not hundreds.
const maxThreads = 128

// Thread states.
const (
	tsFree = iota
	tsRunnable
	tsRunning
	tsBlocked
)

// What a blocked thread waits for.
const (
	waitNone = iota
	waitFutex
	waitSleep
	waitEpoll
)

// quantumNS is how long a thread runs before the timer preempts it when
// another thread is runnable.
const quantumNS = 4_000_000

// thread is one kernel thread. It holds no Go pointers.
type thread struct {
	regs  Frame // saved registers while not running
	state uint8
	wait  uint8
	tid   int32

	deadline  uint64  // counter value at which a blocked thread times out; 0: never
	futexAddr uintptr // waitFutex: the futex word

	epfd     int32   // waitEpoll: the epoll instance
	epEvents uintptr // waitEpoll: the caller's epoll_event array
	epMax    int32   // waitEpoll: its capacity
	sigs     sigState
	switches uint64 // times switched in

	user     uintptr // the UserContext while the thread is at EL0 (user.go), else 0
	userTTBR uint64  // its TTBR0 value while at EL0, else 0
}

var (
	threads [maxThreads]thread
	// cur is the index of the running thread, or idle when none is.
	cur     int
	nextTid int32
	// highWater is one past the highest thread index ever used, so scans
	// stay short.
	highWater int
	// sliceEnd is the counter value at which the running thread's quantum
	// ends (0: no other thread was runnable when it was switched in).
	sliceEnd uint64
	// reschedule asks the trap exit path to pick a thread.
	reschedule bool
	idleFrame  Frame
	idleStack  [4096 / 8]uint64
)

const idle = -1

// initThreads makes the boot thread (the runtime's m0) thread 0, running.
//
//go:nosplit
func initThreads() {
	threads[0] = thread{state: tsRunning, tid: 1}
	nextTid = 2
	cur = 0
	highWater = 1
}

// newThread claims a free slot for a clone child whose registers are regs.
// It returns the slot index or -1 when the table is full.
//
//go:nosplit
func newThread(regs *Frame) int {
	for i := range threads {
		if threads[i].state == tsFree {
			t := &threads[i]
			t.regs = *regs
			t.state = tsRunnable
			t.wait = waitNone
			t.tid = nextTid
			t.deadline = 0
			t.sigs = sigState{}
			t.switches = 0
			t.user, t.userTTBR = 0, 0
			nextTid++
			if i >= highWater {
				highWater = i + 1
			}
			return i
		}
	}
	return -1
}

// block makes the running thread wait for reason until woken or until
// deadline (a counter value; 0 for none).
//
//go:nosplit
func block(reason uint8, deadline uint64) {
	t := &threads[cur]
	t.state = tsBlocked
	t.wait = reason
	t.deadline = deadline
	reschedule = true
}

// wake makes a blocked thread runnable with result as its system call's
// return value (X0). Its registers are saved in regs: it is not running.
//
//go:nosplit
func wake(i int, result uint64) {
	t := &threads[i]
	t.regs.X[0] = result
	t.state = tsRunnable
	t.wait = waitNone
	t.deadline = 0
}

// expire wakes every blocked thread whose deadline has passed at now, with
// the result its call returns on timeout.
//
//go:nosplit
func expire(now uint64) {
	for i := 0; i < highWater; i++ {
		t := &threads[i]
		if t.state != tsBlocked || t.deadline == 0 || t.deadline > now {
			continue
		}
		switch t.wait {
		case waitFutex:
			wake(i, errno(ETIMEDOUT))
		default: // nanosleep and epoll_pwait return 0 on timeout
			wake(i, 0)
		}
	}
}

// pickNext returns the next runnable thread after cur in round-robin order,
// cur itself if it is the only one still running, or idle.
//
//go:nosplit
func pickNext() int {
	start := cur
	if start == idle {
		start = highWater - 1
	}
	for k := 1; k <= highWater; k++ {
		i := (start + k) % highWater
		if threads[i].state == tsRunnable {
			return i
		}
	}
	if cur != idle && threads[cur].state == tsRunning {
		return cur
	}
	return idle
}

// schedule switches tf, the Frame the trap will return into, to the next
// thread to run. The running thread, if still running, goes to the back of
// the round robin.
//
//go:nosplit
func schedule(tf *Frame, now uint64) {
	reschedule = false
	next := pickNext()
	if next == cur {
		if cur != idle {
			startSlice(now)
		}
		return
	}
	if cur != idle {
		t := &threads[cur]
		t.regs = *tf
		if t.state == tsRunning {
			t.state = tsRunnable
		}
	}
	cur = next
	if next == idle {
		idleContext(tf)
		sliceEnd = 0
		return
	}
	t := &threads[next]
	t.state = tsRunning
	t.switches++
	*tf = t.regs
	stats.Switches++
	startSlice(now)
}

// startSlice starts a quantum for the running thread if anyone else is
// waiting to run.
//
//go:nosplit
func startSlice(now uint64) {
	sliceEnd = 0
	for i := 0; i < highWater; i++ {
		if threads[i].state == tsRunnable {
			sliceEnd = now + nsToTicks(quantumNS)
			return
		}
	}
}

// idleContext loads the idle loop into tf: EL1t, interrupts enabled, on
// its own small stack.
//
//go:nosplit
func idleContext(tf *Frame) {
	*tf = idleFrame
	tf.PC = uint64(idleLoopPC())
	tf.SP = uint64(addrOf(&idleStack[len(idleStack)-2]))
	tf.PSTATE = pstateEL1t
}

// nextEvent returns the counter value at which the timer must fire next
// (the earliest deadline or the end of the quantum), or 0 for never.
//
//go:nosplit
func nextEvent() uint64 {
	ev := sliceEnd
	for i := 0; i < highWater; i++ {
		t := &threads[i]
		if t.state == tsBlocked && t.deadline != 0 && (ev == 0 || t.deadline < ev) {
			ev = t.deadline
		}
	}
	return ev
}

// findTid returns the slot of the live thread with tid, or -1.
//
//go:nosplit
func findTid(tid int32) int {
	for i := 0; i < highWater; i++ {
		if threads[i].state != tsFree && threads[i].tid == tid {
			return i
		}
	}
	return -1
}
