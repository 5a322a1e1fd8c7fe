package selftest

import (
	"fmt"
	"time"

	"armos/microkernel/internal/rt"
)

// Tolerances for sleeps measured against the generic timer: never early;
// late by at most sleepSlack (TCG on a loaded shared host can stall).
const sleepSlack = 500 * time.Millisecond

// counterNow is the generic timer's time, independent of the runtime's
// clock bookkeeping.
func counterNow() time.Duration { return time.Duration(rt.Nanotime()) }

// testSleep sleeps 10 ms and checks the duration against the counter.
func testSleep() (string, error) {
	const d = 10 * time.Millisecond
	start := counterNow()
	time.Sleep(d)
	got := counterNow() - start
	if got < d || got > d+sleepSlack {
		return "", fmt.Errorf("slept %v, want %v (+%v)", got, d, sleepSlack)
	}
	return fmt.Sprintf("slept %v", got), nil
}

// testTicker takes 5 ticks of a 5 ms ticker.
func testTicker() (string, error) {
	const period, n = 5 * time.Millisecond, 5
	tk := time.NewTicker(period)
	defer tk.Stop()
	start := counterNow()
	for i := 0; i < n; i++ {
		<-tk.C
	}
	got := counterNow() - start
	if got < n*period-period/2 || got > n*period+sleepSlack {
		return "", fmt.Errorf("%d ticks took %v, want about %v", n, got, n*period)
	}
	return fmt.Sprintf("%d ticks in %v", n, got), nil
}

// testSelectTimeout checks that select takes the ready case and otherwise
// the timeout.
func testSelectTimeout() (string, error) {
	ready := make(chan int, 1)
	ready <- 7
	select {
	case v := <-ready:
		if v != 7 {
			return "", fmt.Errorf("got %d", v)
		}
	case <-time.After(time.Second):
		return "", fmt.Errorf("timeout taken although a value was ready")
	}
	never := make(chan int)
	start := counterNow()
	select {
	case <-never:
		return "", fmt.Errorf("received from a channel nobody sends on")
	case <-time.After(20 * time.Millisecond):
	}
	got := counterNow() - start
	if got < 20*time.Millisecond || got > 20*time.Millisecond+sleepSlack {
		return "", fmt.Errorf("timeout after %v, want 20ms", got)
	}
	return fmt.Sprintf("timeout after %v", got), nil
}

// testRealtimeClock checks that the wall clock was set from the RTC and
// advances with the monotonic clock.
func testRealtimeClock() (string, error) {
	a := time.Now()
	time.Sleep(2 * time.Millisecond)
	b := time.Now()
	if a.Year() < 2024 {
		return "", fmt.Errorf("wall clock says %v: not set from the RTC", a)
	}
	if !b.After(a) {
		return "", fmt.Errorf("wall clock did not advance: %v then %v", a, b)
	}
	return a.UTC().Format(time.RFC3339), nil
}
