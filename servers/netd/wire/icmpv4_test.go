package wire

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseICMPv4EchoGolden(t *testing.T) {
	_, payload := layers(t, echoRequest)
	m, err := ParseICMPv4(payload)
	require.NoError(t, err)
	assert.Equal(t, ICMPv4Echo, m.Type())
	assert.Equal(t, ICMPv4Code(0), m.Code())
	assert.Equal(t, uint16(0x4f1b), m.Checksum())
	assert.Equal(t, uint16(24977), m.Ident())
	assert.Equal(t, uint16(1), m.Seq())
	assert.Len(t, m.Payload(), 16)
	assert.Equal(t, ICMPv4Repr{Type: ICMPv4Echo, Ident: 24977, Seq: 1}, m.Repr())
	assert.Equal(t, "echo request id=24977 seq=1", m.Repr().String())
	_, err = m.Original()
	assert.ErrorIs(t, err, ErrUnsupported)

	_, payload = layers(t, echoReply)
	m, err = ParseICMPv4(payload)
	require.NoError(t, err)
	assert.Equal(t, ICMPv4Repr{Type: ICMPv4EchoReply, Ident: 24977, Seq: 1}, m.Repr())
}

// TestEmitICMPv4EchoReplyGolden answers Linux's echo request the way netd
// does (same identifier, sequence and data) and gets Linux's own reply bytes.
func TestEmitICMPv4EchoReplyGolden(t *testing.T) {
	_, req := layers(t, echoRequest)
	m, err := ParseICMPv4(req)
	require.NoError(t, err)
	reply := append([]byte(nil), m...)
	require.NoError(t, ICMPv4Repr{Type: ICMPv4EchoReply, Ident: m.Ident(), Seq: m.Seq()}.Emit(reply))
	_, want := layers(t, echoReply)
	assert.Equal(t, want, reply)
}

func TestICMPv4PortUnreachableGolden(t *testing.T) {
	_, payload := layers(t, portUnreachable)
	m, err := ParseICMPv4(payload)
	require.NoError(t, err)
	r := m.Repr()
	assert.Equal(t, ICMPv4Repr{Type: ICMPv4DstUnreachable, Code: ICMPv4PortUnreachable}, r)
	assert.Equal(t, "destination unreachable (port unreachable)", r.String())
	assert.True(t, r.Type.IsError())

	orig, err := m.Original()
	require.NoError(t, err)
	assert.Equal(t, IPProtocolUDP, orig.Protocol())
	assert.Equal(t, ipA, orig.Src())
	assert.Equal(t, ipB, orig.Dst())
	u, err := ParseUDP(orig.Payload())
	require.NoError(t, err)
	assert.Equal(t, uint16(40000), u.SrcPort())
	assert.Equal(t, uint16(7), u.DstPort())

	// Emit: Linux quoted the whole 40-byte datagram.
	sent, _ := layers(t, udpToPort7)
	b := make([]byte, ICMPv4HeaderLen+len(sent))
	copy(b[ICMPv4HeaderLen:], sent)
	require.NoError(t, r.Emit(b))
	assert.Equal(t, []byte(m), b)
}

func TestICMPv4TimeExceededGolden(t *testing.T) {
	_, payload := layers(t, timeExceeded)
	m, err := ParseICMPv4(payload)
	require.NoError(t, err)
	r := m.Repr()
	assert.Equal(t, ICMPv4Repr{Type: ICMPv4TimeExceeded, Code: ICMPv4TTLExceeded}, r)
	assert.Equal(t, "time exceeded (TTL exceeded in transit)", r.String())
	orig, err := m.Original()
	require.NoError(t, err)
	assert.Equal(t, uint8(1), orig.TTL())
	assert.Equal(t, []byte(orig), echoRequestTTL1[EthernetHeaderLen:])

	b := make([]byte, len(m))
	copy(b[ICMPv4HeaderLen:], echoRequestTTL1[EthernetHeaderLen:])
	require.NoError(t, r.Emit(b))
	assert.Equal(t, []byte(m), b)

	_, payload = layers(t, netUnreachable)
	m, err = ParseICMPv4(payload)
	require.NoError(t, err)
	assert.Equal(t, ICMPv4Repr{Type: ICMPv4DstUnreachable, Code: ICMPv4NetUnreachable}, m.Repr())
}

