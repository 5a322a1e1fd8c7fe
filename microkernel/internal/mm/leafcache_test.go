package mm

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// Lookup remembers the last level 3 table it reached; these check that
// what it answers never outlives the table: after the table is pruned
// (and its page reused as another region's table), after a block takes
// the table's place, and after the whole range is unmapped in one go.
func TestLookupLeafCacheFollowsTheTree(t *testing.T) {
	pt, _, _ := newTable(t, 64*PageSize)
	const r1, r2 = 0x4000_0000, 0x4060_0000 // two 2 MiB regions in one level 2 table
	const pa = 0x8000_0000

	require.Equal(t, OK, pt.Map(r1, pa, UserRW))
	got, _, ok := pt.Lookup(r1 + 0x10)
	require.True(t, ok)
	require.Equal(t, uint64(pa+0x10), got)
	_, _, ok = pt.Lookup(r1 + PageSize) // same table, not mapped
	require.False(t, ok)

	// The table goes with its last page; another region's table may take its page.
	_, e := pt.Unmap(r1)
	require.Equal(t, OK, e)
	require.Equal(t, OK, pt.Map(r2, pa+PageSize, UserRW))
	_, _, ok = pt.Lookup(r1)
	require.False(t, ok, "a pruned table's translation survived")
	got, _, ok = pt.Lookup(r2)
	require.True(t, ok)
	require.Equal(t, uint64(pa+PageSize), got)

	// A block where the table was.
	_, e = pt.Unmap(r2)
	require.Equal(t, OK, e)
	require.Equal(t, OK, pt.MapBlock(r2, pa+Level2Size, Level2Size, UserRW))
	got, _, ok = pt.Lookup(r2 + 3*PageSize)
	require.True(t, ok)
	require.Equal(t, uint64(pa+Level2Size+3*PageSize), got)

	// Pages again, then the range unmapped at once.
	require.Equal(t, OK, pt.Map(r1+2*PageSize, pa, UserRW))
	_, _, ok = pt.Lookup(r1 + 2*PageSize)
	require.True(t, ok)
	_, err := pt.UnmapRange(r1, Level2Size, false)
	require.Equal(t, OK, err)
	_, _, ok = pt.Lookup(r1 + 2*PageSize)
	require.False(t, ok)
	require.Equal(t, OK, pt.Map(r1+5*PageSize, pa, KernelRW))
	_, attr, ok := pt.Lookup(r1 + 5*PageSize)
	require.True(t, ok)
	require.Zero(t, attr&AttrAPEL0, "the new mapping's attributes, not a stale entry's")
}

// TestWritablePtr: the kernel's pointer for writing on a process's
// behalf, by its short path (a page mapped writable) and the long one
// (faulted in, refused), gives what the process's own write would: the
// page it then reads back, a fresh page where it had only read, and
// ErrAccess where it may not write.
func TestWritablePtr(t *testing.T) {
	as, p, _ := newSpace(t, 4<<20, false)
	withZeroPage(t, p)
	rw, _, e := as.Mmap(0, 4*PageSize, ProtRead|ProtWrite, 0, false, nil)
	require.Equal(t, OK, e)
	ro, _, e := as.Mmap(0, PageSize, ProtRead, 0, false, nil)
	require.Equal(t, OK, e)

	// Not yet mapped: faulted in, then the same page the short way.
	p1, left, e := as.WritablePtr(rw + 10)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(PageSize-10), left)
	*(*byte)(p1) = 0x5a
	p2, _, e := as.WritablePtr(rw + 10)
	require.Equal(t, OK, e)
	require.Equal(t, p1, p2)
	var b [1]byte
	_, e = as.CopyIn(b[:], rw+10)
	require.Equal(t, OK, e)
	require.Equal(t, byte(0x5a), b[0], "the process reads what was written through the pointer")

	// Read first (the shared zero page), then written: a page of its own.
	_, e = as.CopyIn(b[:], rw+PageSize)
	require.Equal(t, OK, e)
	zpa, _, ok := as.PT.Lookup(rw + PageSize)
	require.True(t, ok)
	require.True(t, isZero(zpa), "a read maps the zero page")
	p3, _, e := as.WritablePtr(rw + PageSize)
	require.Equal(t, OK, e)
	*(*byte)(p3) = 7
	npa, _, _ := as.PT.Lookup(rw + PageSize)
	require.False(t, isZero(npa), "the write got a page of its own")
	_, e = as.CopyIn(b[:], rw+2*PageSize) // another page read: still zero
	require.Equal(t, OK, e)
	require.Zero(t, b[0])

	// Read-only: refused, faulted in or not.
	_, _, e = as.WritablePtr(ro)
	require.Equal(t, ErrAccess, e)
	_, e = as.CopyIn(b[:], ro)
	require.Equal(t, OK, e)
	_, _, e = as.WritablePtr(ro)
	require.Equal(t, ErrAccess, e)
	_, _, e = as.WritablePtr(rw + 64*PageSize) // outside any region
	require.NotEqual(t, OK, e)
}

