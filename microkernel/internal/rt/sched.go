package rt

import (
	"unsafe"

	"armos/abi"
)

// Threads and the scheduler.
//
// A thread is either a kernel thread (an M of the kernel's own Go runtime,
// running at EL1 on SP_EL0) or a user thread (a thread of a process,
// running at EL0). Both live in one table and one round-robin run queue:
// there are no per-thread kernel stacks, because trap code runs to
// completion on the exception stack. A running thread's registers are in
// the trap Frame; a runnable or blocked one's are saved in its thread
// struct. On the machine the running thread's registers are in its own
// struct too: the trap entry saves them into the Frame at curFrame and the
// exit restores the Frame there, so switching threads is pointing curFrame
// at another thread's registers (and TTBR0 when the process changes, see
// process.go), with no Frame copied.
//
// Each thread struct has a page of its own, handed out by the page
// allocator when the thread is created (4 KiB per thread; Linux spends 16
// KiB on a kernel stack alone). The table holds at most maxThreads threads
// across all processes; a process holds at most its own limit.
//
// Data structures, all O(1) on the hot paths:
//   - the run queue and every wait queue (futex buckets, pipes, epoll
//     instances, children, services) are doubly linked lists of thread
//     slots (queues below);
//   - deadlines (futex and sleep timeouts, epoll timeouts) sit in a binary
//     min-heap of thread slots, so the timer is armed for the earliest one
//     and expiry pops only what is due;
//   - a thread ID names its slot (low tidSlotBits bits) and the slot's
//     generation, so looking a thread up by ID is one array index.
//
// Policy: a thread runs until it blocks, yields, exits or its quantum ends
// (the timer preempts it when another thread is runnable). With nothing
// runnable the idle context (idleLoop: WFI) runs with the timer armed for
// the earliest deadline.

// Table geometry.
const (
	tidSlotBits = 12
	maxThreads  = 1 << tidSlotBits
	// quantumNS is how long a thread runs before the timer preempts it
	// when another thread is runnable.
	quantumNS = 4_000_000
)

// Thread states.
const (
	tsFree = iota
	tsNew  // created with its process, not started yet
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
	waitPipe
	waitEventfd
	waitChild
	waitVfork
	waitService
	waitSignal
	waitChanRecv // an IPC receive (chan.go)
	waitChanSend // an IPC send waiting for room
	waitReply    // an IPC call waiting for its answer
	waitIRQ      // a driver reading its interrupt object
	waitConsole  // a reader of the serial console
	waitDead     // its process is ending: never runs again, freed by the reaper
)

// thread is one thread. It holds no Go pointers.
type thread struct {
	regs     Frame  // saved registers while not running
	tls      uint64 // TPIDR_EL0 (user threads)
	deadline uint64 // counter value at which a blocked thread times out (if in the heap)
	tmo      uint64 // what its system call returns on timeout
	key      uint64 // waitFutex: the futex word's address
	retryDL  uint64 // the deadline a call woken to retry keeps (files.go)
	switches uint64
	clearTID uint64 // CLONE_CHILD_CLEARTID: zeroed and woken at exit
	sigs     sigState
	// rmsg is the abi.Msg of the IPC receive (or the reply half of the
	// call) the thread is blocked in, read when it blocked (chan.go).
	rmsg abi.Msg

	tid        int32
	proc       int16 // process slot (0: the kernel)
	next, prev int16 // links on the run queue or a wait queue
	queue      int16 // the queue the thread is on, or -1
	heapIdx    int16 // position in the deadline heap, or -1
	pnext      int16 // the process's thread list (circular)
	pprev      int16
	state      uint8
	wait       uint8
	intr       bool // the wait ends with EINTR when a signal arrives
	user       bool // runs at EL0
}

