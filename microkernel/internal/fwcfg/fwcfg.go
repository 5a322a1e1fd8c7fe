package fwcfg

import (
	"math/bits"
	"unsafe"

	"armos/microkernel/internal/arch"
)

// Register offsets from the device's base (QEMU fw_cfg.rst, "Register
// Locations", Arm).
const (
	regData     = 0x00 // data, up to 8 bytes per read on virt
	regSelector = 0x08 // selector, 16-bit big-endian, write-only
	regDMA      = 0x10 // DMA address, high half (big-endian)
	regDMALow   = 0x14 // DMA address, low half: writing it starts the operation
	// RegSize is the size of the register block (the DTB's reg size).
	RegSize = 0x18
)

// Selector keys of the items armos uses.
const (
	KeySignature = 0x0000 // "QEMU"
	KeyID        = 0x0001 // feature bitmap, 32-bit little-endian
	KeyFileDir   = 0x0019 // the file directory
	KeyFileFirst = 0x0020 // the first file's key
)

// Feature bits of the KeyID item.
const (
	FeatureTraditional = 1 << 0 // selector and data registers (always set)
	FeatureDMA         = 1 << 1 // the DMA interface
)

// Control bits of a DMA descriptor.
const (
	dmaError  = 1 << 0
	dmaRead   = 1 << 1
	dmaSkip   = 1 << 2
	dmaSelect = 1 << 3 // key in bits 31:16
)

// Sizes.
const (
	// DescSize is the size of the DMA descriptor (FWCfgDmaAccess).
	DescSize = 16
	// FileEntrySize is the size of one file directory entry.
	FileEntrySize = 64
	// MaxNameLen is the longest file name (56 bytes with the NUL).
	MaxNameLen = 55
	// ScratchSize is the DMA-reachable memory Probe needs: the descriptor,
	// then a buffer for one directory entry.
	ScratchSize = DescSize + FileEntrySize
	// SelfTestSize is the buffer SelfTest needs.
	SelfTestSize = 128
	// maxFiles bounds the directory: keys 0x0020..0x3fff.
	maxFiles = 0x4000 - KeyFileFirst
	// pollLimit bounds the wait for a DMA operation to complete. QEMU
	// finishes during the trigger write, so the first poll sees it.
	pollLimit = 1 << 22
)

// The signatures as the little-endian loads of arch.Read32/Read64 return
// them: the device presents them big-endian, that is, as bytes in order.
const (
	signatureLE    = 'Q' | 'E'<<8 | 'M'<<16 | 'U'<<24 // "QEMU" from the data register
	dmaSignature   = 0x51454d5520434647               // "QEMU CFG", the DMA register's value
	dmaSignatureLE = 'Q' | 'E'<<8 | 'M'<<16 | 'U'<<24 | ' '<<32 | 'C'<<40 | 'F'<<48 | 'G'<<56
)

// Errno is the result of an fwcfg operation: OK or one of the Err* values.
// Like mm.Errno it is a plain integer for trap-context code and implements
// error for ordinary code (convert with Err: a nil error is not Errno(OK)).
type Errno uint8

// Result codes.
const (
	OK          Errno = iota
	ErrNoDevice       // no "QEMU" signature: not an fw_cfg device
	ErrNoDMA          // the device lacks the DMA interface
	ErrScratch        // DMA memory missing or not 8-byte aligned
	ErrNotFound       // no file of that name
	ErrRange          // the read does not lie inside the file
	ErrDevice         // the device set the error bit (bad address, ...)
	ErrTimeout        // the device did not complete the operation
	ErrBadDir         // the file directory claims too many entries
	ErrMismatch       // SelfTest: two reads of the same bytes differ
	numErrno
)

var errnoText = [numErrno]string{
	OK:          "ok",
	ErrNoDevice: "fwcfg: no QEMU fw_cfg signature",
	ErrNoDMA:    "fwcfg: device has no DMA interface",
	ErrScratch:  "fwcfg: DMA memory missing or misaligned",
	ErrNotFound: "fwcfg: file not found",
	ErrRange:    "fwcfg: read outside the file",
	ErrDevice:   "fwcfg: device reported a DMA error",
	ErrTimeout:  "fwcfg: DMA operation did not complete",
	ErrBadDir:   "fwcfg: file directory too large",
	ErrMismatch: "fwcfg: self-test: reads disagree",
}

// Error returns the text of e.
func (e Errno) Error() string {
	if e < numErrno {
		return errnoText[e]
	}
	return "fwcfg: unknown error"
}

