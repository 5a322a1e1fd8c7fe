package proc

import (
	"encoding/binary"
	"errors"
	"fmt"

	"armos/microkernel/internal/mm"
)

// ELF64 constants (System V gABI, "ELF-64 Object File Format").
const (
	elfHeaderSize = 64
	phdrSize      = 56
	etExec        = 2
	etDyn         = 3
	emAArch64     = 183
	ptLoad        = 1
	pfX           = 1
	pfW           = 2
	pfR           = 4
)

// MaxSegments bounds how many program headers ParseELF accepts; a Go static
// binary has about seven.
const MaxSegments = 32

// The range a program's segments may occupy: the user half from
// mm.UserLow (the Go linker's default text address is 0x10000) up to the
// pages the kernel maps into every process and the initial stack below
// them (docs/memory.md).
const (
	UserBase  = mm.UserLow
	UserLimit = StackTop - StackSize
	PageSize  = mm.PageSize
)

// Errors ParseELF returns (wrapped with details).
var (
	ErrNotELF   = errors.New("not an ELF64 little-endian file")
	ErrNotARM64 = errors.New("not a static linux/arm64 executable")
	ErrBadELF   = errors.New("malformed ELF")
)

// Segment is one PT_LOAD program header, validated.
type Segment struct {
	Vaddr  uint64 // where the segment starts in the process
	Off    uint64 // file offset of its first byte
	Filesz uint64 // bytes copied from the file
	Memsz  uint64 // bytes in memory (the rest reads as zero: .bss)
	Prot   uint8  // PROT_READ|PROT_WRITE|PROT_EXEC bits (Linux values)
}

// Image is a parsed executable.
type Image struct {
	Entry    uint64    // e_entry
	PhdrAddr uint64    // virtual address of the program headers (AT_PHDR), 0 if not loaded
	Phnum    uint64    // program header count (AT_PHNUM)
	Segments []Segment // PT_LOAD segments in ascending address order
}

// pageDown and pageUp round to PageSize.
func pageDown(v uint64) uint64 { return v &^ (PageSize - 1) }
func pageUp(v uint64) uint64   { return (v + PageSize - 1) &^ (PageSize - 1) }

// ParseELF validates a static ELF64 AArch64 executable (ET_EXEC, no
// interpreter needed) and returns its loadable segments. It never panics on
// any input: every offset and size is checked against the file, every
// segment must lie in [UserBase, UserLimit), have file offset and address
// congruent modulo the page size, and not share a page with another segment.
func ParseELF(f []byte) (*Image, error) { return ParseELFHeaders(f, uint64(len(f))) }

// HeaderBytes is how much of a file ParseELFHeaders normally needs: the
// ELF header and the program headers follow it in every executable the Go
// linker writes.
const HeaderBytes = 4096

