//go:build linux

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Processes: starting one, and the memory an idle one holds.

// stamp is the "stamp" child: it prints CLOCK_MONOTONIC (the raw system
// call, the same clock the parent reads) as the first thing main does.
func stamp() {
	t, err := rawMonotonic()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sysbench stamp:", err)
		os.Exit(1)
	}
	fmt.Printf("stamp %d\n", t.Nanoseconds())
}

// idle is the "idle" child: it says it is ready on stdout, then sleeps.
func idle(args []string) int {
	fs := flag.NewFlagSet("sysbench idle", flag.ExitOnError)
	d := fs.Duration("d", time.Hour, "how long to sleep")
	_ = fs.Parse(args)
	fmt.Printf("sysbench: idle pid %d ready\n", os.Getpid())
	time.Sleep(*d)
	return 0
}

// self returns a command that runs this program in a child mode. Its
// standard files are the parent's (no /dev/null needed).
func self(args ...string) *exec.Cmd {
	return &exec.Cmd{
		Path:   os.Args[0],
		Args:   append([]string{os.Args[0]}, args...),
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}
}

// benchSpawn starts n children of three kinds after a few untimed ones:
//
//   - spawn-start: how long cmd.Start takes to return (Go's fork or
//     vfork, then execve of the child, which Start waits for);
//   - spawn-wait: cmd.Start to cmd.Wait returning, for a child whose main
//     exits at once (so: creation, exec, the Go runtime's start-up, exit
//     and reaping);
//   - spawn-main: cmd.Start to the child's main, from CLOCK_MONOTONIC read
//     by the parent before Start and by the child first thing in main.
func benchSpawn(n int) error {
	var started, waited time.Duration
	exitOnce := func(timed bool) error {
		cmd := self("exit")
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting %s exit: %v", os.Args[0], err)
		}
		t1 := time.Now()
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("child %s exit: %v", os.Args[0], err)
		}
		if timed {
			started += t1.Sub(t0)
			waited += time.Since(t0)
		}
		return nil
	}
	var toMain time.Duration
	stampOnce := func(timed bool) error {
		cmd := self("stamp")
		cmd.Stdout = nil
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		t0, err := rawMonotonic()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting %s stamp: %v", os.Args[0], err)
		}
		line, rerr := io.ReadAll(out)
		if err := errors.Join(rerr, cmd.Wait()); err != nil {
			return fmt.Errorf("child %s stamp: %v", os.Args[0], err)
		}
		f := strings.Fields(string(line))
		if len(f) != 2 || f[0] != "stamp" {
			return fmt.Errorf("child %s stamp printed %q", os.Args[0], line)
		}
		t, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return fmt.Errorf("child %s stamp printed %q", os.Args[0], line)
		}
		if t < t0.Nanoseconds() {
			return fmt.Errorf("the child's main (%d ns) came before its start (%d ns): not one monotonic clock",
				t, t0.Nanoseconds())
		}
		if timed {
			toMain += time.Duration(t) - t0
		}
		return nil
	}
	for i := range warmup(n) + n {
		if err := exitOnce(i >= warmup(n)); err != nil {
			return err
		}
	}
	for i := range warmup(n) + n {
		if err := stampOnce(i >= warmup(n)); err != nil {
			return err
		}
	}
	report("spawn-start", n, started)
	report("spawn-wait", n, waited)
	report("spawn-main", n, toMain)
	return nil
}

// idleSettle is how long idle children (and the parent) get to finish
// starting up before memory is counted.
const idleSettle = 300 * time.Millisecond

// Free memory is read once it has settled: two readings settleStep apart
// within settleSlack of each other, or the last reading after
// settleLimit. (A kernel may free the pages of ended processes a while
// after they were reaped, and a Go runtime returns memory in the
// background.)
const (
	settleStep  = 100 * time.Millisecond
	settleSlack = 32 // KiB
	settleLimit = 5 * time.Second
)

