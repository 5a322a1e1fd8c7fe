package mm

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func newTable(t testing.TB, ramSize uint64) (*PageTable, *PhysMem, []byte) {
	t.Helper()
	p, mem := newPhys(t, ramSize)
	pt := new(PageTable)
	require.Equal(t, OK, pt.Init(p))
	return pt, p, mem
}

// desc reads the raw descriptor at index i of the table at physical pa.
func desc(mem []byte, pa uint64, i int) uint64 {
	off := pa - testRAMBase + uint64(i)*8
	return binary.LittleEndian.Uint64(mem[off:])
}

func TestDescriptorGoldenValues(t *testing.T) {
	// Encodings checked bit by bit against Arm ARM D8.3 (stage 1, 4 KiB granule).
	require.Equal(t, Attr(0x0060_0000_0000_0704), KernelRW, "AttrIndx 1 (Normal WB), SH=11, AF, PXN, UXN")
	require.Equal(t, Attr(0x0060_0000_0000_0408), KernelDevice, "AttrIndx 2 (Device-nGnRE), AF, PXN, UXN")
	require.Equal(t, Attr(0x0040_0000_0000_0784), KernelRX, "AP[2] RO, UXN only")
	require.Equal(t, Attr(0x0060_0000_0000_0F44), UserRW, "AP[1] EL0, nG")
	require.Equal(t, Attr(0x0020_0000_0000_0FC4), UserRX, "AP=11 RO at EL0+EL1, PXN only")
	require.Equal(t, uint64(0x4404_ff00), uint64(MAIRValue), "Attr0 Device-nGnRnE, Attr1 Normal WB, Attr2 Device-nGnRE, Attr3 Normal NC")

	pt, _, mem := newTable(t, 1<<20)
	va := uint64(0x0000_7f12_3456_7000)
	pa := uint64(0x4012_3000)
	require.Equal(t, OK, pt.Map(va, pa, UserRW))

	// Level 0..2: table descriptors (bits[1:0] = 11) to pages of our RAM.
	l0 := desc(mem, pt.Root(), indexAt(va, 0))
	require.Equal(t, uint64(3), l0&3)
	l1 := desc(mem, l0&AddrMask, indexAt(va, 1))
	require.Equal(t, uint64(3), l1&3)
	l2 := desc(mem, l1&AddrMask, indexAt(va, 2))
	require.Equal(t, uint64(3), l2&3)
	l3 := desc(mem, l2&AddrMask, indexAt(va, 3))
	require.Equal(t, uint64(0x0060_0000_4012_3F47), l3, "page descriptor = pa | UserRW | 0b11")

	require.Equal(t, OK, pt.MapBlock(0x8000_0000_0000, 0x4020_0000, Level2Size, KernelRW))
	l0 = desc(mem, pt.Root(), 256)
	l1 = desc(mem, l0&AddrMask, 0)
	l2 = desc(mem, l1&AddrMask, 0)
	require.Equal(t, uint64(0x0060_0000_4020_0705), l2, "block descriptor: bits[1:0] = 01")

	require.Equal(t, 0, indexAt(va&^(Level0Size-1), 1))
	require.Equal(t, 0xfe, indexAt(va, 0))
	require.Equal(t, 0x48, indexAt(va, 1))
	require.Equal(t, 0x1a2, indexAt(va, 2))
	require.Equal(t, 0x167, indexAt(va, 3))
}

func TestMapLookupUnmapRoundTrip(t *testing.T) {
	pt, p, _ := newTable(t, 4<<20)
	base := p.Stats().Used // the root
	vas := []uint64{0, 0x1000, 0x20_0000, 0x4000_0000, 0x7fff_ffff_f000, 0x8000_0000_0000, VALimit - PageSize}
	for i, va := range vas {
		require.Equal(t, OK, pt.Map(va, testRAMBase+uint64(i)*PageSize, UserRW), "va %#x", va)
	}
	for i, va := range vas {
		pa, attr, ok := pt.Lookup(va + 0x123)
		require.True(t, ok)
		require.Equal(t, testRAMBase+uint64(i)*PageSize+0x123, pa)
		require.Equal(t, UserRW, attr)
	}
	_, _, ok := pt.Lookup(0x2000)
	require.False(t, ok)
	_, _, ok = pt.Lookup(VALimit)
	require.False(t, ok)
	require.Equal(t, uint64(len(vas)), pt.Stats().Pages)

	require.Equal(t, ErrExists, pt.Map(0x1000, testRAMBase, UserRO))
	for i, va := range vas {
		pa, e := pt.Unmap(va)
		require.Equal(t, OK, e)
		require.Equal(t, testRAMBase+uint64(i)*PageSize, pa)
		_, _, ok := pt.Lookup(va)
		require.False(t, ok)
	}
	_, e := pt.Unmap(0x1000)
	require.Equal(t, ErrNotMapped, e)

	// Every intermediate table was freed again: only the root remains.
	require.Equal(t, uint64(1), pt.Stats().Tables)
	require.Equal(t, base, p.Stats().Used)
	require.Zero(t, pt.Stats().Pages)
}

