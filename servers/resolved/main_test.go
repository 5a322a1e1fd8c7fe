package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libsocket"
	"armos/libsocket/adminproto"
	"armos/libsocket/sockproto"
	"armos/servers/netd/link/peertest"
	"armos/servers/netd/sockets/sockettest"
	"armos/servers/resolved/dns"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-upstream", "10.0.2.3", "-upstream", "10.99.0.1:5353,192.0.2.1", "-cache", "64"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("10.0.2.3:53"), netip.MustParseAddrPort("10.99.0.1:5353"),
		netip.MustParseAddrPort("192.0.2.1:53")}, o.cfg.Servers)
	assert.Equal(t, 64, o.cfg.CacheEntries)
	assert.Equal(t, netip.MustParseAddrPort("0.0.0.0:53"), o.listen)
	for _, bad := range [][]string{
		{},                                 // no upstream
		{"-upstream", "example.com"},       // not an address
		{"-upstream", "::1"},               // not IPv4
		{"-upstream", "10.0.2.3:0"},        // port 0
		{"-upstream", "10.0.2.3", "extra"}, // an argument
		{"-upstream", "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9"},
		{"-upstream", "10.0.2.3", "-attempts", "0"},
		{"-upstream", "10.0.2.3", "-listen", "53"},
	} {
		_, err := parseFlags(bad, io.Discard)
		assert.Error(t, err, "%q", bad)
	}
}

// upstream plays a recursive server at sockettest.PeerIP:53 on the hosted
// netd's simulated Ethernet: host.test has an A and an AAAA record,
// alias.test is a CNAME for it, every other name is NXDOMAIN.
func upstream(t *testing.T, h *sockettest.Netd) *atomic.Int64 {
	var queries atomic.Int64
	server := netip.AddrPortFrom(sockettest.PeerIP, 53)
	host, alias := dns.MustParseName("host.test"), dns.MustParseName("alias.test")
	soa := dns.NewSOA(dns.MustParseName("test"), 300, dns.SOA{MName: dns.MustParseName("ns.test"),
		RName: dns.MustParseName("hostmaster.test"), Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 300})
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			var d sockettest.Datagram
			select {
			case d = <-h.Datagrams():
			case <-stop:
				return
			}
			q, err := dns.Parse(d.Payload)
			if d.Dst != server || err != nil || len(q.Questions) != 1 {
				continue
			}
			queries.Add(1)
			qu := q.Questions[0]
			m := &dns.Message{ID: q.ID, Flags: dns.FlagQR | dns.FlagRD | dns.FlagRA, Questions: q.Questions}
			n := qu.Name
			if n.EqualFold(alias) {
				m.Answers = append(m.Answers, dns.NewCNAME(n, 300, host))
				n = host
			}
			switch {
			case n.EqualFold(host) && qu.Type == dns.TypeA:
				m.Answers = append(m.Answers, dns.NewA(n, 300, netip.MustParseAddr("10.99.0.7")))
			case n.EqualFold(host) && qu.Type == dns.TypeAAAA:
				m.Answers = append(m.Answers, dns.NewAAAA(n, 300, netip.MustParseAddr("fd00::7")))
			case n.EqualFold(host):
				m.Authorities = []dns.RR{soa}
			default:
				m.Flags = m.Flags.WithRCode(dns.RCodeNameError)
				m.Authorities = []dns.RR{soa}
			}
			b, err := m.Pack()
			if err != nil {
				panic(err)
			}
			h.SendUDP(server, d.Src, b)
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return &queries
}

