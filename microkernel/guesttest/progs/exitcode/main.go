// Command exitcode ends in a chosen way so that a host test can check the
// exit status the kernel reports:
//
//	exitcode N         prints a line and exits with status N (0-255)
//	exitcode -panic    panics: the runtime prints the panic, status 2
//	exitcode -segv     dereferences nil without recovering: the runtime
//	                   prints "invalid memory address or nil pointer
//	                   dereference", status 2
//	exitcode -sleep D  sleeps for the duration D (e.g. 10ms), then exits 0
//
// With no arguments it exits 0.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// node is dereferenced through a nil pointer by -segv.
type node struct {
	next *node
	val  int
}

func main() {
	doPanic := flag.Bool("panic", false, "panic (exit status 2)")
	doSegv := flag.Bool("segv", false, "dereference a nil pointer without recovering (exit status 2)")
	sleep := flag.Duration("sleep", 0, "sleep this long, then exit 0")
	peek := flag.Bool("kernelpeek", false, "armos only (booted with armos.debug=1): ask the kernel to read this\n"+
		"process's memory through its user address, which it must never do; with PAN the kernel faults")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: exitcode [N | -panic | -segv | -sleep D]\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	switch {
	case *peek:
		// armos_debug (500), operation 2: read a word through a user
		// pointer from the kernel. Elsewhere the call does not exist.
		v := uint64(0x5eed)
		r, _, e := syscall.RawSyscall(500, 2, uintptr(unsafe.Pointer(&v)), 0)
		fmt.Printf("exitcode: kernel peek returned %#x (errno %d)\n", r, e)
	case *doPanic:
		fmt.Println("exitcode: panicking")
		panic("exitcode: deliberate panic")
	case *doSegv:
		fmt.Println("exitcode: dereferencing nil")
		var n *node
		fmt.Println(n.next.val) // faults on n.next
	case *sleep > 0:
		start := time.Now()
		time.Sleep(*sleep)
		fmt.Printf("exitcode: slept %v\n", time.Since(start).Round(time.Millisecond))
	case flag.NArg() == 1:
		n, err := strconv.Atoi(flag.Arg(0))
		if err != nil || n < 0 || n > 255 {
			fmt.Fprintf(os.Stderr, "exitcode: bad status %q: want 0-255\n", flag.Arg(0))
			os.Exit(64)
		}
		fmt.Printf("exitcode: exiting with status %d\n", n)
		os.Exit(n)
	case flag.NArg() > 1:
		flag.Usage()
		os.Exit(64)
	default:
		fmt.Println("exitcode: exiting with status 0")
	}
}
