package rt

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/mm"
)

// Helpers shared by the trap-layer tests (on top of testutil_test.go).
//
// Execution model. The test goroutine plays the CPU: tf is "the Frame the
// trap will return into", i.e. the live registers of the running thread
// (cur). A system call is svc(&tf, ...). When a call blocks the thread,
// its registers are saved in its thread struct and tf is stale until the
// test switches to another thread with switchTo, which does what schedule
// does for one chosen thread (save the running one at the back of the run
// queue, load the chosen one's registers and TPIDR_EL0).

// userPC is the return address of every test SVC: the SVC instruction
// itself sits at userPC-4, which is where a call woken to retry resumes.
const userPC = 0x40_1004

// goCloneFlags are the flags the Go runtime creates its threads with
// (runtime/os_linux.go cloneFlags).
const goCloneFlags = cloneVM | cloneFS | cloneFiles | cloneSighand | cloneSysvsem | cloneThread

// vforkFlags are what os/exec passes to clone (syscall/exec_linux.go).
const vforkFlags = cloneVM | cloneVfork | sigCHLD

// neg encodes a negative argument as the register value a program passes.
func neg(v int64) uint64 { return uint64(v) }

// le32 and le64 encode integers as a program stores them.
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// bytesOfStruct views a test value as the bytes a program would store.
func bytesOfStruct[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// newUserFrame is newUser plus a Frame for its main thread: PC at userPC,
// SP at the top of the scratch region, EL0t.
func newUserFrame(t testing.TB, scratchPages int) (*uproc, *Frame) {
	t.Helper()
	u := newUser(t, scratchPages)
	tf := &Frame{PC: userPC, SP: u.top(scratchPages), PSTATE: pstateEL0t}
	th(u.main).regs = *tf
	return u, tf
}

// top returns the end of a scratch region of n pages (a stack top).
func (u *uproc) top(n int) uint64 { return u.scratch + uint64(n)*pageSize }

// putU32, putU64 store integers at scratch+off and return the address.
func (u *uproc) putU32(off uint64, v uint32) uint64 { return u.put(off, le32(v)) }
func (u *uproc) putU64(off uint64, v uint64) uint64 { return u.put(off, le64(v)) }

// putTimespec stores a struct timespec at scratch+off.
func (u *uproc) putTimespec(off uint64, sec, nsec int64) uint64 {
	ts := timespec{Sec: sec, Nsec: nsec}
	return u.put(off, bytesOfStruct(&ts))
}

// i32 reads a 32-bit signed integer from the process.
func (u *uproc) i32(va uint64) int32 { return int32(u.u32(va)) }

// spawnThread makes the running thread of u clone a Go-style thread with
// stack and returns the new thread's slot.
func (u *uproc) spawnThread(tf *Frame, stack uint64) int {
	u.t.Helper()
	r := svc(tf, sysClone, goCloneFlags, stack, 0, 0, 0)
	require.Positive(u.t, int64(r), "clone: %d", int64(r))
	i := findTid(int32(r))
	require.GreaterOrEqual(u.t, i, 0)
	return i
}

// newChild creates a child process of u with its own address space and a
// scratch region of n pages, its first thread runnable (as a fork would
// leave it). It does not switch to it.
func (u *uproc) newChild(n int) *uproc {
	u.t.Helper()
	c, i, e := newProcess(u.p, "kid")
	require.GreaterOrEqual(u.t, c, 0, "newProcess: errno %d", e)
	_, _, me := pr(c).as.Mmap(scratchVA, uint64(n)*pageSize, mm.ProtRead|mm.ProtWrite, 0, true, nil)
	require.Equal(u.t, mm.OK, me)
	for fd := 0; fd < 3; fd++ {
		getObject(consoleObj)
		installFd(c, fd, consoleObj, false)
	}
	th(i).regs = Frame{PC: userPC, SP: scratchVA + uint64(n)*pageSize, PSTATE: pstateEL0t}
	makeRunnable(i)
	return &uproc{t: u.t, p: c, main: i, pid: pr(c).pid, scratch: scratchVA}
}

// switchTo makes thread i the running thread as schedule would: a still
// running thread is saved (registers, TPIDR_EL0) at the back of the run
// queue, and tf and TPIDR_EL0 are loaded from thread i, which must be
// runnable (it is taken off the run queue).
func switchTo(t testing.TB, tf *Frame, i int) {
	t.Helper()
	if cur == i && th(i).state == tsRunning {
		return
	}
	if cur != idle && thrPage[cur] != 0 && th(cur).state == tsRunning {
		th(cur).regs = *tf
		if th(cur).user {
			th(cur).tls = getTPIDR0()
		}
		makeRunnable(cur)
	}
	require.NotZero(t, thrPage[i], "thread %d is gone", i)
	nt := th(i)
	require.Contains(t, []uint8{tsRunnable, tsNew}, nt.state, "thread %d is not runnable", i)
	if nt.queue >= 0 {
		require.Equal(t, int16(qRun), nt.queue)
		dequeue(i)
	}
	nt.state = tsRunning
	cur = i
	*tf = nt.regs
	if nt.user {
		setTPIDR0(nt.tls)
	}
}

// runKernel makes the kernel's boot thread (slot 0, parked runnable by
// newUser) the running thread again: the next calls are the kernel's own.
func runKernel() {
	if cur != idle && thrPage[cur] != 0 && th(cur).state == tsRunning {
		th(cur).state = tsRunnable
	}
	cur = 0
	th(0).state = tsRunning
}

// retry executes the SVC a thread woken to retry resumes on: its PC must
// be on the instruction (userPC-4); the SVC moves it past, as the hardware
// does, and the call is made again with the registers as they are.
func retry(t testing.TB, tf *Frame) uint64 {
	t.Helper()
	require.Equal(t, uint64(userPC-4), tf.PC, "not resuming on the SVC")
	tf.PC += 4
	syscall(tf)
	return tf.X[0]
}

// requireBlocked checks that thread i waits for reason.
func requireBlocked(t testing.TB, i int, reason uint8) {
	t.Helper()
	require.NotZero(t, thrPage[i], "thread %d is gone", i)
	require.Equal(t, uint8(tsBlocked), th(i).state, "thread %d state", i)
	require.Equal(t, reason, th(i).wait, "thread %d wait reason", i)
}

// requireWoken checks that thread i is runnable with result as its
// system call's return value and not retrying.
func requireWoken(t testing.TB, i int, result uint64) {
	t.Helper()
	require.NotZero(t, thrPage[i], "thread %d is gone", i)
	require.Equal(t, uint8(tsRunnable), th(i).state, "thread %d state", i)
	require.Equal(t, int16(qRun), th(i).queue, "thread %d not on the run queue", i)
	require.Equal(t, int64(result), int64(th(i).regs.X[0]), "thread %d result", i)
	require.Equal(t, uint64(userPC), th(i).regs.PC, "thread %d resumes after its SVC", i)
}

// requireRetrying checks that thread i is runnable and will make its call
// nr again: PC back on the SVC, the number still in X8.
func requireRetrying(t testing.TB, i int, nr uint64) {
	t.Helper()
	require.NotZero(t, thrPage[i], "thread %d is gone", i)
	require.Equal(t, uint8(tsRunnable), th(i).state, "thread %d state", i)
	require.Equal(t, uint64(userPC-4), th(i).regs.PC, "thread %d PC back on the SVC", i)
	require.Equal(t, nr, th(i).regs.X[regSyscallNo], "thread %d system call number", i)
}

// runQueue lists the run queue's threads in order.
func runQueue() []int {
	var out []int
	for i := int(queues[qRun].head); i >= 0; i = int(th(i).next) {
		out = append(out, i)
	}
	return out
}

// queueLen counts the threads on wait queue q.
func queueLen(q int16) int {
	n := 0
	for i := int(queues[q].head); i >= 0; i = int(th(i).next) {
		n++
	}
	return n
}

// reapAll runs the reaper until no dying process is left and returns the
// number of steps it took.
func reapAll(t testing.TB) int {
	t.Helper()
	n := 0
	for reapStep() {
		n++
		require.Less(t, n, 100_000, "the reaper does not finish")
	}
	return n
}

// collect waits for kernel child pid, which must have ended and been
// reaped already (WaitProcess would block the test otherwise).
func collect(t testing.TB, pid int32) ExitInfo {
	t.Helper()
	p := findPid(pid)
	require.GreaterOrEqual(t, p, 0, "pid %d is gone", pid)
	require.Equal(t, uint8(psZombie), pr(p).state, "pid %d is not a zombie", pid)
	info, err := WaitProcess(pid)
	require.NoError(t, err)
	require.Equal(t, -1, findPid(pid))
	return info
}

// endAll kills every live user process, reaps them and collects the
// kernel's children, leaving only the kernel.
func endAll(t testing.TB) {
	t.Helper()
	for p := 1; p < maxProcs; p++ {
		if procPage[p] != 0 && pr(p).state == psLive {
			exitProcess(p, sigKILL, true)
		}
	}
	reapAll(t)
	for p := 1; p < maxProcs; p++ {
		if procPage[p] != 0 && pr(p).state == psZombie {
			dropProcess(p)
		}
	}
}

// childrenOf lists the process slots whose parent is p.
func childrenOf(p int) []int {
	var out []int
	for c := 1; c < maxProcs; c++ {
		if procPage[c] != 0 && c != p && pr(c).parent == int16(p) {
			out = append(out, c)
		}
	}
	return out
}

// checkKernel verifies the scheduler's and the process table's structural
// invariants: queue links, thread states, the deadline heap, thread lists.
func checkKernel(t testing.TB) {
	t.Helper()
	live := 0
	for i := 0; i < maxThreads; i++ {
		if thrPage[i] == 0 {
			continue
		}
		live++
		x := th(i)
		require.Equal(t, int32(i), x.tid&(maxThreads-1), "slot %d tid", i)
		switch x.state {
		case tsRunnable:
			// The harness parks the kernel thread runnable off the queue.
			if x.proc != 0 {
				require.Equal(t, int16(qRun), x.queue, "runnable thread %d off the run queue", i)
			}
		case tsRunning:
			require.Equal(t, i, cur, "thread %d running but not current", i)
			require.Equal(t, int16(-1), x.queue, "running thread %d on a queue", i)
		case tsBlocked:
			// A thread of an ending process may be parked for the reaper.
			require.True(t, x.queue >= 0 || x.heapIdx >= 0 || x.wait == waitService || pr(int(x.proc)).state != psLive,
				"blocked thread %d can never be woken (wait %d)", i, x.wait)
			require.NotEqual(t, int16(qRun), x.queue, "blocked thread %d on the run queue", i)
		case tsNew:
		default:
			t.Fatalf("thread %d in state %d", i, x.state)
		}
		require.NotZero(t, procPage[x.proc], "thread %d of a freed process", i)
	}
	require.Equal(t, nThreads, live, "thread count")
	require.Equal(t, maxThreads, nThreads+nFreeSlot, "slots lost")
	// Between a call that blocked the running thread and the next
	// schedule, cur may name a thread that is no longer running; it is
	// never a freed slot.
	if cur != idle {
		require.NotZero(t, thrPage[cur], "current thread freed")
		// syncTTBR's key: while it names the current process, TTBR0
		// holds what procTTBR would give it.
		if p := th(cur).proc; procPage[p] != 0 && ttbrKey == ttbrKeyOf(p) {
			want := kas.PT.Root()
			if p != 0 {
				o := pr(int(pr(int(p)).asOwner))
				require.Equal(t, asids.Generation(), o.asid.Gen, "a key of an older ASID generation")
				want = o.as.PT.TTBR(o.asid.ASID)
			}
			require.Equal(t, want, curTTBR, "TTBR0 under a current key")
		}
	}
	// Every queue's links agree in both directions.
	for q := 0; q < maxQueues; q++ {
		prev := -1
		n := 0
		for i := int(queues[q].head); i >= 0; i = int(th(i).next) {
			require.NotZero(t, thrPage[i], "queue %d holds freed slot %d", q, i)
			require.Equal(t, int16(q), th(i).queue, "thread %d on queue %d thinks %d", i, q, th(i).queue)
			require.Equal(t, int16(prev), th(i).prev, "queue %d back link", q)
			prev = i
			n++
			require.Less(t, n, maxThreads, "queue %d loops", q)
		}
		require.Equal(t, int16(prev), queues[q].tail, "queue %d tail", q)
	}
	// The deadline heap: indexes and order.
	for k := 0; k < heapN; k++ {
		i := int(theap[k])
		require.NotZero(t, thrPage[i])
		require.Equal(t, int16(k), th(i).heapIdx)
		require.Equal(t, uint8(tsBlocked), th(i).state, "thread %d in the heap but not blocked", i)
		if k > 0 {
			require.LessOrEqual(t, th(int(theap[(k-1)/2])).deadline, th(i).deadline, "heap order")
		}
		require.Equal(t, th(i).deadline, hkey[k], "the heap's key is the thread's deadline")
	}
	// Thread lists of processes.
	for p := 0; p < maxProcs; p++ {
		if procPage[p] == 0 {
			continue
		}
		pp := pr(p)
		n := int32(0)
		if h := int(pp.threadHead); h >= 0 {
			for i := h; ; {
				require.Equal(t, int16(p), th(i).proc)
				n++
				i = int(th(i).pnext)
				if i == h {
					break
				}
				require.LessOrEqual(t, n, int32(maxThreads))
			}
		}
		require.Equal(t, pp.nthreads, n, "process %d thread count", p)
		if pp.state == psZombie {
			require.Zero(t, n, "zombie %d has threads", p)
		}
	}
	st := physPages.Stats()
	require.Zero(t, st.DoubleFrees, "double frees")
	require.Zero(t, st.BadFrees, "bad frees")
}
