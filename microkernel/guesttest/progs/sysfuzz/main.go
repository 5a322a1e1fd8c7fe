// Command sysfuzz is a hostile program: it makes random system calls (numbers
// 0..449, random arguments) to shake out kernel crashes, hangs and leaks.
// NEVER run it outside armos: not natively, and not under qemu-user, which
// passes the calls on to the host kernel.
//
// Usage:
//
//	sysfuzz [-seed S] [-count N] [-timeout D] [-v]
//
// Arguments are drawn from 0, small integers, -1, pointers into a scratch
// buffer the fuzzer owns (refilled with such values every 32 calls and
// fenced by PROT_NONE guard pages) and 64-bit garbage. Calls that would
// legitimately end or freeze the fuzzer itself are never made; exclude.go
// lists them with the reason for each. The sequence of calls depends only on
// the seed.
//
// Standard input, output and error are replaced by a pipe nobody drains, so
// random writes cannot flood the console; the fuzzer reports on a copy of
// the original standard output kept above the small descriptors it fuzzes,
// and the Go runtime prints crashes there too. It ends with
//
//	sysfuzz: N calls, K errors, E distinct errnos
//
// and exit status 0. If a call blocks, a watchdog stops the program after
// the -timeout: it names the blocked call, prints the same summary line for
// the calls completed, and exits with status 3.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const (
	scratchSize = 64 << 10 // bytes of scratch buffer
	refillEvery = 32       // calls between refills of the scratch buffer
	consoleFD   = 100      // lowest descriptor for the saved console
)

// stats is the fuzzing progress, shared with the watchdog.
type stats struct {
	mu      sync.Mutex
	calls   int                   // calls completed
	errors  int                   // calls that returned an error
	errnos  map[syscall.Errno]int // how often each errno was returned
	current Call                  // the call in progress
	started time.Time             // when it started
}

func main() {
	seed := flag.Uint64("seed", 1, "random seed: the same seed makes the same calls")
	count := flag.Int("count", 1000, "number of system calls to make")
	timeout := flag.Duration("timeout", 20*time.Second, "stop the program after this long in case a call blocks")
	verbose := flag.Bool("v", false, "print every call and its result")
	flag.Parse()

	console := sandboxStdio()
	report := func(format string, args ...any) { fmt.Fprintf(console, "sysfuzz: "+format+"\n", args...) }

	scratch, err := newScratch()
	if err != nil {
		report("scratch buffer: %v", err)
		os.Exit(1)
	}
	gen := NewGenerator(*seed, scratch.base, scratchSize)
	st := &stats{errnos: make(map[syscall.Errno]int)}
	report("seed %d, %d calls, scratch %#x+%#x", *seed, *count, scratch.base, scratchSize)

	time.AfterFunc(*timeout, func() {
		st.mu.Lock()
		c, n, since := st.current, st.calls+1, time.Since(st.started)
		st.mu.Unlock()
		report("watchdog: stopping after %v; call #%d has been running for %v: %s",
			*timeout, n, since.Round(time.Millisecond), describe(c))
		summary(report, st)
		os.Exit(3)
	})

	done := make(chan struct{})
	go func() {
		// One locked thread makes every call, so per-thread damage
		// (signal mask, affinity, credentials) stays on it.
		runtime.LockOSThread()
		fuzz(gen, scratch, *count, st, *verbose, report)
		close(done)
	}()
	<-done
	summary(report, st)
}

// fuzz makes count calls, recording them in st.
func fuzz(gen *Generator, s *scratch, count int, st *stats, verbose bool, report func(string, ...any)) {
	for i := range count {
		if i%refillEvery == 0 {
			s.refill(gen)
		}
		c := gen.Next()
		st.mu.Lock()
		st.current, st.started = c, time.Now()
		st.mu.Unlock()

		// Syscall6, not RawSyscall6: the call may block, and the runtime
		// must know so that the watchdog and the GC can still run.
		r, _, errno := syscall.Syscall6(c.Nr, c.Args[0], c.Args[1], c.Args[2], c.Args[3], c.Args[4], c.Args[5])

		st.mu.Lock()
		st.calls++
		if errno != 0 {
			st.errors++
			st.errnos[errno]++
		}
		st.mu.Unlock()
		if verbose {
			if errno != 0 {
				report("#%d %s = errno %d (%v)", i+1, describe(c), uintptr(errno), errno)
			} else {
				report("#%d %s = %#x", i+1, describe(c), r)
			}
		}
	}
}

