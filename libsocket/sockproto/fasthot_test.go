package sockproto_test

import (
	"bytes"
	"math"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libsocket/sockproto"
)

// general encodes v with libipc's general encoder, as if it had no
// hand-written one.
func general(t testing.TB, v any) []byte {
	b, err := libipc.AppendBodyGeneral(nil, v)
	require.NoError(t, err)
	return b
}

var hotAddrs = []sockproto.Addr{
	{},
	sockproto.AddrFrom(netip.MustParseAddrPort("10.0.2.15:7")),
	sockproto.AddrFrom(netip.MustParseAddrPort("0.0.0.0:0")),
	sockproto.AddrFrom(netip.MustParseAddrPort("255.255.255.255:65535")),
	sockproto.AddrFrom(netip.MustParseAddrPort("[2001:db8::1]:53")),
}

var hotInts = []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, math.MaxInt64, -1, -32, -33, -129, -40000, math.MinInt64}

// TestHotMessagesEncodeAsTheGeneralEncoder: the four messages of a
// datagram's trip encode byte for byte as the general encoder writes them
// (other programs decode them the general way), and what they write parses
// back, through libipc, to the same value.
func TestHotMessagesEncodeAsTheGeneralEncoder(t *testing.T) {
	for _, a := range hotAddrs {
		for _, n := range []int{-1, 0, 1, 255, 256, 65535, 65536} {
			var data []byte
			if n >= 0 {
				data = bytes.Repeat([]byte{9}, n)
			}
			s := &sockproto.SendToReq{Handle: 3, To: a, Flags: 1 << 20, Data: data}
			require.Equal(t, general(t, s), s.AppendMsgpack(nil), "%v %d", a, n)
			r := &sockproto.RecvFromResp{From: a, Data: data, Size: n + 7, Truncated: n == 1}
			body := r.AppendMsgpack(nil)
			require.Equal(t, general(t, r), body, "%v %d", a, n)
			var back sockproto.RecvFromResp
			require.True(t, back.ParseMsgpack(body))
			require.Equal(t, *r, back)
			if n > 0 {
				back.Data[0]++
				require.NotEqual(t, body[len(body)-n-7], back.Data[0], "a copy: the message is released")
			}
		}
	}
	for _, v := range hotInts {
		resp := &sockproto.SendToResp{N: int(v)}
		body := resp.AppendMsgpack(nil)
		require.Equal(t, general(t, resp), body, v)
		var back sockproto.SendToResp
		require.NoError(t, libipc.DecodeBody(body, &back))
		require.Equal(t, *resp, back)

		req := &sockproto.RecvFromReq{Handle: 1<<32 - 1, Max: 65535, Flags: 2, Timeout: v, Tag: uint32(v)}
		body = req.AppendMsgpack(nil)
		require.Equal(t, general(t, req), body, v)
		var rback sockproto.RecvFromReq
		require.True(t, rback.ParseMsgpack(body))
		require.Equal(t, *req, rback)

		r := &sockproto.RecvFromResp{Size: int(v)}
		require.Equal(t, general(t, r), r.AppendMsgpack(nil), v)
	}
	// What a parser does not take, the general decoder still answers.
	var req sockproto.RecvFromReq
	require.False(t, req.ParseMsgpack([]byte{0x81, 0xa3, 'm', 'a', 'x', 0xcf, 1, 0, 0, 0, 0, 0, 0, 0}), "max past 32 bits")
	require.Error(t, libipc.DecodeBody([]byte{0x81, 0xa3, 'b', 'a', 'd', 1}, &req), "unknown field")
}

// FuzzParseRecvFromResp: whatever RecvFromResp.ParseMsgpack accepts, the
// general decoder accepts with the same result, from the same starting
// value (data nil, empty or not).
func FuzzParseRecvFromResp(f *testing.F) {
	f.Add(general(f, &sockproto.RecvFromResp{From: hotAddrs[1], Data: []byte("dgram"), Size: 5}), []byte(nil), false, 3)
	f.Add(general(f, &sockproto.RecvFromResp{From: hotAddrs[4], Size: 70000, Truncated: true}), []byte("old"), true, -1)
	f.Add([]byte{0x82, 0xa4, 's', 'i', 'z', 'e', 0xd0, 0x80, 0xa4, 'd', 'a', 't', 'a', 0xc4, 0}, []byte("x"), false, 0)
	f.Fuzz(func(t *testing.T, body, old []byte, oldNil bool, size int) {
		if oldNil {
			old = nil
		}
		got := sockproto.RecvFromResp{From: hotAddrs[1], Data: bytes.Clone(old), Size: size}
		if !got.ParseMsgpack(body) {
			return
		}
		want := sockproto.RecvFromResp{From: hotAddrs[1], Data: bytes.Clone(old), Size: size}
		require.NoError(t, libipc.DecodeBodyGeneral(body, &want))
		require.Equal(t, want.Data == nil, got.Data == nil, "nil or not")
		require.Equal(t, want, got)
	})
}

// FuzzParseRecvFromReq: whatever RecvFromReq.ParseMsgpack accepts, the
// general decoder accepts with the same result.
func FuzzParseRecvFromReq(f *testing.F) {
	f.Add(general(f, &sockproto.RecvFromReq{Handle: 2, Max: 2048, Timeout: -5, Tag: 9}), uint32(1))
	f.Add([]byte{0x81, 0xa7, 't', 'i', 'm', 'e', 'o', 'u', 't', 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}, uint32(0))
	f.Fuzz(func(t *testing.T, body []byte, tag uint32) {
		got := sockproto.RecvFromReq{Tag: tag, Max: 5}
		if !got.ParseMsgpack(body) {
			return
		}
		want := sockproto.RecvFromReq{Tag: tag, Max: 5}
		require.NoError(t, libipc.DecodeBodyGeneral(body, &want))
		require.Equal(t, want, got)
	})
}

// FuzzParseSendToResp: whatever SendToResp.ParseMsgpack accepts, the
// general decoder accepts with the same result.
func FuzzParseSendToResp(f *testing.F) {
	f.Add(general(f, &sockproto.SendToResp{N: 1472}), 3)
	f.Add([]byte{0x81, 0xa1, 'n', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		got := sockproto.SendToResp{N: n}
		if !got.ParseMsgpack(body) {
			return
		}
		want := sockproto.SendToResp{N: n}
		require.NoError(t, libipc.DecodeBodyGeneral(body, &want))
		require.Equal(t, want, got)
	})
}
