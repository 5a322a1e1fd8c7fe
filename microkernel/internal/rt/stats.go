package rt

// Stats counts what the trap layer did. Fields only grow; they are updated
// in trap context and read (racily, as whole words) by ordinary Go code.
type Stats struct {
	Syscalls    uint64 // system calls served
	Switches    uint64 // thread switches
	TimerIRQs   uint64 // timer interrupts
	OtherIRQs   uint64 // other interrupts (acknowledged, not yet routed)
	Clones      uint64 // threads created
	CloneFailed uint64 // clone refused: thread table full (maxThreads)
	FileFailed  uint64 // descriptor or interest table full (maxFiles, maxInterest)
	FutexWaits  uint64
	Mmaps       uint64
	Madvises    uint64
	SignalsSent uint64
	Delivered   uint64 // signal frames built
	Sigreturns  uint64
	// FaultsRaised counts kernel faults handed to the runtime as signals.
	FaultsRaised uint64
	// UserEntries counts EnterUser calls (returns to EL0).
	UserEntries uint64
}

var stats Stats

// MemStats describes physical memory as the trap layer sees it.
type MemStats struct {
	TotalPages  uint64 // allocatable pages
	InUse       uint64 // pages handed out now (heap pages and page tables)
	Peak        uint64 // most pages ever in use at once
	MetaPages   uint64 // the page allocator's own metadata
	Mapped      uint64 // demand-zero pages mapped now
	Faults      uint64 // demand-zero faults served
	AllocFailed uint64 // allocations that found no memory
	KernelImage uint64 // bytes of the loaded image plus the boot translation tables
	DTB         uint64 // bytes of the device tree blob (kept: main parses it)
	RAM         uint64 // bytes of RAM (the DTB's memory node)
}

// ReadStats returns a snapshot of the trap layer's counters.
func ReadStats() Stats { return stats }

// ReadMemStats returns a snapshot of physical memory use.
func ReadMemStats() MemStats {
	ps := physPages.Stats()
	return MemStats{
		TotalPages:  ps.Total,
		InUse:       ps.Used,
		Peak:        ps.Peak,
		MetaPages:   ps.Meta,
		Mapped:      kas.mapped,
		Faults:      kas.faults,
		AllocFailed: ps.AllocFails,
		KernelImage: uint64(bootFree - imageStart()),
		DTB:         bootReserved[0].End - bootReserved[0].Start,
		RAM:         uint64(bootInfo.MemSize),
	}
}
