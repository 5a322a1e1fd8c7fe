package fdt

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuiltMachine(t *testing.T) {
	b := minimalMachine()
	b.rsv = [][2]uint64{{0x80000000, 0x10000}}
	m, err := DecodeMachine(b.bytes())
	require.NoError(t, err)
	require.Equal(t, []Region{{0x80000000, 0x10000000}, {1 << 32, 0x1000}}, m.Memory)
	require.Equal(t, []Reservation{{0x80000000, 0x10000}}, m.Reserved)
	require.Equal(t, "console=ttyAMA0", m.Bootargs)
	require.Equal(t, []byte{0, 0, 0, 1, 0, 0, 0, 2}, m.RNGSeed)
	require.Equal(t, uint64(0x20003000), m.UART.Base, "translated through /soc ranges")
	require.Equal(t, uint32(37), m.UART.IRQ.INTID)
	require.Equal(t, 2, m.GIC.Version)
	require.Equal(t, uint64(0x2000), m.GIC.CPUBase)
	require.Equal(t, uint32(27), m.Timer.Virt.INTID)
	require.Equal(t, PSCISMC, m.PSCIMethod)
	require.Len(t, m.Virtio, 1, "disabled slot skipped")
	require.Equal(t, uint32(48), m.Virtio[0].IRQ.INTID)
	require.True(t, m.Virtio[0].IRQ.Edge())
}

func TestReservedMemoryNode(t *testing.T) {
	b := newBuilder()
	b.rsv = [][2]uint64{{0x40000000, 0x1000}}
	b.begin("").cells("#address-cells", 2).cells("#size-cells", 2)
	b.begin("memory").str("device_type", "memory").cells("reg", 0, 0x40000000, 0, 0x8000000).end()
	b.begin("reserved-memory").cells("#address-cells", 2).cells("#size-cells", 2).prop("ranges", nil)
	b.begin("secmon@40100000").cells("reg", 0, 0x40100000, 0, 0x200000).prop("no-map", nil).end()
	b.begin("pool").cells("size", 0, 0x100000).end()
	b.end().end()
	m, err := DecodeMachine(b.bytes())
	require.NoError(t, err)
	require.Equal(t, []Reservation{{0x40000000, 0x1000}, {0x40100000, 0x200000}}, m.Reserved)
}

