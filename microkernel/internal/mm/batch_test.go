package mm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUnmapInvalidatesBeforeFreeing checks the Arm ARM's order for a live
// table: when Invalidate runs, the descriptors are already cleared but no
// page behind them (data page or emptied table) is back in the allocator;
// after the call every page is free again.
func TestUnmapInvalidatesBeforeFreeing(t *testing.T) {
	as, p, _ := newSpace(t, 8<<20, false)
	base := p.Stats().Used
	addr, _, e := as.Mmap(0, 300*PageSize, ProtRead|ProtWrite, 0, false, nil)
	require.Equal(t, OK, e)
	var pages []uint64
	for i := uint64(0); i < 300; i++ {
		require.Equal(t, FaultMapped, as.Fault(addr+i*PageSize, AccessWrite))
		pa, _, ok := as.PT.Lookup(addr + i*PageSize)
		require.True(t, ok)
		pages = append(pages, pa)
	}
	require.Equal(t, uint64(300), as.PT.Stats().Owned)
	var calls int
	var covered uint64
	n, e := as.Munmap(addr, 300*PageSize, func(va, size uint64) {
		calls++
		covered += size
		for i, pa := range pages {
			if pva := addr + uint64(i)*PageSize; pva >= va && pva < va+size {
				require.False(t, p.IsFree(pa), "a page was freed before its TLB invalidation")
			}
		}
		_, _, ok := as.PT.Lookup(va)
		require.False(t, ok, "Invalidate runs after the descriptors are cleared")
	})
	require.Equal(t, OK, e)
	require.Equal(t, uint64(300), n)
	require.Greater(t, calls, 2, "300 pages need several batches of %d", FreeBatchCap)
	require.Equal(t, uint64(300*PageSize), covered, "the batches cover the whole range once")
	for _, pa := range pages {
		require.True(t, p.IsFree(pa))
	}
	require.Equal(t, base, p.Stats().Used, "pages and emptied tables all returned")
	require.Zero(t, as.PT.Stats().Owned)
}

// TestUnmapRangeBatchResumes drives the batch interface by hand: it stops
// with ErrBatchFull and resumes where it stopped.
func TestUnmapRangeBatchResumes(t *testing.T) {
	as, p, _ := newSpace(t, 8<<20, false)
	base := p.Stats().Used
	addr, _, _ := as.Mmap(0, 200*PageSize, ProtRead|ProtWrite, 0, false, nil)
	for i := uint64(0); i < 200; i++ {
		require.Equal(t, FaultMapped, as.Fault(addr+i*PageSize, AccessWrite))
	}
	var b FreeBatch
	n, next, e := as.PT.UnmapRangeBatch(addr, 200*PageSize, &b)
	require.Equal(t, ErrBatchFull, e)
	require.Equal(t, n, uint64(b.Len()), "only data pages so far (tables stay non-empty)")
	require.Equal(t, addr+n*PageSize, next)
	b.Release(p)
	n2, next2, e := as.PT.UnmapRangeBatch(next, addr+200*PageSize-next, &b)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(200), n+n2)
	require.Equal(t, addr+200*PageSize, next2)
	b.Release(p)
	require.Equal(t, base, p.Stats().Used)
}

// TestSpaceLimit checks that a space's page budget counts data pages and
// tables, and that a fault beyond it fails with FaultLimit and maps
// nothing.
func TestSpaceLimit(t *testing.T) {
	as, p, _ := newSpace(t, 8<<20, false)
	as.Limit = 16
	addr, _, _ := as.Mmap(0, 64*PageSize, ProtRead|ProtWrite, 0, false, nil)
	mapped := uint64(0)
	for i := uint64(0); i < 64; i++ {
		r := as.Fault(addr+i*PageSize, AccessWrite)
		if r == FaultLimit {
			break
		}
		require.Equal(t, FaultMapped, r)
		mapped++
	}
	require.Less(t, mapped, uint64(16))
	require.LessOrEqual(t, as.OwnedPages(), uint64(16))
	used := p.Stats().Used
	require.Equal(t, FaultLimit, as.Fault(addr+mapped*PageSize, AccessWrite))
	require.Equal(t, used, p.Stats().Used, "a refused fault allocates nothing")
	require.Equal(t, uint64(2), as.Stats().LimitHits)
	_, e := as.MadviseDontneed(addr, 64*PageSize, nil)
	require.Equal(t, OK, e)
	require.Equal(t, FaultMapped, as.Fault(addr+mapped*PageSize, AccessWrite), "the budget returns with the pages")
}
