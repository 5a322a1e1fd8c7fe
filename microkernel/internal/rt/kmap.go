package rt

import (
	"encoding/binary"
	"unsafe"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// The kernel's own translation tables, built with internal/mm by earlyInit
// to replace the boot map of entry_arm64.s (docs/memory.md has the layout):
//
//   - the linear map: RAM at mm.LinearBase + its physical address,
//     read-write and never executable, in the largest blocks that fit;
//   - the kernel image inside it, page by page with its ELF segments'
//     permissions (W^X): text read-only and executable at EL1, read-only
//     data, data and BSS read-write; never executable at EL0; the lowest
//     page of the exception stack and of the first thread's stack left
//     unmapped as guard pages;
//   - the devices below RAM ([deviceBase, RAM)), Device-nGnRE, never
//     executable;
//   - the kernel heap window, filled on demand by its runtime's mmap.
//
// Nothing is mapped in the user half, so a kernel nil dereference faults.

// deviceBase is the lowest device the kernel maps on QEMU virt (the GIC);
// the flash below it stays unmapped.
const deviceBase = 0x0800_0000

// ELF program header fields (the image's own headers, loaded one page
// below its text).
const (
	ptLoad = 1
	pfX    = 1
	pfW    = 2
)

// imageSegment is one loadable segment of the kernel image.
type imageSegment struct {
	va, end uint64 // page-aligned virtual range
	flags   uint32
}

// imageSegments parses the ELF and program headers at the start of the
// image (hdr) and returns its loadable segments, page-aligned.
func imageSegments(hdr []byte, out []imageSegment) int {
	le := binary.LittleEndian
	if len(hdr) < 64 || le.Uint32(hdr) != 0x464c457f {
		return 0
	}
	phoff, phentsize, phnum := le.Uint64(hdr[0x20:]), uint64(le.Uint16(hdr[0x36:])), int(le.Uint16(hdr[0x38:]))
	n := 0
	for i := 0; i < phnum && n < len(out); i++ {
		off := phoff + uint64(i)*phentsize
		if phentsize < 56 || off+56 > uint64(len(hdr)) {
			break
		}
		ph := hdr[off:]
		if le.Uint32(ph) != ptLoad {
			continue
		}
		va, memsz := le.Uint64(ph[16:]), le.Uint64(ph[40:])
		out[n] = imageSegment{va: va &^ (pageSize - 1), end: (va + memsz + pageSize - 1) &^ (pageSize - 1), flags: le.Uint32(ph[4:])}
		n++
	}
	return n
}

// segmentAttr returns the kernel mapping attributes for segment flags.
func segmentAttr(flags uint32) mm.Attr {
	switch {
	case flags&pfX != 0:
		return mm.KernelRX
	case flags&pfW != 0:
		return mm.KernelRW
	}
	return mm.KernelRO
}

// Guard pages: the lowest whole page inside the exception stack's and the
// first thread's stack arrays (each array has spare pages for it).
var excGuard, m0Guard uintptr

// guardPage returns the first page boundary at or above a.
func guardPage(a uintptr) uintptr { return (a + pageSize - 1) &^ (pageSize - 1) }

// mapKernel builds the kernel's tables into kas and switches to them.
func mapKernel(memBase, memEnd uint64) mm.Errno {
	if e := kas.Init(&physPages, mm.KernelHeapBase, mm.KernelHeapEnd, true); e != mm.OK {
		return e
	}
	pt := &kas.PT
	img0 := uint64(imageStart())
	img1 := (uint64(bootFree) + pageSize - 1) &^ (pageSize - 1)
	excGuard = guardPage(uintptr(unsafe.Pointer(&excStack[0])))
	m0Guard = guardPage(uintptr(unsafe.Pointer(&m0Stack[0])))

	// RAM around the image.
	if img0 > memBase {
		if e := pt.MapRange(mm.LinearVA(memBase), memBase, img0-memBase, mm.KernelRW, true); e != mm.OK {
			return e
		}
	}
	if memEnd > img1 {
		if e := pt.MapRange(mm.LinearVA(img1), img1, memEnd-img1, mm.KernelRW, true); e != mm.OK {
			return e
		}
	}
	// The image, page by page with its segments' permissions; what no
	// segment covers (the boot tables after BSS) is plain data.
	var segs [8]imageSegment
	n := imageSegments(unsafe.Slice((*byte)(ptrOf(uintptr(mm.LinearVA(img0)))), pageSize), segs[:])
	for pa := img0; pa < img1; pa += pageSize {
		va := mm.LinearVA(pa)
		if uintptr(va) == excGuard || uintptr(va) == m0Guard {
			continue
		}
		attr := mm.KernelRW
		for i := 0; i < n; i++ {
			if va >= segs[i].va && va < segs[i].end {
				attr = segmentAttr(segs[i].flags)
			}
		}
		if e := pt.Map(va, pa, attr); e != mm.OK {
			return e
		}
	}
	// Devices.
	if e := pt.MapRange(mm.LinearVA(deviceBase), deviceBase, memBase-deviceBase, mm.KernelDevice, true); e != mm.OK {
		return e
	}
	// The heap window's level 1 table exists from the start, so every
	// process can share it (ShareFrom would create it too).
	setTTBR0(uintptr(pt.Root()))
	curTTBR = pt.Root()
	ttbrChanged()
	arch.TLBIAll()
	return mm.OK
}