// summary prints the final line (and, with few distinct errnos, which).
func summary(report func(string, ...any), st *stats) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var list []int
	for e := range st.errnos {
		list = append(list, int(e))
	}
	slices.Sort(list)
	report("errnos seen: %v", list)
	report("%d calls, %d errors, %d distinct errnos", st.calls, st.errors, len(st.errnos))
}

// describe formats a call as nr(args).
func describe(c Call) string {
	return fmt.Sprintf("%d(%#x, %#x, %#x, %#x, %#x, %#x)",
		c.Nr, c.Args[0], c.Args[1], c.Args[2], c.Args[3], c.Args[4], c.Args[5])
}

// sandboxStdio moves the console out of the fuzzer's reach and returns it:
// it keeps a copy of standard output at a descriptor >= consoleFD, sends the
// runtime's crash reports there, and points descriptors 0, 1 and 2 at a
// non-blocking pipe that nobody drains (writes fill it and then fail with
// EAGAIN; reads find nothing or the fuzzer's own garbage). If any step
// fails it says so and returns os.Stdout, unprotected.
func sandboxStdio() *os.File {
	fd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, 1, syscall.F_DUPFD_CLOEXEC, consoleFD)
	if errno != 0 {
		fmt.Printf("sysfuzz: cannot keep the console out of reach (fcntl: %v); fuzzing unprotected\n", errno)
		return os.Stdout
	}
	console := os.NewFile(fd, "console")

	// SetCrashOutput keeps its own copy of the console at the lowest
	// free descriptor: fill the small ones first so that it lands above
	// the small integers the fuzzer passes.
	var holders []int
	for {
		h, err := syscall.Dup(1)
		if err != nil || h >= smallMax {
			if err == nil {
				syscall.Close(h) // free again: SetCrashOutput's copy goes here
			}
			break
		}
		holders = append(holders, h)
	}
	if err := debug.SetCrashOutput(console, debug.CrashOptions{}); err != nil {
		fmt.Fprintf(console, "sysfuzz: SetCrashOutput: %v\n", err)
	}
	for _, h := range holders {
		syscall.Close(h)
	}

	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		fmt.Fprintf(console, "sysfuzz: pipe2: %v; fuzzing with the console on 0-2\n", err)
		return console
	}
	for _, d := range []struct{ from, to int }{{p[0], 0}, {p[1], 1}, {p[1], 2}} {
		if err := syscall.Dup3(d.from, d.to, 0); err != nil {
			fmt.Fprintf(console, "sysfuzz: dup3: %v\n", err)
		}
	}
	syscall.Close(p[0])
	syscall.Close(p[1])
	return console
}

// scratch is the buffer pointer arguments point into, with a PROT_NONE
// guard page on each side so that a long length stops at a fault instead of
// running into the fuzzer's own memory.
type scratch struct {
	region []byte // guard, buffer, guard
	buf    []byte // the buffer
	base   uintptr
}

func newScratch() (*scratch, error) {
	ps := syscall.Getpagesize()
	region, err := syscall.Mmap(-1, 0, scratchSize+2*ps, syscall.PROT_NONE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	buf := region[ps : ps+scratchSize]
	if err := syscall.Mprotect(buf, syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		return nil, fmt.Errorf("mprotect: %w", err)
	}
	return &scratch{region: region, buf: buf, base: uintptr(unsafe.Pointer(&buf[0]))}, nil
}

// refill fills the buffer with fresh random words. A fuzzed call may have
// taken the buffer away (shmdt of a segment attached over it, say): if the
// writes fault, the buffer is mapped afresh at the same address and filled
// again.
func (s *scratch) refill(gen *Generator) {
	if s.tryFill(gen) {
		return
	}
	_, _, errno := syscall.Syscall6(syscall.SYS_MMAP, s.base, scratchSize,
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|mapFixed, ^uintptr(0), 0)
	if errno != 0 || !s.tryFill(gen) {
		panic(fmt.Sprintf("sysfuzz: cannot restore the scratch buffer: %v", errno))
	}
}

// tryFill fills the buffer and reports whether it did so without a fault.
func (s *scratch) tryFill(gen *Generator) (ok bool) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	gen.Fill(s.buf)
	return true
}
