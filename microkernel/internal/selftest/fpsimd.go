package selftest

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"time"

	"armos/microkernel/internal/rt"
)

// fpChain is a floating-point recurrence whose state lives in an FP
// register for the whole loop: if a thread switch lost that register, the
// result would differ from the reference.
//
//go:noinline
func fpChain(seed float64, n int) float64 {
	x := seed
	for i := 0; i < n; i++ {
		x = x*1.000000119 + 0.375
		if x > 1e6 {
			x -= 999_983.5
		}
	}
	return x
}

// testFPSIMDAcrossSwitches runs FP recurrences and SIMD copies (memmove
// uses the 128-bit Q registers) on two kernel threads that the timer
// time-slices against each other, and checks every result against a
// reference computed beforehand: the trap path must save and restore the
// FP/SIMD registers on every switch.
func testFPSIMDAcrossSwitches() (string, error) {
	const workers, iters = 2, 200_000
	const runFor = 150 * time.Millisecond
	want := [workers]float64{}
	for w := range want {
		want[w] = fpChain(float64(w+1)*1.5, iters)
	}
	switchesBefore := rt.ReadStats().Switches
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	rounds := make(chan int, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			src := make([]byte, 64<<10)
			for i := range src {
				src[i] = byte(i*7 + w)
			}
			dst := make([]byte, len(src))
			n := 0
			for start := counterNow(); n < 3 || counterNow()-start < runFor; n++ {
				if got := fpChain(float64(w+1)*1.5, iters); got != want[w] {
					errs <- fmt.Errorf("worker %d round %d: FP result %v, want %v", w, n, got, want[w])
					return
				}
				clear(dst)
				copy(dst, src)
				if !bytes.Equal(dst, src) {
					errs <- fmt.Errorf("worker %d round %d: SIMD copy corrupted", w, n)
					return
				}
			}
			rounds <- n
		}(w)
	}
	wg.Wait()
	close(errs)
	close(rounds)
	if err := <-errs; err != nil {
		return "", err
	}
	total := 0
	for n := range rounds {
		total += n
	}
	return fmt.Sprintf("%d rounds on %d kernel threads, %d thread switches", total, workers,
		rt.ReadStats().Switches-switchesBefore), nil
}
