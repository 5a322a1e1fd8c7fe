//go:build linux

// Command sysbench measures what a process costs its operating system: a
// null system call, a thread switch, a pipe round trip between processes,
// a page fault, reading the clock, starting a process, and the memory an
// idle Go process holds. It is a plain static Go program (no /proc, no
// cgo), so the same binary runs as an armos process and on Linux, and the
// two are compared figure by figure (microkernel/guesttest/procbench_test.go).
//
// Usage:
//
//	sysbench all [-scale F]        every figure in turn
//	sysbench null [-n N]           getppid through syscall.RawSyscall
//	sysbench clock [-n N]          time.Now, time.Since, raw clock_gettime, a call
//	sysbench futex [-n N]          FUTEX_WAIT/FUTEX_WAKE ping-pong between 2 threads
//	sysbench pipe [-n N]           1-byte pipe ping-pong with a child process
//	sysbench msg [-n N]            1/64/1500-byte round trips and one-way messages
//	                               with a child: pipes, Unix sockets (Linux), IPC (armos)
//	sysbench fault [-n N]          first write to fresh anonymous pages
//	sysbench spawn [-n N]          os/exec start, start to child's main, start to wait
//	sysbench idlemem [-n N]        memory held by N idle child processes
//
// Every measuring subcommand also takes -scale F (multiply the default N).
// The defaults make each figure take about 1-3 s under QEMU TCG in the
// Linux reference guest (Debian's kernel with KPTI, the slowest there is):
// "all" takes about half a minute there.
//
// Child modes, run by the program itself through os/exec (os.Args[0], as
// there is no /proc for os.Executable):
//
//	sysbench exit                  exit 0, the first thing main does
//	sysbench stamp                 print CLOCK_MONOTONIC at main entry, exit
//	sysbench echo                  answer each byte on fd 0 with it plus one on fd 1
//	sysbench idle [-d D]           print "ready", then sleep D (default 1h)
//	sysbench echomsg IN OUT        answer each message read on fd IN with itself on fd OUT
//	sysbench sinkunix              count messages on fd 3, answer a 1-byte one with the count
//	sysbench ipcsrv                armos: answer calls on channel fd 3, count messages
//
// Each measurement prints one machine-readable line,
//
//	sysbench: NAME N ops T ns T/N ns/op
//
// (idlemem: "sysbench: NAME N procs K KiB K/N KiB/proc"), and a failed one
// "sysbench: FAIL NAME: REASON"; the exit status is 1 if any failed.
// Timing uses time.Now's monotonic clock around the loop of N operations,
// after an untimed warm-up (a tenth of N) that lets QEMU translate the
// code first.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// A figure is one measuring subcommand.
type figure struct {
	name string
	// defaultN is the operation count at -scale 1 (processes for idlemem).
	defaultN int
	run      func(n int) error
	help     string
}

// figures are the measuring subcommands, in the order "all" runs them.
var figures = []figure{
	{"null", 200_000, benchNull, "getppid via syscall.RawSyscall"},
	{"clock", 200_000, benchClock, "time.Now, time.Since, a noinline call (N each), raw clock_gettime(CLOCK_MONOTONIC) (N/2)"},
	{"futex", 10_000, benchFutex, "FUTEX_WAIT/FUTEX_WAKE ping-pong between two locked threads (op = round trip)"},
	{"pipe", 3_000, benchPipe, "1-byte ping-pong with a child over blocking pipes, and over Go's polled os.Pipe (op = round trip)"},
	{"msg", 3_000, benchMsg, "1/64/1500-byte round trips with a child over pipes, Unix seqpacket sockets (Linux) or armos IPC calls, and one-way messages (op = round trip or message)"},
	{"fault", 50_000, benchFault, "first write to each page of fresh anonymous mappings (op = page)"},
	{"spawn", 40, benchSpawn, "os/exec Start, Start to the child's main, Start to Wait of a child that exits at once"},
	{"idlemem", 16, benchIdleMem, "free memory taken by N idle child processes (op = process)"},
}

// failed is set when any measurement fails.
var failed bool

func main() {
	// The child modes come first, before any work: "exit" measures the
	// cost of a process that does nothing at all in main.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "exit":
			os.Exit(0)
		case "stamp":
			stamp()
			return
		case "echo":
			os.Exit(echo())
		case "idle":
			os.Exit(idle(os.Args[2:]))
		case "echomsg":
			in, _ := strconv.Atoi(os.Args[2])
			out, _ := strconv.Atoi(os.Args[3])
			os.Exit(echoMsg(in, out))
		case "sinkunix":
			os.Exit(sinkUnix())
		case "ipcsrv":
			os.Exit(ipcServe())
		}
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet("sysbench "+cmd, flag.ExitOnError)
	n := fs.Int("n", 0, "operations (processes for idlemem); 0 means the default times -scale")
	scale := fs.Float64("scale", 1, "multiply every default operation count")
	_ = fs.Parse(args)
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "sysbench %s: unexpected arguments %q\n", cmd, fs.Args())
		os.Exit(2)
	}
	count := func(f figure) int {
		if *n > 0 {
			return *n
		}
		return max(1, int(float64(f.defaultN)**scale))
	}
	run := figures
	if cmd != "all" {
		i := indexOf(cmd)
		if i < 0 {
			usage()
			os.Exit(2)
		}
		run = figures[i : i+1]
	}
	info()
	start := time.Now()
	for _, f := range run {
		measure(f, count(f))
	}
	if cmd == "all" {
		fmt.Printf("sysbench: all done in %.1f ms\n", ms(time.Since(start)))
	}
	if failed {
		os.Exit(1)
	}
}

func indexOf(name string) int {
	for i, f := range figures {
		if f.name == name {
			return i
		}
	}
	return -1
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: sysbench all|SUBCOMMAND [-n N] [-scale F]")
	for _, f := range figures {
		fmt.Fprintf(os.Stderr, "  %-8s %s (default -n %d)\n", f.name, f.help, f.defaultN)
	}
	fmt.Fprintln(os.Stderr, "child modes: exit, stamp, echo, idle [-d D], echomsg IN OUT, sinkunix, ipcsrv")
}

// info prints what the figures depend on.
func info() {
	fmt.Printf("sysbench: info %s %s/%s gomaxprocs %d numcpu %d pagesize %d\n", runtime.Version(),
		runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(), os.Getpagesize())
}

// measure runs one figure, reporting a failure instead of stopping.
func measure(f figure, n int) {
	if err := f.run(n); err != nil {
		failed = true
		fmt.Printf("sysbench: FAIL %s: %s\n", f.name, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
}

// report prints the line of a timed measurement of n operations.
func report(name string, n int, d time.Duration) {
	fmt.Printf("sysbench: %s %d ops %d ns %.1f ns/op\n", name, n, d.Nanoseconds(), float64(d.Nanoseconds())/float64(n))
}

// warmup is the untimed run before a timed loop of n operations.
func warmup(n int) int { return max(1, n/10) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
