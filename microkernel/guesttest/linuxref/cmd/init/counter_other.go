//go:build linux && !arm64

package main

// counter is only meaningful on arm64; elsewhere (a host build for vet)
// it reports no counter.
func counter() (count, freq uint64) { return 0, 0 }
