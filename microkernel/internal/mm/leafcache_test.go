package mm

import (
	"testing"

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
