package rt

import (
	"unsafe"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// Processes.
//
// A process is an address space, a thread group, signal dispositions and a
// descriptor table. Slot 0 is the kernel itself (its Go runtime's threads,
// its heap in the kernel window); user processes take the other slots.
// Every process's translation table borrows the kernel window's level 1
// tables (mm.PageTable.ShareFrom), so the kernel half is the same
// everywhere and trap code never switches tables to reach kernel memory.
//
// A process's ASID comes from an mm.ASIDSpace by generation: switching to a
// process loads TTBR0 with its root and ASID and flushes nothing; only a
// rollover of the ASID space flushes the TLB (once).
//
// Life cycle: live (threads run) -> dying (every thread is gone; the
// reaper, a kernel goroutine, frees the address space batch by batch, so
// no single step holds the kernel lock for long) -> zombie (only the exit
// status is left, until the parent waits) -> free. A process whose parent
// is gone, or the kernel, is freed without waiting to be waited for.

const (
	maxProcs = 256
	maxFds   = 256
	// defaultThreadLimit bounds the threads of one process unless its
	// spawner says otherwise; clone beyond it fails with EAGAIN.
	defaultThreadLimit = 512
)

// Process states.
const (
	psFree = iota
	psLive
	psDying
	psZombie
)

// process is one process. It holds no Go pointers (the mm structures keep
// their PhysMem as an integer).
type process struct {
	as     mm.AddressSpace
	asid   mm.ASIDTag
	sigact [nsig + 1]sigaction
	fds    [maxFds]fdEntry
	// fileMaps are the shared regions backed by the page cache (the
	// program's read-only segments): region Flags k+1 | RegionShared.
	fileMaps [maxFileMaps]fileMap
	// grants are the devices granted to the process (devices.go), by
	// grant number: an index into devs, or -1.
	grants [maxGrants]int8
	name   [16]byte

	pid, ppid     int32
	slot          int16
	parent        int16 // slot of the parent (0: the kernel, -1: none, the parent ended)
	asOwner       int16 // slot whose address space the process runs in (itself, or its vfork parent until exec)
	threadHead    int16 // first thread of the circular list, or -1
	nthreads      int32
	threadLimit   int32
	childQ        int16 // threads of this process waiting for a child (wait4)
	vforkQ        int16 // the parent thread waiting until this vfork child execs or exits
	state         uint8
	killed        bool   // ended by a signal (exitStatus holds it)
	exitStatus    uint32 // Linux wait status: code<<8, or the signal number
	sigPending    uint64 // process-directed signals not yet given to a thread
	reapAt        uint64 // next address the reaper unmaps from
	pages         uint32 // pages holding this struct
	atLineStart   bool   // console output: next byte starts a line
	traced        bool   // its system calls are printed (strace.go)
	straceAt      uint64 // counter at its last traced call
	warnedThreads bool   // the thread limit was reported
	keepCaps      bool   // prctl(PR_SET_KEEPCAPS): there are no capabilities, the flag is kept

	syscalls  uint64
	faults    uint64
	spawned   uint64 // counter value at creation
	threadsEv int32  // threads it ever had
	// cpu is the counter time its threads ran, system calls and
	// interrupts taken while they ran included (charged at each switch).
	cpu uint64
}

var (
	// procPage holds each slot's process struct (kernel address), 0 if free.
	procPage [maxProcs]uintptr
	// kproc is the kernel's own process (slot 0); kas is its address space.
	kproc process
	asids mm.ASIDSpace
	// curTTBR is what TTBR0_EL1 holds.
	curTTBR uint64
	// dyingSeq and exitSeq are futex words kernel goroutines wait on: the
	// reaper for dying processes, spawners for exits.
	dyingSeq uint32
	exitSeq  uint32
)

// kas is the kernel's address space: its heap window and the linear map.
var kas = &kproc.as

// pr returns the process in slot p. procPage is read as an array of
// pointers, one load (ptrOf would take its address through memory); it
// stays uintptr-typed, so the garbage collector never looks at it and
// storing into it needs no write barrier: the pages are not Go memory.
//
//go:nosplit
func pr(p int) *process { return (*[maxProcs]*process)(unsafe.Pointer(&procPage))[p] }

// curProc returns the slot of the running thread's process (0 when idle).
//
//go:nosplit
func curProc() int {
	if cur == idle {
		return 0
	}
	return int(th(cur).proc)
}

// initProcs makes slot 0 the kernel: pid 1, the console on fds 0-2, the
// address space mapKernel built.
func initProcs(asidLimit uint32) {
	for i := range procPage {
		procPage[i] = 0
	}
	procPage[0] = uintptr(unsafe.Pointer(&kproc))
	k := &kproc
	k.pid, k.slot, k.asOwner, k.threadHead = 1, 0, 0, -1
	k.childQ, k.vforkQ = allocQueue(), -1
	k.state = psLive
	k.threadLimit = maxThreads
	k.atLineStart = true
	copy(k.name[:], "kernel")
	for i := range k.fds {
		k.fds[i] = fdEntry{obj: -1}
	}
	asids.Init(asidLimit)
	ttbrChanged()
}

// findPid returns the slot of the process with pid (live, dying or
// zombie), or -1.
//
//go:nosplit
func findPid(pid int32) int {
	if pid <= 0 {
		return -1
	}
	for p := 0; p < maxProcs; p++ {
		if procPage[p] != 0 && pr(p).pid == pid {
			return p
		}
	}
	return -1
}

// newProcess creates an empty live process (no mappings but the kernel
// window and the shared user pages) as a child of parent, with its first
// thread created but not started (tsNew; its registers are the caller's
// to set). As on Linux, the process ID is that thread's ID. It returns the
// process slot and the thread slot, or -1 and an errno.
func newProcess(parent int, name string) (int, int, int) {
	slot := -1
	for p := 1; p < maxProcs; p++ {
		if procPage[p] == 0 {
			slot = p
			break
		}
	}
	if slot < 0 {
		return -1, -1, EAGAIN
	}
	n := uint32((unsafe.Sizeof(process{}) + pageSize - 1) / pageSize)
	_, va := allocPages(n)
	if va == 0 {
		return -1, -1, ENOMEM
	}
	q1, q2 := allocQueue(), allocQueue()
	if q1 < 0 || q2 < 0 {
		freeQueueID(q1)
		freeQueueID(q2)
		freePages(physOf(va), n)
		return -1, -1, EAGAIN
	}
	procPage[slot] = va
	p := pr(slot)
	p.pages = n
	p.childQ, p.vforkQ = -1, -1
	p.childQ, p.vforkQ = q1, q2
	if e := p.as.Init(&physPages, mm.UserLow, mm.UserHigh, false); e != mm.OK {
		dropProcess(slot)
		return -1, -1, ENOMEM
	}
	if e := p.as.PT.ShareFrom(&kas.PT, mm.KernelWindowBase, mm.KernelWindowEnd-mm.KernelWindowBase); e != mm.OK {
		p.as.Destroy()
		dropProcess(slot)
		return -1, -1, ENOMEM
	}
	if e := mapUserPages(&p.as); e != mm.OK {
		p.as.Destroy()
		dropProcess(slot)
		return -1, -1, ENOMEM
	}
	p.slot = int16(slot)
	p.parent = int16(parent)
	p.ppid = pr(parent).pid
	p.asOwner = int16(slot)
	ttbrChanged()
	p.threadHead = -1
	p.threadLimit = defaultThreadLimit
	p.state = psLive
	p.atLineStart = true
	p.spawned = now()
	p.straceAt = p.spawned
	for i := range p.fds {
		p.fds[i] = fdEntry{obj: -1}
	}
	resetFileMaps(p)
	resetGrants(p)
	setName(p, name)
	var f Frame
	i := newThread(slot, &f, true)
	if i < 0 {
		p.as.Destroy()
		dropProcess(slot)
		if nFreeSlot == 0 {
			return -1, -1, EAGAIN // the thread table is full
		}
		return -1, -1, ENOMEM
	}
	th(i).state = tsNew
	p.pid = th(i).tid
	return slot, i, 0
}

// setName stores a process name (truncated to 15 bytes).
//
//go:nosplit
func setName(p *process, name string) {
	p.name = [16]byte{}
	for i := 0; i < len(name) && i < len(p.name)-1; i++ {
		p.name[i] = name[i]
	}
	p.traced = traced(int(p.slot))
}

// dropProcess frees the struct of process slot (its address space and
// files already released).
//
//go:nosplit
func dropProcess(slot int) {
	p := pr(slot)
	freeQueueID(p.childQ)
	freeQueueID(p.vforkQ)
	n := p.pages
	p.state = psFree
	freePages(physOf(procPage[slot]), n)
	procPage[slot] = 0
}

// procAddThread links thread i into process p.
//
//go:nosplit
func procAddThread(p, i int) {
	if procPage[p] == 0 {
		return
	}
	pp := pr(p)
	t := th(i)
	if pp.threadHead < 0 {
		t.pnext, t.pprev = int16(i), int16(i)
		pp.threadHead = int16(i)
	} else {
		h := th(int(pp.threadHead))
		t.pnext = pp.threadHead
		t.pprev = h.pprev
		th(int(h.pprev)).pnext = int16(i)
		h.pprev = int16(i)
	}
	pp.nthreads++
	pp.threadsEv++
}

// procRemoveThread unlinks thread i from process p.
//
//go:nosplit
func procRemoveThread(p, i int) {
	if procPage[p] == 0 {
		return
	}
	pp := pr(p)
	t := th(i)
	if t.pnext == int16(i) {
		pp.threadHead = -1
	} else {
		th(int(t.pprev)).pnext = t.pnext
		th(int(t.pnext)).pprev = t.pprev
		if pp.threadHead == int16(i) {
			pp.threadHead = t.pnext
		}
	}
	pp.nthreads--
}

// space returns the address space process p runs in.
//
//go:nosplit
func space(p int) *mm.AddressSpace { return &pr(int(pr(p).asOwner)).as }

// procTTBR returns the TTBR0 value for running process p: its root with
// its ASID (assigned, or renewed after a rollover, on the way).
//
//go:nosplit
func procTTBR(p int) uint64 {
	if p == 0 {
		return kas.PT.Root()
	}
	o := pr(int(pr(p).asOwner))
	asid, flush := asids.Use(&o.asid)
	if flush {
		stats.ASIDRollovers++
		arch.TLBIAll()
		ttbrChanged() // every other process's ASID is stale
	}
	return o.as.PT.TTBR(asid)
}

// ttbrKey says for which process, and in which epoch, syncTTBR last
// loaded TTBR0 (curTTBR): ttbrKeyOf(p). Anything that changes what
// procTTBR would return for a process (its address space owner, the
// owner's tables or ASID tag, a new process in a slot, an ASID rollover)
// calls ttbrChanged, which starts a new epoch, so while the key matches
// TTBR0 is still right: every trap calls syncTTBR, mostly for the process
// that trapped, and it returns at once.
var (
	ttbrKey   uint64
	ttbrEpoch uint64
)

// ttbrChanged starts a new epoch.
//
//go:nosplit
func ttbrChanged() { ttbrEpoch++ }

// ttbrKeyOf is the key of process p in the current epoch (never 0).
//
//go:nosplit
func ttbrKeyOf(p int16) uint64 { return ttbrEpoch<<17 | 1<<16 | uint64(uint16(p)) }

// ttbrSeen is the thread (or idle) and the epoch syncTTBR last ran for:
// while both still hold, TTBR0 is right without looking at the thread's
// process (most traps resume the thread that trapped). freeThread starts
// an epoch, so a slot reused by a thread of another process is looked at.
var (
	ttbrSeenThread = idle
	ttbrSeenEpoch  uint64
)

// syncTTBR makes TTBR0 match the thread about to run. The idle context
// keeps whatever is loaded (it touches no user memory).
//
//go:nosplit
func syncTTBR() {
	if cur == ttbrSeenThread && ttbrEpoch == ttbrSeenEpoch {
		return
	}
	syncTTBRSlow()
	ttbrSeenThread, ttbrSeenEpoch = cur, ttbrEpoch
}

// syncTTBRSlow is syncTTBR after a switch or a new epoch.
//
//go:nosplit
func syncTTBRSlow() {
	if cur == idle {
		return
	}
	p := th(cur).proc
	if ttbrKeyOf(p) == ttbrKey {
		return
	}
	want := procTTBR(int(p))
	ttbrKey = ttbrKeyOf(p) // after procTTBR, which may start an epoch
	if want != curTTBR {
		setTTBR0(uintptr(want))
		curTTBR = want
		stats.TTBRSwitches++
	}
}

// invalidator returns the TLB invalidation for process p's address space:
// by ASID for a user space (nothing to do if the ASID is from an old
// generation: the rollover flushed it), global for the kernel's.
//
//go:nosplit
func invalidate(p int, va, size uint64) {
	pages := size / pageSize
	if p == 0 {
		if pages > 64 {
			arch.TLBIAll()
		} else {
			arch.TLBIRangeGlobal(va, pages)
		}
		return
	}
	o := pr(int(pr(p).asOwner))
	if o.asid.Gen != asids.Generation() || o.asid.ASID == 0 {
		return
	}
	if pages > 64 {
		arch.TLBIASID(o.asid.ASID)
	} else {
		arch.TLBIRange(va, pages, o.asid.ASID)
	}
}

// exitProcess ends process p with wait status status (killed: by a
// signal): none of its threads runs again, its descriptors close, a vfork
// parent waiting for it resumes, and the reaper (a kernel goroutine) frees
// its threads and its address space in bounded steps. The running thread,
// if it is one of p's, stops at once.
//
//go:nosplit
func exitProcess(p int, status uint32, killed bool) {
	pp := pr(p)
	if pp.state != psLive || p == 0 {
		return
	}
	pp.state = psDying
	pp.exitStatus = status
	pp.killed = killed
	if cur != idle && int(th(cur).proc) == p {
		park(cur)
	}
	closeAllFiles(p)
	releaseGrants(p)
	processEnded(pp.pid)
	releaseVfork(p, -1)
	pp.reapAt = mm.UserLow
	wakeReaper()
	stats.ProcExits++
}

// wakeReaper tells the reaper there may be work.
//
//go:nosplit
func wakeReaper() {
	dyingSeq++
	futexWakeKernel(uintptr(unsafe.Pointer(&dyingSeq)))
}

// park takes thread i of a dying process out of the running: off every
// queue, never scheduled again, left for the reaper to free.
//
//go:nosplit
func park(i int) {
	unlink(i)
	th(i).state = tsBlocked
	th(i).wait = waitDead
	if i == cur {
		cur = idle
		reschedule = true
	}
}

// dying reports whether thread i belongs to a process that is ending.
//
//go:nosplit
func dying(i int) bool { return pr(int(th(i).proc)).state != psLive }

// reapThreads is how many threads one reaper step frees.
const reapThreads = 32

// releaseVfork wakes the parent thread a vfork child p holds, with the
// child's pid as clone's result (or result when >= 0).
//
//go:nosplit
func releaseVfork(p int, result int64) {
	pp := pr(p)
	if pp.vforkQ < 0 {
		return
	}
	r := uint64(pp.pid)
	if result >= 0 {
		r = uint64(result)
	}
	wakeQueue(pp.vforkQ, -1, r)
}

// reapStep does one bounded piece of tearing down a dying process: it
// unmaps one batch of its address space (TLB invalidation before the pages
// are freed), or, when nothing is left, frees the tables and makes it a
// zombie. It reports whether a dying process was found.
func reapStep() bool {
	for p := 1; p < maxProcs; p++ {
		if procPage[p] == 0 || pr(p).state != psDying {
			continue
		}
		pp := pr(p)
		if pp.threadHead >= 0 {
			for k := 0; k < reapThreads && pp.threadHead >= 0; k++ {
				freeThread(int(pp.threadHead))
			}
			return true
		}
		if borrowed(p) {
			// A vfork child still runs in p's address space (Linux's
			// child holds the mm): p's teardown, and its zombie status,
			// wait until the child execs or has ended.
			continue
		}
		if pp.asOwner == int16(p) && pp.reapAt < mm.UserHigh {
			var b mm.FreeBatch
			n, next, e := pp.as.PT.UnmapRangeBatch(pp.reapAt, mm.UserHigh-pp.reapAt, &b)
			if n != 0 || b.Len() != 0 {
				invalidate(p, pp.reapAt, next-pp.reapAt)
			}
			b.Release(&physPages)
			if e == mm.ErrBatchFull {
				pp.reapAt = next
				return true
			}
		}
		pp.reapAt = mm.UserHigh
		if pp.asid.Gen == asids.Generation() && pp.asid.ASID != 0 {
			arch.TLBIASID(pp.asid.ASID)
		}
		pp.as.Destroy()
		ttbrChanged()
		resetFileMaps(pp) // shared memory it mapped: nothing maps it here any more
		becomeZombie(p)
		return true
	}
	return false
}

// borrowed reports whether another process, not yet ended, runs in the
// address space of process p (a vfork child before its exec).
//
//go:nosplit
func borrowed(p int) bool {
	for c := 1; c < maxProcs; c++ {
		if c != p && procPage[c] != 0 && pr(c).asOwner == int16(p) && pr(c).state != psZombie {
			return true
		}
	}
	return false
}

// becomeZombie records that process p has ended: its parent may now reap
// the status (wait4), or, if no one will, it is freed at once.
//
//go:nosplit
func becomeZombie(p int) {
	pp := pr(p)
	pp.state = psZombie
	parent := int(pp.parent)
	exitSeq++
	futexWakeKernel(uintptr(unsafe.Pointer(&exitSeq)))
	// Children of p are orphans now: nobody waits for them.
	for c := 1; c < maxProcs; c++ {
		if procPage[c] != 0 && c != p && pr(c).parent == int16(p) {
			pr(c).parent, pr(c).ppid = -1, 1
			if pr(c).state == psZombie {
				dropProcess(c)
			}
		}
	}
	switch {
	case parent == 0:
		// Children of the kernel stay zombies until the kernel's
		// spawner collects them (WaitProcess).
	case parent > 0 && procPage[parent] != 0 && pr(parent).state == psLive:
		wakeQueueRetry(pr(parent).childQ) // wait4 and waitid look again
		sendSignal(parent, sigCHLD)
	default:
		dropProcess(p)
	}
}

// Process counters for the kernel's process list (ps) and tests.
type ProcInfo struct {
	Pid, PPid  int32
	Name       string
	State      string
	Threads    int32
	ThreadsEv  int32
	Pages      uint64 // physical pages the address space holds (data and tables)
	Syscalls   uint64
	Faults     uint64
	ExitStatus uint32
	Killed     bool
	CPUNS      uint64 // counter time its threads ran, in ns (guest instructions under -icount shift=0)
}

// handSpaceToVforkChild gives the address space of process p to a live
// vfork child still running in it (as on Linux, where the child holds a
// reference to the mm): the two swap address spaces, ASIDs and shared
// mappings, so p is left with the child's own, never used, space; other
// such children follow the space to its new owner. It reports whether
// there was a child. (Not nosplit: the swap goes through the stack; it
// runs in the exec service's locked section.)
func handSpaceToVforkChild(p int) bool {
	pp := pr(p)
	k := -1
	for c := 1; c < maxProcs; c++ {
		if c != p && procPage[c] != 0 && pr(c).state == psLive && pr(c).asOwner == int16(p) {
			k = c
			break
		}
	}
	if k < 0 {
		return false
	}
	kp := pr(k)
	pp.as, kp.as = kp.as, pp.as
	pp.asid, kp.asid = kp.asid, pp.asid
	ttbrChanged()
	pp.fileMaps, kp.fileMaps = kp.fileMaps, pp.fileMaps
	for c := 1; c < maxProcs; c++ {
		if procPage[c] != 0 && pr(c).asOwner == int16(p) && c != p {
			pr(c).asOwner = int16(k)
		}
	}
	return true
}
