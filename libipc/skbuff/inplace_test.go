package skbuff

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestParseFrame: encoded Bufs parse in place to what DecodeMsgpack gives
// (bytes and GSO size), aliasing the encoding.
func TestParseFrame(t *testing.T) {
	b := Get()
	defer b.Free()
	require.NoError(t, b.Append([]byte("payload")))
	_, err := b.Push(14)
	require.NoError(t, err)
	b.Dev = 3
	for _, gso := range []uint16{0, 1448} {
		b.GSOSize = gso
		enc, err := msgpack.Marshal(b)
		require.NoError(t, err)
		frame, g, ok := ParseFrame(enc, MaxPacketSize)
		require.True(t, ok)
		assert.Equal(t, b.Bytes(), frame)
		assert.Equal(t, gso, g)
		frame[0] = 0xaa
		assert.Contains(t, string(enc), "\xaa", "in place")
	}
	enc, _ := msgpack.Marshal(b)
	_, _, ok := ParseFrame(enc, 10)
	assert.False(t, ok, "larger than the capacity")
	_, _, ok = ParseFrame(enc[:len(enc)-1], MaxPacketSize)
	assert.False(t, ok, "truncated")
}

// FuzzParseFrame: whatever ParseFrame accepts, DecodeMsgpack into a Buf
// of that capacity accepts with the same bytes and GSO size.
func FuzzParseFrame(f *testing.F) {
	b := Get()
	_ = b.Append([]byte("frame bytes"))
	enc, _ := msgpack.Marshal(b)
	f.Add(enc)
	b.GSOSize = 1460
	enc, _ = msgpack.Marshal(b)
	f.Add(enc)
	_ = b.Free()
	f.Fuzz(func(t *testing.T, body []byte) {
		frame, gso, ok := ParseFrame(body, MaxPacketSize)
		if !ok {
			return
		}
		got := Get()
		defer got.Free()
		require.NoError(t, msgpack.Unmarshal(body, got))
		require.Equal(t, string(got.Bytes()), string(frame))
		require.Equal(t, got.GSOSize, gso)
	})
}