// TestICMPv4QuoteIsHeaderPlus8 builds a port unreachable the RFC 792 way
// (header plus 8 bytes of the datagram) and checks the receiver recovers the
// ports.
func TestICMPv4QuoteIsHeaderPlus8(t *testing.T) {
	ip, _ := layers(t, udpToPort7)
	q := ICMPv4Quote(ip)
	assert.Len(t, q, 28)
	ipRR, _ := layers(t, echoRequestRR)
	assert.Len(t, ICMPv4Quote(ipRR), 68, "options are part of the quoted header")
	short := IPv4(echoRequestTTL1[EthernetHeaderLen : EthernetHeaderLen+24])
	assert.Len(t, ICMPv4Quote(short), 24, "a datagram shorter than header+8 is quoted whole")

	b := make([]byte, ICMPv4HeaderLen+len(q))
	copy(b[ICMPv4HeaderLen:], q)
	require.NoError(t, ICMPv4Repr{Type: ICMPv4DstUnreachable, Code: ICMPv4PortUnreachable}.Emit(b))
	m, err := ParseICMPv4(b)
	require.NoError(t, err)
	orig, err := m.Original()
	require.NoError(t, err)
	assert.Equal(t, uint16(40), orig.TotalLen())
	assert.Len(t, orig.Payload(), 8)
	_, err = ParseUDP(orig.Payload())
	assert.ErrorIs(t, err, ErrTruncated, "only 8 of the datagram's 20 bytes are quoted")
	u, err := ParseUDPHeader(orig.Payload())
	require.NoError(t, err)
	assert.Equal(t, uint16(7), u.DstPort())
	assert.Equal(t, uint16(40000), u.SrcPort())

	// Fewer than 8 quoted payload bytes of a longer datagram is truncated.
	b = b[:len(b)-1]
	require.NoError(t, ICMPv4Repr{Type: ICMPv4DstUnreachable, Code: ICMPv4PortUnreachable}.Emit(b))
	m, err = ParseICMPv4(b)
	require.NoError(t, err)
	_, err = m.Original()
	assert.ErrorIs(t, err, ErrTruncated)
}

func TestICMPv4FragmentationNeededCarriesMTU(t *testing.T) {
	ip, _ := layers(t, udpToPort7)
	q := ICMPv4Quote(ip)
	r := ICMPv4Repr{Type: ICMPv4DstUnreachable, Code: ICMPv4FragmentationNeeded, MTU: 1400}
	b := make([]byte, ICMPv4HeaderLen+len(q))
	copy(b[ICMPv4HeaderLen:], q)
	require.NoError(t, r.Emit(b))
	assert.Equal(t, []byte{3, 4}, b[:2])
	assert.Equal(t, []byte{0, 0, 0x05, 0x78}, b[4:8], "RFC 1191: unused, next-hop MTU")
	m, err := ParseICMPv4(b)
	require.NoError(t, err)
	assert.Equal(t, r, m.Repr())
	assert.Equal(t, "destination unreachable (fragmentation needed) mtu=1400", r.String())
}

func TestICMPv4ParamProblemPointer(t *testing.T) {
	b := make([]byte, ICMPv4HeaderLen+28)
	ip, _ := layers(t, udpToPort7)
	copy(b[8:], ICMPv4Quote(ip))
	r := ICMPv4Repr{Type: ICMPv4ParamProblem, Pointer: 8}
	require.NoError(t, r.Emit(b))
	assert.Equal(t, []byte{8, 0, 0, 0}, b[4:8])
	m, err := ParseICMPv4(b)
	require.NoError(t, err)
	assert.Equal(t, r, m.Repr())
}

