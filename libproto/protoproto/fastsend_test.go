package protoproto

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"armos/libipc"
	"armos/libsocket/sockproto"
)

func encodeSendReq(t testing.TB, r *SendReq) []byte {
	b, err := msgpack.Marshal(r)
	require.NoError(t, err)
	return b
}

// TestParseSendReq: the encodings msgpack-go writes parse in place, equal
// to what the general decoder gives, the data aliasing the body.
func TestParseSendReq(t *testing.T) {
	dst := IP(netip.MustParseAddr("10.0.2.2"))
	for _, r := range []SendReq{
		{Proto: 6, Dst: dst, Data: []byte("segment")},
		{Proto: 6, Src: IP(netip.MustParseAddr("10.0.2.15")), Dst: dst, TTL: 9, TOS: 4, DF: true, Data: make([]byte, 60000), TSO: 1460},
		{Proto: 253, Dst: dst},
		{Proto: 255, Dst: sockproto.AddrFrom(netip.MustParseAddrPort("[fe80::1]:0")), TTL: 255, TSO: 65535, Data: []byte{}},
		{Proto: 6, Dst: dst, DF: true, Room: make([]byte, 64), Data: make([]byte, 30000), TSO: 1460},
	} {
		body := encodeSendReq(t, &r)
		var got SendReq
		off, ok := ParseSendReqAt(body, &got)
		require.True(t, ok, "%+v", r)
		if len(got.Data) > 0 {
			assert.Same(t, &body[off], &got.Data[0], "ParseSendReqAt tells where Data lies")
		}
		var want SendReq
		require.NoError(t, libipc.DecodeBody(body, &want))
		assert.Equal(t, want, got)
		if len(got.Data) > 0 {
			got.Data[0] ^= 0xff
			assert.NotEqual(t, want.Data[0], got.Data[0], "in place, not a copy")
		}
	}
	for _, bad := range [][]byte{nil, {0x90}, {0x81, 0xa5, 'p', 'r', 'o', 't', 'o', 0xcd, 1, 0}} {
		var got SendReq
		assert.False(t, ParseSendReq(bad, &got))
	}
}

// FuzzParseSendReq: whatever ParseSendReq accepts, the general decoder
// accepts too, with the same result.
func FuzzParseSendReq(f *testing.F) {
	dst := IP(netip.MustParseAddr("10.0.2.2"))
	f.Add(encodeSendReq(f, &SendReq{Proto: 6, Dst: dst, Data: []byte("x"), TSO: 1460}))
	f.Add(encodeSendReq(f, &SendReq{Proto: 6, Src: dst, Dst: dst, TTL: 1, TOS: 2, DF: true, Data: []byte("yz")}))
	f.Add(encodeSendReq(f, &SendReq{Proto: 6, Dst: dst, Room: []byte{0, 0}, Data: []byte("yz"), TSO: 1}))
	f.Fuzz(func(t *testing.T, body []byte) {
		var got SendReq
		off, ok := ParseSendReqAt(body, &got)
		if !ok {
			return
		}
		if len(got.Data) > 0 {
			require.Same(t, &body[off], &got.Data[0])
		}
		var want SendReq
		require.NoError(t, libipc.DecodeBody(body, &want))
		if len(want.Data) == 0 && len(got.Data) == 0 {
			want.Data, got.Data = nil, nil
		}
		if len(want.Room) == 0 && len(got.Room) == 0 {
			want.Room, got.Room = nil, nil
		}
		require.Equal(t, want, got)
	})
}
