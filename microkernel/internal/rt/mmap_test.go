package rt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// PROT_* and MAP_PRIVATE as the runtime passes them.
const (
	protNone   = 0
	protRW     = 3
	mapPrivate = 0x2
	noFD       = ^uint64(0)
)

// The runtime's pattern through the system calls: reserve a large PROT_NONE
// range, commit pieces with MAP_FIXED, give pages back with madvise, unmap.
func TestMmapReserveCommitMadviseMunmap(t *testing.T) {
	resetKernel(t, 64)
	var tf Frame
	hint := uint64(p0())
	before := physPages.Stats().Used
	require.Equal(t, hint, svc(&tf, sysMmap, hint, 1<<30, protNone, mapPrivate|mapAnonymous, noFD, 0))
	require.LessOrEqual(t, physPages.Stats().Used-before, uint64(1), "a 1 GiB reservation costs at most one table page")
	require.EqualValues(t, 1, stats.Mmaps)

	piece := hint + 1<<20
	require.Equal(t, piece, svc(&tf, sysMmap, piece, 1<<20, protRW, mapPrivate|mapAnonymous|mapFixed, noFD, 0))
	va := uintptr(piece + 3*pageSize)
	require.True(t, kas.Fault(va), "committed memory faults in")
	*word(kas.Lookup(va)) = 7

	// MAP_FIXED over touched memory replaces it: the old page is freed and
	// the range reads back zero.
	used := physPages.Stats().Used
	require.Equal(t, piece, svc(&tf, sysMmap, piece, 1<<20, protRW, mapPrivate|mapAnonymous|mapFixed, noFD, 0))
	require.Equal(t, used-1, physPages.Stats().Used)
	require.Zero(t, kas.Lookup(va))
	require.True(t, kas.Fault(va))
	require.Zero(t, *word(kas.Lookup(va)))

	// madvise(DONTNEED) really frees the page; the next touch reads zero.
	*word(kas.Lookup(va)) = 9
	used = physPages.Stats().Used
	require.Zero(t, svc(&tf, sysMadvise, uint64(va), pageSize, madvDontneed))
	require.Equal(t, used-1, physPages.Stats().Used)
	require.True(t, kas.Fault(va))
	require.Zero(t, *word(kas.Lookup(va)))
	require.Zero(t, svc(&tf, sysMadvise, uint64(va), pageSize, 0 /* MADV_NORMAL */), "other advice is accepted")

	// munmap frees the pages and the address space.
	used = physPages.Stats().Used
	require.Zero(t, svc(&tf, sysMunmap, hint, 1<<30))
	require.Equal(t, used-1, physPages.Stats().Used)
	require.False(t, kas.Fault(va), "unmapped memory does not fault in")
	require.True(t, kas.Free(uintptr(hint), 1<<30))
	require.Equal(t, hint, svc(&tf, sysMmap, hint, pageSize, protRW, mapPrivate|mapAnonymous, noFD, 0),
		"the hint is free again")
}

func TestMmapWithoutUsableHintPlacesInWindow(t *testing.T) {
	resetKernel(t, 64)
	var tf Frame
	a := svc(&tf, sysMmap, 0, 3*pageSize+1, protRW, mapPrivate|mapAnonymous, noFD, 0)
	require.Positive(t, int64(a))
	require.True(t, inWindow(uintptr(a), 4*pageSize), "length rounds up to whole pages inside the window")
	require.Zero(t, a%pageSize)
	b := svc(&tf, sysMmap, a, pageSize, protRW, mapPrivate|mapAnonymous, noFD, 0)
	require.Positive(t, int64(b))
	require.NotEqual(t, a, b, "an occupied hint is not reused")
	c := svc(&tf, sysMmap, 0x1000, pageSize, protRW, mapPrivate|mapAnonymous, noFD, 0)
	require.True(t, inWindow(uintptr(c), pageSize), "a hint in the kernel's identity map is ignored")
}

func TestMemorySyscallsRefuseBadArguments(t *testing.T) {
	resetKernel(t, 64)
	var tf Frame
	const image = 0x4020_0000 // the kernel image in the identity map
	require.Equal(t, errno(EINVAL), svc(&tf, sysMmap, 0, pageSize, protRW, mapPrivate, 3, 0), "file mappings")
	require.Equal(t, errno(EINVAL), svc(&tf, sysMmap, 0, 0, protRW, mapPrivate|mapAnonymous, noFD, 0), "zero length")
	require.Equal(t, errno(EINVAL), svc(&tf, sysMmap, 0, 1<<62, protRW, mapPrivate|mapAnonymous, noFD, 0), "huge length")
	require.Equal(t, errno(EINVAL), svc(&tf, sysMmap, uint64(p0())+1, pageSize, protRW, mapPrivate|mapAnonymous|mapFixed, noFD, 0),
		"unaligned MAP_FIXED")
	require.Equal(t, errno(EINVAL), svc(&tf, sysMmap, image, pageSize, protRW, mapPrivate|mapAnonymous|mapFixed, noFD, 0),
		"MAP_FIXED over the kernel image")
	require.Equal(t, errno(EINVAL), svc(&tf, sysMmap, 1<<48, pageSize, protRW, mapPrivate|mapAnonymous|mapFixed, noFD, 0),
		"MAP_FIXED above the 48-bit window")
	require.Equal(t, errno(EINVAL), svc(&tf, sysMunmap, image, pageSize), "munmap of the kernel image")
	require.Equal(t, errno(EINVAL), svc(&tf, sysMunmap, uint64(p0())+8, pageSize), "unaligned munmap")
	require.Equal(t, errno(EINVAL), svc(&tf, sysMadvise, image, pageSize, madvDontneed), "DONTNEED on the kernel image")
	require.Zero(t, stats.Mmaps)
}
