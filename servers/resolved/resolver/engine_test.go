package resolver

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/resolved/dns"
)

// sent is one query the engine sent.
type sent struct {
	a      Attempt
	server netip.AddrPort
	raw    []byte
	m      *dns.Message
}

// fakeUp records what the engine sends.
type fakeUp struct {
	sent []sent
	done []Attempt
	err  error
}

func (f *fakeUp) Send(a Attempt, server netip.AddrPort, query []byte) error {
	m, err := dns.Parse(query)
	if err != nil {
		panic(err)
	}
	f.sent = append(f.sent, sent{a, server, query, m})
	return f.err
}

func (f *fakeUp) Done(a Attempt) { f.done = append(f.done, a) }

type fixture struct {
	t     *testing.T
	e     *Engine
	clock *fakeClock
	up    *fakeUp
	z     *zone
	next  int // sent[next:] are not answered yet
}

func newFixture(t *testing.T, cfg Config, z *zone) *fixture {
	if cfg.Servers == nil {
		cfg.Servers = []netip.AddrPort{server1}
	}
	var seed uint64 = 1
	cfg.Rand = func() uint64 { seed = seed*6364136223846793005 + 1442695040888963407; return seed }
	f := &fixture{t: t, clock: newClock(), up: &fakeUp{}, z: z}
	e, err := New(cfg, f.clock, f.up)
	require.NoError(t, err)
	f.e = e
	return f
}

// lookup starts a lookup and returns where its result will be.
func (f *fixture) lookup(n string, t dns.Type) *[]Result {
	var res []Result
	f.e.Lookup(name(n), t, func(r Result) { res = append(res, r) })
	return &res
}

// serve answers every query not answered yet from the zone.
func (f *fixture) serve() {
	for f.next < len(f.up.sent) {
		s := f.up.sent[f.next]
		f.next++
		f.e.Input(s.a, s.server, f.z.respond(s.raw))
	}
}

func (f *fixture) counters() Counters { return f.e.Counters() }

func one(t *testing.T, res *[]Result) Result {
	t.Helper()
	require.Len(t, *res, 1)
	return (*res)[0]
}

func TestLookupAndCache(t *testing.T) {
	f := newFixture(t, Config{}, newZone(a("x.test", 300, "10.0.0.5"), a("x.test", 200, "10.0.0.6")))
	res := f.lookup("x.test", dns.TypeA)
	require.Empty(t, *res)
	require.Len(t, f.up.sent, 1)
	q := f.up.sent[0].m
	require.True(t, q.Flags.Has(dns.FlagRD))
	require.False(t, q.Flags.Has(dns.FlagQR))
	require.Equal(t, dns.TypeA, q.Questions[0].Type)
	require.True(t, q.Questions[0].Name.EqualFold(name("x.test")))
	size, ok := q.EDNS()
	require.True(t, ok)
	require.Equal(t, uint16(DefaultUDPSize), size)
	deadline, ok := f.e.NextDeadline()
	require.True(t, ok)
	require.Equal(t, f.clock.Now().Add(DefaultTimeout), deadline)

	f.serve()
	r := one(t, res)
	require.Equal(t, dns.RCodeSuccess, r.RCode)
	require.Len(t, r.Answer, 2)
	for _, rr := range r.Answer {
		require.Equal(t, uint32(200), rr.TTL, "one TTL for the RRset, the smallest (RFC 2181 5.2)")
		require.Equal(t, name("x.test"), rr.Name)
	}
	require.Equal(t, []Attempt{f.up.sent[0].a}, f.up.done, "the try's socket is released")
	_, ok = f.e.NextDeadline()
	require.False(t, ok)

	// From the cache, TTLs counting down; nothing sent.
	f.clock.Advance(50500 * time.Millisecond)
	r = one(t, f.lookup("X.TEST", dns.TypeA))
	require.Len(t, r.Answer, 2)
	require.Equal(t, uint32(149), r.Answer[0].TTL)
	require.Len(t, f.up.sent, 1)

	// Expired at 200 s: asked again.
	f.clock.Advance(150 * time.Second)
	res = f.lookup("x.test", dns.TypeA)
	require.Empty(t, *res)
	require.Len(t, f.up.sent, 2)
	f.serve()
	require.Len(t, one(t, res).Answer, 2)
	c := f.counters()
	require.Equal(t, uint64(1), c.Lookups.FromCache)
	require.Equal(t, uint64(2), c.Lookups.Resolved)
	require.Equal(t, uint64(1), c.Cache.Expired)
}

