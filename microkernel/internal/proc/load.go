package proc

import (
	"fmt"

	"armos/microkernel/internal/mm"
)

// Stack placement: the initial stack's top and its reserved size (demand
// paged, so only touched pages cost memory). The Go runtime runs its main
// thread on it only until it switches to goroutine stacks.
const (
	StackTop  = 0x7fff_0000_0000
	StackSize = 8 << 20
)

// loadChunk bounds the bytes copied per step of the loader: each step
// holds the kernel lock, so this bounds how long the kernel runs with
// interrupts masked (64 KiB is a few thousand instructions of memmove).
const loadChunk = 64 << 10

// Space runs one step of the loader on the target address space. In the
// kernel it takes the kernel lock (rt.WithSpace); host tests call fn
// directly. fn must not allocate or block (it runs as a locked section).
type Space func(fn func(as *mm.AddressSpace) mm.Errno) error

// Load maps img's segments into the address space behind space (regions
// with the segments' protection; pages are filled from file chunk by chunk
// through mm.AddressSpace.Load, and the part past Filesz reads as zero by
// demand-zero paging), reserves the stack and writes the initial stack
// built from args. It returns the entry point and the initial stack
// pointer. The address space must be fresh. The caller does the I-cache
// maintenance before the program runs.
func Load(space Space, img *Image, file []byte, args StackArgs) (entry, sp uint64, err error) {
	aux := [][2]uint64{
		{AtPhdr, img.PhdrAddr}, {AtPhent, phdrSize}, {AtPhnum, img.Phnum},
		{AtPagesz, PageSize}, {AtEntry, img.Entry}, {AtClktck, 100},
		{AtUID, 0}, {AtEUID, 0}, {AtGID, 0}, {AtEGID, 0}, {AtSecure, 0},
	}
	args.Auxv = append(aux, args.Auxv...)
	stack, sp, err := BuildStack(StackTop, args)
	if err != nil {
		return 0, 0, err
	}
	step := func(what string, at uint64, fn func(as *mm.AddressSpace) mm.Errno) error {
		if err := space(fn); err != nil {
			return fmt.Errorf("%s at %#x: %w", what, at, err)
		}
		return nil
	}
	for _, s := range img.Segments {
		lo, hi := pageDown(s.Vaddr), pageUp(s.Vaddr+s.Memsz)
		if err := step("map segment", s.Vaddr, func(as *mm.AddressSpace) mm.Errno {
			_, _, e := as.Mmap(lo, hi-lo, mm.Prot(s.Prot), 0, true, nil)
			return e
		}); err != nil {
			return 0, 0, err
		}
		if s.Prot == 0 {
			continue
		}
		for off := uint64(0); off < s.Filesz; off += loadChunk {
			n := min(s.Filesz-off, loadChunk)
			chunk := file[s.Off+off : s.Off+off+n]
			if err := step("load segment", s.Vaddr+off, func(as *mm.AddressSpace) mm.Errno {
				_, e := as.Load(s.Vaddr+off, chunk)
				return e
			}); err != nil {
				return 0, 0, err
			}
		}
	}
	if err := step("map stack", StackTop-StackSize, func(as *mm.AddressSpace) mm.Errno {
		_, _, e := as.Mmap(StackTop-StackSize, StackSize, mm.ProtRead|mm.ProtWrite, 0, true, nil)
		if e != mm.OK {
			return e
		}
		_, e = as.CopyOut(sp, stack)
		return e
	}); err != nil {
		return 0, 0, err
	}
	return img.Entry, sp, nil
}
