// Command threadbomb is a hostile program: it creates OS threads without
// limit, each one a goroutine that locks itself to its thread and blocks
// forever, printing a progress line every 16 threads
//
//	threadbomb: 48 threads
//
// until the kernel refuses to create another thread; the Go runtime then
// dies with "failed to create new OS thread". The runtime's own limit of
// 10000 threads is lifted so that the kernel's limit is the one reached.
//
// Usage:
//
//	threadbomb [-max N]
//
// With -max it stops after N threads, prints "threadbomb: done" and exits
// 0; that is the only way to run it outside armos.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
)

func main() {
	limit := flag.Int("max", 0, "stop after this many threads and exit 0 (0: never stop)")
	flag.Parse()
	debug.SetMaxThreads(math.MaxInt32)

	forever := make(chan struct{}) // never closed
	tids := make(map[int]bool)
	var mu sync.Mutex
	for n := 1; *limit <= 0 || n <= *limit; n++ {
		started := make(chan struct{})
		go func() {
			runtime.LockOSThread() // this goroutine now owns the thread
			mu.Lock()
			tids[syscall.Gettid()] = true
			mu.Unlock()
			close(started)
			<-forever
		}()
		<-started // the thread exists before the next one is asked for
		if n%16 == 0 {
			fmt.Printf("threadbomb: %d threads\n", n)
		}
	}
	mu.Lock()
	distinct := len(tids)
	mu.Unlock()
	if distinct != *limit {
		fmt.Printf("threadbomb: %d goroutines ran on only %d distinct threads\n", *limit, distinct)
		os.Exit(1)
	}
	fmt.Println("threadbomb: done")
}
