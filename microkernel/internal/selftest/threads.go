package selftest

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"armos/microkernel/internal/rt"
)

// testMutexAcrossThreads contends a mutex from goroutines locked to
// different kernel threads (Ms).
func testMutexAcrossThreads() (string, error) {
	const workers, iters = 4, 2000
	var (
		mu    sync.Mutex
		count int
		wg    sync.WaitGroup
		tids  sync.Map
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids.Store(syscall.Gettid(), true)
			for i := 0; i < iters; i++ {
				mu.Lock()
				c := count
				if i%100 == 0 {
					runtime.Gosched()
				}
				count = c + 1
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if count != workers*iters {
		return "", fmt.Errorf("count %d, want %d: the mutex let updates through", count, workers*iters)
	}
	threads := 0
	tids.Range(func(any, any) bool { threads++; return true })
	if threads < 2 {
		return "", fmt.Errorf("only %d kernel thread(s) took part", threads)
	}
	return fmt.Sprintf("%d increments on %d kernel threads", count, threads), nil
}

//go:noinline
func spin(stop *atomic.Bool) uint64 {
	var x uint64
	for !stop.Load() {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// testPreemptSpin runs a goroutine that spins without function calls and
// checks that another goroutine keeps making progress meanwhile: the timer
// interrupt preempts the spinning kernel thread and the runtime preempts
// the goroutine (SIGURG). Without preemption the sleeper never runs again
// and the test fails by its timeout; no time bound is asserted, so a slow
// or loaded host cannot make it fail.
func testPreemptSpin() (string, error) {
	const sleeps = 20
	var stop, spinning atomic.Bool
	done := make(chan uint64)
	go func() {
		spinning.Store(true)
		done <- spin(&stop)
	}()
	start := counterNow()
	for i := 0; i < sleeps; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	took := counterNow() - start
	ran := spinning.Load()
	stop.Store(true)
	<-done
	if !ran {
		return "", fmt.Errorf("the spinning goroutine never started: nothing was shown")
	}
	return fmt.Sprintf("%d sleeps of 5ms beside a spinner in %v", sleeps, took), nil
}

// testGCWhileSpinning runs a full GC while goroutines spin in call-free
// loops on every P: stopping the world needs asynchronous preemption, which
// the runtime does by sending SIGURG to the spinning kernel threads. It
// takes seconds, on Linux as well: runtime.GC sweeps with a Gosched per
// span, and each time it waits for sysmon to preempt a spinner (measured on
// a Linux/amd64 host with GOMAXPROCS=2 and two spinners: 0.9-5.3 s).
func testGCWhileSpinning() (string, error) {
	var stop atomic.Bool
	n := runtime.GOMAXPROCS(0)
	done := make(chan uint64, n)
	for i := 0; i < n; i++ {
		go func() { done <- spin(&stop) }()
	}
	time.Sleep(10 * time.Millisecond)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := counterNow()
	runtime.GC()
	took := counterNow() - start
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	stop.Store(true)
	for i := 0; i < n; i++ {
		<-done
	}
	if after.NumGC <= before.NumGC {
		return "", fmt.Errorf("NumGC did not advance")
	}
	return fmt.Sprintf("GC with %d spinners took %v; %d signals delivered so far", n, took, rt.ReadStats().Delivered), nil
}
