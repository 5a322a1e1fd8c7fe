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

// Target is the address space a program is loaded into.
type Target interface {
	// Step runs one step of the loader on the address space. In the
	// kernel it takes the kernel lock (rt.WithSpace); fn must not
	// allocate or block.
	Step(fn func(as *mm.AddressSpace) mm.Errno) error
	// MapFile makes [va, va+size) a region backed by the page cache's
	// copy of the program file, file offset off at va, filesz bytes of
	// it (the rest reads zero): shared and read-only, or with private a
	// copy of each page on first touch. False means the segment must be
	// copied instead.
	MapFile(va, size, filesz uint64, prot mm.Prot, off uint64, private bool) (bool, error)
}

// Source reads the program file: len(dst) bytes at offset off.
type Source func(off uint64, dst []byte) error

// Load maps img's segments into t, then reserves the stack and writes the
// initial stack built from args, and returns the entry point and the
// initial stack pointer. Read-only segments whose bytes all come from the
// file (text, read-only data) are shared from the page cache when t can;
// the others are regions with the segments' protection whose file part is
// a private mapping of the cache (copied page by page as the process
// touches it) or, when t cannot map it, filled from src chunk by chunk
// through mm.AddressSpace.Load (the part past Filesz reads as zero by
// demand-zero paging). The address space must be fresh. The
// caller does the I-cache maintenance before the program runs.
func Load(t Target, img *Image, src Source, args StackArgs) (entry, sp uint64, err error) {
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
		if err := t.Step(fn); err != nil {
			return fmt.Errorf("%s at %#x: %w", what, at, err)
		}
		return nil
	}
	buf := make([]byte, loadChunk)
	for _, s := range img.Segments {
		if s.Prot&2 == 0 && s.Filesz == s.Memsz && s.Prot != 0 {
			shared, err := t.MapFile(s.Vaddr, s.Memsz, s.Filesz, mm.Prot(s.Prot), s.Off, false)
			if err != nil {
				return 0, 0, fmt.Errorf("share segment at %#x: %w", s.Vaddr, err)
			}
			if shared {
				continue
			}
		}
		lo, hi := pageDown(s.Vaddr), pageUp(s.Vaddr+s.Memsz)
		if err := step("map segment", s.Vaddr, func(as *mm.AddressSpace) mm.Errno {
			_, _, e := as.Mmap(lo, hi-lo, mm.Prot(s.Prot), 0, true, nil)
			return e
		}); err != nil {
			return 0, 0, err
		}
		if s.Prot == 0 || s.Filesz == 0 {
			continue
		}
		// The file's part, over the zero-filled region: private copies
		// of the cache's pages, made as the process touches them.
		mapped, err := t.MapFile(s.Vaddr, s.Filesz, s.Filesz, mm.Prot(s.Prot), s.Off, true)
		if err != nil {
			return 0, 0, fmt.Errorf("map segment at %#x: %w", s.Vaddr, err)
		}
		if mapped {
			continue
		}
		for off := uint64(0); off < s.Filesz; off += loadChunk {
			chunk := buf[:min(s.Filesz-off, loadChunk)]
			if err := src(s.Off+off, chunk); err != nil {
				return 0, 0, fmt.Errorf("read segment at %#x: %w", s.Vaddr+off, err)
			}
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
