//go:build !arm64

package rt

// Host stand-ins for the assembly, so that the trap layer's logic builds and
// its host unit tests run on any GOARCH.

func idleLoopPC() uintptr  { return 0x1000 }
func sigreturnPC() uintptr { return 0x2000 }
