package fdt

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParse feeds arbitrary blobs to Parse and Machine. Invariants: no
// panic; on success the tree is consistent (parent/child links, paths
// resolve back to their node, phandles point at nodes that carry them) and
// every decoded region and interrupt obeys the bounds the decoders promise.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"virt", "virt-gicv3", "virt-el2"} {
		b := fixture(f, name)
		h, err := ReadHeader(b)
		require.NoError(f, err)
		// Seed with a packed copy: the 1 MiB padding only slows the fuzzer.
		end := h.OffDtStrings + h.SizeDtStrings
		packed := append([]byte(nil), b[:end]...)
		binary.BigEndian.PutUint32(packed[4:], end)
		f.Add(packed)
	}
	f.Add(minimalMachine().bytes())
	// A GICv3 board with aliases, reserved memory and a disabled node.
	b := newBuilder()
	b.rsv = [][2]uint64{{0x40000000, 0x1000}}
	b.begin("").cells("#address-cells", 2).cells("#size-cells", 2).cells("interrupt-parent", 3)
	b.begin("aliases").str("serial0", "/pl011@9000000").end()
	b.begin("chosen").str("stdout-path", "serial0:115200n8").str("bootargs", "a b").end()
	b.begin("memory@40000000").str("device_type", "memory").cells("reg", 0, 0x40000000, 0, 0x8000000).end()
	b.begin("reserved-memory").cells("#address-cells", 2).cells("#size-cells", 2).prop("ranges", nil)
	b.begin("fw@40100000").cells("reg", 0, 0x40100000, 0, 0x100000).end().end()
	b.begin("intc@8000000").str("compatible", "arm,gic-v3").cells("phandle", 3).cells("#interrupt-cells", 3).
		cells("reg", 0, 0x8000000, 0, 0x10000, 0, 0x80a0000, 0, 0xf60000).end()
	b.begin("pl011@9000000").str("compatible", "arm,pl011").cells("reg", 0, 0x9000000, 0, 0x1000).cells("interrupts", 0, 1, 4).end()
	b.begin("pl011@9040000").str("compatible", "arm,pl011").str("status", "disabled").cells("reg", 0, 0x9040000, 0, 0x1000).end()
	b.begin("timer").str("compatible", "arm,armv8-timer").cells("interrupts", 1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4).end()
	b.begin("psci").str("compatible", "arm,psci-1.0").str("method", "hvc").end()
	b.end()
	f.Add(b.bytes())
	f.Add([]byte{0xd0, 0x0d, 0xfe, 0xed})
	f.Fuzz(func(t *testing.T, blob []byte) {
		tr, err := Parse(blob)
		if err != nil {
			require.Nil(t, tr)
			return
		}
		require.NotNil(t, tr.Root)
		require.LessOrEqual(t, len(tr.Nodes()), MaxNodes)
		for _, n := range tr.Nodes() {
			if n.Parent != nil {
				linked := false
				for _, c := range n.Parent.Children {
					linked = linked || c == n
				}
				require.True(t, linked, "node %q missing from its parent's children", n.Name)
				found, ok := tr.Find(n.Path())
				require.True(t, ok, n.Path())
				require.Equal(t, n.Name, found.Name)
			}
			_, _ = n.Reg()
			_, _ = n.RegTranslated()
			_, _ = n.Strings("compatible")
			if irqs, err := tr.Interrupts(n); err == nil {
				for _, it := range irqs {
					require.True(t, it.INTID >= 16 && it.INTID < 1020, "INTID %d", it.INTID)
				}
			}
			if ph, err := n.U32("phandle"); err == nil {
				owner, ok := tr.ByPhandle(ph)
				if ok {
					v, err := owner.U32("phandle")
					if err != nil {
						v, err = owner.U32("linux,phandle")
					}
					require.NoError(t, err)
					require.Equal(t, ph, v)
				}
			}
		}
		m, err := tr.Machine()
		if err != nil {
			return
		}
		require.NotEmpty(t, m.Memory)
		for _, r := range m.Memory {
			require.NotZero(t, r.Size)
			require.GreaterOrEqual(t, r.Base+r.Size, r.Base, "memory regions never wrap")
		}
		require.LessOrEqual(t, len(m.Virtio), MaxVirtio)
		if m.HasGIC {
			require.Contains(t, []int{2, 3}, m.GIC.Version)
		}
		if m.PSCIMethod != "" {
			require.Contains(t, []string{PSCIHVC, PSCISMC}, m.PSCIMethod)
		}
	})
}
