package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/resolved/dns"
)

// startDnsmasq runs dnsmasq (Debian package dnsmasq-base) on a free port of
// 127.0.0.1 serving a few names of the zone test, and returns its address.
// The test fails, loudly, where dnsmasq is not installed (./build.sh test
// installs it).
func startDnsmasq(t *testing.T) netip.AddrPort {
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		t.Fatal("dnsmasq is not installed: apt-get install dnsmasq-base (./build.sh test installs it)")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	args := []string{"--no-daemon", "--conf-file=/dev/null", "--port=" + strconv.Itoa(int(addr.Port())),
		"--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
		"--local=/test/", "--local-ttl=300", "--host-record=h.test,10.0.0.6,fd00::6",
		"--cname=www.test,h.test", "--address=/x.test/10.0.0.5"}
	for i := 1; i <= 40; i++ {
		args = append(args, fmt.Sprintf("--host-record=big.test,10.1.0.%d", i))
	}
	cmd := exec.Command(bin, args...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// Wait until it answers.
	c, err := net.Dial("udp", addr.String())
	require.NoError(t, err)
	defer c.Close()
	q, _ := (&dns.Message{ID: 1, Flags: dns.FlagRD, Questions: []dns.Question{question("h.test", dns.TypeA, dns.ClassINET)}}).Pack()
	buf := make([]byte, 512)
	for range 100 {
		c.Write(q)
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(buf); err == nil {
			return addr
		}
		time.Sleep(20 * time.Millisecond) // refused: not listening yet
	}
	t.Fatal("dnsmasq does not answer")
	return addr
}

func newUDPServer(t *testing.T, cfg Config) (*Server, *UDPTransport) {
	var tr *UDPTransport
	srv, err := NewServer(cfg, func(d DeliverFunc) Upstream {
		tr = NewUDPTransport(NetListen, d)
		return tr
	})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv, tr
}

// TestDnsmasq resolves through a real server: Go's resolver, the Server,
// the UDP transport (a socket on a random port per try, 0x20 names) and
// dnsmasq.
func TestDnsmasq(t *testing.T) {
	up := startDnsmasq(t)
	srv, tr := newUDPServer(t, Config{Servers: []netip.AddrPort{up}, Timeout: 500 * time.Millisecond})
	r, ctx := goResolver(t, srv)

	requireHost(ctx, t, r, "h.test", "10.0.0.6", "fd00::6")
	ips, err := r.LookupIPAddr(ctx, "WWW.test")
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.6", "fd00::6"}, sortedStrings(ipsOf(ips)))
	nips, err := r.LookupNetIP(ctx, "ip4", "x.test")
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.5")}, nips)
	nips, err = r.LookupNetIP(ctx, "ip4", "big.test") // 40 records: 677 bytes with EDNS0
	require.NoError(t, err)
	require.Len(t, nips, 40)
	_, err = r.LookupHost(ctx, "nope.test")
	var de *net.DNSError
	require.ErrorAs(t, err, &de)
	require.True(t, de.IsNotFound)

	before := srv.Counters().Upstream.Tries
	requireHost(ctx, t, r, "h.test", "10.0.0.6", "fd00::6")
	c := srv.Counters()
	require.Equal(t, before, c.Upstream.Tries, "answered from the cache")
	require.Equal(t, c.Upstream.Tries, c.Upstream.Accepted, "dnsmasq echoes the mixed-case question")
	require.Zero(t, c.Upstream.RxCaseMismatch+c.Upstream.RxWrongID+c.Upstream.RxMalformed)
	require.Eventually(t, func() bool { return tr.Open() == 0 }, 5*time.Second, 10*time.Millisecond,
		"every try's socket closed")
	t.Logf("counters:\n%v", c)
}

// With an EDNS0 size of 512, dnsmasq truncates big.test: the lookup fails
// with ErrTruncated (until resolved has TCP) and Go's resolver sees
// SERVFAIL.
func TestDnsmasqTruncated(t *testing.T) {
	up := startDnsmasq(t)
	srv, _ := newUDPServer(t, Config{Servers: []netip.AddrPort{up}, UDPSize: 512})
	r, ctx := goResolver(t, srv)
	_, err := r.LookupNetIP(ctx, "ip4", "big.test")
	var de *net.DNSError
	require.ErrorAs(t, err, &de)
	require.False(t, de.IsNotFound)
	c := srv.Counters()
	require.GreaterOrEqual(t, c.Upstream.Truncated, uint64(1))
	require.GreaterOrEqual(t, c.Lookups.FailedTruncated, uint64(1))
}
