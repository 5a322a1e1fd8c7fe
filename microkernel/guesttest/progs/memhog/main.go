// Command memhog is a hostile program: it allocates memory in 1 MiB steps
// and touches every page, printing a progress line every 16 MiB
//
//	memhog: 48 MiB
//
// until the kernel kills it (or the Go runtime dies with "out of memory").
// Nothing is ever freed: each block stays reachable.
//
// Usage:
//
//	memhog [-max MIB]
//
// With -max it stops after that many MiB, prints "memhog: done" and exits
// 0; that is the only way to run it outside armos.
package main

import (
	"flag"
	"fmt"
	"os"
)

const mib = 1 << 20

func main() {
	limit := flag.Int("max", 0, "stop after this many MiB and exit 0 (0: never stop)")
	flag.Parse()

	page := os.Getpagesize()
	var blocks [][]byte
	for n := 1; *limit <= 0 || n <= *limit; n++ {
		b := make([]byte, mib)
		for i := 0; i < len(b); i += page {
			b[i] = byte(n) // make the kernel back every page
		}
		blocks = append(blocks, b)
		if n%16 == 0 {
			fmt.Printf("memhog: %d MiB\n", n)
		}
	}
	// Still reachable and intact?
	for i, b := range blocks {
		if b[0] != byte(i+1) {
			fmt.Printf("memhog: block %d lost its contents\n", i)
			os.Exit(1)
		}
	}
	fmt.Println("memhog: done")
}
