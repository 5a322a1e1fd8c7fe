package rt

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/mm"
)

// The page cache: read-only program segments shared between processes.

// fakeImage makes image the boot image for the test (read through
// imageReader as the fw_cfg device would) and counts the reads.
func fakeImage(t *testing.T, image []byte) *int {
	t.Helper()
	reads := new(int)
	saved := imageReader
	t.Cleanup(func() { imageReader = saved })
	imageReader = func(off, pa uint64, n uint32) bool {
		dst := physPages.Window().Ptr(pa, uint64(n))
		if dst == nil || off+uint64(n) > uint64(len(image)) {
			return false
		}
		copy(unsafe.Slice((*byte)(dst), n), image[off:])
		*reads++
		return true
	}
	return reads
}

// TestPageCacheSharesProgramPages: two processes mapping the same image
// file share its pages (read once), which outlive both processes; the
// region is read-only for good (mprotect to writable is EACCES).
func TestPageCacheSharesProgramPages(t *testing.T) {
	resetKernel(t, 256)
	image := pattern(4*pageSize+100, 3)
	reads := fakeImage(t, image)
	base := TakeCensus()
	const text, dataOff, fileOff = 0x40_0000, 100, pageSize
	fileSize := uint64(len(image) - dataOff)
	a, tfa := newUserFrame(t, 1)
	b, _ := newUserFrame(t, 1)
	for _, u := range []*uproc{a, b} {
		ok, err := MapFile(u.pid, text, 3*pageSize, mm.ProtRead|mm.ProtExec, dataOff, fileSize, fileOff)
		require.NoError(t, err)
		require.True(t, ok)
	}
	want := image[dataOff+fileOff:]
	require.Equal(t, want[:64], a.get(text, 64))
	require.Equal(t, want[:64], b.get(text, 64))
	require.Equal(t, 1, *reads, "read from the image once")
	paA, _, okA := pr(a.p).as.PT.Lookup(text)
	paB, _, okB := pr(b.p).as.PT.Lookup(text)
	require.True(t, okA && okB)
	require.Equal(t, paA, paB, "one physical page for both")
	require.Zero(t, pr(a.p).as.PT.Stats().Owned, "not the process's page")

	// The file's last page: its data, then zeros.
	last := uint64(len(want)) - 2*pageSize
	tail := b.get(text+2*pageSize, pageSize)
	require.Equal(t, want[2*pageSize:], tail[:last])
	require.Equal(t, make([]byte, pageSize-last), tail[last:])

	// Read-only for good.
	switchTo(t, tfa, a.main)
	_, e := pr(a.p).as.CopyOut(text, []byte{1})
	require.NotEqual(t, mm.OK, e)
	require.Equal(t, errno(EACCES), svc(tfa, sysMprotect, text, pageSize, protRW))
	require.Zero(t, svc(tfa, sysMprotect, text, pageSize, uint64(mm.ProtRead)))
	r, w := pipeFds(t, a, tfa, 0)
	require.EqualValues(t, 1, svc(tfa, sysWrite, w, a.scratch, 1))
	require.Equal(t, errno(EFAULT), svc(tfa, sysRead, r, text, 1), "no write into the cache, even by the kernel")

	// Both end: the cached pages stay, the census does not count them.
	cached := CachePages()
	require.Positive(t, cached)
	endAll(t)
	require.Equal(t, base, TakeCensus())
	require.Equal(t, cached, CachePages())
	require.False(t, physPages.IsFree(paA), "kept by the cache")

	// A third process finds the pages there.
	c := newUser(t, 1)
	ok, err := MapFile(c.pid, text, 3*pageSize, mm.ProtRead, dataOff, fileSize, fileOff)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, want[:8], c.get(text, 8))
	require.Equal(t, 2, *reads, "nothing read again: pages 0 and 2 are cached")
}

// TestMapFileRefusals: writable segments, misaligned offsets and a
// process that is gone are refused (the loader then copies).
func TestMapFileRefusals(t *testing.T) {
	resetKernel(t, 256)
	fakeImage(t, make([]byte, 2*pageSize))
	u := newUser(t, 1)
	ok, err := MapFile(u.pid, 0x40_0000, pageSize, mm.ProtRead|mm.ProtWrite, 0, pageSize, 0)
	require.NoError(t, err)
	require.False(t, ok, "writable")
	ok, err = MapFile(u.pid, 0x40_0000, pageSize, mm.ProtRead, 0, pageSize, 8)
	require.NoError(t, err)
	require.False(t, ok, "va and file offset not congruent")
	_, err = MapFile(99999, 0x40_0000, pageSize, mm.ProtRead, 0, pageSize, 0)
	require.ErrorIs(t, err, ErrNoProcess)
	for k := 0; k < maxFileMaps; k++ {
		ok, err = MapFile(u.pid, 0x50_0000+uint64(k)*2*pageSize, pageSize, mm.ProtRead, 0, pageSize, 0)
		require.NoError(t, err)
		require.True(t, ok)
	}
	ok, err = MapFile(u.pid, 0x60_0000, pageSize, mm.ProtRead, 0, pageSize, 0)
	require.NoError(t, err)
	require.False(t, ok, "the process's shared regions are all in use")
}