func TestIDsAndCaseAreRandom(t *testing.T) {
	f := newFixture(t, Config{}, newZone())
	ids := map[uint16]bool{}
	cases := map[string]bool{}
	for i := range 20 {
		f.lookup(fmt.Sprintf("abcdefghijklmnop%d.test", i), dns.TypeA)
	}
	for _, s := range f.up.sent {
		ids[s.m.ID] = true
		cases[s.m.Questions[0].Name.Wire()[:17]] = true
	}
	require.Len(t, ids, 20)
	require.Greater(t, len(cases), 15, "mixed case differs between queries")

	f = newFixture(t, Config{No0x20: true}, newZone())
	f.lookup("abc.test", dns.TypeA)
	require.Equal(t, name("abc.test"), f.up.sent[0].m.Questions[0].Name)
}

func TestCNAMEChain(t *testing.T) {
	f := newFixture(t, Config{}, newZone(
		cname("www.test", 100, "a2.test"), cname("a2.test", 50, "h.test"),
		a("h.test", 300, "10.0.0.6"), aaaa("h.test", 300, "fd00::6")))
	res := f.lookup("www.test", dns.TypeA)
	f.serve()
	r := one(t, res)
	require.Equal(t, dns.RCodeSuccess, r.RCode)
	require.Len(t, r.Answer, 3)
	require.Equal(t, dns.TypeCNAME, r.Answer[0].Type)
	require.Equal(t, uint32(100), r.Answer[0].TTL)
	require.Equal(t, uint32(50), r.Answer[1].TTL)
	got, _ := r.Answer[2].A()
	require.Equal(t, netip.MustParseAddr("10.0.0.6"), got)

	// The chain is cached link by link: AAAA for www asks only about h.
	res = f.lookup("www.test", dns.TypeAAAA)
	require.Len(t, f.up.sent, 2)
	require.True(t, f.up.sent[1].m.Questions[0].Name.EqualFold(name("h.test")))
	f.serve()
	r = one(t, res)
	require.Len(t, r.Answer, 3)
	require.Equal(t, dns.TypeAAAA, r.Answer[2].Type)

	// After a2's 50 s, the chain is asked again from a2 on.
	f.clock.Advance(60 * time.Second)
	res = f.lookup("www.test", dns.TypeA)
	require.Len(t, f.up.sent, 3)
	require.True(t, f.up.sent[2].m.Questions[0].Name.EqualFold(name("a2.test")))
	f.serve()
	require.Len(t, one(t, res).Answer, 3)

	// A CNAME question is answered with the CNAME itself.
	r = one(t, f.lookup("www.test", dns.TypeCNAME))
	require.Len(t, r.Answer, 1)
}

// A server that stops at a CNAME (without an SOA) is asked about the
// target.
func TestCNAMERequery(t *testing.T) {
	f := newFixture(t, Config{}, newZone(a("h.other", 100, "10.9.9.9")))
	res := f.lookup("www.test", dns.TypeA)
	s := f.up.sent[0]
	q, _ := dns.Parse(s.raw)
	m := &dns.Message{ID: q.ID, Flags: dns.FlagQR | dns.FlagRA, Questions: q.Questions,
		Answers: []dns.RR{cname("www.test", 100, "h.other")}}
	b, _ := m.Pack()
	f.next = 1
	f.e.Input(s.a, s.server, b) // the CNAME only, no SOA
	require.Empty(t, *res)
	require.Len(t, f.up.sent, 2)
	require.True(t, f.up.sent[1].m.Questions[0].Name.EqualFold(name("h.other")))
	f.serve()
	r := one(t, res)
	require.Len(t, r.Answer, 2)
	require.Equal(t, uint64(1), f.counters().Lookups.Requeried)
}