func TestMapArgumentChecks(t *testing.T) {
	pt, _, _ := newTable(t, 1<<20)
	require.Equal(t, ErrAlign, pt.Map(0x1001, testRAMBase, UserRW))
	require.Equal(t, ErrAlign, pt.Map(0x1000, testRAMBase+1, UserRW))
	require.Equal(t, ErrRange, pt.Map(VALimit, testRAMBase, UserRW))
	require.Equal(t, ErrRange, pt.Map(0xffff_0000_0000_0000, testRAMBase, UserRW))
	require.Equal(t, ErrRange, pt.Map(0, 1<<48, UserRW))
	require.Equal(t, ErrBadAttr, pt.Map(0, testRAMBase, UserRW|Attr(testRAMBase)))
	require.Equal(t, ErrBadAttr, pt.Map(0, testRAMBase, UserRW|DescValid))
	require.Equal(t, ErrInvalid, pt.MapBlock(0, 0, 4<<20, KernelRW))
	require.Equal(t, ErrAlign, pt.MapBlock(0x1000, 0, Level2Size, KernelRW))
	require.Equal(t, ErrAlign, pt.MapBlock(0, 0x1000, Level1Size, KernelRW))
	_, e := pt.Unmap(0x10)
	require.Equal(t, ErrAlign, e)
	_, e = pt.Unmap(VALimit)
	require.Equal(t, ErrRange, e)

	var zero PageTable
	require.Equal(t, ErrInvalid, zero.Map(0, 0, UserRW))
	_, _, ok := zero.Lookup(0)
	require.False(t, ok)
	_, e = zero.Unmap(0)
	require.Equal(t, ErrInvalid, e)
	require.Equal(t, ErrInvalid, zero.Init(nil))
	require.Equal(t, uint64(1), pt.Stats().Tables, "failed calls left no tables behind")
}

func TestBlocksVersusPages(t *testing.T) {
	pt, _, _ := newTable(t, 1<<20)
	require.Equal(t, OK, pt.MapBlock(Level1Size, 0x8000_0000, Level1Size, KernelRW))
	require.Equal(t, OK, pt.MapBlock(3*Level2Size, 0x4060_0000, Level2Size, KernelDevice))

	pa, attr, ok := pt.Lookup(Level1Size + 0x1234_5678)
	require.True(t, ok)
	require.Equal(t, uint64(0x8000_0000+0x1234_5678), pa)
	require.Equal(t, KernelRW, attr)
	pa, attr, ok = pt.Lookup(3*Level2Size + 0x1f_ffff)
	require.True(t, ok)
	require.Equal(t, uint64(0x4060_0000+0x1f_ffff), pa)
	require.Equal(t, KernelDevice, attr)

	// Pages inside a block are refused; blocks over tables too.
	require.Equal(t, ErrBlock, pt.Map(Level1Size+PageSize, testRAMBase, UserRW))
	require.Equal(t, ErrBlock, pt.Map(3*Level2Size, testRAMBase, UserRW))
	_, e := pt.Unmap(Level1Size)
	require.Equal(t, ErrBlock, e)
	require.Equal(t, OK, pt.Map(0, testRAMBase, UserRW))
	require.Equal(t, ErrExists, pt.MapBlock(0, 0, Level2Size, KernelRW), "a table is in the way")
	require.Equal(t, ErrExists, pt.MapBlock(Level1Size, 0, Level1Size, KernelRW))
	st := pt.Stats()
	require.Equal(t, uint64(2), st.Blocks)
	require.Equal(t, uint64(1), st.Pages)

	// Partial unmap of a block is refused; a covering one removes it.
	_, e = pt.UnmapRange(Level1Size, Level2Size, false)
	require.Equal(t, ErrBlock, e)
	n, e := pt.UnmapRange(Level1Size, Level1Size, false)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(Level1Size/PageSize), n)
	_, _, ok = pt.Lookup(Level1Size)
	require.False(t, ok)
}

