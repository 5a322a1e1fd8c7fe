package protoproto

import (
	"bytes"
	"net/netip"
	"testing"
	"unsafe"

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

var (
	addr4 = sockproto.AddrFrom(netip.MustParseAddrPort("10.0.2.15:0"))
	addr6 = sockproto.AddrFrom(netip.MustParseAddrPort("[fe80::1]:443"))
)

// TestSendReqAppend: a SendReq encodes byte for byte as the general
// encoder writes it (netd decodes it, in place or the general way), every
// omitempty field present or not, and netd's parser reads it back.
func TestSendReqAppend(t *testing.T) {
	for _, r := range []SendReq{
		{},
		{Proto: 6, Src: addr4, Dst: addr4, Data: []byte("segment")},
		{Proto: 6, Src: addr4, Dst: addr6, TTL: 64, TOS: 0x10, DF: true, Data: make([]byte, 65000), TSO: 1460},
		{Proto: 255, Dst: addr4, TTL: 255, TOS: 255, TSO: 65535, Data: []byte{}},
		{Proto: 128, Src: addr6, DF: true, Data: make([]byte, 300)},
		{Proto: 6, Src: addr4, Dst: addr4, DF: true, Room: make([]byte, 64), Data: make([]byte, 3000), TSO: 1460},
	} {
		body, err := libipc.AppendBody([]byte{1, 2}, &r)
		require.NoError(t, err)
		require.Equal(t, general(t, &r), body[2:], "%+v", r)
		var back SendReq
		require.True(t, ParseSendReq(body[2:], &back))
		if len(r.Data) == 0 {
			back.Data, r.Data = nil, nil
		}
		require.Equal(t, r, back)
	}
}

// FuzzSendReqAppend: for any field values, the hand-written encoder
// writes what the general one does.
func FuzzSendReqAppend(f *testing.F) {
	f.Add(uint8(6), uint64(0x0a000202_0050), []byte{}, uint8(64), uint8(0), true, []byte("seg"), uint16(1460), false)
	f.Fuzz(func(t *testing.T, proto uint8, src uint64, dst6 []byte, ttl, tos uint8, df bool, data []byte, tso uint16, nilData bool) {
		ip := netip.AddrFrom4([4]byte{byte(src >> 40), byte(src >> 32), byte(src >> 24), byte(src >> 16)})
		r := SendReq{Proto: proto, Src: sockproto.AddrFrom(netip.AddrPortFrom(ip, uint16(src))), TTL: ttl, TOS: tos, DF: df, Data: data, TSO: tso}
		if len(dst6) >= 16 {
			r.Dst = sockproto.AddrFrom(netip.AddrPortFrom(netip.AddrFrom16([16]byte(dst6)), uint16(src)))
		}
		if nilData {
			r.Data = nil
		}
		require.Equal(t, general(t, &r), r.AppendMsgpack(nil))
	})
}

// TestParseDatagram: what the general encoder writes for a Datagram (netd
// sends them) parses by hand to what the general decoder gives, the bytes
// copied (libproto releases the message).
func TestParseDatagram(t *testing.T) {
	for _, d := range []Datagram{
		{Proto: 6, Src: addr4, Dst: addr4, TTL: 64, Dev: 1, MTU: 1500, Hdr: make([]byte, 20), Data: []byte("segment")},
		{Proto: 6, Src: addr6, Dst: addr4, TTL: 1, TOS: 4, Bcast: true, Dev: 1 << 20, MTU: 65535, Hdr: make([]byte, 60), Data: make([]byte, 65000)},
		{Proto: 6, TOS: 8, Data: []byte{1}},
		{Proto: 6, Bcast: true, Hdr: []byte{}, Data: []byte{}},
		{},
	} {
		body := general(t, &d)
		var got, want Datagram
		require.True(t, got.ParseMsgpack(body), "%+v", d)
		require.NoError(t, libipc.DecodeBodyGeneral(body, &want))
		require.Equal(t, want, got)
		var via Datagram
		require.NoError(t, libipc.DecodeBody(body, &via))
		require.Equal(t, want, via)
		if len(got.Data) > 0 {
			data := bytes.Clone(got.Data)
			_ = append(got.Hdr, 0xee, 0xee) // Hdr and Data may share an array: Hdr's capacity ends at Data
			require.Equal(t, data, got.Data)
			got.Data[0] ^= 0xff
			require.NotEqual(t, want.Data[0], got.Data[0], "a copy")
		}
	}
}

// FuzzParseDatagram: whatever Datagram.ParseMsgpack accepts, the general
// decoder accepts with the same result, from the same starting value.
func FuzzParseDatagram(f *testing.F) {
	f.Add(general(f, &Datagram{Proto: 6, Src: addr4, Dst: addr4, TTL: 64, Dev: 1, MTU: 1500, Hdr: make([]byte, 20), Data: []byte("x")}), uint8(0))
	f.Add(general(f, &Datagram{Proto: 17, Src: addr6, TOS: 3, Bcast: true, MTU: 1 << 31}), uint8(1))
	f.Add(general(f, &Datagram{Proto: 6, Src: addr4, Dst: addr6, TTL: 1, Bcast: true, Data: []byte("y")}), uint8(2))
	f.Add([]byte{0x82, 0xa3, 'm', 't', 'u', 0xce, 1, 2, 3, 4, 0xa3, 'h', 'd', 'r', 0xc0}, uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, prior uint8) {
		// From nothing, from a Datagram holding bytes, or from one
		// holding values but no bytes (the in-order path's case).
		var start Datagram
		switch prior % 3 {
		case 1:
			start = Datagram{Proto: 1, TTL: 2, Dev: 3, Hdr: []byte("hdr"), Data: []byte{}}
		case 2:
			start = Datagram{Proto: 1, TOS: 7, Bcast: true, Dev: 9}
		}
		got := start
		got.Hdr, got.Data = bytes.Clone(start.Hdr), bytes.Clone(start.Data)
		// In place: the in-order encoding only, read as the copying
		// parser reads it, with Hdr and Data lying in body.
		inPlace := start
		inPlace.Hdr, inPlace.Data = bytes.Clone(start.Hdr), bytes.Clone(start.Data)
		body = bytes.Clone(body)
		if inPlace.ParseMsgpackInPlace(body) {
			copied := start
			copied.Hdr, copied.Data = bytes.Clone(start.Hdr), bytes.Clone(start.Data)
			require.True(t, copied.ParseMsgpack(body), "what the in-place parser reads, the copying one does")
			require.Equal(t, copied, inPlace)
			for _, b := range [][]byte{inPlace.Hdr, inPlace.Data} {
				if len(b) > 0 {
					require.True(t, within(body, b), "in place means within the body")
				}
			}
		}
		if !got.ParseMsgpack(body) {
			return
		}
		want := start
		want.Hdr, want.Data = bytes.Clone(start.Hdr), bytes.Clone(start.Data)
		require.NoError(t, libipc.DecodeBodyGeneral(body, &want))
		require.Equal(t, want.Hdr == nil, got.Hdr == nil)
		require.Equal(t, want.Data == nil, got.Data == nil)
		require.Equal(t, want, got)
	})
}

