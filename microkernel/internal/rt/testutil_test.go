package rt

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// The host harness: the trap layer's state over host memory. The test
// goroutine plays the running thread (cur); system calls run by calling
// syscall with a Frame, exactly as the vector code does.

// hostArena gives a test "physical memory": page-aligned host memory whose
// addresses the allocator and page-table code use as physical addresses
// (the window maps them 1:1 on the host).
func hostArena(t testing.TB, pages int) (start, end uintptr) {
	t.Helper()
	buf := make([]byte, (pages+1)*pageSize)
	t.Cleanup(func() { _ = buf[0] }) // keep buf alive for the test
	start = (uintptr(unsafe.Pointer(&buf[0])) + pageSize - 1) &^ (pageSize - 1)
	return start, start + uintptr(pages)*pageSize
}

// consoleBase is the fake PL011 of the current test (its data register is
// at offset 0).
var consoleBase uintptr

// resetKernel puts the trap layer into its boot state over a fresh arena
// of pages pages: the allocator, the kernel's address space, the kernel
// process (pid 1) with its boot thread running, files, a fake console.
func resetKernel(t testing.TB, pages int) {
	t.Helper()
	start, end := hostArena(t, pages)
	w, e := mm.NewWindow(uint64(start), uint64(end-start), ptrOf(start))
	require.Equal(t, mm.OK, e)
	require.Equal(t, mm.OK, physPages.Init(w, nil))
	kproc = process{}
	require.Equal(t, mm.OK, kas.Init(&physPages, mm.KernelHeapBase, mm.KernelHeapEnd, true))
	stats = Stats{}
	setCounterFreq(62_500_000)
	reschedule, schedDirty = false, false
	sliceEnd, armedAt = 0, 0
	svcHead, svcTail = 0, 0
	lastWriter, lastEndedLine = -1, true
	reported = [len(reported)]uint64{}
	devs.n = 0
	cache = [maxCachedFiles]cachedFile{}
	cachePages = 0
	initProcs(256)
	initFiles()
	initThreads()
	sigtrampPA = 0
	require.True(t, initUserPages())
	require.True(t, initPageSharing())
	// Console output goes to a fake PL011 in ordinary memory (the host
	// stand-ins of the MMIO accessors read and write memory).
	uart := make([]uint32, 64)
	consoleBase = uintptr(unsafe.Pointer(&uart[0]))
	arch.SetUART(consoleBase)
	t.Cleanup(func() { arch.SetUART(arch.EarlyUART); _ = uart[0] })
}

// svc makes system call nr with args as the running thread and returns X0.
func svc(tf *Frame, nr uint64, args ...uint64) uint64 {
	for i := range tf.X[:6] {
		tf.X[i] = 0
	}
	copy(tf.X[:], args)
	tf.X[regSyscallNo] = nr
	syscall(tf)
	return tf.X[0]
}

// uproc is a user process made by a test: its slot, its main thread and a
// scratch region of read-write memory at scratch.
type uproc struct {
	t       testing.TB
	p, main int
	pid     int32
	scratch uint64
}

// scratchVA is where newUser maps each process's scratch region.
const scratchVA = 0x10_0000

// newUser creates a user process with a scratch region of n pages and
// makes its main thread the running thread.
func newUser(t testing.TB, n int) *uproc {
	t.Helper()
	p, i, e := newProcess(0, "test")
	require.GreaterOrEqual(t, p, 0, "newProcess: errno %d", e)
	_, _, me := pr(p).as.Mmap(scratchVA, uint64(n)*pageSize, mm.ProtRead|mm.ProtWrite, 0, true, nil)
	require.Equal(t, mm.OK, me)
	for fd := 0; fd < 3; fd++ {
		getObject(consoleObj)
		installFd(p, fd, consoleObj, false)
	}
	u := &uproc{t: t, p: p, main: i, pid: pr(p).pid, scratch: scratchVA}
	u.run(i)
	return u
}

// run makes thread i the running thread (as the scheduler would).
func (u *uproc) run(i int) {
	if cur != idle && cur != i && thrPage[cur] != 0 && th(cur).state == tsRunning {
		th(cur).state = tsRunnable
	}
	if th(i).queue >= 0 {
		dequeue(i)
	}
	th(i).state = tsRunning
	cur = i
}

// put copies b into the process at scratch+off and returns its address.
func (u *uproc) put(off uint64, b []byte) uint64 {
	_, e := pr(u.p).as.CopyOut(u.scratch+off, b)
	require.Equal(u.t, mm.OK, e)
	return u.scratch + off
}

// get reads n bytes at va of the process.
func (u *uproc) get(va uint64, n int) []byte {
	b := make([]byte, n)
	_, e := pr(u.p).as.CopyIn(b, va)
	require.Equal(u.t, mm.OK, e)
	return b
}

// u64 and u32 read integers from the process.
func (u *uproc) u64(va uint64) uint64 { return *(*uint64)(unsafe.Pointer(&u.get(va, 8)[0])) }
func (u *uproc) u32(va uint64) uint32 { return *(*uint32)(unsafe.Pointer(&u.get(va, 4)[0])) }

// addrOf returns the address of a kernel variable.
func addrOfBytes(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