// Err returns e as an error, nil for OK.
func (e Errno) Err() error {
	if e == OK {
		return nil
	}
	return e
}

// DMA is memory both the kernel and the device reach: Virt is where the
// kernel accesses it, Phys the physical address the device is given.
// (armos maps RAM 1:1 today, so both are equal, but nothing here assumes
// it.) It must stay mapped and unused by anything else while in use.
type DMA struct {
	Virt uintptr
	Phys uint64
}

// File is an fw_cfg file: its selector key and size in bytes.
type File struct {
	Select uint16
	Size   uint32
}

// Device is a probed fw_cfg device.
type Device struct {
	base     uintptr // register block
	scratch  DMA     // descriptor, then one directory entry
	features uint32
}

// Probe checks that base is an fw_cfg device with the DMA interface:
// the "QEMU" signature and the feature bitmap through the selector and
// data registers, then the DMA register's "QEMU CFG". scratch is
// ScratchSize bytes of 8-byte aligned DMA memory the Device keeps for its
// descriptor and directory reads.
//
//go:nosplit
func Probe(base uintptr, scratch DMA) (Device, Errno) {
	if scratch.Virt == 0 || scratch.Virt%8 != 0 || scratch.Phys%8 != 0 {
		return Device{}, ErrScratch
	}
	arch.Write16(base+regSelector, bits.ReverseBytes16(KeySignature))
	if arch.Read32(base+regData) != signatureLE {
		return Device{}, ErrNoDevice
	}
	arch.Write16(base+regSelector, bits.ReverseBytes16(KeyID))
	features := arch.Read32(base + regData) // a little-endian item
	if features&FeatureDMA == 0 || arch.Read64(base+regDMA) != dmaSignatureLE {
		return Device{}, ErrNoDMA
	}
	return Device{base: base, scratch: scratch, features: features}, OK
}

// Features is the device's feature bitmap (Feature*).
//
//go:nosplit
func (d *Device) Features() uint32 { return d.features }

// Base is the device's register block.
//
//go:nosplit
func (d *Device) Base() uintptr { return d.base }

// Find looks name up in the file directory.
//
//go:nosplit
func (d *Device) Find(name string) (File, Errno) {
	if len(name) == 0 || len(name) > MaxNameLen {
		return File{}, ErrNotFound
	}
	entry := DMA{Virt: d.scratch.Virt + DescSize, Phys: d.scratch.Phys + DescSize}
	if e := d.op(KeyFileDir<<16|dmaSelect|dmaRead, 4, entry.Phys); e != OK {
		return File{}, e
	}
	count := loadBE32(entry.Virt)
	if count > maxFiles {
		return File{}, ErrBadDir
	}
	for i := uint32(0); i < count; i++ {
		// The device's offset moves on: each read is the next entry.
		if e := d.op(dmaRead, FileEntrySize, entry.Phys); e != OK {
			return File{}, e
		}
		if nameIs(entry.Virt+8, name) {
			return File{Select: uint16(loadBE32(entry.Virt+4) >> 16), Size: loadBE32(entry.Virt)}, OK
		}
	}
	return File{}, ErrNotFound
}

// nameIs reports whether the NUL-terminated name at addr is name
// (len(name) <= MaxNameLen, so the NUL lies within the 56-byte field).
//
//go:nosplit
func nameIs(addr uintptr, name string) bool {
	for i := 0; i < len(name); i++ {
		if loadByte(addr+uintptr(i)) != name[i] {
			return false
		}
	}
	return loadByte(addr+uintptr(len(name))) == 0
}

// ReadAt copies n bytes of f from offset off to physical address dst:
// select and read in one operation when off is 0, otherwise select and
// skip, then read. The bytes must lie inside the file (ErrRange), and
// [dst, dst+n) must be physically contiguous RAM. Each call selects the
// file again, so calls need not be in order (random access, like a disk).
//
//go:nosplit
func (d *Device) ReadAt(f File, off uint64, dst uint64, n uint32) Errno {
	if off > uint64(f.Size) || uint64(n) > uint64(f.Size)-off {
		return ErrRange
	}
	if n == 0 {
		return OK
	}
	sel := uint32(f.Select)<<16 | dmaSelect
	if off == 0 {
		return d.op(sel|dmaRead, n, dst)
	}
	if e := d.op(sel|dmaSkip, uint32(off), 0); e != OK {
		return e
	}
	return d.op(dmaRead, n, dst)
}

