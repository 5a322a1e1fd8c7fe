package mm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const pg = PageSize

func newVMAs(t testing.TB) *VMATable {
	t.Helper()
	vt := new(VMATable)
	require.Equal(t, OK, vt.Init(0x10000, 0x10000+1024*pg))
	return vt
}

// regions lists the table's regions as [start, end, prot] triples relative to lo, in pages.
func regions(vt *VMATable) [][3]uint64 {
	lo, _ := vt.Bounds()
	var out [][3]uint64
	for i := 0; i < vt.Len(); i++ {
		r, _ := vt.At(i)
		out = append(out, [3]uint64{(r.Start - lo) / pg, (r.End - lo) / pg, uint64(r.Prot)})
	}
	return out
}

func TestVMASetSplitMerge(t *testing.T) {
	vt := newVMAs(t)
	lo := uint64(0x10000)
	rw := ProtRead | ProtWrite
	// Go's pattern: reserve PROT_NONE, then commit pieces RW with MAP_FIXED.
	require.Equal(t, OK, vt.Set(lo, 100*pg, ProtNone, 0))
	require.Equal(t, OK, vt.Set(lo+10*pg, 5*pg, rw, 0))
	require.Equal(t, [][3]uint64{{0, 10, 0}, {10, 15, 3}, {15, 100, 0}}, regions(vt), "split in three")

	// Adjacent commit with equal attributes merges.
	require.Equal(t, OK, vt.Set(lo+15*pg, 5*pg, rw, 0))
	require.Equal(t, [][3]uint64{{0, 10, 0}, {10, 20, 3}, {20, 100, 0}}, regions(vt))

	// Same attributes but different flags do not merge.
	require.Equal(t, OK, vt.Set(lo+20*pg, 5*pg, rw, 1))
	require.Equal(t, [][3]uint64{{0, 10, 0}, {10, 20, 3}, {20, 25, 3}, {25, 100, 0}}, regions(vt))

	// Painting PROT_NONE back over everything merges to one region.
	require.Equal(t, OK, vt.Set(lo+5*pg, 30*pg, ProtNone, 0))
	require.Equal(t, [][3]uint64{{0, 100, 0}}, regions(vt))

	// A region spanning several old ones replaces them all.
	require.Equal(t, OK, vt.Set(lo+200*pg, 10*pg, ProtRead, 0))
	require.Equal(t, OK, vt.Set(lo+90*pg, 130*pg, rw, 0))
	require.Equal(t, [][3]uint64{{0, 90, 0}, {90, 220, 3}}, regions(vt))
}

func TestVMAClear(t *testing.T) {
	vt := newVMAs(t)
	lo := uint64(0x10000)
	require.Equal(t, OK, vt.Set(lo, 100*pg, ProtRead, 0))
	require.Equal(t, OK, vt.Clear(lo+40*pg, 20*pg))
	require.Equal(t, [][3]uint64{{0, 40, 1}, {60, 100, 1}}, regions(vt), "hole punched")
	require.Equal(t, OK, vt.Clear(lo+30*pg, 40*pg), "clearing over a hole is fine")
	require.Equal(t, [][3]uint64{{0, 30, 1}, {70, 100, 1}}, regions(vt))
	require.Equal(t, OK, vt.Clear(lo+500*pg, 10*pg), "clearing nothing is fine")
	require.Equal(t, OK, vt.Clear(lo, 1024*pg))
	require.Zero(t, vt.Len())
}

func TestVMAFind(t *testing.T) {
	vt := newVMAs(t)
	lo := uint64(0x10000)
	require.Equal(t, OK, vt.Set(lo+10*pg, 10*pg, ProtRead, 7))
	r, ok := vt.Find(lo + 10*pg)
	require.True(t, ok)
	require.Equal(t, VMA{Start: lo + 10*pg, End: lo + 20*pg, Prot: ProtRead, Flags: 7}, r)
	_, ok = vt.Find(lo + 20*pg - 1)
	require.True(t, ok)
	_, ok = vt.Find(lo + 20*pg)
	require.False(t, ok, "End is exclusive")
	_, ok = vt.Find(lo + 10*pg - 1)
	require.False(t, ok)
	_, ok = vt.Find(^uint64(0))
	require.False(t, ok)
}