func TestMapRangeUsesLargestBlocks(t *testing.T) {
	pt, p, _ := newTable(t, 1<<20)
	// 1 GiB + 2 MiB + 8 KiB at a 1 GiB-aligned VA/PA: one L1 block, one L2 block, two pages.
	size := uint64(Level1Size + Level2Size + 2*PageSize)
	require.Equal(t, OK, pt.MapRange(0x8000_0000_0000, 0x4000_0000, size, KernelRW, true))
	st := pt.Stats()
	require.Equal(t, uint64(2), st.Blocks)
	require.Equal(t, uint64(2), st.Pages)
	for _, off := range []uint64{0, Level1Size - 8, Level1Size, Level1Size + Level2Size, size - 1} {
		pa, _, ok := pt.Lookup(0x8000_0000_0000 + off)
		require.True(t, ok)
		require.Equal(t, 0x4000_0000+off, pa)
	}
	_, _, ok := pt.Lookup(0x8000_0000_0000 + size)
	require.False(t, ok)

	// Without blocks the same call maps pages only.
	pt2 := new(PageTable)
	require.Equal(t, OK, pt2.Init(p))
	require.Equal(t, OK, pt2.MapRange(0x1000, 0x4020_0000, 4*Level2Size, UserRW, false))
	require.Equal(t, uint64(4*Level2Size/PageSize), pt2.Stats().Pages)
	require.Zero(t, pt2.Stats().Blocks)

	require.Equal(t, ErrInvalid, pt.MapRange(0, 0, 0, KernelRW, true))
	require.Equal(t, ErrInvalid, pt.MapRange(0, 0, 100, KernelRW, true))
	require.Equal(t, ErrRange, pt.MapRange(VALimit-PageSize, 0, 2*PageSize, KernelRW, true))
}

func TestMapRangeRollsBackOnExhaustion(t *testing.T) {
	pt, p, _ := newTable(t, 64*PageSize) // ~62 pages for tables
	before := p.Stats().Used
	// Pages spread 2 MiB apart need one L3 table each: runs out of tables.
	e := OK
	var mapped []uint64
	for i := uint64(0); e == OK; i++ {
		va := i * Level2Size
		if e = pt.Map(va, testRAMBase, UserRW); e == OK {
			mapped = append(mapped, va)
		}
	}
	require.Equal(t, ErrNoMemory, e)
	require.NotEmpty(t, mapped)
	require.Equal(t, uint64(1), pt.Stats().AllocFails)
	// The failed Map left no empty table behind.
	require.Equal(t, uint64(len(mapped))+3, pt.Stats().Tables, "root + L1 + L2 + one L3 per page")
	for _, va := range mapped {
		_, e := pt.Unmap(va)
		require.Equal(t, OK, e)
	}
	require.Equal(t, before, p.Stats().Used)

	// A MapRange that cannot finish unmaps what it mapped.
	require.Equal(t, ErrNoMemory, pt.MapRange(0, testRAMBase, 200*Level2Size, UserRW, false))
	require.Zero(t, pt.Stats().Pages)
	require.Equal(t, before, p.Stats().Used)
}

func TestUnmapRangeFreesOwnedPagesAndSkipsHoles(t *testing.T) {
	pt, p, _ := newTable(t, 1<<20)
	base := p.Stats().Used
	var owned []uint64
	for _, va := range []uint64{0x1000, 0x5000, 0x40_0000, 0x1_0000_0000} {
		pa, e := p.AllocZeroed()
		require.Equal(t, OK, e)
		owned = append(owned, pa)
		require.Equal(t, OK, pt.Map(va, pa, UserRW|AttrSWOwned))
	}
	require.Equal(t, OK, pt.Map(0x6000, 0x0900_0000, UserRW)) // not owned: a device page
	n, e := pt.UnmapRange(0, 0x2_0000_0000, true)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(5), n)
	for _, pa := range owned {
		require.True(t, p.IsFree(pa))
	}
	require.Equal(t, base, p.Stats().Used, "owned pages and all tables freed")
	require.Equal(t, uint64(1), pt.Stats().Tables)

	_, e = pt.UnmapRange(1, PageSize, true)
	require.Equal(t, ErrAlign, e)
	_, e = pt.UnmapRange(0, VALimit+PageSize, true)
	require.Equal(t, ErrRange, e)
	n, e = pt.UnmapRange(0, VALimit, true)
	require.Equal(t, OK, e, "whole empty address space is walked quickly")
	require.Zero(t, n)
}

func TestPageTableZeroAllocs(t *testing.T) {
	pt, _, _ := newTable(t, 1<<20)
	allocs := testing.AllocsPerRun(100, func() {
		_ = pt.Map(0x1234_5000, testRAMBase, UserRW)
		_, _, _ = pt.Lookup(0x1234_5000)
		_, _ = pt.Unmap(0x1234_5000)
		_, _ = pt.UnmapRange(0, Level1Size, true)
	})
	require.Zero(t, allocs)
}

func BenchmarkMapUnmap(b *testing.B) {
	pt, _, _ := newTable(b, 8<<20)
	require.Equal(b, OK, pt.Map(0x1000, testRAMBase, UserRW)) // keep the tables alive
	b.ReportAllocs()
	for b.Loop() {
		_ = pt.Map(0x2000, testRAMBase, UserRW)
		_, _ = pt.Unmap(0x2000)
	}
}

func BenchmarkLookup(b *testing.B) {
	pt, _, _ := newTable(b, 8<<20)
	require.Equal(b, OK, pt.Map(0x7f00_1234_5000, testRAMBase, UserRW))
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = pt.Lookup(0x7f00_1234_5678)
	}
}
