package dns

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// msg assembles a message from a header (id, flags, counts) and raw bytes.
func msg(flags uint16, qd, an, ns, ar int, body ...string) []byte {
	b := []byte{0xab, 0xcd, byte(flags >> 8), byte(flags)}
	for _, c := range []int{qd, an, ns, ar} {
		b = binary.BigEndian.AppendUint16(b, uint16(c))
	}
	return append(b, strings.Join(body, "")...)
}

// rr returns a record's fixed fields and data after its owner name.
func rrFields(typ Type, ttl uint32, data string) string {
	b := binary.BigEndian.AppendUint16(nil, uint16(typ))
	b = binary.BigEndian.AppendUint16(b, uint16(ClassINET))
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return string(b) + data
}

func ptr(off int) string { return string([]byte{0xC0 | byte(off>>8), byte(off)}) }

const qfields = "\x00\x01\x00\x01" // type A, class IN

// TestRFC1035Compression is the example of RFC 1035 section 4.1.4, shifted
// to follow a header: F.ISI.ARPA at 12, FOO.F.ISI.ARPA as FOO and a pointer
// to it, ARPA as a pointer into the first name, and the root.
func TestRFC1035Compression(t *testing.T) {
	b := msg(0, 4, 0, 0, 0,
		"\x01F\x03ISI\x04ARPA\x00", qfields, // 12..27, questions' fields 24..27
		"\x03FOO", ptr(12), qfields, // 28..37
		ptr(12+2+4), qfields, // 38..43: ARPA
		"\x00", qfields) // 44..48
	m, err := Parse(b)
	require.NoError(t, err)
	var names []string
	for _, q := range m.Questions {
		names = append(names, q.Name.String())
	}
	require.Equal(t, []string{"F.ISI.ARPA.", "FOO.F.ISI.ARPA.", "ARPA.", "."}, names)

	// Packing compresses the same way: the bytes come back identical.
	out, err := m.Pack()
	require.NoError(t, err)
	require.Equal(t, b, out)
}

