package main

import (
	"fmt"
	"os"

	"armos/microkernel/internal/proc"
	"armos/microkernel/internal/rt"
)

// runHello runs the embedded apps/hello at EL0 with argv (boot arguments
// `userhello` and `usercrash`), prints how it ended and powers off. A killed
// process is not a kernel failure: the kernel powers off cleanly after it.
func runHello(argv ...string) {
	res, err := proc.Run("hello", proc.HelloELF, argv, os.Stdout)
	if err != nil {
		fmt.Printf("process hello: %v\n", err)
		rt.PowerOff(1)
	}
	if res.Reason != "" {
		fmt.Println(res.Reason)
	}
	fmt.Printf("process hello: %d threads, %d system calls, %d demand-zero pages\n",
		res.Threads, res.Syscalls, res.ZeroFills)
	fmt.Printf("process hello exited %d\n", res.Status)
	rt.PowerOff(0)
}
