package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A segment built by hand, byte by byte from the RFC 9293 3.1 diagram, read
// back field by field.
func TestHandBuiltSegment(t *testing.T) {
	b := []byte{
		0x1f, 0x90, // source port 8080
		0x00, 0x50, // destination port 80
		0xff, 0xff, 0xff, 0xfe, // sequence number 2^32-2
		0x00, 0x00, 0x00, 0x07, // acknowledgment number 7
		0x60,       // data offset 6 words, reserved 0
		0x39,       // URG|PSH|ACK|FIN
		0x12, 0x34, // window 4660
		0x00, 0x00, // checksum, filled below
		0x00, 0x02, // urgent pointer 2
		0x02, 0x04, 0x02, 0x18, // MSS 536
		'h', 'i',
	}
	require.NoError(t, Repr{SrcPort: 8080, DstPort: 80, Seq: 0xfffffffe, Ack: 7,
		Flags: FlagURG | FlagPSH | FlagACK | FlagFIN, Window: 0x1234, Urgent: 2,
		Options: Options{MSS: 536}}.Emit(b, ipA, ipB))
	s, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, uint16(8080), s.SrcPort())
	assert.Equal(t, uint16(80), s.DstPort())
	assert.Equal(t, uint32(0xfffffffe), s.Seq())
	assert.Equal(t, uint32(7), s.Ack())
	assert.Equal(t, 24, s.HeaderLen())
	assert.Equal(t, FlagURG|FlagPSH|FlagACK|FlagFIN, s.Flags())
	assert.Equal(t, uint16(0x1234), s.Window())
	assert.Equal(t, uint16(2), s.Urgent())
	assert.Equal(t, []byte{2, 4, 2, 0x18}, s.OptionBytes())
	assert.Equal(t, Options{MSS: 536}, s.Options())
	assert.Equal(t, "hi", string(s.Payload()))
	assert.Equal(t, 3, s.SeqLen(), "2 bytes and a FIN")
	assert.NoError(t, s.VerifyChecksum(ipA, ipB))
	// The checksum by hand (RFC 1071): the pseudo-header 10.99.0.1,
	// 10.99.0.2, 0, 6, 26 and the segment in 16-bit words.
	sum := uint32(0x0a63 + 0x0001 + 0x0a63 + 0x0002 + 6 + 26)
	for i := 0; i < len(b); i += 2 {
		if i != 16 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	assert.Equal(t, ^uint16(sum), s.Checksum())
}

func TestParseErrors(t *testing.T) {
	_, _, syn := tcpOf(t, linuxSYN)
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), syn...)) }
	for _, c := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, ErrTruncated},
		{"19 bytes", syn[:19], ErrTruncated},
		{"options cut", syn[:39], ErrTruncated},
		{"offset 4", mod(func(b []byte) []byte { b[12] = 0x40; return b }), ErrBadHeaderLength},
		{"offset 0", mod(func(b []byte) []byte { b[12] = 0x00; return b }), ErrBadHeaderLength},
		{"offset past end", mod(func(b []byte) []byte { b[12] = 0xf0; return b }), ErrTruncated},
		{"option length 0", mod(func(b []byte) []byte { b[21] = 0; return b }), ErrBadOption},
		{"option length 1", mod(func(b []byte) []byte { b[21] = 1; return b }), ErrBadOption},
		{"option past header", mod(func(b []byte) []byte { b[38] = 4; return b }), ErrBadOption},
		{"lone kind byte", mod(func(b []byte) []byte { b[36] = OptWindowScale; return b }), ErrBadOption},
	} {
		_, err := Parse(c.b)
		assert.ErrorIs(t, err, c.err, c.name)
	}
}

// Known options of the wrong length and unknown ones are skipped, an end
// option stops the walk, and NOPs are padding.
func TestOptionsSkipped(t *testing.T) {
	opts := []byte{
		OptNOP,
		OptMSS, 3, 0x05, // MSS with length 3: skipped
		OptSACK, 10, 1, 2, 3, 4, 5, 6, 7, 8, // one SACK block
		OptSACK, 9, 1, 2, 3, 4, 5, 6, 7, // SACK with a length no block count fits: skipped
		99, 2, // unknown kind
		OptWindowScale, 3, 7,
		OptEnd,
		OptMSS, // after the end: not read
	}
	b := make([]byte, HeaderLen+len(opts))
	copy(b[HeaderLen:], opts)
	b[12] = byte(len(b)/4) << 4
	s, err := Parse(b)
	require.NoError(t, err)
	want := Options{HasWindowScale: true, WindowScale: 7, NSACK: 1}
	want.SACK[0] = SACKBlock{0x01020304, 0x05060708}
	assert.Equal(t, want, s.Options())
}

