package rt

import (
	"unsafe"

	"armos/abi"
)

// The process list for user space (ps, the serial shell): armos_proc_list
// copies one abi.ProcEntry per process, the kernel first.

// procEntrySize is abi.ProcEntry's size, fixed by the ABI.
const procEntrySize = 96

var _ [procEntrySize - unsafe.Sizeof(abi.ProcEntry{})]struct{}
var _ [unsafe.Sizeof(abi.ProcEntry{}) - procEntrySize]struct{}

// armos_proc_list(*[n]ProcEntry, n)
func sysProcListFn(tf *Frame) uint64 {
	va, n := tf.X[0], tf.X[1]
	if n > maxProcs {
		n = maxProcs
	}
	count := uint64(0)
	for p := 0; p < maxProcs; p++ {
		if procPage[p] == 0 {
			continue
		}
		if count < n {
			pp := pr(p)
			e := abi.ProcEntry{Pid: pp.pid, PPid: pp.ppid, State: procState(pp.state), Threads: pp.nthreads,
				Pages: space(p).OwnedPages(), CPUNS: ticksToNS(pp.cpu), Syscalls: pp.syscalls, Faults: pp.faults,
				StartNS: ticksToNS(pp.spawned), Name: pp.name, ExitStatus: pp.exitStatus}
			if pp.killed {
				e.Killed = 1
			}
			for i := range pp.fds {
				o := pp.fds[i].obj
				if o < 0 {
					continue
				}
				e.Handles++
				if objs[o].kind == objChannel && firstFdOf(pp, i, o) {
					e.Queued += uint32(objs[o].mn)
				}
			}
			if p == 0 {
				for i := range objs {
					if objs[i].kind != objFree {
						e.Objects++
					}
				}
			}
			if !copyOut(va+count*procEntrySize, bytesOf(unsafe.Pointer(&e), procEntrySize)) {
				return errno(EFAULT)
			}
		}
		count++
	}
	return count
}

// firstFdOf reports whether fd is the lowest descriptor of process pp
// naming object o (an object is counted once per process).
//
//go:nosplit
func firstFdOf(pp *process, fd int, o int32) bool {
	for i := 0; i < fd; i++ {
		if pp.fds[i].obj == o {
			return false
		}
	}
	return true
}

// procState is a process state as abi.ProcEntry names it.
//
//go:nosplit
func procState(s uint8) uint32 {
	switch s {
	case psLive:
		return abi.ProcLive
	case psDying:
		return abi.ProcDying
	}
	return abi.ProcZombie
}