func TestParseErrors(t *testing.T) {
	label63 := "\x3f" + strings.Repeat("a", 63)
	// Pointer chain inside an opaque record: offsets 17.. each point to the
	// one before, the first to the root name at 12.
	chain := ""
	const chainStart = 12 + 5 + 1 + 10 // question, owner name (root), fixed fields
	for i := range 130 {
		if i == 0 {
			chain += ptr(12)
		} else {
			chain += ptr(chainStart + 2*(i-1))
		}
	}
	for _, tc := range []struct {
		name    string
		b       []byte
		section Section
		index   int
		err     error
	}{
		{"empty", nil, SectionHeader, 0, ErrShort},
		{"short header", msg(0, 0, 0, 0, 0)[:11], SectionHeader, 0, ErrShort},
		{"too long", make([]byte, MaxMessageLen+1), SectionHeader, 0, ErrMessageTooLong},
		{"question missing", msg(0, 1, 0, 0, 0), SectionQuestion, 0, ErrShort},
		{"question name cut", msg(0, 1, 0, 0, 0, "\x04te"), SectionQuestion, 0, ErrShort},
		{"question name unterminated", msg(0, 1, 0, 0, 0, "\x04test"), SectionQuestion, 0, ErrShort},
		{"question fields cut", msg(0, 1, 0, 0, 0, "\x01x\x00\x00\x01\x00"), SectionQuestion, 0, ErrShort},
		{"second question missing", msg(0, 2, 0, 0, 0, "\x01x\x00", qfields), SectionQuestion, 1, ErrShort},
		{"answer missing", msg(0, 0, 1, 0, 0), SectionAnswer, 0, ErrShort},
		{"answer fields cut", msg(0, 0, 1, 0, 0, "\x00", rrFields(TypeA, 1, "\x01\x02\x03\x04")[:9]), SectionAnswer, 0, ErrShort},
		{"answer data cut", msg(0, 0, 1, 0, 0, "\x00", rrFields(TypeA, 1, "\x01\x02\x03\x04")[:13]), SectionAnswer, 0, ErrShort},
		{"authority missing", msg(0, 0, 1, 1, 0, "\x00", rrFields(TypeA, 1, "\x01\x02\x03\x04")), SectionAuthority, 0, ErrShort},
		{"additional missing", msg(0, 0, 0, 0, 1), SectionAdditional, 0, ErrShort},
		{"huge counts", msg(0, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, "\x00", qfields), SectionQuestion, 1, ErrShort},
		{"pointer to itself", msg(0, 1, 0, 0, 0, ptr(12), qfields), SectionQuestion, 0, ErrPointerLoop},
		{"pointer into own name", msg(0, 1, 0, 0, 0, "\x01a", ptr(12), qfields), SectionQuestion, 0, ErrPointerLoop},
		{"pointer loop in a later name", msg(0, 2, 0, 0, 0,
			"\x01a\x00", qfields, // 12: a.
			"\x01b", ptr(19), qfields), // 19: b, then a pointer back to b
			SectionQuestion, 1, ErrPointerLoop},
		{"pointer loop after a jump", msg(0, 0, 2, 0, 0,
			"\x00", rrFields(TypeNULL, 0, "\x01c"+ptr(23)), // data at 23: c, then a pointer back to c
			"\x01b", ptr(23), rrFields(TypeA, 0, "\x01\x02\x03\x04")), // b, then a jump to 23
			SectionAnswer, 1, ErrPointerLoop},
		{"pointer chain too long", msg(0, 1, 1, 1, 0, "\x00", qfields,
			"\x00", rrFields(TypeNULL, 0, chain),
			ptr(chainStart+2*129), rrFields(TypeA, 0, "\x01\x02\x03\x04")),
			SectionAuthority, 0, ErrPointerLoop},
		{"pointer forward", msg(0, 1, 0, 0, 0, ptr(14), "\x00", qfields), SectionQuestion, 0, ErrPointerForward},
		{"pointer past end", msg(0, 1, 0, 0, 0, ptr(0x3FFF), qfields), SectionQuestion, 0, ErrPointerRange},
		{"pointer into header", msg(0, 1, 0, 0, 0, ptr(4), qfields), SectionQuestion, 0, ErrPointerRange},
		{"pointer cut", msg(0, 1, 0, 0, 0, "\xC0"), SectionQuestion, 0, ErrShort},
		{"label of 64", msg(0, 1, 0, 0, 0, "\x40"+strings.Repeat("a", 64)+"\x00", qfields), SectionQuestion, 0, ErrLabelTooLong},
		{"label type 10", msg(0, 1, 0, 0, 0, "\x80\x00", qfields), SectionQuestion, 0, ErrLabelTooLong},
		{"name of 256", msg(0, 1, 0, 0, 0, label63, label63, label63, "\x3e"+strings.Repeat("b", 62), "\x00", qfields), SectionQuestion, 0, ErrNameTooLong},
		{"name over 255 through pointers", msg(0, 2, 0, 0, 0,
			label63, label63, label63, "\x00", qfields, // 12: 193 bytes
			"\x3f"+strings.Repeat("c", 63), ptr(12), qfields), SectionQuestion, 1, ErrNameTooLong},
		{"A of 5 bytes", msg(0, 0, 1, 0, 0, "\x00", rrFields(TypeA, 1, "\x01\x02\x03\x04\x05")), SectionAnswer, 0, ErrBadRData},
		{"AAAA of 4 bytes", msg(0, 0, 1, 0, 0, "\x00", rrFields(TypeAAAA, 1, "\x01\x02\x03\x04")), SectionAnswer, 0, ErrBadRData},
		{"CNAME overrunning its data", msg(0, 0, 1, 0, 0, "\x00", rrFields(TypeCNAME, 1, "\x01a"), "\x00"), SectionAnswer, 0, ErrBadRData},
		{"CNAME with trailing bytes", msg(0, 0, 1, 0, 0, "\x00", rrFields(TypeCNAME, 1, "\x01a\x00\x00")), SectionAnswer, 0, ErrBadRData},
		{"CNAME with a loop", msg(0, 0, 1, 0, 0, "\x00", rrFields(TypeCNAME, 1, ptr(23))), SectionAnswer, 0, ErrPointerLoop},
		{"SOA too short", msg(0, 0, 0, 1, 0, "\x00", rrFields(TypeSOA, 1, "\x00\x00"+strings.Repeat("\x00", 19))), SectionAuthority, 0, ErrBadRData},
		{"MX without a name", msg(0, 0, 1, 0, 0, "\x00", rrFields(TypeMX, 1, "\x00\x01")), SectionAnswer, 0, ErrBadRData},
		{"NAPTR string overrun", msg(0, 0, 1, 0, 0, "\x00", rrFields(TypeNAPTR, 1, "\x00\x01\x00\x01\x05ab")), SectionAnswer, 0, ErrBadRData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.b)
			require.Nil(t, m)
			require.ErrorIs(t, err, tc.err)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.section, pe.Section, err.Error())
			require.Equal(t, tc.index, pe.Index, err.Error())
		})
	}
}