var (
	// thrPage holds each slot's thread page (kernel address), 0 if free.
	thrPage [maxThreads]uintptr
	// slotGen counts the lives of each slot: part of the thread ID.
	slotGen [maxThreads]uint32
	// freeSlot is a stack of free slots (filled by initThreads).
	freeSlot  [maxThreads]int16
	nFreeSlot int
	nThreads  int

	// cur is the slot of the running thread, or idle.
	cur int
	// reschedule asks the trap exit path to pick a thread; schedDirty
	// asks it to re-evaluate the quantum and the timer.
	reschedule bool
	schedDirty bool
	// sliceEnd is the counter value at which the running thread's quantum
	// ends (0: nothing else was runnable when it was switched in).
	sliceEnd uint64
	// handoffSlice says the thread at the front of the run queue was
	// handed the CPU by the running one (wakeFront): switched to, it
	// keeps the current slice.
	handoffSlice bool
	// armedAt is what the timer is programmed for (0: disarmed).
	armedAt   uint64
	idleFrame Frame
	idleStack [4096 / 8]uint64
	// curFrame is the address of the Frame the trap entry saves the
	// interrupted context into and the trap exit restores (trapCommon):
	// the running thread's regs, or idleFrame. It is what trap passes
	// as tf; set by initThreads, moved by schedule.
	curFrame uintptr
	// chargedAt is the counter value up to which CPU time is charged
	// (chargeCPU); idleTicks is the time nothing ran.
	chargedAt, idleTicks uint64
)

const idle = -1

// th returns the thread in slot i: thrPage read as an array of pointers,
// one load, as pr reads procPage.
//
//go:nosplit
func th(i int) *thread { return (*[maxThreads]*thread)(unsafe.Pointer(&thrPage))[i] }

// initThreads empties the thread table and makes the boot thread (the
// runtime's m0) the running kernel thread.
func initThreads() {
	nFreeSlot = 0
	for i := maxThreads - 1; i >= 0; i-- {
		thrPage[i] = 0
		freeSlot[nFreeSlot] = int16(i)
		nFreeSlot++
	}
	nThreads = 0
	initQueues()
	heapN = 0
	cur = idle
	var f Frame
	i := newThread(0, &f, false)
	th(i).state = tsRunning
	cur = i
	curFrame = uintptr(unsafe.Pointer(&th(i).regs))
	fpOwner = i // its FP/SIMD registers are in the CPU (trapfp.go)
}

// newThread creates a thread of process p whose registers are regs,
// linked into the process but not yet runnable (the caller calls
// makeRunnable). It returns the slot, or -1 when the table or memory is
// exhausted.
//
//go:nosplit
func newThread(p int, regs *Frame, user bool) int {
	if nFreeSlot == 0 {
		return -1
	}
	_, va := allocPages(1)
	if va == 0 {
		return -1
	}
	nFreeSlot--
	i := int(freeSlot[nFreeSlot])
	thrPage[i] = va
	slotGen[i]++
	if slotGen[i] >= 1<<(31-tidSlotBits) {
		slotGen[i] = 1
	}
	t := th(i)
	t.regs = *regs
	t.tid = int32(slotGen[i])<<tidSlotBits | int32(i)
	t.proc = int16(p)
	t.queue, t.heapIdx = -1, -1
	t.user = user
	t.sigs.alt.Flags = ssDisable
	nThreads++
	procAddThread(p, i)
	return i
}

// freeThread removes thread i from every queue and its process and frees
// its page. If it is the running thread, the next trap exit switches away
// (its registers are discarded).
//
//go:nosplit
func freeThread(i int) {
	t := th(i)
	unlink(i)
	procRemoveThread(int(t.proc), i)
	t.state = tsFree
	physPages.Free(physOf(thrPage[i]))
	thrPage[i] = 0
	freeSlot[nFreeSlot] = int16(i)
	nFreeSlot++
	nThreads--
	ttbrChanged() // the slot may next hold a thread of another process (syncTTBR)
	if i == fpOwner {
		fpOwner = idle // its FP/SIMD registers are nobody's now
	}
	if i == cur {
		cur = idle
		reschedule = true
	}
}

