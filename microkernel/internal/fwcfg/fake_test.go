//go:build !arm64

package fwcfg

import (
	"encoding/binary"
	"fmt"
	"sort"
	"testing"
	"unsafe"

	"armos/microkernel/internal/arch"
)

// fakeDev emulates QEMU's fw_cfg MMIO device on plain memory, written from
// docs/specs/fw_cfg.rst: arch's host hooks see the selector write (which
// loads the selected item's first bytes into the data register) and the
// trigger write of the DMA address's low half (which runs the operation
// against a byte slice standing in for physical memory).
type fakeDev struct {
	t     testing.TB
	regs  [RegSize / 8]uint64 // the register block
	items map[uint16][]byte   // key -> item contents
	sel   uint16              // selected key
	off   uint32              // offset in the selected item

	ram     []byte // "physical memory" for DMA, at ramBase
	ramBase uint64

	// Fault injection.
	hang      bool // never complete an operation
	failOps   int  // set the error bit from this operation on (0: never)
	ignoreSkp bool // a buggy device: skip does nothing

	ops    []fakeOp // every operation, in order
	events []string // register writes, descriptor stores and barriers
}

// fakeOp is one DMA operation as the device decoded it.
type fakeOp struct {
	desc    [DescSize]byte // the descriptor's bytes at the trigger
	control uint32
	length  uint32
	addr    uint64
	result  uint32 // control as written back
}

const fakeRAMBase = 0x4000_0000

// newFake builds a device holding files (directory in name order, keys
// from 0x20, as QEMU assigns them) and installs the hooks.
func newFake(t testing.TB, files map[string][]byte) *fakeDev {
	f := &fakeDev{t: t, items: map[uint16][]byte{}, ram: make([]byte, 1<<20), ramBase: fakeRAMBase}
	f.items[KeySignature] = []byte("QEMU")
	f.items[KeyID] = binary.LittleEndian.AppendUint32(nil, FeatureTraditional|FeatureDMA)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	dir := binary.BigEndian.AppendUint32(nil, uint32(len(names)))
	for i, n := range names {
		key := uint16(KeyFileFirst + i)
		f.items[key] = files[n]
		var e [FileEntrySize]byte
		binary.BigEndian.PutUint32(e[0:], uint32(len(files[n])))
		binary.BigEndian.PutUint16(e[4:], key)
		copy(e[8:8+MaxNameLen], n)
		dir = append(dir, e[:]...)
	}
	f.items[KeyFileDir] = dir
	copy(f.regBytes(regDMA, 8), "QEMU CFG")

	arch.SetHostWrite16Hook(f.write16)
	arch.SetHostWrite32Hook(f.write32)
	arch.SetHostBarrierHook(func(write bool) {
		if write {
			f.events = append(f.events, "wmb")
		} else {
			f.events = append(f.events, "rmb")
		}
	})
	t.Cleanup(func() {
		arch.SetHostWrite16Hook(nil)
		arch.SetHostWrite32Hook(nil)
		arch.SetHostBarrierHook(nil)
	})
	return f
}

func (f *fakeDev) base() uintptr { return uintptr(unsafe.Pointer(&f.regs[0])) }

func (f *fakeDev) regBytes(off, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&f.regs[0])), RegSize)[off : off+n]
}

// dma returns DMA memory at offset off of the fake RAM.
func (f *fakeDev) dma(off uint64) DMA {
	return DMA{Virt: uintptr(unsafe.Pointer(&f.ram[off])), Phys: f.ramBase + off}
}

// mem maps a physical range to the fake RAM.
func (f *fakeDev) mem(phys, n uint64) ([]byte, bool) {
	if phys < f.ramBase || phys-f.ramBase > uint64(len(f.ram)) || n > uint64(len(f.ram))-(phys-f.ramBase) {
		return nil, false
	}
	return f.ram[phys-f.ramBase:][:n], true
}

// inRAM reports whether a host address lies in the fake RAM.
func (f *fakeDev) inRAM(addr uintptr) bool {
	lo := uintptr(unsafe.Pointer(&f.ram[0]))
	return addr >= lo && addr < lo+uintptr(len(f.ram))
}

func (f *fakeDev) write16(addr uintptr, v uint16) {
	if addr != f.base()+regSelector {
		f.t.Errorf("16-bit write to %#x (not the selector)", addr-f.base())
		return
	}
	key := v>>8 | v<<8 // the register is big-endian
	f.events = append(f.events, fmt.Sprintf("select %#04x", key))
	f.sel, f.off = key, 0
	// The data register shows the item's first bytes: the driver's
	// 4-byte reads right after a select see them in order.
	d := f.regBytes(regData, 8)
	clear(d)
	copy(d, f.items[key])
}

func (f *fakeDev) write32(addr uintptr, v uint32) {
	switch {
	case f.inRAM(addr):
		f.events = append(f.events, "store")
	case addr == f.base()+regDMA:
		f.events = append(f.events, "dma-high")
	case addr == f.base()+regDMALow:
		f.events = append(f.events, "dma-low")
		high := binary.BigEndian.Uint32(f.regBytes(regDMA, 4))
		var low [4]byte
		binary.LittleEndian.PutUint32(low[:], v) // the bytes the CPU stores
		f.transfer(uint64(high)<<32 | uint64(binary.BigEndian.Uint32(low[:])))
	case addr >= f.base() && addr < f.base()+RegSize:
		f.t.Errorf("32-bit write to register %#x", addr-f.base())
	}
}

// transfer runs the operation whose descriptor is at physical address pa,
// as hw/nvram/fw_cfg.c's fw_cfg_dma_transfer does.
func (f *fakeDev) transfer(pa uint64) {
	d, ok := f.mem(pa, DescSize)
	if !ok {
		f.t.Errorf("descriptor at %#x outside RAM", pa)
		return
	}
	op := fakeOp{control: binary.BigEndian.Uint32(d[0:]), length: binary.BigEndian.Uint32(d[4:]),
		addr: binary.BigEndian.Uint64(d[8:])}
	copy(op.desc[:], d)
	defer func() { f.ops = append(f.ops, op) }()
	if f.hang {
		op.result = op.control
		return
	}
	if op.control&dmaSelect != 0 {
		f.sel, f.off = uint16(op.control>>16), 0
	}
	read, skip := op.control&dmaRead != 0, op.control&dmaSkip != 0
	length, addr := op.length, op.addr
	if !read && !skip {
		length = 0
	}
	var result uint32
	item := f.items[f.sel]
	for length > 0 && result&dmaError == 0 {
		n := length
		if f.off >= uint32(len(item)) { // past the end: reads give zeros
			if read {
				if m, ok := f.mem(addr, uint64(n)); ok {
					clear(m)
				} else {
					result |= dmaError
				}
			}
		} else {
			n = min(length, uint32(len(item))-f.off)
			if read {
				if m, ok := f.mem(addr, uint64(n)); ok {
					copy(m, item[f.off:])
				} else {
					result |= dmaError
				}
			}
			if read || !f.ignoreSkp {
				f.off += n
			}
		}
		addr += uint64(n)
		length -= n
	}
	if f.failOps > 0 && len(f.ops)+1 >= f.failOps {
		result |= dmaError
	}
	op.result = result
	binary.BigEndian.PutUint32(d[0:], result)
}
