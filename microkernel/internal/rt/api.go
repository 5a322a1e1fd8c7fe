package rt

import (
	"errors"

	"armos/microkernel/internal/mm"
)

// The process API for ordinary kernel Go code (package proc: the loader,
// the spawner, the system-call services). Every function takes the kernel
// lock for short, bounded steps.

// Limits bounds what a process may hold.
type Limits struct {
	Pages   uint64 // physical pages of memory (data and tables); 0: no limit
	Threads int32  // threads at once; 0: the default
}

// Errors of the process API.
var (
	ErrNoSlot   = errors.New("rt: process table full")
	ErrNoMemory = errors.New("rt: out of memory")
	ErrBusy     = errors.New("rt: the process has started already")
)

// errnoErr converts a newProcess errno into an error.
func errnoErr(e int) error {
	if e == ENOMEM {
		return ErrNoMemory
	}
	return ErrNoSlot
}

// NewProcess creates a process (a child of the kernel, no threads yet)
// whose descriptors 0-2 are the console and whose address space holds
// only the kernel window and the shared user pages. The loader fills it
// (WithSpace) and StartProcess runs it.
func NewProcess(name string, lim Limits) (int32, error) {
	var pid int32
	var err error
	Locked(func() {
		p, _, e := newProcess(0, name)
		if p < 0 {
			err = errnoErr(e)
			return
		}
		pp := pr(p)
		pp.as.Limit = lim.Pages
		if lim.Threads > 0 {
			pp.threadLimit = lim.Threads
		}
		for fd := 0; fd < 3; fd++ {
			getObject(consoleObj)
			installFd(p, fd, consoleObj, false)
		}
		pid = pp.pid
	})
	return pid, err
}

// WithSpace runs fn under the kernel lock on the address space live
// process pid owns (which it may not run in yet: a vfork child execing).
// fn must follow the locked-section rules (lock.go): keep each call short
// (the loader copies one chunk per call).
func WithSpace(pid int32, fn func(as *mm.AddressSpace) mm.Errno) error {
	return withProcess(pid, func(p int) error {
		if e := fn(&pr(p).as); e != mm.OK {
			return e
		}
		return nil
	})
}

// SpaceInvalidate returns the TLB invalidation for the address space
// process pid owns, for mm calls made through WithSpace.
func SpaceInvalidate(pid int32) mm.Invalidate {
	return func(va, size uint64) {
		if p := findPid(pid); p >= 0 {
			invalidate(p, va, size)
		}
	}
}

// StartProcess starts process pid's first thread at entry with stack
// pointer sp.
func StartProcess(pid int32, entry, sp uint64) error {
	return withProcess(pid, func(p int) error {
		i := findTid(pid)
		if i < 0 || th(i).state != tsNew {
			return ErrBusy
		}
		t := th(i)
		t.regs.PC, t.regs.SP, t.regs.PSTATE = entry, sp, pstateEL0t
		makeRunnable(i)
		return nil
	})
}

// ExitInfo is how a process ended.
type ExitInfo struct {
	Pid    int32
	Status int  // exit status (exited normally)
	Signal int  // the signal that killed it (0 if it exited)
	Killed bool // ended by a signal
	// Counters of its life.
	Syscalls  uint64
	Faults    uint64
	ThreadsEv int32
}

// Code returns the status a shell would report: the exit status, or 128
// plus the signal.
func (e ExitInfo) Code() int {
	if e.Killed {
		return 128 + e.Signal
	}
	return e.Status
}

// Kill ends process pid as signal sig would (the default action of a
// fatal signal, or SIGKILL); a process that has not started is freed.
func Kill(pid int32, sig int) error {
	return withProcess(pid, func(p int) error {
		if i := findTid(pid); i >= 0 && th(i).state == tsNew {
			exitProcess(p, uint32(sig), true) // never started
			return nil
		}
		sendSignal(p, uint64(sig))
		return nil
	})
}

// WaitProcess waits until process pid (a child of the kernel) has ended
// and its memory is back, frees its slot and returns how it ended.
func WaitProcess(pid int32) (ExitInfo, error) {
	for {
		var info ExitInfo
		var seen uint32
		done := false
		var err error
		Locked(func() {
			seen = exitSeq
			p := findPid(pid)
			if p < 0 || pr(p).parent != 0 {
				err = ErrNoProcess
				return
			}
			pp := pr(p)
			if pp.state != psZombie {
				return
			}
			info = ExitInfo{Pid: pid, Killed: pp.killed, Syscalls: pp.syscalls, Faults: pp.faults, ThreadsEv: pp.threadsEv}
			if pp.killed {
				info.Signal = int(pp.exitStatus & 0x7f)
			} else {
				info.Status = int(pp.exitStatus>>8) & 0xff
			}
			dropProcess(p)
			done = true
		})
		if err != nil {
			return ExitInfo{}, err
		}
		if done {
			return info, nil
		}
		futexWaitWord(&exitSeq, seen)
	}
}

// RunReaper tears down dying processes forever, one bounded step per
// kernel-lock hold. Run it in its own goroutine.
func RunReaper() {
	for {
		var seen uint32
		more := true
		for more {
			Locked(func() {
				seen = dyingSeq
				more = reapStep()
			})
		}
		futexWaitWord(&dyingSeq, seen)
	}
}