// findTid returns the slot of the live thread with tid, or -1.
//
//go:nosplit
func findTid(tid int32) int {
	if tid <= 0 {
		return -1
	}
	i := int(tid & (maxThreads - 1))
	if thrPage[i] == 0 || th(i).tid != tid {
		return -1
	}
	return i
}

// makeRunnable puts thread i at the back of the run queue.
//
//go:nosplit
func makeRunnable(i int) {
	t := th(i)
	t.state = tsRunnable
	t.wait = waitNone
	enqueue(qRun, i)
	schedDirty = true
}

// wakeFront is wake for a thread the running one hands the CPU to (IPC):
// it goes to the front of the run queue.
//
//go:nosplit
func wakeFront(i int, result uint64) {
	t := th(i)
	unlink(i)
	t.regs.X[0] = result
	t.state = tsRunnable
	t.wait = waitNone
	enqueueFront(qRun, i)
	schedDirty = true
	handoffSlice = true
}

// block makes the running thread, whose registers are in tf, wait on
// queue q (or none, -1) for reason until woken or until deadline (a counter
// value; 0: never), when its call returns tmo. With intr, a signal for the
// thread ends the wait with EINTR.
//
//go:nosplit
func block(tf *Frame, q int16, reason uint8, deadline uint64, tmo uint64, intr bool) {
	t := th(cur)
	if tf != &t.regs { // tf is not the live Frame (host tests, readv's sub-call)
		t.regs = *tf
	}
	if t.user {
		t.tls = getTPIDR0()
	}
	t.state = tsBlocked
	t.wait = reason
	t.intr = intr
	t.tmo = tmo
	if q >= 0 {
		enqueue(q, cur)
	}
	if deadline != 0 {
		t.deadline = deadline
		heapPush(cur)
	}
	reschedule = true
}

// unlink takes thread i off its queue and out of the deadline heap.
//
//go:nosplit
func unlink(i int) {
	t := th(i)
	if t.queue >= 0 {
		dequeue(i)
	}
	if t.heapIdx >= 0 {
		heapRemove(i)
	}
}

// wake makes blocked thread i runnable with result as its system call's
// return value (its registers are saved: it is not running).
//
//go:nosplit
func wake(i int, result uint64) {
	t := th(i)
	unlink(i)
	t.regs.X[0] = result
	makeRunnable(i)
}

// expire wakes every blocked thread whose deadline has passed at now.
//
//go:nosplit
func expire(now uint64) {
	for heapN > 0 && hkey[0] <= now {
		i := int(theap[0])
		wake(i, th(i).tmo)
	}
}

// schedule switches to the next thread to run, from tf, the running
// context's registers, and returns where the registers to resume are.
// The running thread, if still running, goes to the back of the run queue
// (or keeps running if nothing else is runnable).
//
// When tf is the live Frame (curFrame, as every trap passes it), the
// switch moves curFrame to the next thread's regs, or idleFrame, and
// returns that: nothing is copied, and writes to the old tf after this
// reach the old thread's saved registers. Any other tf (the host tests'
// frames) gets the next thread's registers copied in and is returned.
//
//go:nosplit
func schedule(tf *Frame, now uint64) *Frame {
	reschedule = false
	chargeCPU(now)
	live := uintptr(unsafe.Pointer(tf)) == curFrame
	if cur != idle {
		t := th(cur)
		if t.state == tsRunning {
			if queues[qRun].head < 0 {
				startSlice(now)
				return tf
			}
			if !live {
				t.regs = *tf
			}
			if t.user {
				t.tls = getTPIDR0()
			}
			t.state = tsRunnable
			enqueue(qRun, cur)
		}
	}
	next := popQueue(qRun)
	for next >= 0 && dying(next) {
		park(next) // a thread of an ending process: the reaper frees it
		next = popQueue(qRun)
	}
	if next < 0 {
		cur = idle
		if live {
			tf = &idleFrame
			curFrame = uintptr(unsafe.Pointer(tf))
		}
		idleContext(tf)
		sliceEnd = 0
		return tf
	}
	cur = next
	t := th(next)
	t.state = tsRunning
	t.switches++
	if live {
		tf = &t.regs
		curFrame = uintptr(unsafe.Pointer(tf))
		if next != fpOwner {
			fpSwitchTo(next) // its FP/SIMD registers (trapfp.go)
		}
	} else {
		*tf = t.regs
	}
	if t.user {
		setTPIDR0(t.tls)
	}
	stats.Switches++
	if handoffSlice && sliceEnd > now {
		// A direct switch (IPC): the thread runs out the rest of the
		// slice of the one that handed it the CPU, so a pair calling
		// each other cannot keep the others from running.
		handoffSlice = false
		return tf
	}
	handoffSlice = false
	startSlice(now)
	return tf
}

