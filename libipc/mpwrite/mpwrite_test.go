package mpwrite

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// reference encodes v as libipc's encoder does (compact integers).
func reference(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	require.NoError(t, enc.Encode(v))
	return buf.Bytes()
}

// TestWriters: each writer appends what msgpack-go's encoder writes for
// the same value, at the boundaries of every form.
func TestWriters(t *testing.T) {
	prefix := []byte{0xaa}
	check := func(got []byte, v any) {
		t.Helper()
		require.Equal(t, prefix, got[:1], "appends")
		require.Equal(t, reference(t, v), got[1:], "%T %v", v, v)
	}
	for _, v := range []uint64{0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 1 << 32, math.MaxUint64} {
		check(Uint(prefix, v), v)
	}
	for _, v := range []int64{0, 1, 127, 128, 65536, -1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64, math.MaxInt64} {
		check(Int(prefix, v), v)
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		check(Str(prefix, strings.Repeat("k", n)), strings.Repeat("k", n))
		check(Bin(prefix, make([]byte, n)), make([]byte, n))
		m := map[int]bool{}
		for i := range n {
			m[i] = true
		}
		want := reference(t, m)
		hdr := MapHeader(prefix, n)
		require.Equal(t, want[:len(hdr)-1], hdr[1:], "map of %d", n)
	}
	for _, n := range []int{0, 1, 15, 16, 255, 256, 65535, 65536} {
		arr := make([]bool, n)
		want := reference(t, arr)
		hdr := ArrayHeader(prefix, n)
		require.Equal(t, want[:len(hdr)-1], hdr[1:], "array of %d", n)
		p := make([]byte, n)
		require.Equal(t, reference(t, p), append(BinHeader(nil, n), p...), "bin header of %d", n)
	}
	check(Bin(prefix, nil), []byte(nil))
	check(Bool(prefix, true), true)
	check(Bool(prefix, false), false)
}

// FuzzWriters: for any value, the writers agree with msgpack-go.
func FuzzWriters(f *testing.F) {
	f.Add(uint64(300), int64(-200), "key", []byte("bin"), true)
	f.Fuzz(func(t *testing.T, u uint64, i int64, s string, p []byte, ok bool) {
		require.Equal(t, reference(t, u), Uint(nil, u))
		require.Equal(t, reference(t, i), Int(nil, i))
		require.Equal(t, reference(t, s), Str(nil, s))
		require.Equal(t, reference(t, p), Bin(nil, p))
		require.Equal(t, reference(t, ok), Bool(nil, ok))
		if p != nil {
			require.Equal(t, reference(t, p), append(BinHeader(nil, len(p)), p...))
		}
		arr := make([]bool, len(p))
		require.Equal(t, reference(t, arr)[:len(ArrayHeader(nil, len(p)))], ArrayHeader(nil, len(p)))
	})
}
