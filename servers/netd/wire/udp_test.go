package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseUDPGolden(t *testing.T) {
	ip, payload := layers(t, udpToPort7)
	u, err := ParseUDP(payload)
	require.NoError(t, err)
	assert.Equal(t, uint16(40000), u.SrcPort())
	assert.Equal(t, uint16(7), u.DstPort())
	assert.Equal(t, uint16(20), u.Length())
	assert.Equal(t, uint16(0xc8d7), u.Checksum())
	assert.Equal(t, "hello armos\n", string(u.Payload()))
	assert.NoError(t, u.VerifyChecksum(ip.Src(), ip.Dst()))
	assert.Equal(t, UDPRepr{SrcPort: 40000, DstPort: 7}, u.Repr())
}

func TestParseUDPNoChecksum(t *testing.T) {
	ip, payload := layers(t, udpNoChecksum)
	u, err := ParseUDP(payload)
	require.NoError(t, err)
	assert.Equal(t, uint16(0), u.Checksum())
	assert.NoError(t, u.VerifyChecksum(ip.Src(), ip.Dst()), "zero means no checksum")
	assert.NoError(t, u.VerifyChecksum(ipB, ipB), "zero means no checksum, whatever the addresses")
	assert.Equal(t, UDPRepr{SrcPort: 40001, DstPort: 7, NoChecksum: true}, u.Repr())
	assert.Equal(t, "no checksum", string(u.Payload()))
}

func TestUDPChecksumCoversPseudoHeaderAndData(t *testing.T) {
	_, payload := layers(t, udpToPort7)
	u, err := ParseUDP(append([]byte(nil), payload...))
	require.NoError(t, err)
	// Wrong addresses: the pseudo-header no longer matches.
	assert.ErrorIs(t, u.VerifyChecksum(ipB, ipA.Next()), ErrBadChecksum)
	u.Payload()[0] ^= 0x20 // "Hello armos"
	assert.ErrorIs(t, u.VerifyChecksum(ipA, ipB), ErrBadChecksum)
}

func TestEmitUDPGolden(t *testing.T) {
	// Like netd: payload in place, header written in front of it.
	b := make([]byte, 20)
	copy(b[8:], "hello armos\n")
	require.NoError(t, UDPRepr{SrcPort: 40000, DstPort: 7}.Emit(b, ipA, ipB))
	assert.Equal(t, udpToPort7[34:], b)

	b = make([]byte, 19)
	copy(b[8:], "no checksum")
	require.NoError(t, UDPRepr{SrcPort: 40001, DstPort: 7, NoChecksum: true}.Emit(b, ipA, ipB))
	assert.Equal(t, udpNoChecksum[34:], b)
}

// A datagram whose checksum computes to zero is sent as 0xffff (RFC 768),
// because zero on the wire would mean "no checksum".
func TestEmitUDPZeroChecksumSentAsFFFF(t *testing.T) {
	src, dst := netip.AddrFrom4([4]byte{0, 0, 0, 0}), netip.AddrFrom4([4]byte{0, 0, 0, 0})
	b := make([]byte, 10)
	// Choose the two payload bytes so that the whole sum is 0xffff.
	partial := CombineChecksums(PseudoHeaderChecksum(IPProtocolUDP, src, dst, 10),
		Checksum([]byte{0, 1, 0, 2, 0, 10, 0, 0}, 0))
	b[8], b[9] = byte(^partial>>8), byte(^partial)
	require.NoError(t, UDPRepr{SrcPort: 1, DstPort: 2}.Emit(b, src, dst))
	u, err := ParseUDP(b)
	require.NoError(t, err)
	assert.Equal(t, uint16(0xffff), u.Checksum())
	assert.NoError(t, u.VerifyChecksum(src, dst))
}