// TestLookupRun: a run is the pages after va mapped alike onto
// consecutive physical pages of va's table, up to max and never less
// than va's own page: it ends at a gap, a page elsewhere, other
// attributes, the table's end or max.
func TestLookupRun(t *testing.T) {
	pt, _, _ := newTable(t, 64*PageSize)
	const va = 0x4000_0000 + 500*PageSize // 12 entries before the table's end
	const pa = 0x8000_0000
	for i := uint64(0); i < 4; i++ {
		require.Equal(t, OK, pt.Map(va+i*PageSize, pa+i*PageSize, UserRW))
	}
	require.Equal(t, OK, pt.Map(va+4*PageSize, pa+9*PageSize, UserRW)) // elsewhere
	got, attr, n, ok := pt.LookupRun(va+100, 1<<20)
	require.True(t, ok)
	require.Equal(t, uint64(pa+100), got)
	require.Equal(t, UserRW&attrAllowed, attr&UserRW)
	require.Equal(t, uint64(4*PageSize-100), n, "four consecutive pages, then one elsewhere")
	_, _, n, _ = pt.LookupRun(va+100, 2*PageSize)
	require.Equal(t, uint64(2*PageSize), n, "at most max")
	_, _, n, _ = pt.LookupRun(va+100, 10)
	require.Equal(t, uint64(PageSize-100), n, "never less than the page")

	// Other attributes end it; so does a gap.
	require.Equal(t, OK, pt.Map(va+5*PageSize, pa+10*PageSize, UserRO))
	_, _, n, _ = pt.LookupRun(va+4*PageSize, 1<<20)
	require.Equal(t, uint64(PageSize), n, "read-only next")
	_, e := pt.Unmap(va + 2*PageSize)
	require.Equal(t, OK, e)
	_, _, n, _ = pt.LookupRun(va, 1<<20)
	require.Equal(t, uint64(2*PageSize), n, "a gap")

	// The table's end: 12 consecutive pages, a run of the last 3.
	const end = 0x4000_0000 + 509*PageSize
	for i := uint64(0); i < 5; i++ {
		require.Equal(t, OK, pt.Map(end+i*PageSize, pa+20*PageSize+i*PageSize, UserRW))
	}
	_, _, n, _ = pt.LookupRun(end, 1<<20)
	require.Equal(t, uint64(3*PageSize), n, "the run stays in its table")
	_, _, _, ok = pt.LookupRun(va+2*PageSize, 1<<20)
	require.False(t, ok)
}

