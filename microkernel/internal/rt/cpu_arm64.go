package rt

// Defined in cpu_arm64.s.

// setTTBR0 loads TTBR0_EL1 and synchronizes the context.
func setTTBR0(v uintptr)

// getTPIDR0 and setTPIDR0 read and write TPIDR_EL0 (a user thread's TLS).
func getTPIDR0() uint64
func setTPIDR0(v uint64)

// maskIRQ masks IRQs and returns the previous DAIF; restoreIRQ puts it back.
func maskIRQ() uint64
func restoreIRQ(daif uint64)

// SyncICache makes instructions written through the data side visible to
// instruction fetch (all cores): DSB, IC IALLUIS, DSB, ISB.
func SyncICache()

// preemptPending reports whether the runtime has asked the calling
// goroutine to yield at its next function prologue (cooperative
// preemption).
func preemptPending() bool

// touchStack makes touchStackBytes of stack below the caller present
// (lock.go).
func touchStack()
