package sockproto_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libsocket/sockproto"
)

func sendBody(t testing.TB, req *sockproto.SendToReq) []byte {
	b, err := libipc.AppendBody(nil, req)
	require.NoError(t, err)
	return b
}

// TestParseSendToAliasesTheBody: what libipc's encoder writes parses
// without copying (the payload is the body's bytes) to what the general
// decoder gives, for every address form and payload size.
func TestParseSendToAliasesTheBody(t *testing.T) {
	for _, req := range []sockproto.SendToReq{
		{Handle: 3, To: sockproto.AddrFrom(netip.MustParseAddrPort("10.99.0.1:7")), Data: []byte("hello")},
		{Handle: 1 << 31, Flags: sockproto.MsgDontWait, Data: make([]byte, sockproto.MaxDatagram)},
		{Handle: 70000, To: sockproto.AddrFrom(netip.MustParseAddrPort("[2001:db8::1]:53")), Data: make([]byte, 300)},
		{Handle: 0},
	} {
		body := sendBody(t, &req)
		var fast sockproto.SendToReq
		require.True(t, sockproto.ParseSendTo(body, &fast))
		var slow sockproto.SendToReq
		require.NoError(t, libipc.DecodeBody(body, &slow))
		assert.Equal(t, slow.Handle, fast.Handle)
		assert.Equal(t, slow.To, fast.To)
		assert.Equal(t, slow.Flags, fast.Flags)
		assert.Equal(t, len(slow.Data), len(fast.Data))
		assert.Equal(t, string(slow.Data), string(fast.Data))
		if len(fast.Data) > 0 {
			assert.Equal(t, &body[len(body)-len(fast.Data)], &fast.Data[0], "aliases the body")
		}
	}
	good := sendBody(t, &sockproto.SendToReq{Handle: 1, Data: []byte("x")})
	for name, bad := range map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
		"array":     {0x94, 1, 0xc0, 0, 0xc4, 0},
	} {
		var r sockproto.SendToReq
		assert.False(t, sockproto.ParseSendTo(bad, &r), name)
	}
}

// FuzzParseSendTo: whenever the fast parser accepts a body, the general
// decoder accepts it too and agrees field for field.
func FuzzParseSendTo(f *testing.F) {
	f.Add(sendBody(f, &sockproto.SendToReq{Handle: 3, To: sockproto.AddrFrom(netip.MustParseAddrPort("10.99.0.1:7")), Data: []byte("hello")}))
	f.Add(sendBody(f, &sockproto.SendToReq{Handle: 9, To: sockproto.AddrFrom(netip.MustParseAddrPort("[::1]:7"))}))
	f.Add([]byte{0x84, 0xa1, 'h', 0x01, 0xa2, 't', 'o', 0xc0, 0xa5, 'f', 'l', 'a', 'g', 's', 0x00, 0xa4, 'd', 'a', 't', 'a', 0xc4, 0x00})
	f.Add(sendBody(f, &sockproto.SendToReq{Handle: 2, Data: []byte("a"), More: []sockproto.SendDgram{{Data: []byte("b")}, {To: sockproto.AddrFrom(netip.MustParseAddrPort("10.0.0.1:9"))}}}))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast sockproto.SendToReq
		if !sockproto.ParseSendTo(body, &fast) {
			return
		}
		var slow sockproto.SendToReq
		require.NoError(t, libipc.DecodeBody(body, &slow), "the fast parser accepted what the decoder refuses")
		require.Equal(t, slow.Handle, fast.Handle)
		require.Equal(t, slow.To, fast.To)
		require.Equal(t, slow.Flags, fast.Flags)
		require.Equal(t, string(slow.Data), string(fast.Data))
		require.Equal(t, len(slow.More), len(fast.More))
		for i := range slow.More {
			require.Equal(t, slow.More[i].To, fast.More[i].To)
			require.Equal(t, string(slow.More[i].Data), string(fast.More[i].Data))
		}
	})
}

// TestParseSendToBatch: a batched send encodes as the general encoder
// writes it and parses in place, each further datagram aliasing the body,
// into the array the request held.
func TestParseSendToBatch(t *testing.T) {
	a := sockproto.AddrFrom(netip.MustParseAddrPort("10.99.0.1:7"))
	req := &sockproto.SendToReq{Handle: 5, To: a, Data: []byte("first")}
	for i := range sockproto.MaxBatch - 1 {
		req.More = append(req.More, sockproto.SendDgram{To: a, Data: []byte{byte(i), 1, 2}})
	}
	req.More[3].To = sockproto.Addr{}
	req.More[4].To = sockproto.AddrFrom(netip.MustParseAddrPort("[2001:db8::7]:9"))
	body := sendBody(t, req)
	general, err := libipc.AppendBodyGeneral(nil, req)
	require.NoError(t, err)
	require.Equal(t, general, body)
	held := make([]sockproto.SendDgram, 0, 100)
	fast := sockproto.SendToReq{More: held}
	require.True(t, sockproto.ParseSendTo(body, &fast))
	require.Len(t, fast.More, len(req.More))
	assert.Same(t, &held[:1][0], &fast.More[0], "the held array is reused")
	for i := range req.More {
		assert.Equal(t, req.More[i].To, fast.More[i].To)
		assert.Equal(t, req.More[i].Data, fast.More[i].Data)
	}
	last := fast.More[len(fast.More)-1].Data
	assert.Equal(t, &body[len(body)-len(last)], &last[0], "aliases the body")
	// Without "more", More is empty, its array kept for the next batch.
	one := sockproto.SendToReq{More: fast.More}
	require.True(t, sockproto.ParseSendTo(sendBody(t, &sockproto.SendToReq{Handle: 1}), &one))
	assert.Empty(t, one.More)
	assert.Equal(t, cap(fast.More), cap(one.More))

	for _, resp := range []sockproto.SendToResp{{N: 5}, {N: 5, Sent: 62}, {N: 0, Sent: 1}} {
		body := resp.AppendMsgpack(nil)
		general, err := libipc.AppendBodyGeneral(nil, &resp)
		require.NoError(t, err)
		require.Equal(t, general, body)
		var back sockproto.SendToResp
		require.True(t, back.ParseMsgpack(body))
		assert.Equal(t, resp, back)
	}
}
