package fdt

import (
	"encoding/binary"
	"fmt"
)

// Cell-count defaults and limits (Devicetree Specification 2.3.5).
const (
	// DefaultAddressCells applies when a parent has no #address-cells.
	DefaultAddressCells = 2
	// DefaultSizeCells applies when a parent has no #size-cells.
	DefaultSizeCells = 1
	// maxCells is the largest cell count that fits a uint64 value.
	maxCells = 2
	// maxTranslateDepth bounds the walk up through "ranges".
	maxTranslateDepth = MaxDepth
	// MaxInterruptParentHops bounds interrupt-parent chains.
	MaxInterruptParentHops = 16
)

// Region is a (base, size) pair decoded from "reg" or the memory node.
type Region struct {
	Base uint64
	Size uint64
}

// End returns Base+Size (saturating at 2^64-1).
func (r Region) End() uint64 {
	if r.Base+r.Size < r.Base {
		return ^uint64(0)
	}
	return r.Base + r.Size
}

// cells reads a #address-cells / #size-cells style property of n, with a default.
func (n *Node) cells(name string, def uint32) (uint32, error) {
	if n == nil {
		return def, nil
	}
	if !n.Has(name) {
		return def, nil
	}
	v, err := n.U32(name)
	if err != nil {
		return 0, err
	}
	return v, nil
}

// AddressCells returns the #address-cells n declares for its children.
func (n *Node) AddressCells() (uint32, error) { return n.cells("#address-cells", DefaultAddressCells) }

// SizeCells returns the #size-cells n declares for its children.
func (n *Node) SizeCells() (uint32, error) { return n.cells("#size-cells", DefaultSizeCells) }

// readCells decodes a value of cnt (0..2) big-endian cells.
func readCells(b []byte, cnt uint32) uint64 {
	var v uint64
	for i := uint32(0); i < cnt; i++ {
		v = v<<32 | uint64(binary.BigEndian.Uint32(b[4*i:]))
	}
	return v
}

// Reg decodes n's "reg" property with its parent's cell sizes, in the
// parent's address space (no "ranges" translation; see RegTranslated).
func (n *Node) Reg() ([]Region, error) {
	if n == nil || n.Parent == nil {
		return nil, fmt.Errorf("%w: reg of the root node", ErrNotFound)
	}
	ac, err := n.Parent.AddressCells()
	if err != nil {
		return nil, err
	}
	sc, err := n.Parent.SizeCells()
	if err != nil {
		return nil, err
	}
	if ac > maxCells || sc > maxCells || ac == 0 {
		return nil, malformed("%s: unsupported #address-cells %d / #size-cells %d", n.Path(), ac, sc)
	}
	v, ok := n.Prop("reg")
	if !ok {
		return nil, fmt.Errorf("%w: reg of %s", ErrNotFound, n.Path())
	}
	stride := 4 * (ac + sc)
	if len(v) == 0 || uint32(len(v))%stride != 0 {
		return nil, malformed("%s: reg of %d bytes is not a multiple of %d", n.Path(), len(v), stride)
	}
	out := make([]Region, 0, uint32(len(v))/stride)
	for off := uint32(0); off < uint32(len(v)); off += stride {
		out = append(out, Region{
			Base: readCells(v[off:], ac),
			Size: readCells(v[off+4*ac:], sc),
		})
	}
	return out, nil
}

// RegTranslated decodes "reg" and translates each base through the
// "ranges" of every ancestor bus up to the root, giving CPU physical
// addresses. An empty "ranges" is an identity map; a bus without "ranges"
// makes the addresses untranslatable (an error).
func (n *Node) RegTranslated() ([]Region, error) {
	regs, err := n.Reg()
	if err != nil {
		return nil, err
	}
	for i := range regs {
		pa, err := n.Parent.translate(regs[i].Base)
		if err != nil {
			return nil, err
		}
		regs[i].Base = pa
	}
	return regs, nil
}

