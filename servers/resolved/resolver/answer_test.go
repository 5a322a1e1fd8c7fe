package resolver

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"armos/servers/resolved/dns"
)

// ask passes a client's message to Answer and returns the replies.
func (f *fixture) ask(query []byte, stream bool) *[][]byte {
	var out [][]byte
	f.e.Answer(query, stream, func(b []byte) { out = append(out, b) })
	return &out
}

func query(id uint16, n string, t dns.Type, edns uint16) []byte {
	m := &dns.Message{ID: id, Flags: dns.FlagRD, Questions: []dns.Question{{Name: name(n), Type: t, Class: dns.ClassINET}}}
	if edns != 0 {
		m.Additionals = []dns.RR{dns.NewOPT(edns)}
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

func parseOne(t *testing.T, out *[][]byte) *dns.Message {
	t.Helper()
	require.Len(t, *out, 1)
	m, err := dns.Parse((*out)[0])
	require.NoError(t, err)
	return m
}

func TestAnswer(t *testing.T) {
	f := newFixture(t, Config{}, newZone(cname("www.test", 60, "h.test"), a("h.test", 60, "10.0.0.6")))
	out := f.ask(query(0x4242, "WwW.TeSt", dns.TypeA, 0), false)
	require.Empty(t, *out)
	f.serve()
	m := parseOne(t, out)
	require.Equal(t, uint16(0x4242), m.ID)
	require.True(t, m.Flags.Has(dns.FlagQR|dns.FlagRA|dns.FlagRD))
	require.Equal(t, dns.RCodeSuccess, m.Flags.RCode())
	require.Equal(t, name("WwW.TeSt"), m.Questions[0].Name, "the question as the client wrote it")
	require.Len(t, m.Answers, 2)
	require.Equal(t, name("WwW.TeSt"), m.Answers[0].Name, "records of the name asked carry its case")
	require.Equal(t, name("h.test"), m.Answers[1].Name)
	_, edns := m.EDNS()
	require.False(t, edns, "no OPT to a client that sent none")

	// From the cache at once; OPT answered with OPT.
	m = parseOne(t, f.ask(query(7, "www.test", dns.TypeA, 1232), false))
	require.Len(t, m.Answers, 2)
	size, edns := m.EDNS()
	require.True(t, edns)
	require.Equal(t, uint16(DefaultUDPSize), size)

	// NXDOMAIN with the SOA.
	out = f.ask(query(8, "nope.test", dns.TypeAAAA, 0), false)
	f.serve()
	m = parseOne(t, out)
	require.Equal(t, dns.RCodeNameError, m.Flags.RCode())
	require.Len(t, m.Authorities, 1)
	c := f.counters().Clients
	require.Equal(t, uint64(3), c.Queries)
	require.Equal(t, uint64(3), c.Answered)
	require.Equal(t, uint64(1), c.NXDomain)
}

func TestAnswerBadQueries(t *testing.T) {
	f := newFixture(t, Config{}, newZone())
	good := query(9, "x.test", dns.TypeA, 0)
	withFlags := func(fl dns.Flags) []byte {
		b := append([]byte(nil), good...)
		b[2], b[3] = byte(fl>>8), byte(fl)
		return b
	}
	twoQ, _ := (&dns.Message{ID: 9, Questions: []dns.Question{question("a", dns.TypeA, dns.ClassINET), question("b", dns.TypeA, dns.ClassINET)}}).Pack()
	noQ, _ := (&dns.Message{ID: 9}).Pack()
	chaos, _ := (&dns.Message{ID: 9, Questions: []dns.Question{question("version.bind", dns.TypeTXT, 3)}}).Pack()
	for _, tc := range []struct {
		name    string
		msg     []byte
		rcode   dns.RCode // -1: no reply
		counter string
	}{
		{"empty", nil, 255, "clients.DropShort"},
		{"short header", good[:11], 255, "clients.DropShort"},
		{"a response", withFlags(dns.FlagQR), 255, "clients.DropNotQry"},
		{"truncated question", good[:len(good)-2], dns.RCodeFormatError, "clients.FormErr"},
		{"compression loop", append(append([]byte(nil), good[:12]...), 0xC0, 12, 0, 1, 0, 1), dns.RCodeFormatError, "clients.FormErr"},
		{"two questions", twoQ, dns.RCodeFormatError, "clients.FormErr"},
		{"no question", noQ, dns.RCodeFormatError, "clients.FormErr"},
		{"opcode STATUS", withFlags(dns.Flags(0).WithOpcode(2)), dns.RCodeNotImplemented, "clients.NotImp"},
		{"class CH", chaos, dns.RCodeNotImplemented, "clients.NotImp"},
		{"type ANY", query(9, "x.test", dns.TypeANY, 0), dns.RCodeNotImplemented, "clients.NotImp"},
		{"type AXFR", query(9, "x.test", dns.TypeAXFR, 0), dns.RCodeNotImplemented, "clients.NotImp"},
	} {
		before, _ := f.counters().Get(tc.counter)
		out := f.ask(tc.msg, false)
		after, _ := f.counters().Get(tc.counter)
		require.Equal(t, before+1, after, tc.name)
		if tc.rcode == 255 {
			require.Empty(t, *out, tc.name)
			continue
		}
		m := parseOne(t, out)
		require.Equal(t, uint16(9), m.ID, tc.name)
		require.True(t, m.Flags.Has(dns.FlagQR), tc.name)
		require.Equal(t, tc.rcode, m.Flags.RCode(), tc.name)
	}
	require.Empty(t, f.up.sent, "nothing asked upstream")
}

// Answers larger than the client's datagram size go out empty with TC; over
// a stream they go whole.
func TestAnswerTruncation(t *testing.T) {
	var recs []dns.RR
	for i := range 60 {
		recs = append(recs, a("big.test", 300, fmt.Sprintf("10.1.0.%d", i+1)))
	}
	f := newFixture(t, Config{}, newZone(recs...))
	f.ask(query(1, "big.test", dns.TypeA, 0), false)
	f.serve()
	for _, tc := range []struct {
		edns   uint16
		stream bool
		tc     bool
	}{
		{0, false, true},      // 512
		{600, false, true},    // the client's 600
		{1232, false, false},  // fits
		{65000, false, false}, // capped at UDPSize, fits
		{0, true, false},      // stream
	} {
		b := (*f.ask(query(2, "big.test", dns.TypeA, tc.edns), tc.stream))[0]
		m, err := dns.Parse(b)
		require.NoError(t, err)
		require.Equal(t, tc.tc, m.Flags.Has(dns.FlagTC), "%+v", tc)
		if tc.tc {
			require.Empty(t, m.Answers)
			require.Len(t, m.Questions, 1)
		} else {
			require.Len(t, m.Answers, 60)
		}
	}
	require.Equal(t, uint64(3), f.counters().Clients.TruncatedTC)
}
