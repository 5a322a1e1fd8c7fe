package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/resolved/dns"
)

func newTestServer(t *testing.T, cfg Config, zones map[netip.AddrPort]*zone) *Server {
	t.Helper()
	if cfg.Servers == nil {
		for s := range zones {
			cfg.Servers = append(cfg.Servers, s)
		}
		slices.SortFunc(cfg.Servers, func(a, b netip.AddrPort) int { return a.Compare(b) })
	}
	srv, err := NewServer(cfg, func(d DeliverFunc) Upstream { return &asyncUp{deliver: d, zones: zones} })
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv
}

func sortedStrings[T fmt.Stringer](xs []T) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.String())
	}
	slices.Sort(out)
	return out
}

// TestNetResolver is the proof that Go programs use resolved through the
// standard library: a net.Resolver with PreferGo whose Dial reaches the
// server (in memory here; through libsocket on armos) resolves names, CNAME
// chains and non-existent names exactly as against any DNS server, and the
// server's cache answers the second time.
func TestNetResolver(t *testing.T) {
	z := newZone(
		a("h.test", 300, "10.0.0.6"), aaaa("h.test", 300, "fd00::6"),
		cname("www.test", 300, "h.test"),
		cname("a1.test", 300, "a2.test"), cname("a2.test", 300, "h.test"),
		a("v4.test", 300, "10.0.0.7"),
		dns.RR{Name: name("t.test"), Type: dns.TypeTXT, Class: dns.ClassINET, TTL: 60, Data: []byte("\x05hello")},
	)
	srv := newTestServer(t, Config{}, map[netip.AddrPort]*zone{server1: z})
	r, ctx := goResolver(t, srv)

	requireHost(ctx, t, r, "h.test", "10.0.0.6", "fd00::6")
	require.Equal(t, 2, z.count(), "A and AAAA asked upstream")

	// Again: from the cache.
	requireHost(ctx, t, r, "h.test", "10.0.0.6", "fd00::6")
	require.Equal(t, 2, z.count())
	c := srv.Counters()
	require.Equal(t, uint64(2), c.Lookups.FromCache)
	require.Equal(t, uint64(2), c.Cache.Entries)

	ips, err := r.LookupIPAddr(ctx, "www.test")
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.6", "fd00::6"}, sortedStrings(ipsOf(ips)))
	cn, err := r.LookupCNAME(ctx, "www.test")
	require.NoError(t, err)
	require.Equal(t, "h.test.", cn)
	ips, err = r.LookupIPAddr(ctx, "a1.test") // two links
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.6", "fd00::6"}, sortedStrings(ipsOf(ips)))

	nips, err := r.LookupNetIP(ctx, "ip4", "v4.test")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.7")}, nips)
	requireHost(ctx, t, r, "v4.test", "10.0.0.7") // AAAA: NODATA

	txt, err := r.LookupTXT(ctx, "t.test")
	require.NoError(t, err)
	require.Equal(t, []string{"hello"}, txt)

	_, err = r.LookupHost(ctx, "nope.test")
	var de *net.DNSError
	require.ErrorAs(t, err, &de)
	require.True(t, de.IsNotFound, "%v", err)
	before := z.count()
	_, err = r.LookupHost(ctx, "nope.test")
	require.ErrorAs(t, err, &de)
	require.True(t, de.IsNotFound)
	require.Equal(t, before, z.count(), "NXDOMAIN cached (RFC 2308)")

	c = srv.Counters()
	require.Zero(t, c.Upstream.RxWrongID+c.Upstream.RxCaseMismatch+c.Upstream.RxWrongQuestion)
	require.Zero(t, c.Clients.FormErr+c.Clients.DropShort+c.Clients.DropNotQry)
	require.Equal(t, c.Clients.Queries, c.Clients.Answered)
	t.Logf("counters:\n%v", c)
}

func ipsOf(ips []net.IPAddr) []netip.Addr {
	var out []netip.Addr
	for _, ip := range ips {
		a, _ := netip.AddrFromSlice(ip.IP)
		out = append(out, a.Unmap())
	}
	return out
}

// A name with more addresses than fit in 512 bytes: the server sends the
// datagram answer empty with TC, and Go's resolver asks again over a
// stream (Dial "tcp"), which the server answers in full.
func TestNetResolverTruncatedToStream(t *testing.T) {
	var recs []dns.RR
	for i := range 60 {
		recs = append(recs, a("big.test", 300, fmt.Sprintf("10.1.0.%d", i+1)))
	}
	z := newZone(recs...)
	srv := newTestServer(t, Config{UDPSize: 512}, map[netip.AddrPort]*zone{server1: z})
	var dials []string
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		dials = append(dials, network)
		return srv.Dial(ctx, network, address)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip4", "big.test")
	require.NoError(t, err)
	require.Len(t, ips, 60)
	require.Equal(t, []string{"udp", "tcp"}, dials)
	require.Equal(t, uint64(1), srv.Counters().Clients.TruncatedTC)
}

// When no server answers, Go's resolver gets SERVFAIL (a temporary
// error), not a hang.
func TestNetResolverServerFailure(t *testing.T) {
	srv := newTestServer(t, Config{Servers: []netip.AddrPort{server2}, Timeout: 50 * time.Millisecond, Attempts: 1},
		map[netip.AddrPort]*zone{})
	r, ctx := goResolver(t, srv)
	_, err := r.LookupNetIP(ctx, "ip4", "x.test")
	var de *net.DNSError
	require.ErrorAs(t, err, &de)
	require.False(t, de.IsNotFound)
	require.True(t, de.IsTemporary || errors.Is(err, context.DeadlineExceeded), "%v", err)
	require.GreaterOrEqual(t, srv.Counters().Lookups.FailedTimeout, uint64(1))
}
