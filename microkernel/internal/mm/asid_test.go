package mm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestASIDs(t *testing.T) {
	var a ASIDs
	_, e := a.Alloc()
	require.Equal(t, ErrFull, e, "zero value is empty")
	require.Equal(t, ErrInvalid, a.Init(12))
	require.Equal(t, OK, a.Init(8))
	seen := map[uint16]bool{}
	for range 255 {
		id, e := a.Alloc()
		require.Equal(t, OK, e)
		require.NotZero(t, id, "0 is the kernel's")
		require.False(t, seen[id])
		seen[id] = true
	}
	_, e = a.Alloc()
	require.Equal(t, ErrFull, e)
	require.Equal(t, uint64(1), a.Failures(), "Init reset the counter")
	require.Equal(t, uint32(256), a.InUse())

	require.Equal(t, OK, a.Free(17))
	require.Equal(t, ErrDoubleFree, a.Free(17))
	require.Equal(t, ErrInvalid, a.Free(0))
	require.Equal(t, ErrInvalid, a.Free(256))
	id, e := a.Alloc()
	require.Equal(t, OK, e)
	require.Equal(t, uint16(17), id)

	// Freed ASIDs are reused as late as possible.
	require.Equal(t, OK, a.Init(16))
	x, _ := a.Alloc()
	y, _ := a.Alloc()
	require.Equal(t, OK, a.Free(x))
	z, _ := a.Alloc()
	require.Equal(t, uint16(1), x)
	require.Equal(t, uint16(2), y)
	require.Equal(t, uint16(3), z, "the cursor moves on instead of reusing 1")
}

func BenchmarkASIDAllocFree(b *testing.B) {
	var a ASIDs
	require.Equal(b, OK, a.Init(16))
	b.ReportAllocs()
	for b.Loop() {
		id, _ := a.Alloc()
		_ = a.Free(id)
	}
}