// chargeCPU charges the counter time since the last charge to the
// running thread's process, or to idle.
//
//go:nosplit
func chargeCPU(now uint64) {
	if now > chargedAt {
		if cur == idle {
			idleTicks += now - chargedAt
		} else if p := int(th(cur).proc); procPage[p] != 0 {
			pr(p).cpu += now - chargedAt
		}
	}
	chargedAt = now
}

// startSlice starts a quantum for the running thread if anyone else is
// waiting to run.
//
//go:nosplit
func startSlice(now uint64) {
	sliceEnd = 0
	if queues[qRun].head >= 0 {
		sliceEnd = now + quantumTicks
	}
}

// idleContext loads the idle loop into tf: EL1t, interrupts enabled, on
// its own small stack. (idleFrame, the live idle Frame, keeps the other
// registers of the idle loop's last interruption: the loop uses none.)
//
//go:nosplit
func idleContext(tf *Frame) {
	if tf != &idleFrame {
		*tf = Frame{}
	}
	tf.PC = uint64(idleLoopPC())
	tf.SP = uint64(addrOf(&idleStack[len(idleStack)-2]))
	tf.PSTATE = pstateKernel
}

// nextEvent returns the counter value at which the timer must fire next
// (the earliest deadline or the end of the quantum), or 0 for never.
//
//go:nosplit
func nextEvent() uint64 {
	ev := sliceEnd
	if heapN > 0 {
		if d := hkey[0]; ev == 0 || d < ev {
			ev = d
		}
	}
	return ev
}

// Wait queues: doubly linked lists of thread slots through thread.next and
// prev. Queue 0 is the run queue; then the futex hash buckets; the rest are
// handed out to kernel objects (pipes, epoll instances, processes...).
const (
	qRun         = 0
	qFutex       = 1
	futexBuckets = 256
	qFirstFree   = qFutex + futexBuckets
	maxQueues    = 4096
)

type waitQueue struct {
	head, tail int16
}

var (
	queues    [maxQueues]waitQueue
	freeQueue [maxQueues]int16
	nFreeQ    int
)

// initQueues empties every queue and the free list.
//
//go:nosplit
func initQueues() {
	for i := range queues {
		queues[i] = waitQueue{-1, -1}
	}
	nFreeQ = 0
	for q := maxQueues - 1; q >= qFirstFree; q-- {
		freeQueue[nFreeQ] = int16(q)
		nFreeQ++
	}
}

// allocQueue returns a fresh empty queue, or -1 when none is left.
//
//go:nosplit
func allocQueue() int16 {
	if nFreeQ == 0 {
		return -1
	}
	nFreeQ--
	return freeQueue[nFreeQ]
}

// freeQueueID returns queue q (which must be empty) to the free list.
//
//go:nosplit
func freeQueueID(q int16) {
	if q < qFirstFree {
		return
	}
	queues[q] = waitQueue{-1, -1}
	freeQueue[nFreeQ] = q
	nFreeQ++
}

// enqueue appends thread i to queue q.
//
//go:nosplit
func enqueue(q int16, i int) {
	t := th(i)
	t.queue = q
	t.next = -1
	t.prev = queues[q].tail
	if queues[q].tail >= 0 {
		th(int(queues[q].tail)).next = int16(i)
	} else {
		queues[q].head = int16(i)
	}
	queues[q].tail = int16(i)
}