func TestCNAMELoopAndLength(t *testing.T) {
	f := newFixture(t, Config{}, newZone(cname("l1.test", 100, "l2.test"), cname("l2.test", 100, "L1.test")))
	res := f.lookup("l1.test", dns.TypeA)
	f.serve()
	r := one(t, res)
	require.Equal(t, dns.RCodeServerFailure, r.RCode)
	require.ErrorIs(t, r.Err, ErrCNAMELoop)

	var chain []dns.RR
	for i := range 12 {
		chain = append(chain, cname(fmt.Sprintf("c%d.test", i), 100, fmt.Sprintf("c%d.test", i+1)))
	}
	f = newFixture(t, Config{MaxCNAMEs: 4}, newZone(chain...))
	res = f.lookup("c0.test", dns.TypeA)
	f.serve()
	require.ErrorIs(t, one(t, res).Err, ErrCNAMEChain)
	require.Equal(t, uint64(1), f.counters().Lookups.FailedCNAME)
	// The cached links loop too: answered from the cache with the error.
	f = newFixture(t, Config{}, newZone(cname("l1.test", 100, "l2.test"), cname("l2.test", 100, "l1.test")))
	f.lookup("l1.test", dns.TypeA)
	f.serve()
	r = one(t, f.lookup("l2.test", dns.TypeAAAA))
	require.ErrorIs(t, r.Err, ErrCNAMELoop)
}

func TestNegativeCaching(t *testing.T) {
	z := newZone(a("v4.test", 300, "10.0.0.7"))
	z.soa = soa("test", 3600, 60) // negative TTL: min(3600, 60)
	f := newFixture(t, Config{}, z)

	res := f.lookup("nope.test", dns.TypeA)
	f.serve()
	r := one(t, res)
	require.Equal(t, dns.RCodeNameError, r.RCode)
	require.Len(t, r.Authority, 1)
	require.Equal(t, uint32(60), r.Authority[0].TTL)

	// NXDOMAIN covers every type of the name.
	f.clock.Advance(30 * time.Second)
	r = one(t, f.lookup("nope.test", dns.TypeAAAA))
	require.Equal(t, dns.RCodeNameError, r.RCode)
	require.Equal(t, uint32(30), r.Authority[0].TTL)
	require.Len(t, f.up.sent, 1)

	// NODATA covers its type only.
	res = f.lookup("v4.test", dns.TypeAAAA)
	f.serve()
	r = one(t, res)
	require.Equal(t, dns.RCodeSuccess, r.RCode)
	require.Empty(t, r.Answer)
	require.Len(t, r.Authority, 1)
	r = one(t, f.lookup("v4.test", dns.TypeAAAA))
	require.Empty(t, r.Answer)
	require.Len(t, f.up.sent, 2)
	res = f.lookup("v4.test", dns.TypeA)
	f.serve()
	require.Len(t, one(t, res).Answer, 1)

	// Expired after 60 s.
	f.clock.Advance(31 * time.Second)
	f.lookup("nope.test", dns.TypeA)
	require.Len(t, f.up.sent, 4)
	f.serve()

	// Without an SOA nothing negative is cached.
	z.noSOA = true
	f.lookup("nope2.test", dns.TypeA)
	f.serve()
	f.lookup("nope2.test", dns.TypeA)
	require.Len(t, f.up.sent, 6)
	f.serve()

	// The negative TTL is capped by MaxNegativeTTL.
	z2 := newZone()
	z2.soa = soa("test", 86400, 86400)
	f = newFixture(t, Config{MaxNegativeTTL: 10 * time.Second}, z2)
	res = f.lookup("nope.test", dns.TypeA)
	f.serve()
	require.Equal(t, uint32(10), one(t, res).Authority[0].TTL)
}