// Every combination of options emits in Linux's layout and parses back.
func TestOptionsLayouts(t *testing.T) {
	cases := []struct {
		o    Options
		want []byte
	}{
		{Options{}, nil},
		{Options{MSS: 1460}, []byte{2, 4, 5, 0xb4}},
		{Options{HasWindowScale: true, WindowScale: 7}, []byte{1, 3, 3, 7}},
		{Options{MSS: 536, HasWindowScale: true}, []byte{2, 4, 2, 0x18, 1, 3, 3, 0}},
		{Options{SACKPermitted: true}, []byte{1, 1, 4, 2}},
		{Options{HasTimestamps: true, TSVal: 1, TSEcr: 2}, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}},
		{Options{SACKPermitted: true, HasTimestamps: true, TSVal: 3}, []byte{4, 2, 8, 10, 0, 0, 0, 3, 0, 0, 0, 0}},
		{Options{MSS: 1, SACKPermitted: true, HasTimestamps: true, HasWindowScale: true, WindowScale: 14},
			[]byte{2, 4, 0, 1, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 14}},
		{Options{HasTimestamps: true, TSVal: 1, TSEcr: 2, NSACK: 1, SACK: [MaxSACKBlocks]SACKBlock{{5, 9}}},
			[]byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 10, 0, 0, 0, 5, 0, 0, 0, 9}},
		{Options{NSACK: 4, SACK: [MaxSACKBlocks]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 0xffffffff}}},
			[]byte{1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, c := range cases {
		r := Repr{SrcPort: 1, DstPort: 2, Flags: FlagSYN, Options: c.o}
		b := make([]byte, r.HeaderLen())
		require.NoError(t, r.Emit(b, ipA, ipB))
		s, err := Parse(b)
		require.NoError(t, err)
		assert.Equal(t, c.want, s.OptionBytes(), "%v", c.o)
		assert.Equal(t, c.o, s.Options())
		val, ecr, ok := s.Timestamps()
		assert.Equal(t, c.o.HasTimestamps, ok)
		assert.Equal(t, [2]uint32{c.o.TSVal, c.o.TSEcr}, [2]uint32{val, ecr})
	}
	// Four blocks beside the timestamps do not fit a header.
	r := Repr{Options: Options{HasTimestamps: true, NSACK: 4}}
	assert.ErrorIs(t, r.Emit(make([]byte, 100), ipA, ipB), ErrOptionsTooLong)
}

func TestChecksumCatchesCorruption(t *testing.T) {
	src, dst, seg := tcpOf(t, linuxData)
	for i := range seg {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := append([]byte(nil), seg...)
			b[i] ^= x
			s, err := Parse(b)
			if err != nil {
				continue // a corrupted data offset or option length
			}
			assert.ErrorIs(t, s.VerifyChecksum(src, dst), ErrBadChecksum, "byte %d ^ %#x", i, x)
		}
	}
	s, err := Parse(seg)
	require.NoError(t, err)
	assert.ErrorIs(t, s.VerifyChecksum(dst, src.Next()), ErrBadChecksum, "pseudo-header addresses")
}

func TestEmitErrors(t *testing.T) {
	r := Repr{Options: Options{MSS: 1460}}
	assert.ErrorIs(t, r.Emit(make([]byte, 23), ipA, ipB), ErrShortBuffer)
	assert.ErrorIs(t, r.Emit(make([]byte, MaxSegmentLen+1), ipA, ipB), ErrBadLength)
	assert.ErrorIs(t, r.Emit(make([]byte, 24), netip.MustParseAddr("::1"), ipB), ErrBadAddress)
	assert.NoError(t, r.Emit(make([]byte, MaxSegmentLen), ipA, ipB))
}

func TestStrings(t *testing.T) {
	assert.Equal(t, "none", Flags(0).String())
	assert.Equal(t, "SYN|ACK", (FlagSYN | FlagACK).String())
	assert.Equal(t, "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR", Flags(0xff).String())
	assert.True(t, (FlagSYN | FlagACK).Has(FlagACK))
	assert.False(t, FlagSYN.Has(FlagSYN|FlagACK))
	assert.Equal(t, "40000 > 7000 [SYN] seq 2241004448 ack 0 win 64240 <mss 1460,sackOK,TS val 3017435250 ecr 0,wscale 10>",
		goldenSegments[0].repr.String())
	assert.Equal(t, "7001 > 40001 [RST|ACK] seq 0 ack 3371160501 win 0", goldenSegments[5].repr.String())
}

// Parsing, reading and emitting allocate nothing.
func TestNoAllocations(t *testing.T) {
	src, dst, seg := tcpOf(t, linuxSYN)
	out := make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		s, err := Parse(seg)
		if err != nil || s.VerifyChecksum(src, dst) != nil {
			panic("golden SYN")
		}
		r := s.Repr()
		_ = r.Emit(out[:r.HeaderLen()], src, dst)
	})
	assert.Zero(t, allocs)
}

func FuzzParseSegment(f *testing.F) {
	for _, g := range goldenSegments {
		_, _, seg := tcpOf(f, g.frame)
		f.Add(seg)
	}
	f.Add([]byte{})
	f.Add(make([]byte, HeaderLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			require.True(t, err == ErrTruncated || err == ErrBadHeaderLength || err == ErrBadOption, "unexpected error %v", err)
			return
		}
		r := s.Repr()
		_ = r.String()
		require.LessOrEqual(t, s.SeqLen(), len(s.Payload())+2)
		// Emit the fields in front of the payload: the result parses to
		// the same Repr and payload and carries a good checksum.
		if r.HeaderLen() > MaxHeaderLen {
			// Options read from several places (MSS, timestamps and
			// four SACK blocks) may not fit one header: refused.
			require.ErrorIs(t, r.Emit(make([]byte, MaxSegmentLen), ipA, ipB), ErrOptionsTooLong)
			return
		}
		if r.HeaderLen()+len(s.Payload()) > MaxSegmentLen {
			return
		}
		out := make([]byte, r.HeaderLen()+len(s.Payload()))
		copy(out[r.HeaderLen():], s.Payload())
		require.NoError(t, r.Emit(out, ipA, ipB))
		s2, err := Parse(out)
		require.NoError(t, err)
		require.Equal(t, r, s2.Repr())
		require.Equal(t, s.Payload(), s2.Payload())
		require.NoError(t, s2.VerifyChecksum(ipA, ipB))
	})
}