// TestDatagramAppend: netd's hand-written encoding of a delivery is the
// general encoder's, and the hand-written parser reads it back.
func TestDatagramAppend(t *testing.T) {
	for _, d := range []Datagram{
		{},
		{Proto: 6, Src: addr4, Dst: addr4, TTL: 64, Dev: 1, MTU: 1500, Hdr: make([]byte, 20), Data: []byte("segment")},
		{Proto: 6, Src: addr6, Dst: addr4, TTL: 1, TOS: 4, Bcast: true, Dev: 1 << 20, MTU: 65535, Hdr: make([]byte, 60), Data: make([]byte, 65000)},
		{Proto: 253, Bcast: true, Hdr: []byte{}, Data: []byte{}},
	} {
		body, err := libipc.AppendBody([]byte{1, 2}, &d)
		require.NoError(t, err)
		require.Equal(t, general(t, &d), body[2:], "%+v", d)
		var back, want Datagram
		require.True(t, back.ParseMsgpack(body[2:]))
		require.NoError(t, libipc.DecodeBodyGeneral(body[2:], &want))
		require.Equal(t, want, back)
	}
}

// FuzzDatagramAppend: for any field values, the hand-written encoder
// writes what the general one does.
func FuzzDatagramAppend(f *testing.F) {
	f.Add(uint8(6), uint64(0x0a000202_0050), []byte{}, uint8(64), uint8(0), false, uint32(1), uint32(1500), []byte("hdr"), []byte("seg"), false)
	f.Fuzz(func(t *testing.T, proto uint8, src uint64, dst6 []byte, ttl, tos uint8, bcast bool, dev, mtu uint32, hdr, data []byte, nils bool) {
		ip := netip.AddrFrom4([4]byte{byte(src >> 40), byte(src >> 32), byte(src >> 24), byte(src >> 16)})
		d := Datagram{Proto: proto, Src: sockproto.AddrFrom(netip.AddrPortFrom(ip, uint16(src))), TTL: ttl, TOS: tos, Bcast: bcast,
			Dev: dev, MTU: mtu, Hdr: hdr, Data: data}
		if len(dst6) >= 16 {
			d.Dst = sockproto.AddrFrom(netip.AddrPortFrom(netip.AddrFrom16([16]byte(dst6)), uint16(src)))
		}
		if nils {
			d.Hdr, d.Data = nil, nil
		}
		require.Equal(t, general(t, &d), d.AppendMsgpack(nil))
	})
}