func TestMachineErrors(t *testing.T) {
	t.Run("no memory", func(t *testing.T) {
		b := newBuilder()
		b.begin("").begin("chosen").end().end()
		_, err := DecodeMachine(b.bytes())
		require.ErrorIs(t, err, ErrNoMemory)
	})
	t.Run("bad reg length", func(t *testing.T) {
		b := newBuilder()
		b.begin("").begin("memory").str("device_type", "memory").cells("reg", 0, 0x40000000, 0, 0x1000).end().end()
		_, err := DecodeMachine(b.bytes())
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("memory wraps", func(t *testing.T) {
		b := newBuilder()
		b.begin("").cells("#size-cells", 2).begin("memory").str("device_type", "memory").
			cells("reg", 0xffffffff, 0xfffff000, 0, 0x2000).end().end()
		_, err := DecodeMachine(b.bytes())
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("interrupt parent missing", func(t *testing.T) {
		b := newBuilder()
		b.begin("").begin("memory").str("device_type", "memory").cells("reg", 0, 0x40000000, 0x1000).end()
		b.begin("uart").str("compatible", "arm,pl011").cells("reg", 0, 0x1000, 0x1000).cells("interrupts", 0, 1, 4).end().end()
		_, err := DecodeMachine(b.bytes())
		require.ErrorIs(t, err, ErrNotFound)
	})
	t.Run("unknown PSCI method", func(t *testing.T) {
		b := newBuilder()
		b.begin("").begin("memory").str("device_type", "memory").cells("reg", 0, 0x40000000, 0x1000).end()
		b.begin("psci").str("compatible", "arm,psci").str("method", "svc").end().end()
		_, err := DecodeMachine(b.bytes())
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("PPI out of range", func(t *testing.T) {
		b := newBuilder()
		b.begin("").cells("interrupt-parent", 7).begin("memory").str("device_type", "memory").cells("reg", 0, 0x40000000, 0x1000).end()
		b.begin("ic").cells("phandle", 7).cells("#interrupt-cells", 3).end()
		b.begin("timer").str("compatible", "arm,armv8-timer").cells("interrupts", 1, 16, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4).end().end()
		_, err := DecodeMachine(b.bytes())
		require.ErrorIs(t, err, ErrMalformed)
	})
}

func TestParseStructureErrors(t *testing.T) {
	cases := map[string]func(b *builder){
		"unclosed node":     func(b *builder) { b.begin("") },
		"extra end":         func(b *builder) { b.begin("").end().end() },
		"prop outside node": func(b *builder) { b.prop("x", nil) },
		"two roots":         func(b *builder) { b.begin("").end().begin("").end() },
		"named root":        func(b *builder) { b.begin("root").end() },
		"unknown token":     func(b *builder) { b.begin(""); b.u32(7); b.end() },
		"empty child name":  func(b *builder) { b.begin("").begin("").end().end() },
		"no root":           func(b *builder) {},
	}
	for name, build := range cases {
		b := newBuilder()
		build(b)
		_, err := Parse(b.bytes())
		require.ErrorIs(t, err, ErrMalformed, name)
	}
}

func TestParseBounds(t *testing.T) {
	t.Run("depth", func(t *testing.T) {
		b := newBuilder()
		b.begin("")
		for i := 0; i <= MaxDepth; i++ {
			b.begin("n")
		}
		for i := 0; i <= MaxDepth+1; i++ {
			b.end()
		}
		_, err := Parse(b.bytes())
		require.ErrorIs(t, err, ErrTooLarge)
	})
	t.Run("nodes", func(t *testing.T) {
		b := newBuilder()
		b.begin("")
		for i := 0; i < MaxNodes; i++ {
			b.begin("n").end()
		}
		b.end()
		_, err := Parse(b.bytes())
		require.ErrorIs(t, err, ErrTooLarge)
	})
	t.Run("property name offset", func(t *testing.T) {
		b := newBuilder()
		b.begin("")
		b.u32(tokenProp)
		b.u32(0)
		b.u32(1 << 30)
		b.end()
		_, err := Parse(b.bytes())
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("property length", func(t *testing.T) {
		b := newBuilder()
		b.begin("").str("a", "b")
		b.u32(tokenProp)
		b.u32(0xffffffff)
		b.u32(0)
		b.end()
		_, err := Parse(b.bytes())
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("blob shorter than totalsize", func(t *testing.T) {
		blob := minimalMachine().bytes()
		_, err := Parse(blob[:len(blob)-1])
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("reservation block unterminated", func(t *testing.T) {
		blob := minimalMachine().bytes()
		h, err := ReadHeader(blob)
		require.NoError(t, err)
		// Point the reservation block at the last 8 bytes.
		binary.BigEndian.PutUint32(blob[16:], h.TotalSize-8&^7)
		_, err = Parse(blob)
		require.Error(t, err)
	})
}

// Every truncation of a real tree (with totalsize patched to match) must
// fail cleanly, never panic.
func TestParseEveryTruncation(t *testing.T) {
	full := minimalMachine().bytes()
	for n := 0; n < len(full); n++ {
		b := bytes.Clone(full[:n])
		if n >= 8 {
			binary.BigEndian.PutUint32(b[4:], uint32(n))
		}
		_, err := Parse(b)
		require.Error(t, err, "truncated to %d bytes", n)
	}
}

func TestParseCopiesBlob(t *testing.T) {
	blob := minimalMachine().bytes()
	tr, err := Parse(blob)
	require.NoError(t, err)
	for i := range blob {
		blob[i] = 0xff
	}
	c, ok := tr.Find("/chosen")
	require.True(t, ok)
	s, err := c.String("bootargs")
	require.NoError(t, err)
	require.Equal(t, "console=ttyAMA0", s)
}

func TestUARTFollowsStdoutPath(t *testing.T) {
	build := func(stdout string) []byte {
		b := newBuilder()
		b.begin("").cells("#address-cells", 1).cells("#size-cells", 1).cells("interrupt-parent", 1)
		b.begin("memory").str("device_type", "memory").cells("reg", 0x40000000, 0x1000).end()
		b.begin("ic").cells("phandle", 1).cells("#interrupt-cells", 3).end()
		b.begin("aliases").str("serial0", "/uart@2000").end()
		b.begin("chosen").str("stdout-path", stdout).end()
		b.begin("uart@1000").str("compatible", "arm,pl011").cells("reg", 0x1000, 0x1000).cells("interrupts", 0, 1, 4).end()
		b.begin("uart@2000").str("compatible", "arm,pl011").cells("reg", 0x2000, 0x1000).cells("interrupts", 0, 2, 4).end()
		b.end()
		return b.bytes()
	}
	for stdout, want := range map[string]uint64{
		"/uart@2000":          0x2000,
		"/uart@2000:115200n8": 0x2000,
		"serial0:115200n8":    0x2000,
		"/uart@1000":          0x1000,
		"":                    0x1000, // no stdout-path: first PL011
		"/nowhere":            0x1000,
		"serial9":             0x1000,
	} {
		m, err := DecodeMachine(build(stdout))
		require.NoError(t, err, stdout)
		require.Equal(t, want, m.UART.Base, "stdout-path %q", stdout)
	}
}

func TestPropertyDecoders(t *testing.T) {
	b := newBuilder()
	b.begin("").cells("interrupt-parent", 9)
	b.begin("n").prop("raw", []byte("abc")).prop("list", []byte("a\x00\x00b\x00")).prop("empty", nil).
		cells("two", 1, 2).prop("interrupts", []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4}).end()
	b.end()
	tr, err := Parse(b.bytes())
	require.NoError(t, err)
	n, ok := tr.Find("/n")
	require.True(t, ok)
	require.Equal(t, "", n.UnitAddress())
	require.Equal(t, "", tr.Root.UnitAddress())

	_, err = n.String("raw")
	require.ErrorIs(t, err, ErrMalformed, "not NUL-terminated")
	_, err = n.Strings("raw")
	require.ErrorIs(t, err, ErrMalformed)
	l, err := n.Strings("list")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "", "b"}, l)
	l, err = n.Strings("empty")
	require.NoError(t, err)
	require.Empty(t, l)
	l, err = n.Strings("missing")
	require.NoError(t, err)
	require.Nil(t, l)
	_, err = n.U32("two")
	require.ErrorIs(t, err, ErrMalformed)
	_, err = n.U32("missing")
	require.ErrorIs(t, err, ErrNotFound)
	require.False(t, n.IsCompatible("x"))

	_, err = tr.Interrupts(n)
	require.ErrorIs(t, err, ErrNotFound, "interrupt-parent phandle 9 does not exist")

	require.Equal(t, uint64(0x3000), Region{Base: 0x1000, Size: 0x2000}.End())
	require.Equal(t, ^uint64(0), Region{Base: ^uint64(0) - 1, Size: 8}.End(), "saturates")

	var nilNode *Node
	_, ok = nilNode.Prop("x")
	require.False(t, ok)
	require.Nil(t, nilNode.Child("x"))
	require.Equal(t, "", nilNode.Path())
	var nilTree *Tree
	_, ok = nilTree.Find("/")
	require.False(t, ok)
}

// Corrupting any byte of a real tree gives an error or a consistent tree,
// never a panic (a deterministic complement to FuzzParse).
func TestParseSurvivesCorruption(t *testing.T) {
	full := fixture(t, "virt")
	h, err := ReadHeader(full)
	require.NoError(t, err)
	end := h.OffDtStrings + h.SizeDtStrings
	packed := bytes.Clone(full[:end])
	binary.BigEndian.PutUint32(packed[4:], end)
	parsed := 0
	for i := 0; i < len(packed); i += 3 {
		b := bytes.Clone(packed)
		b[i] ^= 0xff
		tr, err := Parse(b)
		if err != nil {
			continue
		}
		parsed++
		_, _ = tr.Machine()
	}
	require.Positive(t, parsed, "corrupted property values still parse")
}
