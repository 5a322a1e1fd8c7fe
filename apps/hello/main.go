// Command hello is armos's first user program: a static linux/arm64 Go
// binary that the kernel runs at EL0 (boot argument `userhello`). It prints
// one line and exits 0. Run as "hello crash" (boot argument `usercrash`) it
// dereferences nil after printing, which the kernel must answer by killing
// the process alone.
package main

import "os"

type node struct{ next *node }

func main() {
	os.Stdout.WriteString("hello from EL0\n")
	if len(os.Args) > 1 && os.Args[1] == "crash" {
		var n *node
		println(n.next)
	}
	os.Exit(0)
}
