// Package mm manages memory for the armos kernel:
//
//   - PhysMem: the physical page allocator (pmm.go);
//   - PageTable: AArch64 translation tables, descriptors named as in the
//     Arm ARM (pagetable.go, desc.go, tables.go);
//   - VMATable: the mmap regions of an address space (vma.go);
//   - AddressSpace: demand-zero paging, mmap/munmap/madvise/mprotect and
//     page faults on top of the three (space.go), plus copy-in/copy-out
//     through the process's own table (usercopy.go);
//   - ASIDs: address space identifiers (asid.go).
//
// Trap-context rules. The kernel calls this package from its trap path
// (the kernel's own runtime's mmap/madvise, page faults) on the exception
// stack with interrupts masked. Everything reachable from there is
// //go:nosplit, never allocates, uses no maps, interfaces, defer or Go
// locks, and never panics on bad arguments: functions return an Errno (a
// small integer type that also implements error for ordinary code) or a
// bool. Callers serialize access (one lock or masked interrupts per
// PhysMem / AddressSpace). The linker verifies the nosplit chains, so the
// build fails if a change makes any of them too deep.
//
// Physical memory is reached through a Window: a [Base, Base+Size) physical
// range and the kernel virtual pointer of Base. Today the kernel maps RAM
// 1:1 (IdentityWindow); host tests back a Window with a Go byte slice.
//
// Translation tables follow the VMSAv8-64 format with a 4 KiB granule and
// 48-bit virtual addresses (four levels, L0..L3), named as in the Arm
// Architecture Reference Manual (DDI 0487), chapter D8 "The AArch64 Virtual
// Memory System Architecture", section D8.3 "Translation table descriptor
// formats". The package only writes descriptors: the caller issues DSB/ISB
// and TLB maintenance (TLBI) where an Errno-free return says something was
// unmapped or changed.
//
// See docs/memory.md for the physical memory map and the demand-zero design.
package mm
