package streamproto

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"armos/libipc"
)

// TestParseData: what msgpack-go writes for a Data parses in place,
// equal to the general decoder's result; anything else is left to it.
func TestParseData(t *testing.T) {
	for _, n := range []int{1, 31, 255, 256, 65535, MaxChunk} {
		body, err := msgpack.Marshal(&Data{Data: make([]byte, n)})
		require.NoError(t, err)
		got, ok := ParseData(body)
		require.True(t, ok, n)
		var want Data
		require.NoError(t, libipc.DecodeBody(body, &want))
		assert.Equal(t, want.Data, got)
		got[0] = 1
		assert.Equal(t, byte(1), body[len(body)-n], "in place")
	}
	for _, bad := range [][]byte{nil, {0x81}, {0x81, 0xa1, 'e', 0xc4, 0}, {0x82, 0xa1, 'd', 0xc4, 0}, {0x81, 0xa1, 'd', 0xc4, 2, 1}} {
		_, ok := ParseData(bad)
		assert.False(t, ok, "% x", bad)
	}
}

// FuzzParseData: whatever ParseData accepts, the general decoder accepts
// with the same bytes.
func FuzzParseData(f *testing.F) {
	body, _ := msgpack.Marshal(&Data{Data: []byte("chunk")})
	f.Add(body)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := ParseData(body)
		if !ok {
			return
		}
		var want Data
		require.NoError(t, libipc.DecodeBody(body, &want))
		require.Equal(t, string(want.Data), string(got))
	})
}
