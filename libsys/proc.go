// Package libsys wraps armos's own system calls that are not about IPC or
// devices: the process list (ps, the serial shell).
package libsys

import (
	"fmt"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"armos/abi"
)

// Process is one process as the kernel reports it.
type Process struct {
	Pid, PPid  int
	Name       string
	State      string // "running", "exiting", "zombie"
	Threads    int
	MemoryKiB  uint64        // its address space's pages
	CPU        time.Duration // time its threads ran
	Syscalls   uint64
	Faults     uint64
	Started    time.Duration // CLOCK_MONOTONIC when it started (time since boot)
	ExitStatus int
	Killed     bool
}

// Processes returns every process, the kernel first.
func Processes() ([]Process, error) {
	buf := make([]abi.ProcEntry, 64)
	for {
		n, _, e := syscall.RawSyscall(abi.SysProcList, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
		runtime.KeepAlive(buf)
		if e != 0 {
			return nil, fmt.Errorf("libsys: armos_proc_list: %w", e)
		}
		if int(n) > len(buf) {
			buf = make([]abi.ProcEntry, n+8)
			continue
		}
		out := make([]Process, 0, n)
		for _, p := range buf[:n] {
			out = append(out, fromEntry(p))
		}
		return out, nil
	}
}

func fromEntry(p abi.ProcEntry) Process {
	name := p.Name[:]
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	state := map[uint32]string{abi.ProcLive: "running", abi.ProcDying: "exiting", abi.ProcZombie: "zombie"}[p.State]
	return Process{Pid: int(p.Pid), PPid: int(p.PPid), Name: string(name), State: state, Threads: int(p.Threads),
		MemoryKiB: p.Pages * 4, CPU: time.Duration(p.CPUNS), Syscalls: p.Syscalls, Faults: p.Faults,
		Started: time.Duration(p.StartNS), ExitStatus: int(p.ExitStatus), Killed: p.Killed != 0}
}
