// Package fdt parses a flattened device tree (DTB), the description of the
// machine that QEMU (and real firmware) hands to the kernel.
//
// Design. Parse validates the header and walks the structure block exactly
// once, building an immutable tree of Nodes with their Properties. Every
// offset read from the blob is bounds-checked before use, every loop advances
// by at least one 4-byte token, and the number of nodes, properties and the
// nesting depth are capped by named constants, so a truncated or hostile blob
// yields an error, never a panic or an unbounded loop (see FuzzParse).
// Parse copies the structure and strings blocks, so the caller may reuse the
// memory that held the DTB afterwards.
//
// On top of the generic tree, cells.go decodes "reg", "interrupts", phandles
// and #address-cells/#size-cells, and machine.go extracts what the armos
// kernel needs (Machine): RAM, /chosen, the PL011 UART, the GIC, the generic
// timer, PSCI and the virtio-mmio slots.
//
// The format is the one of the Devicetree Specification v0.4, chapter 5
// ("Flattened Devicetree (DTB) Format"): a 40-byte big-endian header, a memory
// reservation block, a structure block of tokens and a strings block.
//
// The package runs in the kernel after the Go runtime is up: it allocates.
package fdt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic is the first big-endian word of every DTB.
const Magic = 0xd00dfeed

// HeaderSize is the size in bytes of a version 17 header.
const HeaderSize = 40

// Versions this parser understands: it reads version 17 blobs and any later
// version that declares itself backwards compatible with 16 or 17.
const (
	// Version is the format version this package implements.
	Version = 17
	// MinCompatVersion is the oldest last_comp_version accepted.
	MinCompatVersion = 16
)

// Bounds on what a tree may contain. They are far above what QEMU virt
// produces (~60 nodes, ~300 properties, depth 5) and keep a hostile blob from
// making the kernel allocate without limit.
const (
	// MaxTotalSize caps header.totalsize (QEMU pads its DTB to 1 MiB).
	MaxTotalSize = 64 << 20
	// MaxNodes caps the number of nodes in a tree.
	MaxNodes = 8192
	// MaxProps caps the number of properties in a tree (all nodes together).
	MaxProps = 65536
	// MaxDepth caps node nesting (the root is depth 0).
	MaxDepth = 64
	// MaxReserved caps the entries read from the memory reservation block.
	MaxReserved = 256
)

// Structure block tokens (Devicetree Specification, 5.4.1 "Lexical structure").
const (
	tokenBeginNode = 0x1
	tokenEndNode   = 0x2
	tokenProp      = 0x3
	tokenNop       = 0x4
	tokenEnd       = 0x9
)

// Errors returned by this package. Parse errors wrap ErrMalformed.
var (
	// ErrMalformed is wrapped by every error about a blob that breaks the format.
	ErrMalformed = errors.New("fdt: malformed device tree")
	// ErrTooLarge reports a blob exceeding one of the Max* bounds.
	ErrTooLarge = errors.New("fdt: device tree exceeds a parser bound")
	// ErrNotFound reports a missing node or property.
	ErrNotFound = errors.New("fdt: not found")
)

// Header is the decoded DTB header (Devicetree Specification 5.2, struct fdt_header).
type Header struct {
	Magic           uint32
	TotalSize       uint32 // size of the whole blob, padding included
	OffDtStruct     uint32 // offset of the structure block
	OffDtStrings    uint32 // offset of the strings block
	OffMemRsvmap    uint32 // offset of the memory reservation block
	Version         uint32
	LastCompVersion uint32
	BootCPUIDPhys   uint32
	SizeDtStrings   uint32
	SizeDtStruct    uint32
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// ReadHeader decodes and validates the header at the start of b. Only the
// first HeaderSize bytes are needed, so a kernel can read the header from
// physical memory first and then learn how many bytes (TotalSize) to map.
// The block offsets and sizes are checked against TotalSize, not against
// len(b); Parse checks that the blob really holds TotalSize bytes.
func ReadHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, malformed("blob of %d bytes is shorter than the %d-byte header", len(b), HeaderSize)
	}
	be := binary.BigEndian
	h := Header{
		Magic:           be.Uint32(b[0:]),
		TotalSize:       be.Uint32(b[4:]),
		OffDtStruct:     be.Uint32(b[8:]),
		OffDtStrings:    be.Uint32(b[12:]),
		OffMemRsvmap:    be.Uint32(b[16:]),
		Version:         be.Uint32(b[20:]),
		LastCompVersion: be.Uint32(b[24:]),
		BootCPUIDPhys:   be.Uint32(b[28:]),
		SizeDtStrings:   be.Uint32(b[32:]),
		SizeDtStruct:    be.Uint32(b[36:]),
	}
	if h.Magic != Magic {
		return h, malformed("bad magic %#08x", h.Magic)
	}
	if h.Version < Version || h.LastCompVersion < MinCompatVersion || h.LastCompVersion > Version {
		return h, malformed("unsupported version %d (last compatible %d)", h.Version, h.LastCompVersion)
	}
	if h.TotalSize < HeaderSize {
		return h, malformed("totalsize %d smaller than the header", h.TotalSize)
	}
	if h.TotalSize > MaxTotalSize {
		return h, fmt.Errorf("%w: totalsize %d > %d", ErrTooLarge, h.TotalSize, MaxTotalSize)
	}
	if err := checkBlock("structure", h.OffDtStruct, h.SizeDtStruct, h.TotalSize); err != nil {
		return h, err
	}
	if err := checkBlock("strings", h.OffDtStrings, h.SizeDtStrings, h.TotalSize); err != nil {
		return h, err
	}
	if h.OffDtStruct%4 != 0 || h.SizeDtStruct%4 != 0 {
		return h, malformed("structure block at %#x size %#x is not 4-byte aligned", h.OffDtStruct, h.SizeDtStruct)
	}
	if h.OffMemRsvmap%8 != 0 || h.OffMemRsvmap < HeaderSize || h.OffMemRsvmap >= h.TotalSize {
		return h, malformed("memory reservation block offset %#x invalid", h.OffMemRsvmap)
	}
	return h, nil
}

// checkBlock verifies that [off, off+size) lies after the header and inside total.
func checkBlock(what string, off, size, total uint32) error {
	end := uint64(off) + uint64(size)
	if off < HeaderSize || end > uint64(total) {
		return malformed("%s block [%#x, %#x) outside [%#x, %#x)", what, off, end, HeaderSize, total)
	}
	return nil
}

// Reservation is one entry of the memory reservation block: physical memory
// the kernel must not use.
type Reservation struct {
	Address uint64
	Size    uint64
}

// readReservations decodes the memory reservation block up to its (0, 0)
// terminator, staying inside the blob and below MaxReserved entries.
func readReservations(b []byte, h Header) ([]Reservation, error) {
	var out []Reservation
	off := uint64(h.OffMemRsvmap)
	for {
		if off+16 > uint64(h.TotalSize) {
			return nil, malformed("memory reservation block runs past the blob")
		}
		addr := binary.BigEndian.Uint64(b[off:])
		size := binary.BigEndian.Uint64(b[off+8:])
		if addr == 0 && size == 0 {
			return out, nil
		}
		if len(out) == MaxReserved {
			return nil, fmt.Errorf("%w: more than %d memory reservations", ErrTooLarge, MaxReserved)
		}
		out = append(out, Reservation{Address: addr, Size: size})
		off += 16
	}
}
