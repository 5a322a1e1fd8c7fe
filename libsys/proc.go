// Package libsys wraps armos's own system calls that are not about IPC or
// devices: the process list (ps, the serial shell).
package libsys

import (
	"fmt"
	"os"
	"runtime"
	"strings"
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
	Handles    int // descriptors it holds open
	Objects    int // the kernel's entry: kernel objects open system-wide
	Queued     int // messages waiting to be received on the channel ends it holds
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
		MemoryKiB: p.Pages * 4, Handles: int(p.Handles), Objects: int(p.Objects), Queued: int(p.Queued), CPU: time.Duration(p.CPUNS), Syscalls: p.Syscalls, Faults: p.Faults,
		Started: time.Duration(p.StartNS), ExitStatus: int(p.ExitStatus), Killed: p.Killed != 0}
}

// Uptime returns how long the calling process has run: CLOCK_MONOTONIC now
// less its start in the kernel's process list (exec included). A server
// prints it to show where a restart's time goes.
func Uptime() (time.Duration, error) {
	ps, err := Processes()
	if err != nil {
		return 0, err
	}
	var ts syscall.Timespec
	if err := clockMonotonic(&ts); err != nil {
		return 0, err
	}
	me := os.Getpid()
	for _, p := range ps {
		if p.Pid == me {
			return time.Duration(ts.Nano()) - p.Started, nil
		}
	}
	return 0, fmt.Errorf("libsys: pid %d is not in the process list", me)
}

// clockMonotonic reads CLOCK_MONOTONIC (the clock of ProcEntry.StartNS).
func clockMonotonic(ts *syscall.Timespec) error {
	const clockMonotonicID = 1
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonicID, uintptr(unsafe.Pointer(ts)), 0); e != 0 {
		return e
	}
	return nil
}

// Start is a process's start-up timeline: Uptime at main, at the stages
// it marks, and at ready.
type Start struct {
	main     time.Duration
	ok       bool
	stages   []stage
	tookOver bool // a standby's: main is when it took over
}

type stage struct {
	name string
	at   time.Duration
}

// StartTrace notes when main began (call it first thing in main).
func StartTrace() *Start {
	d, err := Uptime()
	return &Start{main: d, ok: err == nil}
}

// TookOver notes that a standby incarnation was handed its service now:
// the timeline counts from here.
func (s *Start) TookOver() {
	d, err := Uptime()
	s.main, s.ok, s.tookOver, s.stages = d, err == nil, true, nil
}

// Mark notes that a stage of start-up ended now.
func (s *Start) Mark(name string) {
	if d, err := Uptime(); err == nil {
		s.stages = append(s.stages, stage{name, d})
	}
}

// Ready returns how long after exec main began and how long after exec the
// process is ready now (ok false when the kernel's list was unreadable).
func (s *Start) Ready() (toMain, toReady time.Duration, ok bool) {
	d, err := Uptime()
	return s.main, d, s.ok && err == nil
}

// Line is Ready as one line for a server's console: "NAME: restart N:
// exec to main X ms, to serving Y ms (STAGE +Z ms, ...)" (empty when
// Ready is not ok).
func (s *Start) Line(name, restart string) string {
	_, r, ok := s.Ready()
	if !ok {
		return ""
	}
	return s.format(name, restart, r)
}

// format is Line with the time of ready given.
func (s *Start) format(name, restart string, r time.Duration) string {
	m := s.main
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var b strings.Builder
	if s.tookOver {
		fmt.Fprintf(&b, "%s: restart %s: a standby took over, serving %.1f ms later", name, restart, ms(r-m))
	} else {
		fmt.Fprintf(&b, "%s: restart %s: exec to main %.1f ms, to serving %.1f ms", name, restart, ms(m), ms(r))
	}
	prev := m
	for i, st := range s.stages {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(&b, "%s%s +%.1f", sep, st.name, ms(st.at-prev))
		prev = st.at
	}
	if len(s.stages) > 0 {
		fmt.Fprintf(&b, ", the rest +%.1f ms)", ms(r-prev))
	}
	b.WriteByte('\n')
	return b.String()
}