// TestSendReqAppendPieces: Data continued by DataMore encodes as the
// SendReq whose Data is the pieces joined, at every cut (including empty
// pieces and bins of each length class), and the size hint counts them;
// gathered (AppendMsgpackGather), the encoding and its pieces join to the same bytes.
func TestSendReqAppendPieces(t *testing.T) {
	for _, n := range []int{0, 1, 20, 255, 256, 1480, 65535, 65536, 70000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		joined := SendReq{Proto: 6, Src: addr4, Dst: addr4, DF: true, Data: data, TSO: 1460}
		want := general(t, &joined)
		for _, cut := range [][2]int{{0, 0}, {0, n}, {min(20, n), n}, {min(20, n), n / 2}, {n / 3, 2 * n / 3}, {n, n}} {
			a, b := min(cut[0], cut[1]), max(cut[0], cut[1])
			r := joined
			r.Data, r.DataMore = data[:a], [][]byte{data[a:b], data[b:]}
			require.Equal(t, n+64, r.MsgSizeHint())
			body, err := libipc.AppendBody([]byte{1, 2}, &r)
			require.NoError(t, err)
			require.Equal(t, want, body[2:], "%d bytes cut at %d and %d", n, a, b)
			var back SendReq
			require.True(t, ParseSendReq(body[2:], &back))
			require.Equal(t, data, back.Data)
			// Gathered: the encoding without the payload, and the
			// payload as pieces, are the same bytes put back together;
			// below GatherMin nothing is left out.
			g, pieces := r.AppendMsgpackGather([]byte{1, 2}, nil)
			require.Equal(t, want, libipc.JoinPieces(nil, g, pieces)[2:], "gathered: %d bytes cut at %d and %d", n, a, b)
			if n < GatherMin {
				require.Empty(t, pieces)
			} else {
				require.NotEmpty(t, pieces)
				require.Equal(t, len(want)-n+2, len(g), "the payload left out")
			}
			for _, p := range pieces {
				require.NotEmpty(t, p.Data, "no empty piece")
			}
		}
	}
}

// within reports whether b lies inside buf's storage.
func within(buf, b []byte) bool {
	if len(buf) == 0 || len(b) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(&buf[0]))
	p := uintptr(unsafe.Pointer(&b[0]))
	return p >= start && p+uintptr(len(b)) <= start+uintptr(len(buf))
}