// TestResolvedOverLibsocket runs resolved's daemon on a hosted netd: Go's
// resolver in an app (libsocket.Client.Resolver: a UDP socket to
// 127.0.0.1:53) → netd's loopback → resolved on 0.0.0.0:53 → a socket of
// its own per try → the simulated Ethernet → the upstream above, and
// back.
func TestResolvedOverLibsocket(t *testing.T) {
	h := sockettest.New(t)
	opts, err := parseFlags([]string{"-upstream", sockettest.PeerIP.String()}, io.Discard)
	require.NoError(t, err)
	d, err := start(context.Background(), h.Client(), opts)
	require.NoError(t, err)
	queries := upstream(t, h)
	t.Cleanup(d.close)
	assert.Equal(t, "resolved: ready on udp 0.0.0.0:53 upstream 10.0.2.2:53 cache 1024 entries", d.readyLine())

	app := h.Client()
	r := app.Resolver()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	addrs, err := r.LookupHost(ctx, "host.test")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"10.99.0.7", "fd00::7"}, addrs)
	assert.EqualValues(t, 2, queries.Load(), "A and AAAA asked upstream")

	cname, err := r.LookupCNAME(ctx, "alias.test")
	require.NoError(t, err)
	assert.Equal(t, "host.test.", cname)
	ips, err := r.LookupNetIP(ctx, "ip4", "Alias.Test")
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.99.0.7")}, ips)

	_, err = r.LookupHost(ctx, "missing.test")
	var de *net.DNSError
	require.ErrorAs(t, err, &de)
	assert.True(t, de.IsNotFound, "%v", err)

	// Again: every answer from the cache, nothing more upstream.
	before := queries.Load()
	addrs, err = r.LookupHost(ctx, "host.test")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"10.99.0.7", "fd00::7"}, addrs)
	_, err = r.LookupHost(ctx, "missing.test")
	require.ErrorAs(t, err, &de)
	assert.True(t, de.IsNotFound)
	assert.Equal(t, before, queries.Load(), "served from the cache")

	// A query from the LAN is dropped: resolved is not an open resolver.
	h.SendUDP(netip.AddrPortFrom(sockettest.PeerIP, 4444), netip.AddrPortFrom(sockettest.OurIP, 53), []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01x\x00\x00\x01\x00\x01"))
	require.Eventually(t, func() bool { return d.srv.Counters().Clients.DropNotAllowed == 1 }, 5*time.Second, time.Millisecond)

	// A stream (after a truncated answer) needs a stream server: this
	// netd has none (TestTruncatedAnswersOverTCP has one).
	_, err = app.DialDNS(ctx, "tcp", libsocket.DNSServer)
	assert.ErrorIs(t, err, sockproto.EPROTONOSUPPORT)

	var b bytes.Buffer
	d.report(&b)
	c := peertest.ParseReport(b.String())
	assert.NotZero(t, c["lookups.FromCache"], b.String())
	assert.NotZero(t, c["cache.Hits"], b.String())
	assert.EqualValues(t, 1, c["clients.DropNotAllowed"], b.String())
	assert.EqualValues(t, c["upstream.Tries"], c["upstream.Accepted"], b.String())
	assert.Contains(t, b.String(), "server:\n    UptimeSeconds")
	require.Eventually(t, func() bool { return d.tr.Open() == 0 }, 5*time.Second, time.Millisecond, "every upstream socket closed")
}

// OpSetUpstream's handler: a bad body changes nothing; a good one makes
// the daemon ask the new server (started with one that never answers),
// and the report says which servers and where from.
func TestSetUpstream(t *testing.T) {
	h := sockettest.New(t)
	opts, err := parseFlags([]string{"-upstream", "10.0.2.99", "-timeout", "200ms", "-attempts", "1"}, io.Discard)
	require.NoError(t, err)
	d, err := start(context.Background(), h.Client(), opts)
	require.NoError(t, err)
	queries := upstream(t, h)
	t.Cleanup(d.close)

	var b bytes.Buffer
	d.report(&b)
	assert.Contains(t, b.String(), "    Upstream         10.0.2.99:53\n    UpstreamSource   flags\n")

	for _, bad := range []*adminproto.Upstream{{}, {Servers: []string{"nonsense"}}, {Servers: []string{"0.0.0.0"}}} {
		_, err := d.setUpstream(bad)
		assert.Error(t, err, "%+v", bad)
	}
	assert.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("10.0.2.99:53")}, d.srv.Servers(), "unchanged")

	got, err := d.setUpstream(&adminproto.Upstream{Servers: []string{sockettest.PeerIP.String()}, Source: "dhcp"})
	require.NoError(t, err)
	assert.Equal(t, &adminproto.Upstream{Servers: []string{"10.0.2.2:53"}, Source: "dhcp"}, got)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addrs, err := h.Client().Resolver().LookupHost(ctx, "host.test")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"10.99.0.7", "fd00::7"}, addrs)
	assert.NotZero(t, queries.Load(), "the new server asked")

	b.Reset()
	d.report(&b)
	assert.Contains(t, b.String(), "    Upstream         10.0.2.2:53\n    UpstreamSource   dhcp\n")
}