// CopyAt reads len(dst) bytes of f at offset off into dst, ordinary
// kernel memory the device cannot address, through bounce (bounceLen
// bytes of DMA memory): after the first chunk, each further chunk
// continues where the device's offset stands, one operation each.
//
//go:nosplit
func (d *Device) CopyAt(f File, off uint64, dst []byte, bounce DMA, bounceLen uint32) Errno {
	if off > uint64(f.Size) || uint64(len(dst)) > uint64(f.Size)-off {
		return ErrRange
	}
	if len(dst) == 0 {
		return OK
	}
	if bounce.Virt == 0 || bounceLen == 0 {
		return ErrScratch
	}
	src := unsafe.Slice((*byte)(pointer(bounce.Virt)), bounceLen)
	for first := true; len(dst) > 0; first = false {
		n := bounceLen
		if uint64(len(dst)) < uint64(n) {
			n = uint32(len(dst))
		}
		var e Errno
		if first {
			e = d.ReadAt(f, off, bounce.Phys, n)
		} else {
			e = d.op(dmaRead, n, bounce.Phys)
		}
		if e != OK {
			return e
		}
		copy(dst, src[:n])
		dst = dst[n:]
	}
	return OK
}

// SelfTest checks the DMA read path on a real device with f's own bytes,
// whatever they are: it reads the first n = min(64, f.Size) bytes of f
// to buf (select+read), then bytes [n/2, n) to buf+64 (select+skip+read),
// and compares; both areas are first filled with different patterns, so
// a read that moved nothing is noticed. It also checks that a read past
// the end is refused. buf is SelfTestSize bytes of DMA memory, 4-byte
// aligned.
//
//go:nosplit
func (d *Device) SelfTest(f File, buf DMA) Errno {
	if buf.Virt == 0 || buf.Virt%4 != 0 {
		return ErrScratch
	}
	for i := uintptr(0); i < SelfTestSize/2; i += 4 {
		arch.Write32(buf.Virt+i, 0xa5a5a5a5)
		arch.Write32(buf.Virt+SelfTestSize/2+i, 0x5a5a5a5a)
	}
	n := uint32(SelfTestSize / 2)
	if f.Size < n {
		n = f.Size
	}
	if e := d.ReadAt(f, 0, buf.Phys, n); e != OK {
		return e
	}
	half := n / 2
	if e := d.ReadAt(f, uint64(half), buf.Phys+SelfTestSize/2, n-half); e != OK {
		return e
	}
	for i := uintptr(0); i < uintptr(n-half); i++ {
		if loadByte(buf.Virt+uintptr(half)+i) != loadByte(buf.Virt+SelfTestSize/2+i) {
			return ErrMismatch
		}
	}
	if d.ReadAt(f, uint64(f.Size), buf.Phys, 1) != ErrRange {
		return ErrMismatch
	}
	return OK
}

// op runs one DMA operation and waits for it.
//
//go:nosplit
func (d *Device) op(control, length uint32, addr uint64) Errno {
	desc := d.scratch.Virt
	arch.Write32(desc+0, be32(control))
	arch.Write32(desc+4, be32(length))
	arch.Write32(desc+8, be32(uint32(addr>>32)))
	arch.Write32(desc+12, be32(uint32(addr)))
	arch.DMAWriteBarrier() // the descriptor is visible before the trigger
	phys := d.scratch.Phys
	arch.Write32(d.base+regDMA, be32(uint32(phys>>32)))
	arch.Write32(d.base+regDMALow, be32(uint32(phys))) // starts the operation
	for i := 0; i < pollLimit; i++ {
		c := loadBE32(desc)
		if c&^dmaError == 0 {
			arch.DMAReadBarrier() // nothing the device wrote is read before this
			if c&dmaError != 0 {
				return ErrDevice
			}
			return OK
		}
	}
	return ErrTimeout
}

// be32 converts between the CPU's (little-endian) and big-endian order.
//
//go:nosplit
func be32(v uint32) uint32 { return bits.ReverseBytes32(v) }

// loadBE32 loads the big-endian word at addr (4-byte aligned).
//
//go:nosplit
func loadBE32(addr uintptr) uint32 { return be32(arch.Read32(addr)) }

// loadByte loads the byte at addr with an aligned 32-bit load.
//
//go:nosplit
func loadByte(addr uintptr) byte {
	return byte(arch.Read32(addr&^3) >> ((addr & 3) * 8))
}

// pointer turns an address the kernel maps into a pointer (written this
// way, like arch's register accessors, so vet accepts it: the memory is
// not Go-managed).
//
//go:nosplit
func pointer(addr uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&addr)) }
