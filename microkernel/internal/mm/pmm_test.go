package mm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPhysInitReservesMetadataAndRanges(t *testing.T) {
	const size = 4 << 20                                          // 1024 pages: 2 x 4 KiB links + 2 x 128 B bitmaps = 3 metadata pages
	kernel := Range{testRAMBase + 0x10000, testRAMBase + 0x20800} // 17 pages, ragged end
	p, _ := newPhys(t, size, kernel)
	st := p.Stats()
	require.Equal(t, uint64(3), st.Meta)
	require.Equal(t, uint64(3+17), st.Reserved)
	require.Equal(t, uint64(1024-20), st.Total)
	require.Equal(t, st.Total, st.Free)
	require.Zero(t, st.Used)

	// Metadata takes the lowest pages; allocation starts right after.
	pa, e := p.Alloc()
	require.Equal(t, OK, e)
	require.Equal(t, uint64(testRAMBase+3*PageSize), pa)

	// No page touching the reserved range is ever handed out.
	for {
		pa, e := p.Alloc()
		if e != OK {
			require.Equal(t, ErrNoMemory, e)
			break
		}
		require.False(t, pa+PageSize > kernel.Start && pa < kernel.End, "allocated reserved page %#x", pa)
		require.GreaterOrEqual(t, pa, uint64(testRAMBase+3*PageSize))
	}
	st = p.Stats()
	require.Zero(t, st.Free)
	require.Equal(t, st.Total, st.Used)
	require.Equal(t, st.Total, st.Peak)
	require.Equal(t, uint64(1), st.AllocFails)
}

func TestPhysMetadataSize(t *testing.T) {
	// 512 MiB of RAM (QEMU's -m 512M): 131072 pages need 2 x 512 KiB of
	// links (next and previous) and 2 x 16 KiB of bitmaps: 264 pages,
	// about 0.2 %.
	_, _, _, total := metaLayout(512 << 20 >> PageShift)
	require.Equal(t, uint64(1024<<10+32<<10), total)
}

func TestPhysMetadataAvoidsReservedLowMemory(t *testing.T) {
	dtb := Range{testRAMBase, testRAMBase + 0x100000} // QEMU's DTB: the first MiB
	p, _ := newPhys(t, 8<<20, dtb)
	pa, e := p.Alloc()
	require.Equal(t, OK, e)
	require.Equal(t, uint64(testRAMBase+0x100000+p.Stats().Meta*PageSize), pa)
}

func TestPhysFreeChecks(t *testing.T) {
	p, _ := newPhys(t, 1<<20, Range{testRAMBase + 0x80000, testRAMBase + 0x81000})
	pa, e := p.Alloc()
	require.Equal(t, OK, e)
	require.Equal(t, OK, p.Free(pa))
	require.Equal(t, ErrDoubleFree, p.Free(pa))
	require.Equal(t, ErrAlign, p.Free(pa+8))
	require.Equal(t, ErrRange, p.Free(testRAMBase-PageSize))
	require.Equal(t, ErrRange, p.Free(testRAMBase+1<<20))
	require.Equal(t, ErrRange, p.Free(^uint64(0)&^pageMask))
	require.Equal(t, ErrNotAllocated, p.Free(testRAMBase), "metadata page")
	require.Equal(t, ErrNotAllocated, p.Free(testRAMBase+0x80000), "reserved page")
	st := p.Stats()
	require.Equal(t, uint64(1), st.DoubleFrees)
	require.Equal(t, uint64(6), st.BadFrees)
	require.Equal(t, st.Total, st.Free, "refused frees changed nothing")
	require.Zero(t, st.Used)
	require.Equal(t, uint64(1), st.Peak)
}

func TestPhysLIFOReuseAndZeroing(t *testing.T) {
	p, mem := newPhys(t, 1<<20)
	a, _ := p.Alloc()
	b, _ := p.Alloc()
	require.Equal(t, a+PageSize, b, "ascending order")
	off := a - testRAMBase
	for i := range PageSize {
		mem[off+uint64(i)] = 0xAA
	}
	require.Equal(t, OK, p.Free(a))
	z, e := p.AllocZeroed()
	require.Equal(t, OK, e)
	require.Equal(t, a, z, "most recently freed page is reused first")
	require.Equal(t, make([]byte, PageSize), mem[off:off+PageSize])
}

func TestPhysTags(t *testing.T) {
	p, _ := newPhys(t, 1<<20)
	pa, _ := p.Alloc()
	require.True(t, p.SetTag(pa, 42))
	v, ok := p.Tag(pa)
	require.True(t, ok)
	require.Equal(t, uint32(42), v)
	require.Equal(t, OK, p.Free(pa))
	_, ok = p.Tag(pa)
	require.False(t, ok, "free pages have no tag")
	require.False(t, p.SetTag(pa, 1))
	require.False(t, p.SetTag(testRAMBase, 1), "metadata page")
	require.True(t, p.IsFree(pa))
}

