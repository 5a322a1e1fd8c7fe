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
	// Batches: a receive asking for several, a reply carrying several.
	for _, count := range []uint32{0, 1, 2, sockproto.MaxBatch} {
		req := &sockproto.RecvFromReq{Handle: 4, Max: 2048, Tag: 7, Count: count}
		body := req.AppendMsgpack(nil)
		require.Equal(t, general(t, req), body, count)
		var back sockproto.RecvFromReq
		require.True(t, back.ParseMsgpack(body))
		require.Equal(t, *req, back)
	}
	for _, n := range []int{1, 2, 15, 16, sockproto.MaxBatch} {
		r := &sockproto.RecvFromResp{From: hotAddrs[1], Data: []byte("first"), Size: 5}
		for i := range n {
			r.More = append(r.More, sockproto.RecvFromResp{From: hotAddrs[i%len(hotAddrs)], Data: bytes.Repeat([]byte{byte(i)}, i), Size: i + 1, Truncated: i%2 == 0})
		}
		body := r.AppendMsgpack(nil)
		require.Equal(t, general(t, r), body, n)
		// Parsed over a reply that held other datagrams, as libsocket
		// reuses its buffers: the values are the new ones.
		back := sockproto.RecvFromResp{More: make([]sockproto.RecvFromResp, 3, 40)}
		for i := range back.More {
			back.More[i] = sockproto.RecvFromResp{Data: make([]byte, 0, 100), Size: 99, Truncated: true}
		}
		require.True(t, back.ParseMsgpack(body))
		require.Equal(t, *r, back)
		var want sockproto.RecvFromResp
		require.NoError(t, libipc.DecodeBodyGeneral(body, &want))
		require.Equal(t, want, back)
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
	f.Add(general(f, &sockproto.RecvFromResp{From: hotAddrs[1], Data: []byte("a"), Size: 1,
		More: []sockproto.RecvFromResp{{From: hotAddrs[4], Data: []byte("bc"), Size: 9, Truncated: true}, {}}}), []byte("old"), false, 2)
	f.Add([]byte{0x81, 0xa4, 'm', 'o', 'r', 'e', 0x91, 0x81, 0xa4, 's', 'i', 'z', 'e', 0x05}, []byte(nil), true, 3)
	f.Add([]byte{0x81, 0xa4, 'm', 'o', 'r', 'e', 0x90}, []byte(nil), true, 1)
	f.Fuzz(func(t *testing.T, body, old []byte, oldNil bool, size int) {
		if oldNil {
			old = nil
		}
		// A reply decoded over an earlier one, More's array and its
		// elements' buffers reused (size picks how many it held).
		start := func() sockproto.RecvFromResp {
			r := sockproto.RecvFromResp{From: hotAddrs[1], Data: bytes.Clone(old), Size: size}
			if k := size & 3; k > 0 {
				r.More = make([]sockproto.RecvFromResp, k-1, k+1)
				for i := range r.More {
					r.More[i] = sockproto.RecvFromResp{From: hotAddrs[4], Data: bytes.Clone(old), Size: i, Truncated: true}
				}
			}
			return r
		}
		got := start()
		if !got.ParseMsgpack(body) {
			return
		}
		want := start()
		require.NoError(t, libipc.DecodeBodyGeneral(body, &want))
		require.Equal(t, want.Data == nil, got.Data == nil, "nil or not")
		require.Equal(t, want.More == nil, got.More == nil, "More nil or not")
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