// ParseELFHeaders is ParseELF for a file of size bytes of which f holds
// the beginning: the ELF header and the program headers must lie in f;
// segments are checked against size.
func ParseELFHeaders(f []byte, size uint64) (*Image, error) {
	if uint64(len(f)) > size {
		f = f[:size]
	}
	if len(f) < elfHeaderSize || string(f[:4]) != "\x7fELF" || f[4] != 2 || f[5] != 1 {
		return nil, ErrNotELF
	}
	le := binary.LittleEndian
	switch typ, machine := le.Uint16(f[16:]), le.Uint16(f[18:]); {
	case machine != emAArch64:
		return nil, fmt.Errorf("%w: machine %d (arm64 is %d)", ErrNotARM64, machine, emAArch64)
	case typ == etDyn:
		return nil, fmt.Errorf("%w: position-independent (ET_DYN); build with CGO_ENABLED=0 -buildmode=exe", ErrNotARM64)
	case typ != etExec:
		return nil, fmt.Errorf("%w: ELF type %d is not an executable", ErrNotARM64, typ)
	}
	img := &Image{Entry: le.Uint64(f[24:])}
	phoff := le.Uint64(f[32:])
	phentsize := le.Uint16(f[54:])
	phnum := uint64(le.Uint16(f[56:]))
	if phentsize != phdrSize {
		return nil, fmt.Errorf("%w: program header size %d", ErrBadELF, phentsize)
	}
	if phnum == 0 || phnum > MaxSegments {
		return nil, fmt.Errorf("%w: %d program headers (1..%d allowed)", ErrBadELF, phnum, MaxSegments)
	}
	if phoff > uint64(len(f)) || phnum*phdrSize > uint64(len(f))-phoff {
		return nil, fmt.Errorf("%w: program headers outside the file's first %d bytes", ErrBadELF, len(f))
	}
	img.Phnum = phnum
	for i := uint64(0); i < phnum; i++ {
		p := f[phoff+i*phdrSize:]
		switch le.Uint32(p) {
		case ptLoad:
		case 3: // PT_INTERP
			return nil, fmt.Errorf("%w: dynamically linked (PT_INTERP); build with CGO_ENABLED=0", ErrNotARM64)
		default:
			continue
		}
		s, err := segment(p, size)
		if err != nil {
			return nil, fmt.Errorf("segment %d: %w", i, err)
		}
		if n := len(img.Segments); n > 0 && pageDown(s.Vaddr) < pageUp(img.Segments[n-1].Vaddr+img.Segments[n-1].Memsz) {
			return nil, fmt.Errorf("%w: segment %d overlaps or is out of order", ErrBadELF, i)
		}
		img.Segments = append(img.Segments, s)
		if phoff >= s.Off && phoff-s.Off+phnum*phdrSize <= s.Filesz {
			img.PhdrAddr = s.Vaddr + (phoff - s.Off)
		}
	}
	if len(img.Segments) == 0 {
		return nil, fmt.Errorf("%w: no PT_LOAD segment", ErrBadELF)
	}
	if !img.executable(img.Entry) {
		return nil, fmt.Errorf("%w: entry %#x is not in an executable segment", ErrBadELF, img.Entry)
	}
	return img, nil
}

// segment decodes and checks one PT_LOAD header.
func segment(p []byte, flen uint64) (Segment, error) {
	le := binary.LittleEndian
	flags := le.Uint32(p[4:])
	s := Segment{Off: le.Uint64(p[8:]), Vaddr: le.Uint64(p[16:]), Filesz: le.Uint64(p[32:]), Memsz: le.Uint64(p[40:])}
	if flags&pfR != 0 {
		s.Prot |= 1
	}
	if flags&pfW != 0 {
		s.Prot |= 2
	}
	if flags&pfX != 0 {
		s.Prot |= 4
	}
	switch {
	case s.Filesz > s.Memsz:
		return s, fmt.Errorf("%w: filesz %#x > memsz %#x", ErrBadELF, s.Filesz, s.Memsz)
	case s.Off > flen || s.Filesz > flen-s.Off:
		return s, fmt.Errorf("%w: file range outside the file", ErrBadELF)
	case s.Memsz == 0:
		return s, fmt.Errorf("%w: empty segment", ErrBadELF)
	case s.Vaddr < UserBase || s.Vaddr >= UserLimit || s.Memsz > UserLimit-s.Vaddr:
		return s, fmt.Errorf("%w: [%#x, +%#x) outside user space", ErrBadELF, s.Vaddr, s.Memsz)
	case s.Vaddr%PageSize != s.Off%PageSize:
		return s, fmt.Errorf("%w: address %#x and offset %#x not congruent", ErrBadELF, s.Vaddr, s.Off)
	}
	return s, nil
}

// executable reports whether va lies inside a PROT_EXEC segment.
func (img *Image) executable(va uint64) bool {
	for _, s := range img.Segments {
		if s.Prot&4 != 0 && va >= s.Vaddr && va-s.Vaddr < s.Memsz {
			return true
		}
	}
	return false
}
