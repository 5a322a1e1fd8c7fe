package main

import (
	"os"
	"runtime"
	"sync"
	"syscall"

	"armos/microkernel/guesttest/progs/check"
)

// checkNumCPU: the runtime found at least one CPU (sched_getaffinity).
func checkNumCPU(t *check.T) {
	if n := runtime.NumCPU(); n < 1 {
		t.Errorf("runtime.NumCPU() = %d, want >= 1", n)
	}
	t.Logf("NumCPU %d, GOMAXPROCS %d", runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

// threadIDs starts n goroutines that each lock themselves to an OS thread,
// report their thread and process IDs and then wait for release to be
// closed. It returns once all n are running, so the n threads exist at the
// same time. done is closed when all n goroutines have exited; since they
// exit while still locked, the runtime terminates their threads.
func threadIDs(n int, release <-chan struct{}) (tids, pids []int, done <-chan struct{}) {
	tids, pids = make([]int, n), make([]int, n)
	var started, finished sync.WaitGroup
	started.Add(n)
	finished.Add(n)
	for i := range n {
		go func() {
			defer finished.Done()
			runtime.LockOSThread()
			tids[i], pids[i] = syscall.Gettid(), os.Getpid()
			started.Done()
			<-release // blocks this thread in a futex
		}()
	}
	started.Wait()
	d := make(chan struct{})
	go func() { finished.Wait(); close(d) }()
	return tids, pids, d
}

// checkDistinctThreads verifies that the goroutines ran on distinct threads
// of this process.
func checkDistinctThreads(t *check.T, tids, pids []int) {
	pid := os.Getpid()
	seen := make(map[int]int)
	for i, tid := range tids {
		if pids[i] != pid {
			t.Errorf("goroutine %d: getpid %d, want %d", i, pids[i], pid)
		}
		if j, dup := seen[tid]; dup {
			t.Errorf("goroutines %d and %d both on thread %d", j, i, tid)
		}
		seen[tid] = i
	}
}

// checkThreads: locked goroutines run on distinct OS threads of one process;
// the main thread's ID is the process ID.
func checkThreads(t *check.T) {
	release := make(chan struct{})
	tids, pids, done := threadIDs(4, release)
	checkDistinctThreads(t, tids, pids)
	close(release)
	<-done
	t.Logf("threads %v in process %d", tids, os.Getpid())

	// The initial thread of a process has the process ID as thread ID.
	if mainTID != os.Getpid() {
		t.Errorf("main thread's gettid = %d, want the process ID %d", mainTID, os.Getpid())
	}
}

// checkHundredThreads: 100 OS threads blocked in futexes at once, then all
// released and exited.
func checkHundredThreads(t *check.T) {
	const n = 100
	release := make(chan struct{})
	tids, pids, done := threadIDs(n, release)
	checkDistinctThreads(t, tids, pids)
	close(release) // one futex wake for all of them
	<-done
}

// checkChannels: channels and a mutex shared by goroutines on several
// threads give the results a single thread would.
func checkChannels(t *check.T) {
	// A token passed around a ring of four goroutines, each locked to its
	// own thread, so every hop is a wake-up of another thread.
	const ring, laps = 4, 250
	links := make([]chan int, ring)
	for i := range links {
		links[i] = make(chan int)
	}
	result := make(chan int)
	for i := range ring {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			in, out := links[i], links[(i+1)%ring]
			for {
				v, ok := <-in
				if !ok {
					return
				}
				if v == ring*laps {
					result <- v
					continue
				}
				out <- v + 1
			}
		}()
	}
	links[0] <- 0
	if v := <-result; v != ring*laps {
		t.Errorf("ring token = %d, want %d", v, ring*laps)
	}
	for _, l := range links {
		close(l)
	}

	// Fan-in through a buffered channel.
	const senders, each = 16, 1000
	ch := make(chan int, 64)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ch <- s*each + i
			}
		}()
	}
	go func() { wg.Wait(); close(ch) }()
	sum, count := 0, 0
	for v := range ch {
		sum += v
		count++
	}
	const total = senders * each
	if want := total * (total - 1) / 2; count != total || sum != want {
		t.Errorf("fan-in got %d values summing to %d, want %d summing to %d", count, sum, total, want)
	}

	// A contended mutex.
	var mu sync.Mutex
	counter := 0
	const workers, incs = 8, 5000
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range incs {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if counter != workers*incs {
		t.Errorf("mutex counter = %d, want %d", counter, workers*incs)
	}
}

// checkGosched: with one P, two goroutines that call runtime.Gosched take
// turns; sched_yield succeeds.
func checkGosched(t *check.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)

	const rounds = 200
	var mu sync.Mutex
	var order []byte
	var wg sync.WaitGroup
	for _, who := range []byte{'a', 'b'} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				mu.Lock()
				order = append(order, who)
				mu.Unlock()
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	switches := 0
	for i := 1; i < len(order); i++ {
		if order[i] != order[i-1] {
			switches++
		}
	}
	// Strict alternation gives 2*rounds-1 switches; a preemption or a
	// late start costs a few. Running one goroutine to completion gives 1.
	if switches < rounds/2 {
		t.Errorf("only %d switches between two yielding goroutines in %d steps", switches, len(order))
	}

	for range 100 {
		if _, _, errno := syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0); errno != 0 {
			t.Fatalf("sched_yield: %v", errno)
		}
	}
}