func TestTTLRules(t *testing.T) {
	f := newFixture(t, Config{MaxTTL: time.Hour}, newZone(
		a("big.test", 1<<31, "10.0.0.1"), // top bit set: 0 (RFC 2181 section 8)
		a("long.test", 7*86400, "10.0.0.2"),
		a("zero.test", 0, "10.0.0.3")))
	for _, n := range []string{"big.test", "long.test", "zero.test"} {
		f.lookup(n, dns.TypeA)
	}
	f.serve()
	r := one(t, f.lookup("long.test", dns.TypeA))
	require.Equal(t, uint32(3600), r.Answer[0].TTL)
	for _, n := range []string{"big.test", "zero.test"} {
		res := f.lookup(n, dns.TypeA)
		require.Empty(t, *res, "%s not cached", n)
	}
	require.Len(t, f.up.sent, 5)
}

func TestRetriesAcrossServers(t *testing.T) {
	f := newFixture(t, Config{Servers: []netip.AddrPort{server1, server2, server3}, Timeout: time.Second}, newZone())
	res := f.lookup("x.test", dns.TypeA)
	for i := range 6 {
		require.Len(t, f.up.sent, i+1)
		s := f.up.sent[i]
		require.Equal(t, []netip.AddrPort{server1, server2, server3}[i%3], s.server, "try %d", i)
		f.clock.Advance(999 * time.Millisecond)
		f.e.Tick()
		require.Len(t, f.up.sent, i+1, "not before the timeout")
		f.clock.Advance(time.Millisecond)
		f.e.Tick()
	}
	r := one(t, res)
	require.Equal(t, dns.RCodeServerFailure, r.RCode)
	require.ErrorIs(t, r.Err, ErrTimeout)
	require.Len(t, f.up.sent, 6, "Attempts (2) rounds over 3 servers")
	ids := map[uint16]bool{}
	for _, s := range f.up.sent {
		ids[s.m.ID] = true
	}
	require.Len(t, ids, 6)
	require.Len(t, f.up.done, 6, "every try's socket released")
	c := f.counters()
	require.Equal(t, uint64(6), c.Upstream.Timeouts)
	require.Equal(t, uint64(1), c.Lookups.FailedTimeout)
	require.Zero(t, f.e.InFlight())
	require.Len(t, f.e.attempts, 0)
	require.Len(t, f.e.byID, 0)
}

// A late answer to an earlier try is still taken; at most
// liveAttemptsPerLookup tries stay open.
func TestLateAnswer(t *testing.T) {
	f := newFixture(t, Config{Servers: []netip.AddrPort{server1, server2}, Timeout: time.Second, Attempts: 3},
		newZone(a("x.test", 60, "10.0.0.5")))
	res := f.lookup("x.test", dns.TypeA)
	for range 4 {
		f.clock.Advance(time.Second)
		f.e.Tick()
	}
	require.Len(t, f.up.sent, 5)
	require.Equal(t, []Attempt{f.up.sent[0].a, f.up.sent[1].a}, f.up.done, "the oldest tries closed")
	late := f.up.sent[2]
	f.e.Input(late.a, late.server, f.z.respond(late.raw))
	require.Len(t, one(t, res).Answer, 1)
	// The next lookup starts with the server that answered.
	f.lookup("y.test", dns.TypeA)
	require.Equal(t, late.server, f.up.sent[5].server)
	// An answer for a closed try is dropped.
	f.e.Input(f.up.sent[0].a, server1, f.z.respond(f.up.sent[0].raw))
	require.Equal(t, uint64(1), f.counters().Upstream.RxUnknown)
}