func TestUDPErrors(t *testing.T) {
	_, payload := layers(t, udpToPort7)
	_, err := ParseUDP(payload[:7])
	assert.ErrorIs(t, err, ErrTruncated)
	bad := append([]byte(nil), payload...)
	bad[5] = 7 // length 7 < header
	_, err = ParseUDP(bad)
	assert.ErrorIs(t, err, ErrBadLength)
	bad[5] = 21 // one more than present
	_, err = ParseUDP(bad)
	assert.ErrorIs(t, err, ErrTruncated)
	bad[5] = 10 // shorter than the buffer: the view is cut to it
	u, err := ParseUDP(bad)
	require.NoError(t, err)
	assert.Equal(t, "he", string(u.Payload()))

	r := UDPRepr{SrcPort: 1, DstPort: 2}
	assert.ErrorIs(t, r.Emit(make([]byte, 7), ipA, ipB), ErrShortBuffer)
	assert.ErrorIs(t, r.Emit(make([]byte, 65536), ipA, ipB), ErrBadLength)
	assert.ErrorIs(t, r.Emit(make([]byte, 8), netip.IPv6Loopback(), ipB), ErrBadAddress)
}

func TestParseUDPHeader(t *testing.T) {
	_, payload := layers(t, udpToPort7)
	u, err := ParseUDPHeader(payload[:8])
	require.NoError(t, err)
	assert.Equal(t, uint16(20), u.Length())
	assert.Empty(t, u.Payload())
	u, err = ParseUDPHeader(append(append([]byte(nil), payload...), 0, 0))
	require.NoError(t, err)
	assert.Len(t, u, 20, "cut to the length field")
	_, err = ParseUDPHeader(payload[:7])
	assert.ErrorIs(t, err, ErrTruncated)
	bad := append([]byte(nil), payload[:8]...)
	bad[5] = 3
	_, err = ParseUDPHeader(bad)
	assert.ErrorIs(t, err, ErrBadLength)
}

func FuzzUDP(f *testing.F) {
	for _, fr := range [][]byte{udpToPort7, udpNoChecksum} {
		f.Add(fr[34:], fr[26:30], fr[30:34])
	}
	f.Add([]byte{0, 1, 0, 2, 0, 8, 0, 0}, []byte{0, 0, 0, 0}, []byte{255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, b, src4, dst4 []byte) {
		if len(src4) != 4 || len(dst4) != 4 {
			return
		}
		src, dst := netip.AddrFrom4([4]byte(src4)), netip.AddrFrom4([4]byte(dst4))
		hdr, herr := ParseUDPHeader(b)
		u, err := ParseUDP(b)
		if err == nil {
			require.NoError(t, herr)
			require.Equal(t, u, hdr)
		}
		if herr == nil {
			_, _, _ = hdr.SrcPort(), hdr.DstPort(), hdr.Payload()
		}
		if err != nil {
			require.True(t, err == ErrTruncated || err == ErrBadLength, "unexpected error %v", err)
			return
		}
		require.Equal(t, int(u.Length()), len(u))
		verr := u.VerifyChecksum(src, dst)
		if verr != nil {
			require.ErrorIs(t, verr, ErrBadChecksum)
		}
		_ = u.Payload()
		r := u.Repr()
		out := append([]byte(nil), u...)
		require.NoError(t, r.Emit(out, src, dst))
		again, err := ParseUDP(out)
		require.NoError(t, err)
		require.Equal(t, r, again.Repr())
		require.NoError(t, again.VerifyChecksum(src, dst), "an emitted datagram always verifies")
		if verr == nil && !r.NoChecksum {
			// A valid checksum is reproduced (modulo 0x0000/0xffff).
			want, got := u.Checksum(), again.Checksum()
			require.True(t, want == got || want == 0xffff && got == 0 || want == 0 && got == 0xffff)
		}
	})
}

func BenchmarkParseUDP(b *testing.B) {
	ip, payload := layers(b, udpToPort7)
	src, dst := ip.Src(), ip.Dst()
	b.ReportAllocs()
	for b.Loop() {
		u, _ := ParseUDP(payload)
		_ = u.VerifyChecksum(src, dst)
	}
}

func BenchmarkEmitUDP(b *testing.B) {
	out := make([]byte, UDPHeaderLen+1472)
	r := UDPRepr{SrcPort: 7, DstPort: 40000}
	b.ReportAllocs()
	b.SetBytes(int64(len(out)))
	for b.Loop() {
		_ = r.Emit(out, ipA, ipB)
	}
}