// TestWritableRun: the window for writing goes on over pages already
// mapped writable onto consecutive memory, and is WritablePtr's one page
// otherwise (not mapped yet, read-only, or the zero page after it);
// ReadableRun's for reading likewise.
func TestWritableRun(t *testing.T) {
	as, p, _ := newSpace(t, 4<<20, false)
	withZeroPage(t, p)
	rw, _, e := as.Mmap(0, 8*PageSize, ProtRead|ProtWrite, 0, false, nil)
	require.Equal(t, OK, e)

	// Not mapped: faulted in, one page.
	_, n, e := as.WritableRun(rw, 8*PageSize)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(PageSize), n)
	for i := uint64(1); i < 8; i++ {
		_, _, e = as.WritablePtr(rw + i*PageSize)
		require.Equal(t, OK, e)
	}
	// Each page's pointer is where the run's window says it is.
	ptr, n, e := as.WritableRun(rw+10, 8*PageSize-10)
	require.Equal(t, OK, e)
	require.GreaterOrEqual(t, n, uint64(PageSize-10))
	require.Zero(t, (n+10)%PageSize, "whole pages after the first")
	for off := uint64(PageSize - 10); off < n; off += PageSize {
		want, _, e := as.WritablePtr(rw + 10 + off)
		require.Equal(t, OK, e)
		require.Equal(t, want, unsafe.Add(ptr, off), "page at %d of the run", off)
	}
	pa0, _, _ := as.PT.Lookup(rw)
	pa1, _, _ := as.PT.Lookup(rw + PageSize)
	if pa1 == pa0+PageSize {
		require.Greater(t, n, uint64(PageSize-10), "consecutive pages make a run")
	} else {
		require.Equal(t, uint64(PageSize-10), n)
	}
	_, n, e = as.WritableRun(rw+10, 100)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(PageSize-10), n, "never less than the page")

	// Four consecutive pages mapped writable (as a driver's contiguous
	// shared memory is): one window over all four, the bytes written
	// through it where the process reads them.
	run, e := p.AllocRun(4, PageSize)
	require.Equal(t, OK, e)
	const at = userLo + 0x20_0000
	for i := uint64(0); i < 4; i++ {
		require.Equal(t, OK, as.PT.Map(at+i*PageSize, run+i*PageSize, UserRW))
	}
	ptr, n, e = as.WritableRun(at+100, 1<<20)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(4*PageSize-100), n, "one window over the four pages")
	w := unsafe.Slice((*byte)(ptr), n)
	w[0], w[n-1] = 1, 2
	var b [1]byte
	_, e = as.CopyIn(b[:], at+100)
	require.Equal(t, OK, e)
	require.Equal(t, byte(1), b[0])
	_, e = as.CopyIn(b[:], at+4*PageSize-1)
	require.Equal(t, OK, e)
	require.Equal(t, byte(2), b[0], "the last page's byte")
	// Read-only: no window at all.
	_, e = as.PT.Unmap(at + 2*PageSize)
	require.Equal(t, OK, e)
	require.Equal(t, OK, as.PT.Map(at+2*PageSize, run+2*PageSize, UserRO))
	_, n, e = as.WritableRun(at, 1<<20)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(2*PageSize), n, "up to the read-only page")
	// Reading: the read-only page is readable, but mapped otherwise, so
	// it starts a run of its own.
	rptr, n, e := as.ReadableRun(at+100, 1<<20)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(2*PageSize-100), n)
	require.Equal(t, byte(1), *(*byte)(rptr))
	rptr, n, e = as.ReadableRun(at+2*PageSize, 1<<20)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(PageSize), n)
	require.Equal(t, unsafe.Add(ptr, 2*PageSize-100), rptr)
	_, n, e = as.ReadableRun(at+3*PageSize, 10)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(PageSize), n, "the page at least (the caller keeps to what it needs)")
}

// TestFaultsInOrderStayConsecutive: pages a process faults in one after
// another get physically consecutive pages while those are free (the
// kernel's copies then walk them as one run), and any page when the next
// one is taken; what is read through them is what was written.
func TestFaultsInOrderStayConsecutive(t *testing.T) {
	as, p, _ := newSpace(t, 4<<20, false)
	withZeroPage(t, p)
	rw, _, e := as.Mmap(0, 8*PageSize, ProtRead|ProtWrite, 0, false, nil)
	require.Equal(t, OK, e)
	// A page freed meanwhile heads the free list (last in, first out):
	// without the hint, page 2 would get it.
	early, e := p.Alloc()
	require.Equal(t, OK, e)
	var pas [8]uint64
	for i := uint64(0); i < 4; i++ {
		if i == 2 {
			require.Equal(t, OK, p.Free(early))
		}
		ptr, _, e := as.WritablePtr(rw + i*PageSize)
		require.Equal(t, OK, e)
		*(*byte)(ptr) = byte(i + 1)
		pas[i], _, _ = as.PT.Lookup(rw + i*PageSize)
	}
	require.NotEqual(t, early, pas[2], "the hint, not the free list's head")
	// (The first page's fault also made the tables, after it.)
	for i := 2; i < 4; i++ {
		require.Equal(t, pas[i-1]+PageSize, pas[i], "page %d follows page %d", i, i-1)
	}
	_, n, e := as.WritableRun(rw+PageSize, 8*PageSize)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(3*PageSize), n, "pages 1-3 are one run")

	// The next page taken meanwhile: the fault gets another, correctly.
	taken := pas[3] + PageSize
	for {
		pa, e := p.Alloc()
		require.Equal(t, OK, e)
		if pa == taken {
			break
		}
		t.Cleanup(func() { p.Free(pa) })
	}
	var b [1]byte
	_, e = as.CopyIn(b[:], rw+4*PageSize) // read first: the zero page
	require.Equal(t, OK, e)
	ptr, _, e := as.WritablePtr(rw + 4*PageSize) // then written
	require.Equal(t, OK, e)
	*(*byte)(ptr) = 5
	pa4, _, _ := as.PT.Lookup(rw + 4*PageSize)
	require.NotEqual(t, taken, pa4)
	require.False(t, isZero(pa4))
	for i := uint64(0); i < 5; i++ {
		_, e = as.CopyIn(b[:], rw+i*PageSize)
		require.Equal(t, OK, e)
		require.Equal(t, byte(i+1), b[0], "page %d reads back", i)
	}
	require.Equal(t, OK, p.Free(taken))
}