func TestServerFailureMovesOn(t *testing.T) {
	for _, rc := range []dns.RCode{dns.RCodeServerFailure, dns.RCodeRefused, dns.RCodeNotImplemented, dns.RCodeFormatError} {
		f := newFixture(t, Config{Servers: []netip.AddrPort{server1, server2}}, newZone(a("x.test", 60, "10.0.0.5")))
		res := f.lookup("x.test", dns.TypeA)
		s := f.up.sent[0]
		f.e.Input(s.a, s.server, header(s.raw, dns.FlagQR|dns.FlagRA, rc))
		require.Len(t, f.up.sent, 2, "%v: the next server at once", rc)
		require.Equal(t, server2, f.up.sent[1].server)
		f.next = 1
		f.serve()
		require.Len(t, one(t, res).Answer, 1)
	}
	// Every server refusing: SERVFAIL.
	f := newFixture(t, Config{Servers: []netip.AddrPort{server1, server2}}, newZone())
	res := f.lookup("x.test", dns.TypeA)
	for i := 0; i < len(f.up.sent); i++ {
		s := f.up.sent[i]
		f.e.Input(s.a, s.server, header(s.raw, dns.FlagQR|dns.FlagRA, dns.RCodeRefused))
	}
	r := one(t, res)
	require.ErrorIs(t, r.Err, ErrServerFailure)
	require.Len(t, f.up.sent, 4)
	c := f.counters()
	require.Equal(t, uint64(4), c.Upstream.Refused)
	require.Equal(t, uint64(1), c.Lookups.FailedServer)
}

// header returns the answer to query with the question and no records,
// with flags and rcode.
func header(query []byte, flags dns.Flags, rc dns.RCode) []byte {
	q, _ := dns.Parse(query)
	m := &dns.Message{ID: q.ID, Flags: flags.WithRCode(rc), Questions: q.Questions}
	b, _ := m.Pack()
	return b
}

func TestTruncatedAnswer(t *testing.T) {
	f := newFixture(t, Config{}, newZone())
	res := f.lookup("big.test", dns.TypeA)
	s := f.up.sent[0]
	f.e.Input(s.a, s.server, header(s.raw, dns.FlagQR|dns.FlagRA|dns.FlagTC, dns.RCodeSuccess))
	r := one(t, res)
	require.Equal(t, dns.RCodeServerFailure, r.RCode)
	require.ErrorIs(t, r.Err, ErrTruncated)
	require.Equal(t, uint64(1), f.counters().Upstream.Truncated)
	require.Equal(t, uint64(1), f.counters().Lookups.FailedTruncated)
}

