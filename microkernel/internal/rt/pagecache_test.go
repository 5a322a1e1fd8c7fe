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
		ok, err := MapFile(u.pid, FileMapping{VA: text, Size: 3 * pageSize, Filesz: 3 * pageSize, Prot: mm.ProtRead | mm.ProtExec, DataOff: dataOff, FileSize: fileSize, Off: fileOff})
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
	ok, err := MapFile(c.pid, FileMapping{VA: text, Size: 3 * pageSize, Filesz: 3 * pageSize, Prot: mm.ProtRead, DataOff: dataOff, FileSize: fileSize, Off: fileOff})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, want[:8], c.get(text, 8))
	require.Equal(t, 2, *reads, "nothing read again: pages 0 and 2 are cached")
}

// TestPrivateFileMapping: a private file-backed region (a program's
// initialized data) gives each process its own copy of a page on first
// touch, read or write: the file's bytes up to Filesz, zeros after; a
// write changes neither the cache nor another process's copy; pages
// never touched cost nothing, and the copies are the process's own.
func TestPrivateFileMapping(t *testing.T) {
	resetKernel(t, 256)
	image := pattern(6*pageSize, 7)
	fakeImage(t, image)
	base := TakeCensus()
	const data, fileOff = 0x50_0000, pageSize
	filesz := uint64(2*pageSize + 100) // the third page: 100 file bytes, then zeros
	a, tfa := newUserFrame(t, 1)
	b, _ := newUserFrame(t, 1)
	for _, u := range []*uproc{a, b} {
		ok, err := MapFile(u.pid, FileMapping{VA: data, Size: filesz, Filesz: filesz, Prot: mm.ProtRead | mm.ProtWrite,
			FileSize: uint64(len(image)), Off: fileOff, Private: true})
		require.NoError(t, err)
		require.True(t, ok)
	}
	want := image[fileOff : fileOff+filesz]
	require.Equal(t, want[:64], a.get(data, 64))
	third := a.get(data+2*pageSize, pageSize)
	require.Equal(t, want[2*pageSize:], third[:100])
	require.Equal(t, make([]byte, pageSize-100), third[100:], "past Filesz: zeros")

	switchTo(t, tfa, a.main)
	a.put(data-a.scratch, []byte("mine")) // a write through the kernel as the process
	require.Equal(t, []byte("mine"), a.get(data, 4))
	require.Equal(t, want[:4], b.get(data, 4), "b's copy is the file's")
	paA, attr, _ := pr(a.p).as.PT.Lookup(data)
	paB, _, _ := pr(b.p).as.PT.Lookup(data)
	require.NotEqual(t, paA, paB)
	require.NotZero(t, attr&mm.AttrSWOwned, "the process's own page")
	_, _, mapped := pr(a.p).as.PT.Lookup(data + pageSize)
	require.False(t, mapped, "an untouched page costs nothing")
	require.Equal(t, uint64(2), pr(a.p).as.Stats().FileCopies)
	require.Zero(t, svc(tfa, sysMprotect, data, pageSize, uint64(mm.ProtRead)), "private: its protection may change")

	endAll(t)
	require.Equal(t, base, TakeCensus(), "the copies went with the processes")
}

// TestMapFileRefusals: writable segments, misaligned offsets and a
// process that is gone are refused (the loader then copies).
func TestMapFileRefusals(t *testing.T) {
	resetKernel(t, 256)
	fakeImage(t, make([]byte, 2*pageSize))
	u := newUser(t, 1)
	ok, err := MapFile(u.pid, FileMapping{VA: 0x40_0000, Size: pageSize, Filesz: pageSize, Prot: mm.ProtRead | mm.ProtWrite, DataOff: 0, FileSize: pageSize, Off: 0})
	require.NoError(t, err)
	require.False(t, ok, "writable")
	ok, err = MapFile(u.pid, FileMapping{VA: 0x40_0000, Size: pageSize, Filesz: pageSize, Prot: mm.ProtRead, DataOff: 0, FileSize: pageSize, Off: 8})
	require.NoError(t, err)
	require.False(t, ok, "va and file offset not congruent")
	_, err = MapFile(99999, FileMapping{VA: 0x40_0000, Size: pageSize, Filesz: pageSize, Prot: mm.ProtRead, DataOff: 0, FileSize: pageSize, Off: 0})
	require.ErrorIs(t, err, ErrNoProcess)
	for k := 0; k < maxFileMaps; k++ {
		ok, err = MapFile(u.pid, FileMapping{VA: 0x50_0000 + uint64(k)*2*pageSize, Size: pageSize, Filesz: pageSize, Prot: mm.ProtRead, DataOff: 0, FileSize: pageSize, Off: 0})
		require.NoError(t, err)
		require.True(t, ok)
	}
	ok, err = MapFile(u.pid, FileMapping{VA: 0x60_0000, Size: pageSize, Filesz: pageSize, Prot: mm.ProtRead, DataOff: 0, FileSize: pageSize, Off: 0})
	require.NoError(t, err)
	require.False(t, ok, "the process's shared regions are all in use")
}
