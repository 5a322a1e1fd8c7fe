//go:build !arm64

package rt

// Host stand-ins for the assembly, so that the trap layer's logic builds and
// its host unit tests run on any GOARCH.

func idleLoopPC() uintptr  { return 0x1000 }
func sigreturnPC() uintptr { return 0x2000 }

func setTTBR0(v uintptr) {}

// hostTPIDR stands in for TPIDR_EL0 on the host.
var hostTPIDR uint64

func getTPIDR0() uint64      { return hostTPIDR }
func setTPIDR0(v uint64)     { hostTPIDR = v }
func maskIRQ() uint64        { return 0 }
func restoreIRQ(daif uint64) {}

// SyncICache is a no-op on the host.
func SyncICache() {}

func preemptPending() bool { return false }

func touchStack() { touchStackGo() }