// Answers that do not match the try exactly are dropped and counted, and
// the lookup goes on waiting for the real one.
func TestForgedAnswersDropped(t *testing.T) {
	f := newFixture(t, Config{}, newZone(a("x.test", 60, "10.0.0.5")))
	res := f.lookup("x.test", dns.TypeA)
	s := f.up.sent[0]
	good := f.z.respond(s.raw)
	edit := func(fn func(m *dns.Message)) []byte {
		m, err := dns.Parse(good)
		require.NoError(t, err)
		fn(m)
		b, err := m.Pack()
		require.NoError(t, err)
		return b
	}
	flip := func(n dns.Name) dns.Name { // the same name in another case
		w := []byte(n.Wire())
		for i, c := range w {
			if c|0x20 >= 'a' && c|0x20 <= 'z' {
				w[i] ^= 0x20
				break
			}
		}
		m, _ := dns.NameFromWire(w)
		return m
	}
	for _, tc := range []struct {
		name    string
		a       Attempt
		from    netip.AddrPort
		msg     []byte
		counter string
	}{
		{"malformed", s.a, s.server, good[:20], "upstream.RxMalformed"},
		{"wrong ID", s.a, s.server, edit(func(m *dns.Message) { m.ID++ }), "upstream.RxWrongID"},
		{"wrong ID, shared socket", 0, s.server, edit(func(m *dns.Message) { m.ID++ }), "upstream.RxWrongID"},
		{"unknown attempt", s.a + 100, s.server, good, "upstream.RxUnknown"},
		{"wrong source address", s.a, server2, good, "upstream.RxWrongSource"},
		{"wrong source port", s.a, netip.AddrPortFrom(server1.Addr(), 5353), good, "upstream.RxWrongSource"},
		{"not a response", s.a, s.server, edit(func(m *dns.Message) { m.Flags &^= dns.FlagQR }), "upstream.RxNotResponse"},
		{"opcode", s.a, s.server, edit(func(m *dns.Message) { m.Flags = m.Flags.WithOpcode(2) }), "upstream.RxBadOpcode"},
		{"no question", s.a, s.server, edit(func(m *dns.Message) { m.Questions = nil }), "upstream.RxWrongQuestion"},
		{"two questions", s.a, s.server, edit(func(m *dns.Message) { m.Questions = append(m.Questions, m.Questions[0]) }), "upstream.RxWrongQuestion"},
		{"other name", s.a, s.server, edit(func(m *dns.Message) { m.Questions[0].Name = name("y.test") }), "upstream.RxWrongQuestion"},
		{"other type", s.a, s.server, edit(func(m *dns.Message) { m.Questions[0].Type = dns.TypeAAAA }), "upstream.RxWrongQuestion"},
		{"other class", s.a, s.server, edit(func(m *dns.Message) { m.Questions[0].Class = 3 }), "upstream.RxWrongQuestion"},
		{"case changed (0x20)", s.a, s.server, edit(func(m *dns.Message) { m.Questions[0].Name = flip(m.Questions[0].Name) }), "upstream.RxCaseMismatch"},
	} {
		before, _ := f.counters().Get(tc.counter)
		f.e.Input(tc.a, tc.from, tc.msg)
		after, ok := f.counters().Get(tc.counter)
		require.True(t, ok, tc.counter)
		require.Equal(t, before+1, after, tc.name)
		require.Empty(t, *res, tc.name)
	}
	c := f.counters()
	require.Zero(t, c.Upstream.Accepted)
	require.Equal(t, uint64(14), c.Upstream.RxDatagrams)
	// The real answer, also through a shared socket (attempt 0).
	f.e.Input(0, netip.AddrPortFrom(netip.MustParseAddr("::ffff:192.0.2.1"), 53), good)
	require.Len(t, one(t, res).Answer, 1)
}

func TestCacheBounds(t *testing.T) {
	f := newFixture(t, Config{CacheEntries: 4, NegativeEntries: 2}, newZone(
		a("h0.test", 300, "10.0.0.1"), a("h1.test", 300, "10.0.0.1"), a("h2.test", 300, "10.0.0.1"),
		a("h3.test", 300, "10.0.0.1"), a("h4.test", 300, "10.0.0.1")))
	for i := range 4 {
		f.lookup(fmt.Sprintf("h%d.test", i), dns.TypeA)
	}
	f.serve()
	one(t, f.lookup("h0.test", dns.TypeA)) // h0 used: h1 is now the least recently used
	f.lookup("h4.test", dns.TypeA)
	f.serve()
	c := f.counters().Cache
	require.Equal(t, uint64(4), c.Entries)
	require.Equal(t, uint64(1), c.Evicted)
	require.Empty(t, *f.lookup("h1.test", dns.TypeA), "h1 evicted")
	f.serve()
	require.Len(t, *f.lookup("h0.test", dns.TypeA), 1, "h0 kept")

	// Negative entries: at most 2, the oldest go first, positives stay.
	for i := range 5 {
		f.lookup(fmt.Sprintf("n%d.test", i), dns.TypeA)
		f.serve()
	}
	c = f.counters().Cache
	require.Equal(t, uint64(2), c.Negative)
	require.Equal(t, uint64(3), c.EvictedNegative)
	require.LessOrEqual(t, c.Entries, uint64(4))
	require.Len(t, *f.lookup("n4.test", dns.TypeA), 1)
	require.Empty(t, *f.lookup("n0.test", dns.TypeA))

	// Bytes: one small entry's room only.
	f = newFixture(t, Config{CacheBytes: 300}, newZone(a("h0.test", 300, "10.0.0.1"), a("h1.test", 300, "10.0.0.1")))
	f.lookup("h0.test", dns.TypeA)
	f.lookup("h1.test", dns.TypeA)
	f.serve()
	c = f.counters().Cache
	require.Equal(t, uint64(1), c.Entries)
	require.LessOrEqual(t, c.Bytes, uint64(300))

	// An answer over MaxCacheEntryBytes is passed on, not cached.
	var recs []dns.RR
	for i := range 200 {
		recs = append(recs, dns.RR{Name: name("txt.test"), Type: dns.TypeTXT, Class: dns.ClassINET, TTL: 60,
			Data: []byte(fmt.Sprintf("\x20%032d", i))})
	}
	f = newFixture(t, Config{}, newZone(recs...))
	res := f.lookup("txt.test", dns.TypeTXT)
	f.serve()
	require.Len(t, one(t, res).Answer, 200)
	require.Equal(t, uint64(1), f.counters().Cache.TooBig)
	f.e.Flush()
	require.Zero(t, f.counters().Cache.Entries)
}