// settledFreeKiB is freeKiB once it stops moving.
func settledFreeKiB() (int64, error) {
	prev, err := freeKiB()
	if err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(settleLimit); time.Now().Before(deadline); {
		time.Sleep(settleStep)
		cur, err := freeKiB()
		if err != nil {
			return 0, err
		}
		if d := cur - prev; d >= -settleSlack && d <= settleSlack {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// freeKiB is the free RAM the kernel reports through sysinfo(2)
// (MemFree on Linux, the free page count on armos). Linux keeps the count
// per CPU and folds it into the total now and then (about once a second,
// less on an idle machine): reading /proc/sys/vm/stat_refresh (root only;
// absent elsewhere, which is fine) folds it now.
func freeKiB() (int64, error) {
	_, _ = os.ReadFile("/proc/sys/vm/stat_refresh")
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0, fmt.Errorf("sysinfo: %v", err)
	}
	unit := uint64(si.Unit)
	if unit == 0 {
		unit = 1
	}
	return int64(si.Freeram * unit / 1024), nil
}

// procMem is what /proc/PID/status says of a process's memory, in KiB.
type procMem struct {
	rss  int64 // VmRSS: resident pages, shared file pages (text) included
	anon int64 // RssAnon + VmPTE: its own anonymous pages and page tables
}

// procStatus reads a process's memory from /proc/PID/status (Linux; on a
// system without /proc it fails and the figures are left out).
func procStatus(pid int) (procMem, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	seen := 0
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			m.rss = v
			seen |= 1
		case "RssAnon:":
			m.anon += v
			seen |= 2
		case "VmPTE:":
			m.anon += v
			seen |= 4
		}
	}
	if seen != 7 {
		return procMem{}, errors.New("no VmRSS, RssAnon or VmPTE")
	}
	return m, nil
}

// idleChild is a started "idle" child.
type idleChild struct {
	cmd *exec.Cmd
}

// startIdle starts an idle child and waits until its main runs.
func startIdle() (*idleChild, error) {
	cmd := self("idle", "-d", "1h")
	cmd.Stdout = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s idle: %v", os.Args[0], err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, " ready") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("idle child said %q: %v", line, err)
	}
	return &idleChild{cmd: cmd}, nil
}

// stop kills the child and reaps it. (wait4's ru_maxrss is no use here:
// after a vfork Linux charges the child with the parent's peak too.)
func (c *idleChild) stop() error {
	_ = c.cmd.Process.Kill()
	err := c.cmd.Wait()
	st := c.cmd.ProcessState
	if st == nil {
		return err
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("idle child ended with %v, want SIGKILL", st)
	}
	return nil
}

// benchIdleMem measures what n idle Go processes (started, main reached,
// then asleep) take from the system: free RAM (sysinfo) before starting
// them less free RAM once they are all up, per process, each reading
// taken once free RAM has settled (settledFreeKiB). That counts
// everything the kernel spends on them (user pages, page tables, kernel
// stacks, process structures), the same way on every OS. Where the kernel
// has /proc it also reports the children's VmRSS as idlemem-rss (user
// pages, shared text included) and RssAnon + VmPTE as idlemem-anon (each
// child's own pages and page tables: where the rest of idlemem goes is the
// kernel's). An untimed
// first child warms up the parent (its os/exec and pipe paths) so its own
// growth is not counted.
func benchIdleMem(n int) error {
	warm, err := startIdle()
	if err != nil {
		return err
	}
	if err := warm.stop(); err != nil {
		return err
	}
	runtime.GC()
	time.Sleep(idleSettle)
	before, err := settledFreeKiB()
	if err != nil {
		return err
	}
	var kids []*idleChild
	stopAll := func() error {
		var err error
		for _, c := range kids {
			err = errors.Join(err, c.stop())
		}
		kids = nil
		return err
	}
	for range n {
		c, err := startIdle()
		if err != nil {
			return errors.Join(err, stopAll())
		}
		kids = append(kids, c)
	}
	time.Sleep(idleSettle)
	with, err := settledFreeKiB()
	if err != nil {
		return errors.Join(err, stopAll())
	}
	var mem procMem
	rssOK := true
	for _, c := range kids {
		m, err := procStatus(c.cmd.Process.Pid)
		mem.rss += m.rss
		mem.anon += m.anon
		rssOK = rssOK && err == nil
	}
	if err := stopAll(); err != nil {
		return err
	}
	after, err := settledFreeKiB()
	if err != nil {
		return err
	}
	fmt.Printf("sysbench: idlemem free %d KiB before, %d KiB with %d idle children, %d KiB after they ended\n",
		before, with, n, after)
	reportKiB("idlemem", n, before-with)
	if rssOK {
		reportKiB("idlemem-rss", n, mem.rss)
		reportKiB("idlemem-anon", n, mem.anon)
	}
	return nil
}

// reportKiB prints the line of a memory measurement over n processes.
func reportKiB(name string, n int, kib int64) {
	fmt.Printf("sysbench: %s %d procs %d KiB %.1f KiB/proc\n", name, n, kib, float64(kib)/float64(n))
}
