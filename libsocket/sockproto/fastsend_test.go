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
	})
}
