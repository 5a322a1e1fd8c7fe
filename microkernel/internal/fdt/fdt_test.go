package fdt

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixture returns a DTB dumped from QEMU 7.2 virt (see testdata/README).
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".dtb.gz"))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return b
}

func TestReadHeaderQEMU(t *testing.T) {
	b := fixture(t, "virt")
	h, err := ReadHeader(b)
	require.NoError(t, err)
	require.Equal(t, uint32(Magic), h.Magic)
	require.Equal(t, uint32(1<<20), h.TotalSize, "QEMU pads its DTB to 1 MiB")
	require.Equal(t, uint32(17), h.Version)
	require.Equal(t, uint32(16), h.LastCompVersion)
}

func TestReadHeaderRejects(t *testing.T) {
	good := fixture(t, "virt")
	mutate := func(off int, v uint32) []byte {
		b := bytes.Clone(good[:HeaderSize])
		binary.BigEndian.PutUint32(b[off:], v)
		return b
	}
	cases := map[string][]byte{
		"short":             good[:HeaderSize-1],
		"magic":             mutate(0, 0xfeedd00d),
		"totalsize tiny":    mutate(4, 8),
		"totalsize huge":    mutate(4, MaxTotalSize+1),
		"struct past end":   mutate(8, 1<<20-4),
		"struct unaligned":  mutate(8, 0x42),
		"strings past end":  mutate(12, 1<<20),
		"rsvmap unaligned":  mutate(16, 0x2c),
		"rsvmap in header":  mutate(16, 8),
		"old version":       mutate(20, 16),
		"future only":       mutate(24, 18),
		"strings size wrap": mutate(32, 0xfffffff0),
		"struct size wrap":  mutate(36, 0xfffffff0),
	}
	for name, b := range cases {
		_, err := ReadHeader(b)
		require.Error(t, err, name)
	}
	_, err := ReadHeader(mutate(4, MaxTotalSize+1))
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = ReadHeader(mutate(0, 0))
	require.ErrorIs(t, err, ErrMalformed)
}

func TestParseQEMUTree(t *testing.T) {
	tr, err := Parse(fixture(t, "virt"))
	require.NoError(t, err)
	require.Empty(t, tr.Reserved)
	require.Equal(t, "/", tr.Root.Path())
	model, err := tr.Root.String("model")
	require.NoError(t, err)
	require.Equal(t, "linux,dummy-virt", model)

	uart, ok := tr.Find("/pl011@9000000")
	require.True(t, ok)
	require.Equal(t, "/pl011@9000000", uart.Path())
	require.Equal(t, "9000000", uart.UnitAddress())
	comp, err := uart.Strings("compatible")
	require.NoError(t, err)
	require.Equal(t, []string{"arm,pl011", "arm,primecell"}, comp)
	require.True(t, uart.IsCompatible("arm,primecell"))
	require.False(t, uart.IsCompatible("arm,pl01"))

	short, ok := tr.Find("/pl011")
	require.True(t, ok, "unit address may be omitted")
	require.Same(t, uart, short)

	v2m, ok := tr.Find("/intc@8000000/v2m@8020000")
	require.True(t, ok)
	require.Equal(t, "intc@8000000", v2m.Parent.Name)
	require.True(t, v2m.Has("msi-controller"))

	_, ok = tr.Find("/nope")
	require.False(t, ok)
	_, ok = tr.Find("relative")
	require.False(t, ok)

	require.Len(t, tr.FindCompatible("virtio,mmio"), 32)

	// phandle 0x8002 is the GIC; 0x8001 the CPU.
	gic, ok := tr.ByPhandle(0x8002)
	require.True(t, ok)
	require.Equal(t, "/intc@8000000", gic.Path())
	cpu, ok := tr.ByPhandle(0x8001)
	require.True(t, ok)
	require.Equal(t, "/cpus/cpu@0", cpu.Path())
	_, ok = tr.ByPhandle(0x1234)
	require.False(t, ok)

	ac, err := tr.Root.AddressCells()
	require.NoError(t, err)
	require.Equal(t, uint32(2), ac)
	cpus, _ := tr.Find("/cpus")
	sc, err := cpus.SizeCells()
	require.NoError(t, err)
	require.Equal(t, uint32(0), sc)
	regs, err := cpu.Reg()
	require.NoError(t, err)
	require.Equal(t, []Region{{Base: 0, Size: 0}}, regs, "cpu reg has 1 address cell, 0 size cells")
}

func TestRegAndInterrupts(t *testing.T) {
	tr, err := Parse(fixture(t, "virt"))
	require.NoError(t, err)
	intc, _ := tr.Find("/intc")
	regs, err := intc.Reg()
	require.NoError(t, err)
	require.Equal(t, []Region{{0x08000000, 0x10000}, {0x08010000, 0x10000}}, regs)

	// v2m sits under intc, whose empty "ranges" is an identity map.
	v2m, _ := tr.Find("/intc/v2m")
	regs, err = v2m.RegTranslated()
	require.NoError(t, err)
	require.Equal(t, []Region{{0x08020000, 0x1000}}, regs)

	// cpus has no "ranges": cpu@0's reg is not an address.
	cpu, _ := tr.Find("/cpus/cpu@0")
	_, err = cpu.RegTranslated()
	require.ErrorIs(t, err, ErrNotFound)

	pl061, _ := tr.Find("/pl061")
	irqs, err := tr.Interrupts(pl061)
	require.NoError(t, err)
	require.Equal(t, []Interrupt{{Type: TypeSPI, Number: 7, Flags: TriggerLevelHigh, INTID: 39}}, irqs)
	require.False(t, irqs[0].Edge())

	_, err = tr.Interrupts(tr.Root)
	require.ErrorIs(t, err, ErrNotFound)
}