// Names in the data of compressible types are expanded on parse, so a
// record moves between messages intact.
func TestRDataNamesExpanded(t *testing.T) {
	b := msg(0x8180, 1, 3, 1, 0,
		"\x01x\x04test\x00", "\x00\x0f\x00\x01", // 12: x.test MX?
		ptr(12), rrFields(TypeMX, 60, "\x00\x0a\x04mail"+ptr(14)), // mail.test
		ptr(12), rrFields(TypeSRV, 60, "\x00\x01\x00\x02\x00\x35"+ptr(12)), // compressed, as RFC 2052 did
		ptr(12), rrFields(TypeTXT, 60, "\x05hello"),
		ptr(14), rrFields(TypeSOA, 3600, "\x02ns"+ptr(14)+"\x04host"+ptr(14)+
			"\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05"))
	m, err := Parse(b)
	require.NoError(t, err)
	require.Equal(t, "\x00\x0a\x04mail\x04test\x00", string(m.Answers[0].Data))
	require.Equal(t, "\x00\x01\x00\x02\x00\x35\x01x\x04test\x00", string(m.Answers[1].Data))
	require.Equal(t, "\x05hello", string(m.Answers[2].Data))
	soa, ok := m.Authorities[0].SOA()
	require.True(t, ok)
	require.Equal(t, SOA{MName: MustParseName("ns.test"), RName: MustParseName("host.test"),
		Serial: 1, Refresh: 2, Retry: 3, Expire: 4, Minimum: 5}, soa)
	require.Equal(t, NewSOA(MustParseName("test"), 3600, soa), m.Authorities[0])

	// Each record packed alone in a new message is the same record.
	for _, rr := range append(m.Answers, m.Authorities...) {
		out, err := (&Message{Answers: []RR{rr}}).Pack()
		require.NoError(t, err)
		m2, err := Parse(out)
		require.NoError(t, err)
		require.Equal(t, rr, m2.Answers[0])
	}
}

func TestPackBuildsAnswers(t *testing.T) {
	x, www := MustParseName("x.test"), MustParseName("WWW.x.test")
	m := &Message{
		ID:        7,
		Flags:     (FlagQR | FlagRD | FlagRA).WithRCode(RCodeSuccess),
		Questions: []Question{{www, TypeAAAA, ClassINET}},
		Answers: []RR{
			NewCNAME(www, 30, x),
			NewAAAA(x, 60, netip.MustParseAddr("fd00::1")),
			NewA(x, 60, netip.MustParseAddr("10.0.0.1")),
		},
		Additionals: []RR{NewOPT(1232)},
	}
	b, err := m.Pack()
	require.NoError(t, err)
	got, err := Parse(b)
	require.NoError(t, err)
	require.Equal(t, m, got)
	target, ok := got.Answers[0].CNAME()
	require.True(t, ok)
	require.Equal(t, x, target)
	a, ok := got.Answers[1].AAAA()
	require.True(t, ok)
	require.Equal(t, netip.MustParseAddr("fd00::1"), a)
	_, ok = got.Answers[1].A()
	require.False(t, ok)
	size, ok := got.EDNS()
	require.True(t, ok)
	require.Equal(t, uint16(1232), size)

	// Compression: "x.test" is written once (inside WWW.x.test), as are the
	// question's name and the root.
	require.Equal(t, 1, strings.Count(string(b), "\x01x\x04test\x00"))

	// AppendPack keeps a prefix (a TCP length) and offsets the pointers.
	pre, err := m.AppendPack([]byte{0, 0})
	require.NoError(t, err)
	require.Equal(t, b, pre[2:])
	require.Equal(t, got.Flags.RCode(), RCodeSuccess)
	require.Equal(t, RCodeNameError, Flags(0).WithRCode(RCodeNameError).RCode())
	require.Equal(t, Opcode(2), Flags(FlagQR).WithOpcode(2).Opcode())
	require.True(t, Flags(FlagQR).WithOpcode(2).Has(FlagQR))
}