// enqueueFront puts thread i at the head of queue q.
//
//go:nosplit
func enqueueFront(q int16, i int) {
	t := th(i)
	t.queue = q
	t.prev = -1
	t.next = queues[q].head
	if queues[q].head >= 0 {
		th(int(queues[q].head)).prev = int16(i)
	} else {
		queues[q].tail = int16(i)
	}
	queues[q].head = int16(i)
}

// dequeue removes thread i from its queue.
//
//go:nosplit
func dequeue(i int) {
	t := th(i)
	q := t.queue
	if t.prev >= 0 {
		th(int(t.prev)).next = t.next
	} else {
		queues[q].head = t.next
	}
	if t.next >= 0 {
		th(int(t.next)).prev = t.prev
	} else {
		queues[q].tail = t.prev
	}
	t.queue, t.next, t.prev = -1, -1, -1
}

// popQueue removes and returns the first thread of q, or -1.
//
//go:nosplit
func popQueue(q int16) int {
	i := int(queues[q].head)
	if i >= 0 {
		dequeue(i)
	}
	return i
}

// wakeQueue wakes up to n threads of q (all of them for n < 0) with result
// and returns how many it woke.
//
//go:nosplit
func wakeQueue(q int16, n int, result uint64) int {
	woken := 0
	for (n < 0 || woken < n) && queues[q].head >= 0 {
		wake(int(queues[q].head), result)
		woken++
	}
	return woken
}

// The deadline heap: a binary min-heap of thread slots keyed by deadline.
// hkey[k] is the deadline of thread theap[k], kept beside it so that
// comparisons need not reach the threads.
var (
	theap [maxThreads]int16
	hkey  [maxThreads]uint64
	heapN int
)

// heapSet puts thread i, whose deadline is key, at position k. (k is
// below maxThreads: the mask only spares the bounds checks.)
//
//go:nosplit
func heapSet(k int, i int16, key uint64) {
	k &= maxThreads - 1
	theap[k] = i
	hkey[k] = key
	th(int(i)).heapIdx = int16(k)
}

// siftUp places thread i, whose deadline is key, at position k or above
// it: each parent with a later deadline moves down one level, while i is
// held aside (a swap per level would write both ends and both threads'
// heapIdx).
//
//go:nosplit
func siftUp(k int, i int16, key uint64) {
	for k > 0 {
		p := (k - 1) / 2
		if key >= hkey[p] {
			break
		}
		heapSet(k, theap[p], hkey[p])
		k = p
	}
	heapSet(k, i, key)
}

// siftDown places thread i, whose deadline is key, at position k or below
// it: each child with an earlier deadline (the earlier of two) moves up
// one level, while i is held aside, as in siftUp. It reports whether i went
// below k.
//
//go:nosplit
func siftDown(k int, i int16, key uint64) bool {
	k0 := k
	for {
		l := 2*k + 1
		if l >= heapN {
			break
		}
		m := l
		if r := l + 1; r < heapN && hkey[r&(maxThreads-1)] < hkey[l&(maxThreads-1)] {
			m = r
		}
		m &= maxThreads - 1
		if hkey[m] >= key {
			break
		}
		heapSet(k, theap[m], hkey[m])
		k = m
	}
	heapSet(k, i, key)
	return k != k0
}

// heapPush adds thread i (its deadline set) to the heap.
//
//go:nosplit
func heapPush(i int) {
	k := heapN & (maxThreads - 1)
	heapN++
	siftUp(k, int16(i), th(i).deadline)
	schedDirty = true
}

// heapRemove takes thread i out of the heap.
//
//go:nosplit
func heapRemove(i int) {
	t := th(i)
	k := int(t.heapIdx)
	heapN--
	if k != heapN {
		// The last thread fills the hole at k: down if a child is
		// earlier, else up if its parent is later.
		last := heapN & (maxThreads - 1)
		j, key := theap[last], hkey[last]
		if k &= maxThreads - 1; !siftDown(k, j, key) {
			siftUp(k, j, key)
		}
	}
	t.heapIdx = -1
}
