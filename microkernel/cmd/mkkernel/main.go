// Command mkkernel builds the armos kernel ELF: go build for linux/arm64
// at the kernel's linked address, then the physical-address rewrite QEMU
// needs (internal/kbuild). build.sh runs it; guest tests call kbuild.Build.
//
//	go run ./microkernel/cmd/mkkernel -o out/kernel.elf
package main

import (
	"flag"
	"fmt"
	"os"

	"armos/microkernel/internal/kbuild"
)

func main() {
	out := flag.String("o", "out/kernel.elf", "output file")
	root := flag.String("root", ".", "module root")
	flag.Parse()
	if err := kbuild.Build(*root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkkernel:", err)
		os.Exit(1)
	}
}
