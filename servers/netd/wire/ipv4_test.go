package wire

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixChecksum recomputes the header checksum of an IPv4 header in place.
func fixChecksum(p []byte) {
	hl := int(p[0]&0xf) * 4
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:], ^Checksum(p[:hl], 0))
}

var echoRequestIPRepr = IPv4Repr{
	Src: ipA, Dst: ipB, Protocol: IPProtocolICMP, TTL: 64, ID: 887,
	DontFragment: true, PayloadLen: 24,
}

func TestParseIPv4Golden(t *testing.T) {
	ip, err := ParseIPv4(echoRequest[EthernetHeaderLen:])
	require.NoError(t, err)
	assert.Equal(t, uint8(4), ip.Version())
	assert.Equal(t, 20, ip.HeaderLen())
	assert.Equal(t, uint16(44), ip.TotalLen())
	assert.Equal(t, uint16(887), ip.ID())
	assert.True(t, ip.DontFragment())
	assert.False(t, ip.MoreFragments())
	assert.False(t, ip.IsFragment())
	assert.Equal(t, 0, ip.FragmentOffset())
	assert.Equal(t, uint8(64), ip.TTL())
	assert.Equal(t, IPProtocolICMP, ip.Protocol())
	assert.Equal(t, uint16(0x2292), ip.Checksum())
	assert.Equal(t, ipA, ip.Src())
	assert.Equal(t, ipB, ip.Dst())
	assert.Nil(t, ip.Options())
	assert.Len(t, ip.Payload(), 24)
	assert.Equal(t, echoRequestIPRepr, ip.Repr())

	// Linux's ICMP errors use TOS 0xc0: DSCP CS6 (48), ECN 0.
	ip, err = ParseIPv4(timeExceeded[EthernetHeaderLen:])
	require.NoError(t, err)
	assert.Equal(t, uint8(0xc0), ip.TOS())
	assert.Equal(t, uint8(48), ip.DSCP())
	assert.Equal(t, uint8(0), ip.ECN())
	assert.False(t, ip.DontFragment())
	assert.Equal(t, ipB, ip.Src())
}

func TestParseIPv4Options(t *testing.T) {
	ip, err := ParseIPv4(echoRequestRR[EthernetHeaderLen:])
	require.NoError(t, err)
	assert.Equal(t, 60, ip.HeaderLen())
	require.Len(t, ip.Options(), 40)
	// NOP, then record route (type 7, length 39, pointer 8) holding 10.99.0.1.
	assert.Equal(t, []byte{1, 7, 39, 8, 10, 99, 0, 1}, ip.Options()[:8])
	assert.Equal(t, ip.Options(), ip.Header()[20:])
	assert.Len(t, ip.Payload(), 16)
	assert.Equal(t, 16, ip.Repr().PayloadLen)
}

func TestParseIPv4Fragment(t *testing.T) {
	ip, err := ParseIPv4(fragmentLast[EthernetHeaderLen:])
	require.NoError(t, err)
	assert.True(t, ip.IsFragment())
	assert.False(t, ip.MoreFragments())
	assert.Equal(t, 1480, ip.FragmentOffset())
	assert.Equal(t, uint16(1361), ip.ID())
	assert.Len(t, ip.Payload(), 128)
}

func TestParseIPv4DropsPadding(t *testing.T) {
	// The 50-byte TTL-1 echo request frame would be padded to 60 bytes.
	padded := make([]byte, EthernetMinFrameLen)
	copy(padded, echoRequestTTL1)
	ip, err := ParseIPv4(padded[EthernetHeaderLen:])
	require.NoError(t, err)
	assert.Len(t, ip, 36)
	assert.Len(t, ip.Payload(), 16)
}

func TestEmitIPv4Golden(t *testing.T) {
	b := make([]byte, 20)
	require.NoError(t, echoRequestIPRepr.Emit(b))
	assert.Equal(t, echoRequest[EthernetHeaderLen:EthernetHeaderLen+20], b)

	golden := echoRequestRR[EthernetHeaderLen : EthernetHeaderLen+60]
	r := IPv4Repr{
		Src: ipA, Dst: ipB, Protocol: IPProtocolICMP, TTL: 64, ID: 1355,
		DontFragment: true, Options: golden[20:60], PayloadLen: 16,
	}
	b = make([]byte, r.HeaderLen())
	require.NoError(t, r.Emit(b))
	assert.Equal(t, golden, b)

	r = IPv4Repr{Src: ipA, Dst: ipB, Protocol: IPProtocolICMP, TTL: 64, ID: 1361, FragmentOffset: 1480, PayloadLen: 128}
	b = make([]byte, 20)
	require.NoError(t, r.Emit(b))
	assert.Equal(t, fragmentLast[EthernetHeaderLen:EthernetHeaderLen+20], b)
}

