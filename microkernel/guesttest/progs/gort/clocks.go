package main

import (
	"bytes"
	"crypto/rand"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"armos/microkernel/guesttest/progs/check"
)

// Clock IDs of clock_gettime(2); the syscall package does not name them.
const (
	clockRealtime  = 0
	clockMonotonic = 1
)

// y2020 is 2020-01-01T00:00:00Z in seconds since the Unix epoch.
const y2020 = 1577836800

// clockGettime reads a clock with the clock_gettime system call itself,
// bypassing the vDSO that time.Now may use.
func clockGettime(id int) (syscall.Timespec, error) {
	var ts syscall.Timespec
	_, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, uintptr(id), uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return ts, errno
	}
	return ts, nil
}

// monotonic returns CLOCK_MONOTONIC read by the system call, failing the
// check if the call fails.
func monotonic(t *check.T) time.Duration {
	ts, err := clockGettime(clockMonotonic)
	if err != nil {
		t.Fatalf("clock_gettime(CLOCK_MONOTONIC): %v", err)
	}
	return time.Duration(ts.Nano())
}

// checkClockMonotonic: CLOCK_MONOTONIC never goes backwards, read many
// times by the system call, by time.Now, and alternately from two threads.
func checkClockMonotonic(t *check.T) {
	const reads = 5000
	prev := monotonic(t)
	for i := range reads {
		now := monotonic(t)
		if now < prev {
			t.Fatalf("read %d of CLOCK_MONOTONIC went back from %v to %v", i, prev, now)
		}
		prev = now
	}

	prevNow := time.Now()
	for i := range reads {
		now := time.Now()
		if now.Before(prevNow) {
			t.Fatalf("read %d of time.Now went back from %v to %v", i, prevNow, now)
		}
		prevNow = now
	}

	// Two threads take turns reading the clock: each reading must not be
	// before the other thread's previous one.
	const turns = 200
	toB, toA := make(chan time.Duration), make(chan bool) // toA: went back?
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for prev := range toB {
			now, err := clockGettime(clockMonotonic)
			toA <- err != nil || time.Duration(now.Nano()) < prev
		}
		close(toA)
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := range turns {
		toB <- monotonic(t)
		if <-toA {
			t.Errorf("turn %d: CLOCK_MONOTONIC on another thread was before this thread's reading", i)
			break
		}
	}
	close(toB)
	<-toA

	var res syscall.Timespec
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETRES, clockMonotonic, uintptr(unsafe.Pointer(&res)), 0); errno != 0 {
		t.Errorf("clock_getres(CLOCK_MONOTONIC): %v", errno)
	} else if r := time.Duration(res.Nano()); r <= 0 || r > 10*time.Millisecond {
		t.Errorf("clock_getres(CLOCK_MONOTONIC) = %v, want in (0, 10ms]", r)
	}
}

// checkClockRealtime: the wall clock is after 2020, by clock_gettime,
// gettimeofday and time.Now.
func checkClockRealtime(t *check.T) {
	ts, err := clockGettime(clockRealtime)
	if err != nil {
		t.Fatalf("clock_gettime(CLOCK_REALTIME): %v", err)
	}
	if ts.Sec < y2020 {
		t.Errorf("CLOCK_REALTIME = %d s, before 2020", ts.Sec)
	}
	var tv syscall.Timeval
	if err := syscall.Gettimeofday(&tv); err != nil {
		t.Errorf("gettimeofday: %v", err)
	} else if tv.Sec < y2020 {
		t.Errorf("gettimeofday = %d s, before 2020", tv.Sec)
	}
	if now := time.Now(); now.Unix() < y2020 {
		t.Errorf("time.Now() = %v, before 2020", now)
	}
	t.Logf("CLOCK_REALTIME %v", time.Unix(ts.Unix()).UTC())
}

// checkCryptoRand: crypto/rand (getrandom) returns different bytes on two
// calls.
func checkCryptoRand(t *check.T) {
	a, b := make([]byte, 32), make([]byte, 32)
	if _, err := rand.Read(a); err != nil {
		t.Fatalf("rand.Read: %v", err)
	}
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("rand.Read: %v", err)
	}
	if bytes.Equal(a, b) {
		t.Errorf("two rand.Read calls returned the same 32 bytes %x", a)
	}
	if bytes.Equal(a, make([]byte, 32)) {
		t.Errorf("rand.Read returned 32 zero bytes")
	}
}