func TestOverload(t *testing.T) {
	f := newFixture(t, Config{MaxLookups: 2, MaxWaiters: 2}, newZone(a("x.test", 60, "10.0.0.5")))
	r1 := f.lookup("x.test", dns.TypeA)
	r2 := f.lookup("X.test", dns.TypeA) // joins
	r3 := f.lookup("x.test", dns.TypeA) // too many waiters
	require.ErrorIs(t, one(t, r3).Err, ErrOverloaded)
	f.lookup("y.test", dns.TypeA)
	r5 := f.lookup("z.test", dns.TypeA) // too many lookups
	require.ErrorIs(t, one(t, r5).Err, ErrOverloaded)
	require.Len(t, f.up.sent, 2)
	f.serve()
	require.Len(t, one(t, r1).Answer, 1)
	require.Len(t, one(t, r2).Answer, 1)
	c := f.counters().Lookups
	require.Equal(t, uint64(1), c.Joined)
	require.Equal(t, uint64(2), c.Overloaded)
}

func TestUnsupportedTypes(t *testing.T) {
	f := newFixture(t, Config{}, newZone())
	for _, typ := range []dns.Type{dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT, 0} {
		r := one(t, f.lookup("x.test", typ))
		require.Equal(t, dns.RCodeNotImplemented, r.RCode, "%v", typ)
	}
	require.Empty(t, f.up.sent)
}

func TestSendErrors(t *testing.T) {
	f := newFixture(t, Config{Servers: []netip.AddrPort{server1, server2}}, newZone())
	f.up.err = fmt.Errorf("no route")
	res := f.lookup("x.test", dns.TypeA)
	for range 4 {
		f.e.Tick()
	}
	r := one(t, res)
	require.ErrorIs(t, r.Err, ErrSend)
	require.Equal(t, uint64(4), f.counters().Upstream.SendErrors)
	require.Equal(t, uint64(1), f.counters().Lookups.FailedSend)
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Servers: make([]netip.AddrPort, MaxServers+1)},
		{Servers: []netip.AddrPort{{}}},
		{Servers: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:0")}},
		{Servers: []netip.AddrPort{server1}, Attempts: MaxAttempts + 1},
	} {
		_, err := New(cfg, newClock(), &fakeUp{})
		require.ErrorIs(t, err, ErrConfig)
	}
}

func TestCountersString(t *testing.T) {
	var c Counters
	c.Upstream.RxWrongID = 3
	c.Cache.Entries = 1
	require.Equal(t, "upstream: RxWrongID=3\ncache: Entries=1\n", c.String())
	v, ok := c.Get("upstream.RxWrongID")
	require.True(t, ok)
	require.Equal(t, uint64(3), v)
	_, ok = c.Get("upstream.Nope")
	require.False(t, ok)
	_, ok = c.Get("nope")
	require.False(t, ok)
	_ = binary.BigEndian
}
