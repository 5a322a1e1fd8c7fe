package mm

// The virtual address layout shared by every address space (TTBR0_EL1,
// 48-bit VA, 4 KiB granule). docs/memory.md has the picture.
//
//	[0, UserLow)                       never mapped: nil and small offsets fault
//	[UserLow, UserHigh)                the process (level 0 entries 0..255), nG, EL0
//	[LinearBase, LinearBase+LinearSize) every physical address p at LinearBase+p
//	                                    (RAM, devices, the kernel image), EL1 only
//	[KernelHeapBase, KernelHeapEnd)    the kernel's own Go heap, demand-zero, EL1 only
//
// The kernel half, [KernelWindowBase, KernelWindowEnd), is two level 0
// entries whose level 1 tables every address space shares (ShareFrom), so
// switching processes never touches kernel mappings and a kernel mapping
// made later is visible everywhere at once. The kernel image is linked at
// LinearBase + its load address, so it runs inside the linear map.
const (
	// UserLow is the lowest address a process may map (Linux's default
	// vm.mmap_min_addr): the Go linker puts a program's text at 0x10000.
	UserLow = 0x1_0000
	// UserHigh is the end of the user half.
	UserHigh = 1 << 47

	// LinearBase is where physical address 0 appears in the kernel half.
	LinearBase = 1 << 47
	// LinearSize is how much physical address space the linear map covers.
	LinearSize = Level0Size

	// KernelHeapBase and KernelHeapEnd bound the kernel's mmap window (its
	// Go runtime's heap, stacks and metadata). The Go runtime needs heap
	// addresses below 2^48 (its arena index), so the window is in TTBR0
	// space like everything else.
	KernelHeapBase = LinearBase + LinearSize
	KernelHeapEnd  = KernelHeapBase + Level0Size

	// KernelWindowBase and KernelWindowEnd bound the shared kernel half
	// that every process table borrows from the kernel's.
	KernelWindowBase = LinearBase
	KernelWindowEnd  = KernelHeapEnd
)

// LinearVA returns the kernel virtual address of physical address pa.
//
//go:nosplit
func LinearVA(pa uint64) uint64 { return LinearBase + pa }

// LinearPA returns the physical address behind a linear-map address.
//
//go:nosplit
func LinearPA(va uint64) uint64 { return va - LinearBase }

// InLinearMap reports whether va lies inside the linear map.
//
//go:nosplit
func InLinearMap(va uint64) bool { return va >= LinearBase && va-LinearBase < LinearSize }
