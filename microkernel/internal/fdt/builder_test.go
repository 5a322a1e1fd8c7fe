package fdt

import (
	"encoding/binary"
)

// builder writes a DTB for tests: a tiny subset of dtc, enough to build
// trees the QEMU fixtures do not cover (and hostile ones).
type builder struct {
	structs []byte
	strs    []byte
	offs    map[string]uint32
	rsv     [][2]uint64
}

func newBuilder() *builder { return &builder{offs: map[string]uint32{}} }

func (b *builder) u32(v uint32) { b.structs = binary.BigEndian.AppendUint32(b.structs, v) }

func (b *builder) pad() {
	for len(b.structs)%4 != 0 {
		b.structs = append(b.structs, 0)
	}
}

func (b *builder) begin(name string) *builder {
	b.u32(tokenBeginNode)
	b.structs = append(b.structs, name...)
	b.structs = append(b.structs, 0)
	b.pad()
	return b
}

func (b *builder) end() *builder { b.u32(tokenEndNode); return b }

func (b *builder) prop(name string, val []byte) *builder {
	off, ok := b.offs[name]
	if !ok {
		off = uint32(len(b.strs))
		b.offs[name] = off
		b.strs = append(b.strs, name...)
		b.strs = append(b.strs, 0)
	}
	b.u32(tokenProp)
	b.u32(uint32(len(val)))
	b.u32(off)
	b.structs = append(b.structs, val...)
	b.pad()
	return b
}

func (b *builder) str(name, v string) *builder { return b.prop(name, append([]byte(v), 0)) }

func (b *builder) cells(name string, vs ...uint32) *builder {
	var v []byte
	for _, x := range vs {
		v = binary.BigEndian.AppendUint32(v, x)
	}
	return b.prop(name, v)
}

// bytes finishes the structure block and lays out header, reservation
// block, structure and strings.
func (b *builder) bytes() []byte {
	structs := binary.BigEndian.AppendUint32(append([]byte(nil), b.structs...), tokenEnd)
	rsvOff := uint32(HeaderSize)
	rsvLen := uint32(16 * (len(b.rsv) + 1))
	structOff := rsvOff + rsvLen
	strOff := structOff + uint32(len(structs))
	total := strOff + uint32(len(b.strs))
	out := make([]byte, 0, total)
	be := binary.BigEndian
	for _, v := range []uint32{Magic, total, structOff, strOff, rsvOff, 17, 16, 0, uint32(len(b.strs)), uint32(len(structs))} {
		out = be.AppendUint32(out, v)
	}
	for _, r := range b.rsv {
		out = be.AppendUint64(out, r[0])
		out = be.AppendUint64(out, r[1])
	}
	out = append(out, make([]byte, 16)...)
	out = append(out, structs...)
	return append(out, b.strs...)
}

// minimalMachine is a small but complete board: memory, chosen, a GICv2,
// a UART on a translated bus, a timer, PSCI and one virtio slot.
func minimalMachine() *builder {
	b := newBuilder()
	b.begin("").cells("#address-cells", 2).cells("#size-cells", 2).cells("interrupt-parent", 1)
	b.begin("memory@80000000").str("device_type", "memory").cells("reg", 0, 0x80000000, 0, 0x10000000, 1, 0, 0, 0x1000).end()
	b.begin("chosen").str("bootargs", "console=ttyAMA0").cells("rng-seed", 1, 2).end()
	b.begin("intc@1000").str("compatible", "arm,cortex-a15-gic").cells("#interrupt-cells", 3).
		cells("phandle", 1).cells("reg", 0, 0x1000, 0, 0x1000, 0, 0x2000, 0, 0x2000).end()
	b.begin("soc").str("compatible", "simple-bus").cells("#address-cells", 1).cells("#size-cells", 1).
		cells("ranges", 0, 0, 0x20000000, 0x100000)
	b.begin("serial@3000").prop("compatible", []byte("arm,pl011\x00arm,primecell\x00")).
		cells("reg", 0x3000, 0x1000).cells("interrupts", 0, 5, 4).end()
	b.end()
	b.begin("timer").str("compatible", "arm,armv8-timer").
		cells("interrupts", 1, 13, 8, 1, 14, 8, 1, 11, 8, 1, 10, 8).end()
	b.begin("psci").str("compatible", "arm,psci-0.2").str("method", "smc").end()
	b.begin("virtio_mmio@a000000").str("compatible", "virtio,mmio").
		cells("reg", 0, 0xa000000, 0, 0x200).cells("interrupts", 0, 16, 1).end()
	b.begin("virtio_mmio@a000200").str("compatible", "virtio,mmio").str("status", "disabled").
		cells("reg", 0, 0xa000200, 0, 0x200).cells("interrupts", 0, 17, 1).end()
	b.end()
	return b
}