// translate maps addr, an address in bus's child address space, to the root
// address space.
func (bus *Node) translate(addr uint64) (uint64, error) {
	for hops := 0; bus != nil && bus.Parent != nil; hops++ {
		if hops > maxTranslateDepth {
			return 0, malformed("ranges chain too long")
		}
		rng, ok := bus.Prop("ranges")
		if !ok {
			return 0, fmt.Errorf("%w: %s has no ranges: addresses are not translatable", ErrNotFound, bus.Path())
		}
		if len(rng) == 0 {
			bus = bus.Parent
			continue
		}
		cac, err := bus.AddressCells()
		if err != nil {
			return 0, err
		}
		csc, err := bus.SizeCells()
		if err != nil {
			return 0, err
		}
		pac, err := bus.Parent.AddressCells()
		if err != nil {
			return 0, err
		}
		if cac == 0 || cac > maxCells || csc > maxCells || pac == 0 || pac > maxCells {
			return 0, malformed("%s: unsupported cell sizes for ranges", bus.Path())
		}
		stride := 4 * (cac + pac + csc)
		if uint32(len(rng))%stride != 0 {
			return 0, malformed("%s: ranges of %d bytes is not a multiple of %d", bus.Path(), len(rng), stride)
		}
		found := false
		for off := uint32(0); off < uint32(len(rng)); off += stride {
			child := readCells(rng[off:], cac)
			parent := readCells(rng[off+4*cac:], pac)
			size := readCells(rng[off+4*(cac+pac):], csc)
			if addr >= child && addr-child < size {
				addr = parent + (addr - child)
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("%w: %#x is outside every range of %s", ErrNotFound, addr, bus.Path())
		}
		bus = bus.Parent
	}
	return addr, nil
}

// Interrupt types of the GIC binding's first cell
// (Linux Documentation/devicetree/bindings/interrupt-controller/arm,gic.yaml).
const (
	// TypeSPI is a shared peripheral interrupt: INTID = 32 + number.
	TypeSPI = 0
	// TypePPI is a private peripheral interrupt: INTID = 16 + number.
	TypePPI = 1
)

// Trigger flags of the GIC binding's third cell (bits 3:0).
const (
	TriggerEdgeRising  = 1
	TriggerEdgeFalling = 2
	TriggerLevelHigh   = 4
	TriggerLevelLow    = 8
	triggerMask        = 0xf
)

// Interrupt is one decoded GIC interrupt specifier.
type Interrupt struct {
	Type   uint32 // TypeSPI or TypePPI
	Number uint32 // SPI or PPI number as written in the tree
	Flags  uint32 // raw third cell: trigger in bits 3:0, PPI CPU mask in bits 15:8
	// INTID is the GIC interrupt ID: 32+Number for an SPI, 16+Number for a PPI.
	INTID uint32
}

// Edge reports whether the interrupt is edge-triggered (else level).
func (i Interrupt) Edge() bool {
	return i.Flags&(TriggerEdgeRising|TriggerEdgeFalling) != 0
}

// InterruptParent returns the interrupt controller n's interrupts go to:
// the node named by the nearest "interrupt-parent" on n or its ancestors.
func (t *Tree) InterruptParent(n *Node) (*Node, error) {
	for p, hops := n, 0; p != nil; p, hops = p.Parent, hops+1 {
		if hops > MaxDepth {
			return nil, malformed("interrupt-parent search too deep")
		}
		if !p.Has("interrupt-parent") {
			continue
		}
		ph, err := p.U32("interrupt-parent")
		if err != nil {
			return nil, err
		}
		ic, ok := t.ByPhandle(ph)
		if !ok {
			return nil, fmt.Errorf("%w: interrupt-parent phandle %#x of %s", ErrNotFound, ph, p.Path())
		}
		return ic, nil
	}
	return nil, fmt.Errorf("%w: no interrupt-parent for %s", ErrNotFound, n.Path())
}

// Interrupts decodes n's "interrupts" property against its interrupt
// parent, which must be a GIC-style controller with #interrupt-cells = 3
// (type, number, flags); INTIDs follow the GIC binding.
func (t *Tree) Interrupts(n *Node) ([]Interrupt, error) {
	v, ok := n.Prop("interrupts")
	if !ok {
		return nil, fmt.Errorf("%w: interrupts of %s", ErrNotFound, n.Path())
	}
	ic, err := t.InterruptParent(n)
	if err != nil {
		return nil, err
	}
	cells, err := ic.U32("#interrupt-cells")
	if err != nil {
		return nil, err
	}
	if cells != 3 {
		return nil, malformed("%s: #interrupt-cells %d of %s, want 3 (GIC)", n.Path(), cells, ic.Path())
	}
	if len(v) == 0 || len(v)%12 != 0 {
		return nil, malformed("%s: interrupts of %d bytes is not a multiple of 12", n.Path(), len(v))
	}
	be := binary.BigEndian
	out := make([]Interrupt, 0, len(v)/12)
	for off := 0; off < len(v); off += 12 {
		it := Interrupt{Type: be.Uint32(v[off:]), Number: be.Uint32(v[off+4:]), Flags: be.Uint32(v[off+8:])}
		switch it.Type {
		case TypeSPI:
			if it.Number > 987 { // INTIDs 32..1019
				return nil, malformed("%s: SPI %d out of range", n.Path(), it.Number)
			}
			it.INTID = 32 + it.Number
		case TypePPI:
			if it.Number > 15 {
				return nil, malformed("%s: PPI %d out of range", n.Path(), it.Number)
			}
			it.INTID = 16 + it.Number
		default:
			return nil, malformed("%s: unknown interrupt type %d", n.Path(), it.Type)
		}
		out = append(out, it)
	}
	return out, nil
}
