package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/adminproto"
	"armos/libsocket/sockproto"
	"armos/servers/dhcpc/agent"
	"armos/servers/dhcpc/client"
	"armos/servers/dhcpc/dhcp"
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
func upstream(t *testing.T, h *sockettest.Netd) *atomic.Int64 { return upstreamAnd(t, h, nil) }

// upstreamAnd is upstream, passing the datagrams that are not DNS queries
// to it to other (nil: dropped).
func upstreamAnd(t *testing.T, h *sockettest.Netd, other func(sockettest.Datagram)) *atomic.Int64 {
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
			if d.Dst != server && other != nil {
				other(d)
				continue
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

// dhcpServer answers DISCOVER with an OFFER and REQUEST with an ACK of
// sockettest.OurIP for an hour, naming sockettest.PeerIP as router and
// DNS server (the upstream above), from PeerIP:67 to OurIP:68.
func dhcpServer(t *testing.T, h *sockettest.Netd) func(sockettest.Datagram) {
	return func(d sockettest.Datagram) {
		if d.Dst.Port() != agent.ServerPort {
			return
		}
		m, err := dhcp.Parse(d.Payload)
		if err != nil || m.Op != dhcp.BootRequest {
			return
		}
		var typ dhcp.MessageType
		switch m.Type() {
		case dhcp.Discover:
			typ = dhcp.Offer
		case dhcp.Request:
			typ = dhcp.Ack
		default:
			return
		}
		r := &dhcp.Message{Op: dhcp.BootReply, HType: m.HType, HLen: m.HLen, XID: m.XID, Flags: m.Flags,
			YIAddr: sockettest.OurIP, SIAddr: sockettest.PeerIP, CHAddr: m.CHAddr}
		r.Options.Set(dhcp.OptMessageType, []byte{byte(typ)})
		r.Options.Set(dhcp.OptServerID, dhcp.AddrData(sockettest.PeerIP))
		r.Options.Set(dhcp.OptLeaseTime, dhcp.DurationData(time.Hour))
		r.Options.Set(dhcp.OptSubnetMask, dhcp.MaskData(sockettest.OurNet.Bits()))
		r.Options.Set(dhcp.OptRouter, dhcp.AddrData(sockettest.PeerIP))
		r.Options.Set(dhcp.OptDNS, dhcp.AddrData(sockettest.PeerIP))
		b, err := r.Marshal()
		if err != nil {
			t.Errorf("marshal: %v", err)
			return
		}
		h.SendUDP(netip.AddrPortFrom(sockettest.PeerIP, agent.ServerPort), netip.AddrPortFrom(sockettest.OurIP, agent.ClientPort), b)
	}
}

// leasedNetd is the agent's netd: it takes every configuration and says
// it has the lease's address (so the watch leaves it alone).
type leasedNetd struct{}

func (leasedNetd) Interface(context.Context) (*adminproto.Interface, error) {
	return &adminproto.Interface{Addr: sockettest.OurNet.String(), MAC: sockettest.OurMAC.String(), Lease: &adminproto.Lease{}}, nil
}

func (leasedNetd) Configure(context.Context, *adminproto.Configure) (*adminproto.Configured, error) {
	return &adminproto.Configured{}, nil
}

// TestLeaseDNSAcrossRestart: dhcpc's agent gets a lease naming a DNS
// server and gives it to resolved (started with an -upstream that never
// answers); resolved is then restarted — its admin connections end, as
// they do when its process exits, and the new one starts from its flags —
// and the agent gives the new one the lease's server again without the
// lease changing: its report says "dhcp" and a lookup through it is
// answered by the lease's server.
func TestLeaseDNSAcrossRestart(t *testing.T) {
	h := sockettest.New(t)
	queries := upstreamAnd(t, h, dhcpServer(t, h))
	opts, err := parseFlags([]string{"-upstream", "10.0.2.99", "-timeout", "300ms", "-attempts", "1"}, io.Discard)
	require.NoError(t, err)
	register := func(_ context.Context, name string, accept func(libipc.Endpoint)) error {
		h.Broker.Register(name, accept)
		return nil
	}
	startResolved := func() (*daemon, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		d, err := start(ctx, h.Client(), opts)
		require.NoError(t, err)
		require.NoError(t, serveAdmin(ctx, register, d))
		return d, func() { cancel(); d.close() }
	}
	upstreamOf := func(d *daemon) string {
		var b bytes.Buffer
		d.report(&b)
		i := strings.Index(b.String(), "    Upstream ")
		require.GreaterOrEqual(t, i, 0, b.String())
		lines := strings.SplitN(b.String()[i:], "\n", 3) // Upstream, UpstreamSource
		return strings.Join(strings.Fields(lines[0]+" "+lines[1]), " ")
	}
	d1, stop1 := startResolved()

	ac := h.Client()
	pc, err := ac.ListenPacket(context.Background(), netip.AddrPortFrom(netip.IPv4Unspecified(), agent.ClientPort))
	require.NoError(t, err)
	defer pc.Close()
	require.NoError(t, pc.Socket().SetBroadcast(context.Background(), true))
	res := agent.NewAdminResolved(func(ctx context.Context) (*adminproto.Client, error) {
		ep, err := h.Broker.Connect(ctx, adminproto.ResolvedService)
		if err != nil {
			return nil, err
		}
		return adminproto.NewClient(ep), nil
	})
	defer res.Close()
	var log syncBuffer
	a, err := agent.New(context.Background(), agent.Config{Client: client.Config{MAC: [6]byte(sockettest.OurMAC)},
		Watch: 200 * time.Millisecond, Resolved: res, Log: &log}, pc, leasedNetd{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	defer func() { cancel(); <-ran }()

	require.Eventually(t, func() bool { return a.Counters().DNSUpdates == 1 }, 10*time.Second, 10*time.Millisecond, log.String())
	assert.Equal(t, "Upstream 10.0.2.2:53 UpstreamSource dhcp", upstreamOf(d1))

	// init restarts resolved: the old one's connections end, the new one
	// starts from its flags (and registers after a moment).
	stop1()
	d2, stop2 := startResolved()
	defer stop2()
	require.Eventually(t, func() bool { return a.Counters().DNSUpdates == 2 }, 10*time.Second, 10*time.Millisecond, log.String())
	assert.Equal(t, "Upstream 10.0.2.2:53 UpstreamSource dhcp", upstreamOf(d2), "the lease's server, not the flags'")
	c := a.Counters()
	assert.EqualValues(t, 1, c.ResolvedGone)
	assert.EqualValues(t, 1, c.Configures, "the lease did not change")
	assert.Contains(t, log.String(), "dhcpc: resolved went away (restarted?)")

	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	before := queries.Load()
	addrs, err := h.Client().Resolver().LookupHost(lctx, "host.test")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"10.99.0.7", "fd00::7"}, addrs)
	assert.Greater(t, queries.Load(), before, "asked of the lease's server")
	assert.Zero(t, d2.srv.Counters().Upstream.Timeouts, "nothing asked of the -upstream default")
}

// syncBuffer is a bytes.Buffer written by one goroutine and read by
// another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
