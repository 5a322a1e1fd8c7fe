package mpread

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// FuzzReaders: whatever a reader accepts, msgpack's own decoder reads as
// the same value, and the rest is what follows it.
func FuzzReaders(f *testing.F) {
	for _, v := range []any{0, 127, 200, 70000, uint64(1) << 40, -1, -33, -200, -70000, "key", []byte("bin"), true, false, nil,
		[]int{1, 2}, make([]bool, 20), make([]bool, 70000)} {
		b, _ := msgpack.Marshal(v)
		f.Add(append(b, 0x01))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		dec := func() (any, int) {
			r := bytes.NewReader(p)
			v, err := msgpack.NewDecoder(r).DecodeInterface()
			require.NoError(t, err)
			return v, len(p) - r.Len()
		}
		if v, rest, ok := Uint(p); ok {
			got, n := dec()
			assert.EqualValues(t, got, v)
			assert.Len(t, rest, len(p)-n)
		}
		if v, rest, ok := Int(p); ok {
			got, n := dec()
			assert.EqualValues(t, got, v)
			assert.Len(t, rest, len(p)-n)
		}
		if b, rest, ok := Bin(p); ok {
			got, n := dec()
			if b == nil {
				assert.Nil(t, got)
			} else {
				assert.Equal(t, got, b)
			}
			assert.Len(t, rest, len(p)-n)
		}
		if s, rest, ok := Fixstr(p); ok {
			got, n := dec()
			assert.Equal(t, got, string(s))
			assert.Len(t, rest, len(p)-n)
		}
		if v, rest, ok := Bool(p); ok {
			got, n := dec()
			assert.Equal(t, got, v)
			assert.Len(t, rest, len(p)-n)
		}
		if n, rest, ok := ArrayHeader(p); ok {
			d := msgpack.NewDecoder(bytes.NewReader(p))
			want, err := d.DecodeArrayLen()
			require.NoError(t, err)
			assert.Equal(t, want, n)
			switch {
			case n < 0 || n < 16 && p[0] != 0xdc && p[0] != 0xdd:
				assert.Len(t, rest, len(p)-1)
			case p[0] == 0xdc:
				assert.Len(t, rest, len(p)-3)
			default:
				assert.Len(t, rest, len(p)-5)
			}
		}
	})
}

// TestCopyBin: CopyBin stores a bin as msgpack's decoder stores it into a
// []byte: nil stays nil, an empty bin is empty and not nil, a held array
// large enough is reused, and the result never aliases the message.
func TestCopyBin(t *testing.T) {
	assert.Nil(t, CopyBin([]byte("old"), nil))
	empty := CopyBin(nil, []byte{})
	assert.NotNil(t, empty)
	assert.Empty(t, empty)
	msg := []byte("abc")
	got := CopyBin(nil, msg)
	assert.Equal(t, msg, got)
	got[0] = 'x'
	assert.Equal(t, byte('a'), msg[0], "a copy")
	held := make([]byte, 1, 8)
	got = CopyBin(held, msg)
	assert.Equal(t, msg, got)
	assert.Same(t, &held[:1][0], &got[0], "the held array reused")
	assert.Equal(t, msg, CopyBin(make([]byte, 0, 1), msg), "too small: a new one")
}

// TestFixMap walks a struct's encoding field by field and refuses a key
// seen twice, a field its reader refuses, trailing bytes and other
// shapes.
func TestFixMap(t *testing.T) {
	type pair struct {
		A int    `msgpack:"a"`
		B []byte `msgpack:"b"`
	}
	body, err := msgpack.Marshal(&pair{A: 7, B: []byte("x")})
	require.NoError(t, err)
	var a int64
	var b []byte
	field := func(key, p []byte) ([]byte, uint32, bool) {
		var ok bool
		switch string(key) {
		case "a":
			a, p, ok = Int(p)
			return p, 1, ok
		case "b":
			b, p, ok = Bin(p)
			return p, 2, ok
		}
		return nil, 0, false
	}
	require.True(t, FixMap(body, field))
	assert.Equal(t, int64(7), a)
	assert.Equal(t, []byte("x"), b)
	assert.False(t, FixMap(append(body, 0), field), "trailing bytes")
	assert.False(t, FixMap([]byte{0x82, 0xa1, 'a', 1, 0xa1, 'a', 2}, field), "a key twice")
	assert.False(t, FixMap([]byte{0x81, 0xa1, 'c', 1}, field), "a key the field refuses")
	assert.False(t, FixMap([]byte{0x81, 0xa1, 'a'}, field), "a value missing")
	assert.False(t, FixMap([]byte{0x91, 1}, field), "an array")
	assert.True(t, FixMap([]byte{0x80}, field), "an empty map")
}
