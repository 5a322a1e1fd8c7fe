//go:build !arm64

package fwcfg

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pattern is deterministic test content.
func pattern(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

var testFiles = map[string][]byte{
	"etc/boot-fail-wait":            {0, 0, 0, 0},
	"opt/armos/image":               pattern(100_003, 1),
	"opt/armos/other":               pattern(10, 2),
	"bootorder":                     {},
	strings.Repeat("n", MaxNameLen): []byte("longest name"),
}

// probe makes a fake with testFiles and probes it; scratch is at RAM 0.
func probe(t *testing.T) (*fakeDev, Device) {
	f := newFake(t, testFiles)
	d, e := Probe(f.base(), f.dma(0))
	require.Equal(t, OK, e)
	return f, d
}

func TestSignatureConstants(t *testing.T) {
	require.Equal(t, uint64(dmaSignatureLE), bits.ReverseBytes64(dmaSignature))
	require.Equal(t, "QEMU", string(binary.LittleEndian.AppendUint32(nil, signatureLE)))
}

func TestProbe(t *testing.T) {
	f, d := probe(t)
	require.Equal(t, uint32(FeatureTraditional|FeatureDMA), d.Features())
	require.Equal(t, f.base(), d.Base())
	require.Equal(t, []string{"select 0x0000", "select 0x0001"}, f.events, "16-bit big-endian selector writes")
	require.Empty(t, f.ops, "probing needs no DMA")
}

func TestProbeRefuses(t *testing.T) {
	f := newFake(t, nil)
	for _, bad := range []DMA{{}, {Virt: f.dma(4).Virt, Phys: f.dma(4).Phys}, {Virt: f.dma(0).Virt, Phys: 3}} {
		_, e := Probe(f.base(), bad)
		require.Equal(t, ErrScratch, e, "%+v", bad)
	}

	f.items[KeySignature] = []byte("QEMV")
	_, e := Probe(f.base(), f.dma(0))
	require.Equal(t, ErrNoDevice, e)

	f = newFake(t, nil)
	f.items[KeyID] = []byte{FeatureTraditional, 0, 0, 0}
	_, e = Probe(f.base(), f.dma(0))
	require.Equal(t, ErrNoDMA, e)

	f = newFake(t, nil)
	copy(f.regBytes(regDMA, 8), "QEMU CFX")
	_, e = Probe(f.base(), f.dma(0))
	require.Equal(t, ErrNoDMA, e)
}

func TestFind(t *testing.T) {
	f, d := probe(t)
	names := []string{"bootorder", "etc/boot-fail-wait", strings.Repeat("n", MaxNameLen), "opt/armos/image", "opt/armos/other"}
	for i, name := range names { // keys follow name order in the fake
		file, e := d.Find(name)
		require.Equal(t, OK, e, name)
		require.Equal(t, File{Select: uint16(KeyFileFirst + i), Size: uint32(len(testFiles[name]))}, file, name)
	}
	for _, name := range []string{"", "opt/armos/imag", "opt/armos/image2", "opt/armos/imagE", strings.Repeat("n", MaxNameLen+1)} {
		_, e := d.Find(name)
		require.Equal(t, ErrNotFound, e, "%q", name)
	}
	// One select+read of the count, then one read per entry until found.
	f.ops = nil
	_, e := d.Find("etc/boot-fail-wait")
	require.Equal(t, OK, e)
	require.Len(t, f.ops, 3)
	require.Equal(t, uint32(KeyFileDir<<16|dmaSelect|dmaRead), f.ops[0].control)
	require.Equal(t, uint32(4), f.ops[0].length)
	require.Equal(t, uint32(dmaRead), f.ops[1].control)
	require.Equal(t, uint32(FileEntrySize), f.ops[1].length)
	require.Equal(t, uint64(fakeRAMBase+DescSize), f.ops[1].addr, "directory entries land after the descriptor")
}

func TestFindBadDirectory(t *testing.T) {
	f, d := probe(t)
	f.items[KeyFileDir] = []byte{0, 0, 0x40, 0}
	_, e := d.Find("x")
	require.Equal(t, ErrBadDir, e)
	f.items[KeyFileDir] = []byte{0, 0, 0, 9} // claims 9 entries, has none: zeros, no match
	_, e = d.Find("x")
	require.Equal(t, ErrNotFound, e)
}

func TestReadAt(t *testing.T) {
	f, d := probe(t)
	img, e := d.Find("opt/armos/image")
	require.Equal(t, OK, e)
	want := testFiles["opt/armos/image"]
	const dst = 4096
	for _, c := range []struct{ off, n int }{
		{0, 1}, {0, 100}, {1, 3}, {12345, 4096}, {99_000, 1003}, {100_002, 1}, {0, 100_003}, {50_000, 0}, {100_003, 0},
	} {
		clear(f.ram[dst:])
		f.ops = nil
		require.Equal(t, OK, d.ReadAt(img, uint64(c.off), fakeRAMBase+dst, uint32(c.n)), "%+v", c)
		require.Equal(t, want[c.off:c.off+c.n], f.ram[dst:dst+c.n], "%+v", c)
		require.Zero(t, f.ram[dst+c.n], "nothing written past the end")
		switch {
		case c.n == 0:
			require.Empty(t, f.ops)
		case c.off == 0:
			require.Len(t, f.ops, 1, "select+read in one operation")
			require.Equal(t, uint32(img.Select)<<16|dmaSelect|dmaRead, f.ops[0].control)
		default:
			require.Len(t, f.ops, 2)
			require.Equal(t, uint32(img.Select)<<16|dmaSelect|dmaSkip, f.ops[0].control)
			require.Equal(t, uint32(c.off), f.ops[0].length)
			require.Equal(t, uint32(dmaRead), f.ops[1].control)
			require.Equal(t, uint32(c.n), f.ops[1].length)
			require.Equal(t, uint64(fakeRAMBase+dst), f.ops[1].addr)
		}
	}
	f.ops = nil
	for _, c := range []struct{ off, n uint64 }{{100_003, 1}, {0, 100_004}, {100_004, 0}, {1 << 40, 1}, {1<<64 - 1, 2}} {
		require.Equal(t, ErrRange, d.ReadAt(img, c.off, fakeRAMBase+dst, uint32(c.n)), "%+v", c)
	}
	require.Empty(t, f.ops, "refused before any DMA")
}

// TestDescriptorLayout: the descriptor is big-endian {control, length,
// address} and the trigger writes the descriptor's address high half
// first, both big-endian.
func TestDescriptorLayout(t *testing.T) {
	f, d := probe(t)
	img, _ := d.Find("opt/armos/image")
	f.ops = nil
	require.Equal(t, OK, d.ReadAt(img, 0x10203, 0x4000_1234, 0x55))
	require.Equal(t, []byte{0x00, byte(img.Select), 0x00, 0x0c, 0x00, 0x01, 0x02, 0x03, 0, 0, 0, 0, 0, 0, 0, 0}, f.ops[0].desc[:])
	require.Equal(t, []byte{0, 0, 0, 0x02, 0, 0, 0, 0x55, 0, 0, 0, 0, 0x40, 0x00, 0x12, 0x34}, f.ops[1].desc[:])
	require.Equal(t, []byte{0, 0, 0, 0, 0x40, 0, 0, 0}, f.regBytes(regDMA, 8), "last trigger: the descriptor's physical address, big-endian")
	require.Equal(t, []byte{0, 0, 0, 0}, f.ram[0:4], "the device wrote control back as 0")
}

// TestHighDescriptorAddress: a descriptor above 4 GiB needs both halves.
func TestHighDescriptorAddress(t *testing.T) {
	f := newFake(t, testFiles)
	f.ramBase = 0x1_2345_6780
	d, e := Probe(f.base(), f.dma(8))
	require.Equal(t, OK, e)
	img, e := d.Find("opt/armos/image")
	require.Equal(t, OK, e)
	require.Equal(t, OK, d.ReadAt(img, 7, f.ramBase+512, 9))
	require.Equal(t, testFiles["opt/armos/image"][7:16], f.ram[512:521])
	require.Equal(t, []byte{0, 0, 0, 1, 0x23, 0x45, 0x67, 0x88}, f.regBytes(regDMA, 8))
}

// TestBarriers: descriptor stores, then DSB ST, then the high and low
// trigger writes; after completion, DSB LD before returning.
func TestBarriers(t *testing.T) {
	f, d := probe(t)
	img, _ := d.Find("opt/armos/other")
	f.events = nil
	require.Equal(t, OK, d.ReadAt(img, 0, fakeRAMBase+4096, 10))
	require.Equal(t, []string{"store", "store", "store", "store", "wmb", "dma-high", "dma-low", "rmb"}, f.events)
}

func TestDeviceErrors(t *testing.T) {
	f, d := probe(t)
	img, _ := d.Find("opt/armos/image")
	// A destination the device cannot reach.
	require.Equal(t, ErrDevice, d.ReadAt(img, 0, 0x1000, 16))
	require.Equal(t, ErrDevice, d.ReadAt(img, 5, fakeRAMBase+uint64(len(f.ram))-8, 16))
	// The device flags an error.
	f.failOps = len(f.ops) + 2
	require.Equal(t, ErrDevice, d.ReadAt(img, 5, fakeRAMBase+4096, 16), "the skip succeeds, the read fails")
	_, e := d.Find("opt/armos/image")
	require.Equal(t, ErrDevice, e)
	f.failOps = 0
	// The device never answers.
	f.hang = true
	require.Equal(t, ErrTimeout, d.ReadAt(img, 0, fakeRAMBase+4096, 16))
	_, e = d.Find("opt/armos/image")
	require.Equal(t, ErrTimeout, e)
}

func TestCopyAt(t *testing.T) {
	f, d := probe(t)
	img, _ := d.Find("opt/armos/image")
	want := testFiles["opt/armos/image"]
	bounce := f.dma(8192)
	for _, c := range []struct {
		off, n int
		bounce uint32
	}{{0, 10, 4096}, {777, 20_000, 4096}, {777, 20_000, 3}, {0, len(want), 65536}, {len(want) - 1, 1, 1}, {5, 0, 1}} {
		dst := make([]byte, c.n+1)
		f.ops = nil
		require.Equal(t, OK, d.CopyAt(img, uint64(c.off), dst[:c.n], bounce, c.bounce), "%+v", c)
		require.Equal(t, want[c.off:c.off+c.n], dst[:c.n], "%+v", c)
		require.Zero(t, dst[c.n])
		chunks := (c.n + int(c.bounce) - 1) / int(c.bounce)
		extra := 0
		if c.off != 0 && c.n > 0 {
			extra = 1 // the skip
		}
		require.Len(t, f.ops, chunks+extra, "one select(+skip), then one read per chunk: %+v", c)
	}
	require.Equal(t, ErrRange, d.CopyAt(img, 1, make([]byte, len(want)), bounce, 4096))
	require.Equal(t, ErrScratch, d.CopyAt(img, 1, make([]byte, 1), DMA{}, 4096))
	require.Equal(t, ErrScratch, d.CopyAt(img, 1, make([]byte, 1), bounce, 0))
}

func TestSelfTest(t *testing.T) {
	f, d := probe(t)
	buf := f.dma(4096)
	for _, name := range []string{"opt/armos/image", "opt/armos/other", "bootorder", "etc/boot-fail-wait"} {
		file, _ := d.Find(name)
		require.Equal(t, OK, d.SelfTest(file, buf), name)
	}
	// A device whose skip does nothing is caught.
	f.ignoreSkp = true
	img, _ := d.Find("opt/armos/image")
	require.Equal(t, ErrMismatch, d.SelfTest(img, buf))
	// Content equal to one fill pattern is no problem: the two areas are
	// filled differently.
	f.ignoreSkp = false
	f.items[img.Select] = bytes.Repeat([]byte{0xa5}, 64)
	require.Equal(t, OK, d.SelfTest(File{Select: img.Select, Size: 64}, buf))
	require.Equal(t, ErrScratch, d.SelfTest(img, DMA{}))
}

func TestNoAllocations(t *testing.T) {
	f, d := probe(t)
	img, _ := d.Find("opt/armos/image")
	dst := make([]byte, 5000)
	f.events = slices.Grow(f.events[:0], 1<<16) // the fake's own logging
	f.ops = slices.Grow(f.ops[:0], 1<<12)
	allocs := testing.AllocsPerRun(20, func() {
		f.events, f.ops = f.events[:0], f.ops[:0]
		_ = d.ReadAt(img, 100, fakeRAMBase+4096, 1000)
		_, _ = d.Find("opt/armos/other")
		_ = d.CopyAt(img, 3, dst, f.dma(8192), 1024)
	})
	require.Zero(t, allocs)
}

func TestErrno(t *testing.T) {
	require.NoError(t, OK.Err())
	require.EqualError(t, ErrRange.Err(), "fwcfg: read outside the file")
	for e := OK; e < numErrno; e++ {
		require.NotEmpty(t, e.Error())
	}
	require.Equal(t, "fwcfg: unknown error", Errno(200).Error())
}
