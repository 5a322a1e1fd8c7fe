package resolver

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/resolved/dns"
)

var (
	server1 = netip.MustParseAddrPort("192.0.2.1:53")
	server2 = netip.MustParseAddrPort("192.0.2.2:53")
	server3 = netip.MustParseAddrPort("192.0.2.3:53")
)

func name(s string) dns.Name { return dns.MustParseName(s) }

func a(n string, ttl uint32, addr string) dns.RR {
	return dns.NewA(name(n), ttl, netip.MustParseAddr(addr))
}

func aaaa(n string, ttl uint32, addr string) dns.RR {
	return dns.NewAAAA(name(n), ttl, netip.MustParseAddr(addr))
}

func cname(n string, ttl uint32, target string) dns.RR {
	return dns.NewCNAME(name(n), ttl, name(target))
}

func soa(zone string, ttl, minimum uint32) dns.RR {
	return dns.NewSOA(name(zone), ttl, dns.SOA{MName: name("ns." + zone), RName: name("host." + zone),
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minimum: minimum})
}

// zone is a fake recursive server: it answers from its records, following
// CNAMEs, with NXDOMAIN for names it has no records for and NODATA for
// others, adding its SOA to negative answers (unless noSOA).
type zone struct {
	mu      sync.Mutex
	records []dns.RR
	soa     dns.RR
	noSOA   bool
	queries []dns.Question // every question asked, as sent
}

func newZone(records ...dns.RR) *zone {
	return &zone{records: records, soa: soa("test", 3600, 60)}
}

func (z *zone) count() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return len(z.queries)
}

// respond answers query as a recursive server would.
func (z *zone) respond(query []byte) []byte {
	q, err := dns.Parse(query)
	if err != nil || len(q.Questions) != 1 {
		return nil
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	qu := q.Questions[0]
	z.queries = append(z.queries, qu)
	m := &dns.Message{ID: q.ID, Flags: dns.FlagQR | dns.FlagRD | dns.FlagRA, Questions: q.Questions}
	n := qu.Name
	for range 20 {
		var found, known bool
		var next dns.Name
		for _, rr := range z.records {
			if !rr.Name.EqualFold(n) {
				continue
			}
			known = true
			switch {
			case rr.Type == qu.Type:
				m.Answers = append(m.Answers, rr)
				found = true
			case rr.Type == dns.TypeCNAME && next.IsZero():
				next, _ = rr.CNAME()
				m.Answers = append(m.Answers, rr)
			}
		}
		if found || next.IsZero() {
			if !found {
				if !known {
					m.Flags = m.Flags.WithRCode(dns.RCodeNameError)
				}
				if !z.noSOA {
					m.Authorities = []dns.RR{z.soa}
				}
			}
			break
		}
		n = next
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

// fakeClock is a manual clock.
type fakeClock struct{ now time.Time }

func newClock() *fakeClock                   { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// asyncUp is an Upstream for a Server: each query is answered by the zone
// of the server it is sent to, from another goroutine, as the network
// would.
type asyncUp struct {
	deliver DeliverFunc
	zones   map[netip.AddrPort]*zone
}

func (u *asyncUp) Send(a Attempt, server netip.AddrPort, query []byte) error {
	z := u.zones[server]
	if z == nil {
		return nil // a server that never answers
	}
	resp := z.respond(query)
	go u.deliver(a, server, resp)
	return nil
}

func (u *asyncUp) Done(Attempt) {}

func question(n string, t dns.Type, c dns.Class) dns.Question {
	return dns.Question{Name: name(n), Type: t, Class: c}
}

// goResolver returns Go's own resolver reaching srv in memory, and a
// context bounding the test.
func goResolver(t *testing.T, srv *Server) (*net.Resolver, context.Context) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return &net.Resolver{PreferGo: true, Dial: srv.Dial}, ctx
}

// requireHost checks that Go's resolver finds exactly want for host.
func requireHost(ctx context.Context, t *testing.T, r *net.Resolver, host string, want ...string) {
	t.Helper()
	addrs, err := r.LookupHost(ctx, host)
	require.NoError(t, err)
	require.ElementsMatch(t, want, addrs)
}