func TestIPv4ParseErrors(t *testing.T) {
	good := func() []byte { return append([]byte(nil), echoRequest[EthernetHeaderLen:]...) }
	cases := []struct {
		name   string
		mutate func(p []byte) []byte
		want   error
	}{
		{"short", func(p []byte) []byte { return p[:19] }, ErrTruncated},
		{"version 6", func(p []byte) []byte { p[0] = 0x65; return p }, ErrBadVersion},
		{"IHL 4", func(p []byte) []byte { p[0] = 0x44; return p }, ErrBadHeaderLength},
		{"IHL 0", func(p []byte) []byte { p[0] = 0x40; return p }, ErrBadHeaderLength},
		{"IHL past buffer", func(p []byte) []byte { p[0] = 0x4f; return p[:40] }, ErrTruncated},
		{"total below header", func(p []byte) []byte { p[3] = 19; fixChecksum(p); return p }, ErrBadLength},
		{"total past buffer", func(p []byte) []byte { p[3] = 45; fixChecksum(p); return p }, ErrTruncated},
		{"bad checksum", func(p []byte) []byte { p[11]++; return p }, ErrBadChecksum},
		{"corrupted TTL", func(p []byte) []byte { p[8] = 1; return p }, ErrBadChecksum},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIPv4(tc.mutate(good()))
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestParseIPv4HeaderAcceptsQuotedHeader(t *testing.T) {
	// An RFC 792 quote (header plus 8 bytes) of a datagram claiming 200 bytes.
	quote := append([]byte(nil), udpToPort7[EthernetHeaderLen:EthernetHeaderLen+28]...)
	quote[3] = 200 // claim a longer datagram than quoted
	fixChecksum(quote)
	_, err := ParseIPv4(quote)
	assert.ErrorIs(t, err, ErrTruncated)
	ip, err := ParseIPv4Header(quote)
	require.NoError(t, err)
	assert.Equal(t, uint16(200), ip.TotalLen())
	assert.Len(t, ip.Payload(), 8)
	assert.Equal(t, 180, ip.Repr().PayloadLen)
}

func TestIPv4EmitErrors(t *testing.T) {
	ok := echoRequestIPRepr
	b := make([]byte, 60)
	cases := []struct {
		name   string
		mutate func(r *IPv4Repr)
		buf    []byte
		want   error
	}{
		{"short buffer", func(r *IPv4Repr) {}, b[:19], ErrShortBuffer},
		{"short buffer for options", func(r *IPv4Repr) { r.Options = make([]byte, 4) }, b[:20], ErrShortBuffer},
		{"options not multiple of 4", func(r *IPv4Repr) { r.Options = make([]byte, 3) }, b, ErrBadHeaderLength},
		{"options too long", func(r *IPv4Repr) { r.Options = make([]byte, 44) }, make([]byte, 64), ErrBadHeaderLength},
		{"IPv6 source", func(r *IPv4Repr) { r.Src = netip.MustParseAddr("::1") }, b, ErrBadAddress},
		{"zero destination", func(r *IPv4Repr) { r.Dst = netip.Addr{} }, b, ErrBadAddress},
		{"payload too long", func(r *IPv4Repr) { r.PayloadLen = 65516 }, b, ErrBadLength},
		{"negative payload", func(r *IPv4Repr) { r.PayloadLen = -1 }, b, ErrBadLength},
		{"fragment not multiple of 8", func(r *IPv4Repr) { r.FragmentOffset = 12 }, b, ErrBadFragment},
		{"fragment too far", func(r *IPv4Repr) { r.FragmentOffset = 65536 }, b, ErrBadFragment},
		{"negative fragment", func(r *IPv4Repr) { r.FragmentOffset = -8 }, b, ErrBadFragment},
	}
	for _, tc := range cases {
		r := ok
		tc.mutate(&r)
		assert.ErrorIs(t, r.Emit(tc.buf), tc.want, tc.name)
	}
	r := ok
	r.PayloadLen = 65515
	require.NoError(t, r.Emit(b), "the largest datagram fits")
	r.FragmentOffset = 65528
	require.NoError(t, r.Emit(b), "the largest offset fits")
}

func TestIPv4SetTTLKeepsChecksumValid(t *testing.T) {
	p := append([]byte(nil), echoRequest[EthernetHeaderLen:]...)
	ip, err := ParseIPv4(p)
	require.NoError(t, err)
	for ttl := 63; ttl >= 0; ttl-- {
		ip.SetTTL(uint8(ttl))
		again, err := ParseIPv4(p)
		require.NoError(t, err, "ttl %d", ttl)
		assert.Equal(t, uint8(ttl), again.TTL())
	}
	want := make([]byte, 20)
	r := ip.Repr()
	require.NoError(t, r.Emit(want))
	assert.Equal(t, want, []byte(ip.Header()), "incremental update equals a full recompute")
}

func TestIPProtocolString(t *testing.T) {
	assert.Equal(t, "ICMP", IPProtocolICMP.String())
	assert.Equal(t, "UDP", IPProtocolUDP.String())
	assert.Equal(t, "TCP", IPProtocolTCP.String())
	assert.Equal(t, "IPProtocol(99)", IPProtocol(99).String())
}

func FuzzIPv4(f *testing.F) {
	for _, fr := range [][]byte{echoRequest, echoReply, udpToPort7, portUnreachable, echoRequestRR,
		echoReplyRR, fragmentLast, timeExceeded, netUnreachable, udpNoChecksum} {
		f.Add(fr[EthernetHeaderLen:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkIPv4(t, b)
		// Most mutations break the checksum; also try the input with its
		// checksum made valid, so the fuzzer reaches the code behind it.
		if len(b) >= IPv4MinHeaderLen && int(b[0]&0xf)*4 <= len(b) && b[0]&0xf >= 5 {
			fixed := append([]byte(nil), b...)
			fixChecksum(fixed)
			checkIPv4(t, fixed)
		}
	})
}

func checkIPv4(t *testing.T, b []byte) {
	ip, err := ParseIPv4(b)
	hdr, herr := ParseIPv4Header(b)
	if err == nil {
		require.NoError(t, herr, "a valid packet has a valid header")
		require.Equal(t, ip, hdr)
	}
	if herr != nil {
		return
	}
	// Every accessor is safe on a checked view.
	_, _, _, _ = hdr.TOS(), hdr.DSCP(), hdr.ECN(), hdr.Checksum()
	_, _, _ = hdr.IsFragment(), hdr.Options(), hdr.Payload()
	require.Equal(t, uint8(4), hdr.Version())
	require.LessOrEqual(t, hdr.HeaderLen(), len(hdr))
	if err == nil {
		require.Equal(t, int(ip.TotalLen()), len(ip))
	}
	r := hdr.Repr()
	r.Options = append([]byte(nil), r.Options...)
	if len(r.Options) == 0 {
		r.Options = nil
	}
	out := make([]byte, r.HeaderLen())
	require.NoError(t, r.Emit(out))
	again, err := ParseIPv4Header(out)
	require.NoError(t, err)
	require.Equal(t, r, again.Repr())
	// Same bytes, apart from the reserved flag (not represented) and
	// the checksum (0x0000 and 0xffff both verify).
	want := append([]byte(nil), hdr.Header()...)
	want[6] &^= 0x80
	out[10], out[11], want[10], want[11] = 0, 0, 0, 0
	require.Equal(t, want, out)
}

func BenchmarkParseIPv4(b *testing.B) {
	p := udpToPort7[EthernetHeaderLen:]
	b.ReportAllocs()
	for b.Loop() {
		ip, _ := ParseIPv4(p)
		_ = ip.Src()
		_ = ip.Dst()
	}
}

func BenchmarkEmitIPv4(b *testing.B) {
	out := make([]byte, 20)
	b.ReportAllocs()
	for b.Loop() {
		_ = echoRequestIPRepr.Emit(out)
	}
}
