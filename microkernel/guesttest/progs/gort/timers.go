package main

import (
	"sync/atomic"
	"time"

	"armos/microkernel/guesttest/progs/check"
)

// Timer checks assert lower bounds only: a timer must never fire early, but
// on an emulated machine it may fire very late.

// checkSleep: time.Sleep never returns early, measured both by time.Now
// (the runtime's clock, possibly from the vDSO) and by the clock_gettime
// system call.
func checkSleep(t *check.T) {
	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond} {
		start, rawStart := time.Now(), monotonic(t)
		time.Sleep(d)
		elapsed, rawElapsed := time.Since(start), monotonic(t)-rawStart
		if elapsed < d {
			t.Errorf("time.Sleep(%v) returned after %v by time.Now", d, elapsed)
		}
		if rawElapsed < d {
			t.Errorf("time.Sleep(%v) returned after %v by clock_gettime(CLOCK_MONOTONIC)", d, rawElapsed)
		}
		t.Logf("Sleep(%v) took %v", d, elapsed)
	}
}

// checkTicker: a Ticker delivers several ticks, in order, none early.
func checkTicker(t *check.T) {
	const period, ticks = 10 * time.Millisecond, 5
	start := time.Now()
	tk := time.NewTicker(period)
	defer tk.Stop()
	last := start
	for i := 1; i <= ticks; i++ {
		tick := <-tk.C
		if !tick.After(last) {
			t.Errorf("tick %d at %v is not after the previous one at %v", i, tick, last)
		}
		last = tick
		if elapsed := time.Since(start); elapsed < time.Duration(i)*period {
			t.Errorf("tick %d received after %v, want >= %v", i, elapsed, time.Duration(i)*period)
		}
	}
}

// checkAfterFunc: time.AfterFunc runs its function, not early; a stopped
// one never runs.
func checkAfterFunc(t *check.T) {
	const d = 10 * time.Millisecond
	start := time.Now()
	fired := make(chan time.Duration, 1)
	time.AfterFunc(d, func() { fired <- time.Since(start) })

	var stoppedRan atomic.Bool
	stopped := time.AfterFunc(2*d, func() { stoppedRan.Store(true) })
	wasActive := stopped.Stop()

	if elapsed := <-fired; elapsed < d {
		t.Errorf("AfterFunc(%v) fired after %v", d, elapsed)
	}
	time.Sleep(4 * d)
	if wasActive && stoppedRan.Load() {
		t.Errorf("a stopped AfterFunc ran")
	}
}

// checkSelectTimeout: a select on a channel that never becomes ready takes
// the timeout branch, not early.
func checkSelectTimeout(t *check.T) {
	const d = 20 * time.Millisecond
	never := make(chan int)
	start := time.Now()
	select {
	case <-never:
		t.Errorf("received from a channel nobody sends on")
	case <-time.After(d):
	}
	if elapsed := time.Since(start); elapsed < d {
		t.Errorf("select timed out after %v, want >= %v", elapsed, d)
	}
}
