package rt

// Stats counts what the trap layer did. Fields only grow; they are updated
// in trap context and read (racily, as whole words) by ordinary Go code.
type Stats struct {
	Syscalls         uint64 // system calls served (kernel and processes)
	Switches         uint64 // thread switches
	TTBRSwitches     uint64 // address space switches (TTBR0 loads)
	ASIDRollovers    uint64 // ASID generations used up (each flushed the TLB once)
	TimerIRQs        uint64 // timer interrupts
	OtherIRQs        uint64 // other interrupts (acknowledged, not yet routed)
	Clones           uint64 // threads and vfork children created
	CloneFailed      uint64 // clone refused: a thread limit, or the table full
	FileFailed       uint64 // an object, descriptor or interest table full
	FutexWaits       uint64
	Mmaps            uint64
	Madvises         uint64
	UserFaults       uint64 // demand-zero faults of processes served
	SignalsSent      uint64
	Delivered        uint64 // signal frames built
	Sigreturns       uint64
	ServiceCalls     uint64 // calls handed to kernel Go code (ServiceCall)
	ProcExits        uint64 // processes ended
	DeviceResets     uint64 // virtio devices reset because their holder ended
	ConsoleInDropped uint64 // console input bytes dropped: nobody read them in time
	CacheFills       uint64 // page cache pages read from the boot image
	// FaultsRaised counts faults handed to a handler as signals.
	FaultsRaised uint64
}

var stats Stats

// syscallCounts counts the system calls served by number, the last entry
// every number beyond the table (armos.cpustat prints them).
var syscallCounts [maxSyscall + 1]uint64

// SyscallCount is one system call's count (SyscallCounts).
type SyscallCount struct {
	Name  string // the table's name; "nr N" for a call it has none for, "beyond the table" for numbers from maxSyscall
	Count uint64
}

// SyscallCounts returns the system calls made since boot, by number, those
// never made left out, in the order of their numbers.
func SyscallCounts() []SyscallCount {
	var out []SyscallCount
	for nr, n := range syscallCounts {
		if n == 0 {
			continue
		}
		name := "beyond the table"
		if nr < maxSyscall {
			name = syscalls[nr].name
			if name == "" {
				name = "nr " + itoa(uint64(nr))
			}
		}
		out = append(out, SyscallCount{Name: name, Count: n})
	}
	return out
}

// MemStats describes physical memory as the trap layer sees it.
type MemStats struct {
	TotalPages  uint64 // allocatable pages
	InUse       uint64 // pages handed out now (heap pages, page tables, processes, threads)
	Peak        uint64 // most pages ever in use at once
	MetaPages   uint64 // the page allocator's own metadata
	KernelHeap  uint64 // pages of the kernel's heap window mapped now
	Faults      uint64 // demand-zero faults of the kernel's heap served
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
	ks := kas.Stats()
	return MemStats{
		TotalPages:  ps.Total,
		InUse:       ps.Used,
		Peak:        ps.Peak,
		MetaPages:   ps.Meta,
		KernelHeap:  kas.PT.Stats().Owned,
		Faults:      ks.ZeroFills,
		AllocFailed: ps.AllocFails,
		KernelImage: uint64(bootFree - imageStart()),
		DTB:         bootReserved[0].End - bootReserved[0].Start,
		RAM:         uint64(bootInfo.MemSize),
	}
}
