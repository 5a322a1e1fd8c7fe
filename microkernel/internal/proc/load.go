package proc

import (
	"fmt"

	"armos/microkernel/internal/mm"
)

// Stack placement: the initial stack's top and its reserved size (demand
// paged, so only touched pages cost memory).
const (
	StackTop  = 0x7fff_0000_0000
	StackSize = 8 << 20
)

// Load maps img's segments into as (regions with the segments' protection;
// pages are filled from file through mm.AddressSpace.Load, and the part past
// Filesz reads as zero through demand-zero paging), reserves the stack and
// writes the initial stack built from args. It returns the entry point and
// the initial stack pointer. as must be a fresh user address space. The
// caller does the I-cache maintenance before the process runs.
//
// Every mm call runs inside guard (the kernel masks interrupts there, see
// rt.WithIRQsOff; host tests pass a plain call); nothing inside it
// allocates Go memory.
func Load(as *mm.AddressSpace, img *Image, file []byte, args StackArgs, guard func(func())) (entry, sp uint64, err error) {
	aux := [][2]uint64{
		{AtPhdr, img.PhdrAddr}, {AtPhent, phdrSize}, {AtPhnum, img.Phnum},
		{AtPagesz, PageSize}, {AtEntry, img.Entry},
		{AtUID, 0}, {AtEUID, 0}, {AtGID, 0}, {AtEGID, 0}, {AtSecure, 0},
	}
	args.Auxv = append(aux, args.Auxv...)
	stack, sp, err := BuildStack(StackTop, args)
	if err != nil {
		return 0, 0, err
	}
	var (
		e    mm.Errno
		what string
		at   uint64
	)
	guard(func() {
		for _, s := range img.Segments {
			lo, hi := pageDown(s.Vaddr), pageUp(s.Vaddr+s.Memsz)
			if _, _, e = as.Mmap(lo, hi-lo, mm.Prot(s.Prot), 0, true); e != mm.OK {
				what, at = "map segment", s.Vaddr
				return
			}
			if s.Prot == 0 || s.Filesz == 0 {
				continue
			}
			if _, e = as.Load(s.Vaddr, file[s.Off:s.Off+s.Filesz]); e != mm.OK {
				what, at = "load segment", s.Vaddr
				return
			}
		}
		if _, _, e = as.Mmap(StackTop-StackSize, StackSize, mm.ProtRead|mm.ProtWrite, 0, true); e != mm.OK {
			what, at = "map stack", StackTop-StackSize
			return
		}
		if _, e = as.CopyOut(sp, stack); e != mm.OK {
			what, at = "write initial stack", sp
		}
	})
	if e != mm.OK {
		return 0, 0, fmt.Errorf("proc: %s at %#x: mm errno %d", what, at, e)
	}
	return img.Entry, sp, nil
}