// ProcessList returns the process table (the kernel first).
func ProcessList() []ProcInfo {
	out := make([]ProcInfo, 0, 16)
	var infos [maxProcs]ProcInfo
	var names [maxProcs][16]byte
	n := 0
	Locked(func() {
		for p := 0; p < maxProcs; p++ {
			if procPage[p] == 0 {
				continue
			}
			pp := pr(p)
			infos[n] = ProcInfo{Pid: pp.pid, PPid: pp.ppid, State: stateName(pp.state), Threads: pp.nthreads,
				ThreadsEv: pp.threadsEv, Pages: space(p).OwnedPages(), Syscalls: pp.syscalls,
				Faults: pp.faults, ExitStatus: pp.exitStatus, Killed: pp.killed, CPUNS: ticksToNS(pp.cpu)}
			names[n] = pp.name
			n++
		}
	})
	for i := 0; i < n; i++ {
		infos[i].Name = cstringOf(names[i][:])
		out = append(out, infos[i])
	}
	return out
}

// CPUTimes returns the counter time since boot and the part of it in
// which nothing ran (the idle loop), in ns; ProcessList gives each
// process's part. Under -icount shift=0 busy time is guest instructions.
func CPUTimes() (nowNS, idleNS uint64) {
	Locked(func() {
		nowNS, idleNS = ticksToNS(now()), ticksToNS(idleTicks)
	})
	return nowNS, idleNS
}

func stateName(s uint8) string {
	switch s {
	case psLive:
		return "running"
	case psDying:
		return "exiting"
	case psZombie:
		return "zombie"
	}
	return "free"
}

func cstringOf(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// PagesInUse returns the pages the page allocator has handed out.
func PagesInUse() uint64 {
	var n uint64
	Locked(func() { n = physPages.Stats().Used })
	return n
}

// HWCAP returns the AT_HWCAP value for processes (what the CPU has, as
// Linux derives it).
func HWCAP() uint64 { return hwcapValue }

var hwcapValue uint64

// ExecBegin prepares the process waiting in execve call c for a new
// image: its other threads end; a vfork child builds in its own (empty)
// address space while still running in its parent's; any other process's
// address space is emptied. It returns the pid to load into (WithSpace).
func ExecBegin(c ServiceCall) (int32, error) {
	var err error
	// Every other thread goes (exec keeps only the caller), a bounded
	// number per locked step.
	for more := true; more && err == nil; {
		Locked(func() {
			i := serviceThread(c.Tid)
			if i < 0 {
				err = ErrNoProcess
				return
			}
			pp := pr(int(th(i).proc))
			j := int(pp.threadHead)
			for k := 0; k < reapThreads && pp.nthreads > 1; k++ {
				if j == i {
					j = int(th(j).pnext)
				}
				next := int(th(j).pnext)
				freeThread(j)
				j = next
			}
			more = pp.nthreads > 1
			if !more && pp.asOwner == int16(th(i).proc) {
				pp.reapAt = mm.UserLow // emptied step by step below
			}
		})
	}
	if err != nil {
		return 0, err
	}
	// A vfork child still running in this address space keeps it: the
	// new image goes into the child's own space (emptied below all the
	// same: it may hold the vDSO pages, which are mapped afresh).
	err = withProcess(c.Pid, func(p int) error {
		// Its posted receive buffers are in the image that goes: end
		// the postings, and copy the messages in them back first.
		unpostAll(p)
		if pr(p).asOwner == int16(p) {
			handSpaceToVforkChild(p)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// Empty an owned address space in bounded steps.
	for more := true; more && err == nil; {
		err = withProcess(c.Pid, func(p int) error {
			pp := pr(p)
			if pp.asOwner != int16(p) || pp.reapAt >= mm.UserHigh {
				more = false
				return nil
			}
			var b mm.FreeBatch
			n, next, e := pp.as.PT.UnmapRangeBatch(pp.reapAt, mm.UserHigh-pp.reapAt, &b)
			if n != 0 || b.Len() != 0 {
				invalidate(p, pp.reapAt, next-pp.reapAt)
			}
			b.Release(&physPages)
			if e == mm.ErrBatchFull {
				pp.reapAt = next
				return nil
			}
			pp.reapAt = mm.UserHigh
			lo, hi := pp.as.VMAs.Bounds()
			pp.as.VMAs.Init(lo, hi)
			resetFileMaps(pp)
			if e := mapUserPages(&pp.as); e != mm.OK {
				return e
			}
			more = false
			return nil
		})
	}
	return c.Pid, err
}

// ExecCommit switches the process of execve call c to its new image: it
// runs in its own address space from entry with stack pointer sp, its
// close-on-exec descriptors close, caught signals revert to their default
// action, it takes name, and a vfork parent waiting for it resumes.
func ExecCommit(c ServiceCall, name string, entry, sp uint64) error {
	var err error
	Locked(func() {
		i := serviceThread(c.Tid)
		if i < 0 {
			err = ErrNoProcess
			return
		}
		p := int(th(i).proc)
		pp := pr(p)
		vforked := pp.asOwner != int16(p)
		pp.asOwner = int16(p)
		ttbrChanged()
		if vforked {
			// The vfork parent's address space is free to go, if the
			// parent has ended meanwhile: the reaper looks again.
			wakeReaper()
		}
		closeOnExec(p)
		for s := range pp.sigact {
			if pp.sigact[s].Handler != sigIgnore {
				pp.sigact[s] = sigaction{}
			}
		}
		pp.sigPending = 0
		setName(pp, name)
		t := th(i)
		fpRelease(i) // (trapfp.go)
		t.regs = Frame{}
		t.regs.PC, t.regs.SP, t.regs.PSTATE = entry, sp, pstateEL0t
		t.tls = 0
		t.sigs = sigState{alt: stackT{Flags: ssDisable}}
		t.clearTID = 0
		unlink(i)
		makeRunnable(i)
		if vforked {
			releaseVfork(p, -1)
		}
	})
	return err
}

// ProcessName returns the name of process pid.
func ProcessName(pid int32) string {
	var n [16]byte
	withProcess(pid, func(p int) error { n = pr(p).name; return nil })
	return cstringOf(n[:])
}
