//go:build !arm64

// The kernel only builds for linux/arm64; on other architectures package
// main is a stub so that `go build ./...` and `go vet ./...` work on the host.
package main

import "fmt"

func main() {
	fmt.Println("armos: the microkernel only builds for GOOS=linux GOARCH=arm64 (see build.sh)")
}