func TestPhysAllocRun(t *testing.T) {
	p, _ := newPhys(t, 4<<20)
	meta := p.Stats().Meta
	run, e := p.AllocRun(16, 64<<10)
	require.Equal(t, OK, e)
	require.Zero(t, run%(64<<10), "aligned to 64 KiB")
	require.GreaterOrEqual(t, run, uint64(testRAMBase+meta*PageSize))
	for k := uint64(0); k < 16; k++ {
		require.False(t, p.IsFree(run+k*PageSize))
	}
	// Single-page allocations never return pages of the run.
	for range 100 {
		pa, e := p.Alloc()
		require.Equal(t, OK, e)
		require.False(t, pa >= run && pa < run+16*PageSize)
	}
	require.Equal(t, uint64(116), p.Stats().Used)
	require.Equal(t, OK, p.FreeRun(run, 16))
	require.Equal(t, ErrDoubleFree, p.FreeRun(run, 1))

	_, e = p.AllocRun(0, 0)
	require.Equal(t, ErrInvalid, e)
	_, e = p.AllocRun(1, 3*PageSize)
	require.Equal(t, ErrInvalid, e)
	_, e = p.AllocRun(2000, 0)
	require.Equal(t, ErrNoMemory, e)
	_, e = p.AllocRun(1, 1<<40)
	require.Equal(t, ErrNoMemory, e)
}

func TestPhysAllocRunSkipsHoles(t *testing.T) {
	p, _ := newPhys(t, 1<<20) // 256 pages, 1 metadata page
	var held []uint64
	for range 255 {
		pa, _ := p.Alloc()
		held = append(held, pa)
	}
	// Free every page except every 8th: the longest runs are 7 pages.
	for i, pa := range held {
		if i%8 != 7 {
			require.Equal(t, OK, p.Free(pa))
		}
	}
	_, e := p.AllocRun(8, 0)
	require.Equal(t, ErrNoMemory, e)
	run, e := p.AllocRun(7, 0)
	require.Equal(t, OK, e)
	require.Equal(t, held[248], run, "the highest 7-page run: the scan goes down from the top")
}

func TestPhysZeroValueAndBadInit(t *testing.T) {
	var p PhysMem
	_, e := p.Alloc()
	require.Equal(t, ErrNoMemory, e)
	require.Equal(t, ErrRange, p.Free(testRAMBase))
	_, e = p.AllocRun(1, 0)
	require.Equal(t, ErrNoMemory, e)

	w, _ := hostRAM(t, 3*PageSize)
	require.Equal(t, OK, p.Init(w, nil))
	require.Equal(t, uint64(2), p.Stats().Total)

	tiny, _ := hostRAM(t, 100)
	require.Equal(t, ErrInvalid, p.Init(tiny, nil))
	allReserved, _ := hostRAM(t, 16*PageSize)
	require.Equal(t, ErrNoMemory, p.Init(allReserved, []Range{{0, 1 << 62}}))
	require.Equal(t, ErrInvalid, p.Init(allReserved, make([]Range, MaxReserved+1)))
	_, e = p.Alloc()
	require.Equal(t, ErrNoMemory, e, "a failed Init leaves an empty allocator")
}

func TestPhysZeroAllocs(t *testing.T) {
	p, _ := newPhys(t, 1<<20)
	allocs := testing.AllocsPerRun(100, func() {
		pa, _ := p.Alloc()
		_ = p.Free(pa)
		run, _ := p.AllocRun(4, 0)
		_ = p.FreeRun(run, 4)
	})
	require.Zero(t, allocs)
}

func BenchmarkPhysAllocFree(b *testing.B) {
	p, _ := newPhys(b, 64<<20)
	b.ReportAllocs()
	for b.Loop() {
		pa, _ := p.Alloc()
		_ = p.Free(pa)
	}
}

func BenchmarkPhysAllocZeroed(b *testing.B) {
	p, _ := newPhys(b, 64<<20)
	b.ReportAllocs()
	for b.Loop() {
		pa, _ := p.AllocZeroed()
		_ = p.Free(pa)
	}
}

func TestPhysAllocRunAfterBusyWords(t *testing.T) {
	p, _ := newPhys(t, 2<<20) // 512 pages
	var held []uint64
	for {
		pa, e := p.Alloc()
		if e != OK {
			break
		}
		held = append(held, pa)
	}
	// Free a run of 8 pages near the top, behind many all-busy bitmap words.
	top := held[len(held)-20:]
	for _, pa := range top[:8] {
		require.Equal(t, OK, p.Free(pa))
	}
	run, e := p.AllocRun(8, 0)
	require.Equal(t, OK, e)
	require.Equal(t, top[0], run)
	_, e = p.AllocRun(1, 0)
	require.Equal(t, ErrNoMemory, e)
}

func BenchmarkPhysAllocRun(b *testing.B) {
	p, _ := newPhys(b, 64<<20)
	for range 8000 { // a busy low half: the scan must skip it
		_, _ = p.Alloc()
	}
	b.ReportAllocs()
	for b.Loop() {
		run, _ := p.AllocRun(16, 64<<10)
		_ = p.FreeRun(run, 16)
	}
}
