//go:build linux

package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// System calls that stay in one thread: the null call, the clock, and
// page faults.

// benchNull times getppid, the cheapest call that really enters the
// kernel (getpid may be cached by a C library; Go never caches either).
// RawSyscall skips the Go scheduler's entersyscall/exitsyscall, so the
// figure is the kernel's round trip plus a few instructions.
func benchNull(n int) error {
	ppid := os.Getppid()
	loop := func(n int) error {
		for range n {
			if r, _, e := syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0); e != 0 || int(r) != ppid {
				return fmt.Errorf("getppid: got %d, errno %d, want %d", r, e, ppid)
			}
		}
		return nil
	}
	if err := loop(warmup(n)); err != nil {
		return err
	}
	start := time.Now()
	err := loop(n)
	report("null", n, time.Since(start))
	return err
}

// sink keeps the compiler from dropping loops whose results nobody uses.
var sink int64

// call is the baseline the clock is judged against: a plain Go function
// call that cannot be inlined.
//
//go:noinline
func call(a, b int64) int64 { return a + b }

// clockMonotonic is the raw syscall's clock id (CLOCK_MONOTONIC).
const clockMonotonic = 1

// rawTS is where the raw clock_gettime writes (a global, so the loop does
// not allocate).
var rawTS syscall.Timespec

// rawMonotonic reads CLOCK_MONOTONIC through the system call itself,
// never the vDSO.
func rawMonotonic() (time.Duration, error) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic,
		uintptr(unsafe.Pointer(&rawTS)), 0); e != 0 {
		return 0, e
	}
	return time.Duration(rawTS.Nano()), nil
}

// benchClock times four ways of asking the time, n each:
//
//   - clock-now: time.Now, which on linux/arm64 reads CLOCK_REALTIME and
//     CLOCK_MONOTONIC (two vDSO calls when there is a vDSO, else two
//     system calls);
//   - clock-mono: time.Since, one CLOCK_MONOTONIC read through the
//     runtime (vDSO or system call);
//   - clock-raw: clock_gettime(CLOCK_MONOTONIC) as a raw system call
//     (n/2 of them: they cost as much as a null call);
//   - call: a noinline Go function call, the baseline (10n: it is cheap).
//
// It also prints "sysbench: clock-mono/call R" so "reading the clock
// costs within 2x of a function call" can be read off directly.
func benchClock(n int) error {
	var t0 time.Time
	now := func(n int) {
		for range n {
			t0 = time.Now()
		}
	}
	base := time.Now()
	mono := func(n int) {
		var d time.Duration
		for range n {
			d += time.Since(base)
		}
		sink += int64(d)
	}
	raw := func(n int) error {
		for range n {
			if _, err := rawMonotonic(); err != nil {
				return fmt.Errorf("clock_gettime: %v", err)
			}
		}
		return nil
	}
	calls := func(n int) {
		var s int64
		for i := range n {
			s = call(s, int64(i))
		}
		sink += s
	}

	now(warmup(n))
	start := time.Now()
	now(n)
	report("clock-now", n, time.Since(start))
	sink += t0.UnixNano()

	mono(warmup(n))
	start = time.Now()
	mono(n)
	dMono := time.Since(start)
	report("clock-mono", n, dMono)

	nr := max(1, n/2)
	if err := raw(warmup(nr)); err != nil {
		return err
	}
	start = time.Now()
	if err := raw(nr); err != nil {
		return err
	}
	report("clock-raw", nr, time.Since(start))

	nc := 10 * n
	calls(warmup(nc))
	start = time.Now()
	calls(nc)
	dCall := time.Since(start)
	report("call", nc, dCall)
	if dCall > 0 {
		fmt.Printf("sysbench: clock-mono/call %.2f\n", (float64(dMono)/float64(n))/(float64(dCall)/float64(nc)))
	}
	return nil
}

// faultBatch is how many pages one mapping holds: 4 MiB of 4 KiB pages,
// so the figure's memory stays small whatever n is.
const faultBatch = 1024

// benchFault maps fresh anonymous memory a batch at a time, writes one
// byte to each page (a page fault that allocates and zeroes a page and
// maps it) and unmaps it again. It reports the write loop per page as
// "fault" and munmap of the touched batch per page as "munmap".
// Transparent huge pages are refused with madvise, so every page faults
// (the advice is ignored where unsupported).
func benchFault(n int) error {
	page := os.Getpagesize()
	var faults, unmaps time.Duration
	batch := func(pages int, timed bool) error {
		mem, err := syscall.Mmap(-1, 0, pages*page, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			return fmt.Errorf("mmap %d pages: %v", pages, err)
		}
		_ = syscall.Madvise(mem, syscall.MADV_NOHUGEPAGE)
		start := time.Now()
		for off := 0; off < len(mem); off += page {
			mem[off] = 1
		}
		mid := time.Now()
		if err := syscall.Munmap(mem); err != nil {
			return fmt.Errorf("munmap: %v", err)
		}
		if timed {
			faults += mid.Sub(start)
			unmaps += time.Since(mid)
		}
		return nil
	}
	if err := batch(min(faultBatch, warmup(n)), false); err != nil {
		return err
	}
	for done := 0; done < n; done += faultBatch {
		if err := batch(min(faultBatch, n-done), true); err != nil {
			return err
		}
	}
	report("fault", n, faults)
	report("munmap", n, unmaps)
	return nil
}