func TestPackErrors(t *testing.T) {
	_, err := (&Message{Questions: []Question{{}}}).Pack()
	require.ErrorIs(t, err, ErrInvalidName)
	_, err = (&Message{Answers: []RR{{Name: Root, Type: TypeCNAME, Data: []byte("\x01a")}}}).Pack()
	require.ErrorIs(t, err, ErrBadRData)
	_, err = (&Message{Answers: []RR{{Name: Root, Type: TypeNULL, Data: make([]byte, 70000)}}}).Pack()
	require.ErrorIs(t, err, ErrRDataTooLong)
	big := make([]RR, 2)
	for i := range big {
		big[i] = RR{Name: Root, Type: TypeNULL, Data: make([]byte, 40000)}
	}
	_, err = (&Message{Answers: big}).Pack()
	require.ErrorIs(t, err, ErrMessageTooLong)
	_, err = (&Message{Answers: make([]RR, 70000)}).Pack()
	require.ErrorIs(t, err, ErrTooMany)
}

func TestTypeNames(t *testing.T) {
	require.Equal(t, "AAAA", TypeAAAA.String())
	require.Equal(t, "TYPE65280", Type(65280).String())
	require.Equal(t, "IN", ClassINET.String())
	require.Equal(t, "CLASS3", Class(3).String())
	require.Equal(t, "NXDOMAIN", RCodeNameError.String())
	require.Equal(t, "RCODE11", RCode(11).String())
	require.Equal(t, "answer", SectionAnswer.String())
	require.Equal(t, "x.test. IN A", Question{MustParseName("x.test"), TypeA, ClassINET}.String())
	require.Contains(t, NewA(MustParseName("x.test"), 5, netip.MustParseAddr("1.2.3.4")).String(), "x.test. 5 IN A 01020304")
	require.Equal(t, "dns: compression pointer loop (answer 3)", (&ParseError{SectionAnswer, 3, ErrPointerLoop}).Error())
}

// FuzzParseMessage feeds arbitrary bytes to Parse. Nothing may panic; a
// message that parses packs (unless expanded names make it too long),
// parses back to the same message, and packs again to the same bytes.
func FuzzParseMessage(f *testing.F) {
	f.Add(msg(0, 1, 0, 0, 0, "\x01x\x04test\x00", qfields))
	f.Add(msg(0, 1, 0, 0, 0, ptr(12), qfields))
	f.Add(msg(0x8180, 1, 1, 1, 0, "\x01x\x04test\x00", qfields, ptr(12), rrFields(TypeCNAME, 5, "\x01y"+ptr(14)),
		ptr(14), rrFields(TypeSOA, 5, ptr(12)+ptr(14)+strings.Repeat("\x00", 20))))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.Nil(t, m)
			return
		}
		out, err := m.Pack()
		if err != nil {
			require.ErrorIs(t, err, ErrMessageTooLong)
			return
		}
		m2, err := Parse(out)
		require.NoError(t, err)
		require.Equal(t, m, m2)
		out2, err := m2.Pack()
		require.NoError(t, err)
		require.Equal(t, out, out2)
	})
}