func TestICMPv4Errors(t *testing.T) {
	_, payload := layers(t, echoRequest)
	_, err := ParseICMPv4(payload[:7])
	assert.ErrorIs(t, err, ErrTruncated)
	bad := append([]byte(nil), payload...)
	bad[len(bad)-1] ^= 1
	_, err = ParseICMPv4(bad)
	assert.ErrorIs(t, err, ErrBadChecksum, "the checksum covers the data")
	assert.ErrorIs(t, ICMPv4Repr{}.Emit(make([]byte, 7)), ErrShortBuffer)
	assert.ErrorIs(t, ICMPv4Repr{}.Emit(make([]byte, 65536)), ErrBadLength)
}

func TestICMPv4Names(t *testing.T) {
	assert.Equal(t, "echo request", ICMPv4Echo.String())
	assert.Equal(t, "echo reply", ICMPv4EchoReply.String())
	assert.Equal(t, "ICMPv4Type(42)", ICMPv4Type(42).String())
	assert.Equal(t, "port unreachable", ICMPv4DstUnreachable.CodeString(ICMPv4PortUnreachable))
	assert.Equal(t, "precedence cutoff", ICMPv4DstUnreachable.CodeString(ICMPv4PrecedenceCutoff))
	assert.Equal(t, "code 16", ICMPv4DstUnreachable.CodeString(16))
	assert.Equal(t, "fragment reassembly time exceeded", ICMPv4TimeExceeded.CodeString(ICMPv4ReassemblyExceeded))
	assert.False(t, ICMPv4Echo.IsError())
	assert.True(t, ICMPv4TimeExceeded.IsError())
	assert.Equal(t, "redirect code=1", ICMPv4Repr{Type: ICMPv4Redirect, Code: 1}.String())
}

func FuzzICMPv4(f *testing.F) {
	for _, fr := range [][]byte{echoRequest, echoReply, portUnreachable, netUnreachable, timeExceeded, echoRequestRR} {
		_, payload := layers(f, fr)
		f.Add(payload)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkICMPv4(t, b)
		// Also try the input with a valid checksum, so mutations get past it.
		if len(b) >= ICMPv4HeaderLen {
			fixed := append([]byte(nil), b...)
			fixed[2], fixed[3] = 0, 0
			binary.BigEndian.PutUint16(fixed[2:], ^Checksum(fixed, 0))
			checkICMPv4(t, fixed)
		}
	})
}

func checkICMPv4(t *testing.T, b []byte) {
	m, err := ParseICMPv4(b)
	if err != nil {
		require.True(t, err == ErrTruncated || err == ErrBadChecksum, "unexpected error %v", err)
		return
	}
	_, _, _, _ = m.Checksum(), m.MTU(), m.Pointer(), m.Payload()
	if orig, err := m.Original(); err == nil {
		_, _, _ = orig.Src(), orig.Protocol(), orig.Payload()
	}
	r := m.Repr()
	_ = r.String()
	out := append([]byte(nil), m...)
	require.NoError(t, r.Emit(out))
	again, err := ParseICMPv4(out)
	require.NoError(t, err)
	require.Equal(t, r, again.Repr())
	require.Equal(t, []byte(m[ICMPv4HeaderLen:]), []byte(again[ICMPv4HeaderLen:]))
}

func BenchmarkParseICMPv4(b *testing.B) {
	_, payload := layers(b, echoRequest)
	b.ReportAllocs()
	for b.Loop() {
		m, _ := ParseICMPv4(payload)
		_ = m.Ident()
	}
}

func BenchmarkEmitICMPv4EchoReply(b *testing.B) {
	_, payload := layers(b, echoRequest)
	out := append([]byte(nil), payload...)
	r := ICMPv4Repr{Type: ICMPv4EchoReply, Ident: 1, Seq: 2}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Emit(out)
	}
}