func TestVMAArgumentChecks(t *testing.T) {
	vt := newVMAs(t)
	lo := uint64(0x10000)
	require.Equal(t, ErrAlign, vt.Set(lo+1, pg, ProtRead, 0))
	require.Equal(t, ErrAlign, vt.Set(lo, 100, ProtRead, 0))
	require.Equal(t, ErrInvalid, vt.Set(lo, 0, ProtRead, 0))
	require.Equal(t, ErrRange, vt.Set(0, pg, ProtRead, 0), "below lo")
	require.Equal(t, ErrRange, vt.Set(lo+1023*pg, 2*pg, ProtRead, 0), "past hi")
	require.Equal(t, ErrRange, vt.Set(^uint64(0)&^pageMask, 2*pg, ProtRead, 0), "wraps")
	require.Equal(t, ErrInvalid, vt.Set(lo, pg, 8, 0), "unknown prot bit")
	require.Equal(t, ErrNoVMA, vt.Protect(lo, pg, ProtRead))
	var zero VMATable
	require.Equal(t, ErrInvalid, zero.Set(0, pg, ProtRead, 0))
	_, e := zero.Choose(0, pg)
	require.Equal(t, ErrInvalid, e)
	require.Equal(t, ErrInvalid, zero.Init(pg, pg))
	require.Equal(t, ErrInvalid, zero.Init(1, 2*pg))
	require.Zero(t, vt.Len())
}

func TestVMAChoose(t *testing.T) {
	vt := newVMAs(t)
	lo := uint64(0x10000)
	// Hint honoured when free (rounded down to a page; length rounded up).
	a, e := vt.Reserve(lo+100*pg+123, 2*pg-5, ProtRead, 0)
	require.Equal(t, OK, e)
	require.Equal(t, lo+100*pg, a)
	require.Equal(t, [][3]uint64{{100, 102, 1}}, regions(vt))

	// Hint taken: first fit from lo.
	a, e = vt.Reserve(lo+101*pg, 50*pg, ProtRead|ProtWrite, 0)
	require.Equal(t, OK, e)
	require.Equal(t, lo, a)
	// Next first fit is in the gap [50, 100).
	a, e = vt.Reserve(0, 50*pg, ProtRead|ProtWrite, 0)
	require.Equal(t, OK, e)
	require.Equal(t, lo+50*pg, a)
	// Too big for the gap below the hinted region: goes after it.
	a, e = vt.Reserve(0, 10*pg, ProtNone, 0)
	require.Equal(t, OK, e)
	require.Equal(t, lo+102*pg, a)
	// A hint outside the table's range is ignored, not an error.
	a, e = vt.Reserve(1<<60, pg, ProtNone, 0)
	require.Equal(t, OK, e)
	require.Equal(t, lo+112*pg, a)

	_, e = vt.Choose(0, 1024*pg)
	require.Equal(t, ErrNoMemory, e)
	_, e = vt.Choose(0, ^uint64(0))
	require.Equal(t, ErrNoMemory, e)
	require.Equal(t, uint64(2), vt.Stats().NoSpace)
}

func TestVMACapacity(t *testing.T) {
	vt := new(VMATable)
	require.Equal(t, OK, vt.Init(0, 4*MaxVMAs*pg+4*pg))
	// 3-page regions 4 pages apart, alternating prot so nothing merges.
	for i := uint64(0); i < MaxVMAs; i++ {
		require.Equal(t, OK, vt.Set(4*i*pg, 3*pg, Prot(i%2), 0))
	}
	require.Equal(t, MaxVMAs, vt.Len())
	before := regions(vt)
	require.Equal(t, ErrFull, vt.Set(4*MaxVMAs*pg, pg, ProtRead, 0), "a new region")
	require.Equal(t, ErrFull, vt.Clear(pg, pg), "a split")
	require.Equal(t, ErrFull, vt.CanClear(pg, pg))
	require.Equal(t, ErrFull, vt.Set(pg, pg, ProtExec, 0), "a split in three")
	require.Equal(t, ErrFull, vt.Protect(pg, pg, ProtExec))
	_, e := vt.Reserve(0, pg, ProtExec, 0)
	require.Equal(t, ErrFull, e, "a new region in the first gap, merging with neither side")
	require.Equal(t, before, regions(vt), "refused calls changed nothing")
	require.Equal(t, uint64(6), vt.Stats().Full)

	// Operations that do not grow the table still work when it is full.
	require.Equal(t, OK, vt.Set(3*pg, pg, ProtNone, 0), "fills a gap, merging with its left neighbour")
	require.Equal(t, MaxVMAs, vt.Len())
	require.Equal(t, OK, vt.Clear(0, pg), "trims a region")
	require.Equal(t, OK, vt.Clear(4*pg, 3*pg), "removes a region")
	require.Equal(t, MaxVMAs-1, vt.Len())
}
