//go:build ignore

// gen writes vdso.so (the committed Image) from Build: go generate in this
// directory. If vdso.so is missing the package does not compile; create an
// empty one first.
package main

import (
	"log"
	"os"

	"armos/microkernel/internal/vdso"
)

func main() {
	if err := os.WriteFile("vdso.so", vdso.Build(), 0o644); err != nil {
		log.Fatal(err)
	}
}
