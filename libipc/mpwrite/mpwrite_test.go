package mpwrite

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// encoded returns what msgpack's encoder writes for the calls in f.
func encoded(t testing.TB, f func(e *msgpack.Encoder) error) []byte {
	var buf bytes.Buffer
	require.NoError(t, f(msgpack.NewEncoder(&buf)))
	return buf.Bytes()
}

// check requires each writer to write what msgpack's encoder writes.
func check(t testing.TB, u uint64, i int64, n int) {
	require.Equal(t, encoded(t, func(e *msgpack.Encoder) error { return e.EncodeUint(u) }), AppendUint(nil, u), "uint %d", u)
	require.Equal(t, encoded(t, func(e *msgpack.Encoder) error { return e.EncodeInt(i) }), AppendInt(nil, i), "int %d", i)
	require.Equal(t, encoded(t, func(e *msgpack.Encoder) error { return e.EncodeArrayLen(n) }), AppendArrayHeader(nil, n), "array %d", n)
	b := make([]byte, n)
	require.Equal(t, encoded(t, func(e *msgpack.Encoder) error { return e.EncodeBytes(b) }), append(AppendBinHeader(nil, n), b...), "bin %d", n)
}

// TestWritersMatchEncoder checks each form's bounds, both sides.
func TestWritersMatchEncoder(t *testing.T) {
	for _, u := range []uint64{0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
		check(t, u, 0, 0)
	}
	for _, i := range []int64{0, 1, 127, 128, -1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64, math.MaxInt64} {
		check(t, 0, i, 0)
	}
	for _, n := range []int{0, 1, 15, 16, 255, 256, 0xffff, 0x10000} {
		check(t, 0, 0, n)
	}
	// Appending keeps what was there.
	require.Equal(t, []byte{0xaa, 0xcc, 0x80}, AppendUint([]byte{0xaa}, 0x80))
}

func FuzzWriters(f *testing.F) {
	f.Add(uint64(0x80), int64(-33), uint32(300))
	f.Fuzz(func(t *testing.T, u uint64, i int64, n uint32) {
		check(t, u, i, int(n%(1<<17)))
	})
}
