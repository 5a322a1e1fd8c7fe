package streamproto

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"armos/libipc"
)

// general encodes v with libipc's general encoder, as if it had no
// hand-written one.
func general(t testing.TB, v any) []byte {
	b, err := libipc.AppendBodyGeneral(nil, v)
	require.NoError(t, err)
	return b
}

// TestFastEncoding: Data and Credit encode byte for byte as the general
// encoder does (other programs decode them), and what they write parses
// back by hand, through libipc, to the same value.
func TestFastEncoding(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, GatherMin - 1, GatherMin, 65535, 65536} {
		d := &Data{Data: bytes.Repeat([]byte{7}, n)}
		body, err := libipc.AppendBody(nil, d)
		require.NoError(t, err)
		require.Equal(t, general(t, d), body, n)
		var back Data
		require.True(t, back.ParseMsgpack(body))
		require.Equal(t, d.Data, back.Data)
		require.Equal(t, body[len(body)-n:], back.Data)
		if n > 0 {
			back.Data[0]++
			require.NotEqual(t, body[len(body)-n], back.Data[0], "a copy: the message is released")
		}
		// Gathered, the data left out as a piece from GatherMin on: the
		// same bytes joined.
		g, pieces := d.AppendMsgpackGather([]byte{9}, nil)
		require.Equal(t, body, libipc.JoinPieces(nil, g, pieces)[1:], n)
		require.Equal(t, n >= GatherMin, len(pieces) == 1, n)
	}
	require.Equal(t, general(t, &Data{}), (&Data{}).AppendMsgpack(nil), "nil data")
	for _, v := range []int{0, 1, 127, 128, 255, 256, 65535, 65536, InitialSendCreditBytes, MaxCreditBytes, math.MaxInt64, -1, -32, -33, -129, math.MinInt64} {
		c := &Credit{Bytes: v, Msgs: 16}
		body, err := libipc.AppendBody(nil, c)
		require.NoError(t, err)
		require.Equal(t, general(t, c), body, v)
		var back Credit
		require.NoError(t, libipc.DecodeBody(body, &back))
		require.Equal(t, *c, back)
		c = &Credit{Bytes: 3, Msgs: v}
		require.Equal(t, general(t, c), c.AppendMsgpack(nil), v)
	}
	// What the parser does not take, the general decoder still answers.
	var c Credit
	require.False(t, c.ParseMsgpack([]byte{0x81, 0xa5, 'b', 'y', 't', 'e', 's', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0}))
	require.Error(t, libipc.DecodeBody([]byte{0x81, 0xa3, 'b', 'a', 'd', 1}, &c), "unknown field")
}

// FuzzParseCredit: whatever Credit.ParseMsgpack accepts, the general
// decoder accepts with the same result, from the same starting value.
func FuzzParseCredit(f *testing.F) {
	f.Add(general(f, &Credit{Bytes: 1 << 17, Msgs: 4}), 5, 6)
	f.Add([]byte{0x81, 0xa4, 'm', 's', 'g', 's', 0xff}, 0, 0)
	f.Add([]byte{0x82, 0xa4, 'm', 's', 'g', 's', 0xd0, 0x80, 0xa5, 'b', 'y', 't', 'e', 's', 0xcf, 1, 2, 3, 4, 5, 6, 7, 8}, 1, 2)
	f.Fuzz(func(t *testing.T, body []byte, b, m int) {
		got := Credit{Bytes: b, Msgs: m}
		if !got.ParseMsgpack(body) {
			return
		}
		want := Credit{Bytes: b, Msgs: m}
		require.NoError(t, libipc.DecodeBodyGeneral(body, &want))
		require.Equal(t, want, got)
	})
}

// FuzzParseDataCopy: whatever Data.ParseMsgpack accepts, the general
// decoder accepts with the same bytes (nil, empty or not), into a Data
// that held nothing or something.
func FuzzParseDataCopy(f *testing.F) {
	f.Add(general(f, &Data{Data: []byte("chunk")}), []byte(nil), false)
	f.Add(general(f, &Data{}), []byte("old"), true)
	f.Add([]byte{0x81, 0xa1, 'd', 0xc4, 0}, []byte(nil), true)
	f.Fuzz(func(t *testing.T, body, old []byte, oldNil bool) {
		if oldNil {
			old = nil
		}
		got := Data{Data: bytes.Clone(old)}
		if !got.ParseMsgpack(body) {
			return
		}
		want := Data{Data: bytes.Clone(old)}
		require.NoError(t, libipc.DecodeBodyGeneral(body, &want))
		require.Equal(t, want.Data == nil, got.Data == nil, "nil or not")
		require.Equal(t, want, got)
	})
}
