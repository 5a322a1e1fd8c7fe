package guesttest

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/dhcpc/dhcp"
	"armos/servers/netd/link/peertest"
)

// DHCP in the guest test: dnsmasq's lease is 2 minutes (its minimum),
// renewed at T1 and rebound at T2 (options 58 and 59, which dnsmasq
// sends as given), so that both happen within the test.
const (
	dhcpT1 = 8 * time.Second
	dhcpT2 = 16 * time.Second
	// dhcpBogusDNS is resolved's -upstream: nothing answers there, so a
	// name resolves only through the lease's DNS server.
	dhcpBogusDNS = "192.0.2.53"
)

// nslookup asks the guest's netctl to run nslookup's command with args
// and returns its output and exit status.
func (g *netGuest) nslookup(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var reply string
	require.NoError(t, g.ns.Do(func() error {
		c, err := net.Dial("udp4", net.JoinHostPort(guestIP, strconv.Itoa(ctlPort)))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("nslookup " + strings.Join(args, " "))); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Minute))
		buf := make([]byte, 16<<10)
		n, err := c.Read(buf)
		reply = string(buf[:n])
		return err
	}), "netctl nslookup %q", args)
	first, out, _ := strings.Cut(reply, "\n")
	st, ok := strings.CutPrefix(first, "status ")
	require.True(t, ok, "netctl: %q", reply)
	status, err := strconv.Atoi(st)
	require.NoError(t, err, reply)
	return out, status
}

// TestDHCPDNS is issue 11's real peers in the guest, on one boot: armos
// on a tap with netd -dhcp and dhcpc; dnsmasq on the Linux side serves
// DHCP (2-minute lease, T1 8 s, T2 16 s, router, DNS server, MTU 1400)
// and the zone test. dhcpc configures netd (probed, RFC 5227) and gives
// resolved, started with an -upstream where nothing answers, the lease's
// DNS server; nslookups run through netctl after that resolve an A and an
// AAAA record, an AAAA-only name, a CNAME and an NXDOMAIN; ifconfig shows
// the lease; the lease is renewed at T1 (unicast); dnsmasq is stopped, the
// next renewal's unicast REQUEST reaches a socket of the test instead (and
// is not answered), dnsmasq starts again, and the client rebinds at T2
// (broadcast) and keeps its address; names resolve again; at power-off
// dhcpc releases the lease.
func TestDHCPDNS(t *testing.T) {
	peertest.Require(t)
	begin := time.Now()
	ns := peertest.NewNS(t)
	ns.AddTap(t, guestTap, linuxCIDR)
	leases := filepath.Join(t.TempDir(), "leases")
	dm := newDnsmasq(t, ns, "--interface="+guestTap, "--dhcp-authoritative", "--no-ping", "--log-dhcp",
		"--dhcp-range="+guestIP+","+guestIP+",255.255.255.0,2m",
		fmt.Sprintf("--dhcp-option=option:T1,%d", int(dhcpT1.Seconds())), fmt.Sprintf("--dhcp-option=option:T2,%d", int(dhcpT2.Seconds())),
		"--dhcp-option=option:router,"+linuxIP, "--dhcp-option=option:dns-server,"+linuxIP,
		"--dhcp-option=option:mtu,1400", "--dhcp-leasefile="+leases,
		"--host-record=six.test,fd00::6")

	g := startNetGuestWith(t, ns, netGuestOptions{dhcp: true},
		"service,dhcpc,/bin/dhcpc",
		"service,resolved,/bin/resolved,-upstream,"+dhcpBogusDNS)
	booted := time.Since(begin)
	leaseRE := regexp.MustCompile(`dhcpc: lease 10\.99\.0\.2/24 gw 10\.99\.0\.1 dns 10\.99\.0\.1 mtu 1400 server 10\.99\.0\.1 time 2m0s\n`)
	_, at, err := g.l.WaitFor(leaseRE, 0, time.Minute)
	require.NoError(t, err, tail(g.l.Output(), 60))
	_, _, err = g.l.WaitFor(regexp.MustCompile(`netd: configured ip 10\.99\.0\.2/24 gw 10\.99\.0\.1 mtu 1400 dhcp server 10\.99\.0\.1 `), 0, time.Minute)
	require.NoError(t, err, tail(g.l.Output(), 60))
	_, _, err = g.l.WaitFor(regexp.MustCompile(`dhcpc: resolved now asks 10\.99\.0\.1\n`), 0, time.Minute)
	require.NoError(t, err, tail(g.l.Output(), 60))
	leased := time.Since(begin)
	assert.Contains(t, g.l.Output(), "resolved: resolved: ready on udp 0.0.0.0:53 upstream "+dhcpBogusDNS+":53", "resolved started with the bogus default")

	const header = "Server:\t\t127.0.0.1\nAddress:\t127.0.0.1#53\n\nNon-authoritative answer:\n"
	lookups := func(t *testing.T) {
		for _, c := range []struct {
			name, want string
			status     int
		}{
			{"host.test", header + "Name:\thost.test\nAddress: 10.99.0.7\nName:\thost.test\nAddress: fd00::7\n\n", 0},
			{"six.test", header + "Name:\tsix.test\nAddress: fd00::6\n\n", 0}, // AAAA only: A is NODATA
			{"alias.test", header + "alias.test\tcanonical name = host.test.\nName:\thost.test\nAddress: 10.99.0.7\nName:\thost.test\nAddress: fd00::7\n\n", 0},
			{"missing.test", "Server:\t\t127.0.0.1\nAddress:\t127.0.0.1#53\n\n** server can't find missing.test: NXDOMAIN\n\n", 1},
		} {
			out, status := g.nslookup(t, "-timeout", "1m", c.name)
			assert.Equal(t, c.want, out, c.name)
			assert.Equal(t, c.status, status, c.name)
		}
	}
	t.Run("names through the lease's DNS server", lookups)

	t.Run("ifconfig", func(t *testing.T) {
		from := len(g.l.Output())
		require.NoError(t, g.l.Type("ifconfig\n"))
		m, _, err := g.l.WaitFor(regexp.MustCompile(`dhcp server 10\.99\.0\.1  lease 2m0s \((\S+) left\)  dns 10\.99\.0\.1\n`), from, time.Minute)
		require.NoError(t, err, tail(g.l.Output(), 20))
		out := g.l.Output()[from:]
		assert.Contains(t, out, "    inet 10.99.0.2/24  gateway 10.99.0.1  mtu 1400\n")
		left, err := time.ParseDuration(m[1])
		require.NoError(t, err)
		assert.LessOrEqual(t, left, 2*time.Minute)
		assert.Greater(t, left, 2*time.Minute-dhcpT2, "renewed since the lease began")
	})

	// Renewed at T1: another lease line for the same address, dnsmasq saw
	// the REQUEST (unicast, from the leased address).
	_, at, err = g.l.WaitFor(leaseRE, at, dhcpT1+time.Minute)
	require.NoError(t, err, tail(g.l.Output(), 40))
	renewed := time.Since(begin)
	require.Eventually(t, func() bool { return strings.Contains(dm.log.String(), "DHCPACK(tap0) 10.99.0.2 ") }, 10*time.Second, 50*time.Millisecond)

	// dnsmasq stops; the next renewal's unicast REQUEST reaches port 67 of
	// the test's socket and is left unanswered.
	dm.stop()
	var pc net.PacketConn
	require.NoError(t, ns.Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp4", linuxIP+":67")
		return err
	}))
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(dhcpT1+time.Minute)))
	buf := make([]byte, 2048)
	n, from, err := pc.ReadFrom(buf)
	require.NoError(t, err, "the renewal's REQUEST")
	pc.Close()
	req, err := dhcp.Parse(buf[:n])
	require.NoError(t, err)
	assert.Equal(t, dhcp.Request, req.Type())
	assert.Equal(t, netip.MustParseAddr(guestIP), req.CIAddr, "RENEWING: ciaddr is the lease's address")
	assert.Equal(t, guestIP+":68", from.String(), "unicast from the leased address")
	dm.start()

	// At T2 the client broadcasts (REBINDING); the new dnsmasq answers.
	_, _, err = g.l.WaitFor(leaseRE, at, dhcpT2+time.Minute)
	require.NoError(t, err, tail(g.l.Output(), 40))
	rebound := time.Since(begin)
	t.Run("names after dnsmasq's restart", lookups)

	out := g.stop(t)
	dh := processOutput(out, "dhcpc")
	assert.NotRegexp(t, ` lost \((expired|nakked)\)`, dh, "the lease held throughout")
	assert.Contains(t, dh, "lease 10.99.0.2/24 lost (released): address removed\n", "released at power-off")
	c := peertest.ParseReport(dh)
	t.Logf("dhcpc: %d leases, %d renewals, %d rebinds, %d extended; events %v", c["events.Leases"], c["events.Renewals"], c["events.Rebinds"], c["events.Extended"], c)
	assert.EqualValues(t, 1, c["events.Leases"], "one lease, kept")
	assert.GreaterOrEqual(t, c["events.Renewals"], uint64(2))
	assert.GreaterOrEqual(t, c["events.Rebinds"], uint64(1))
	assert.GreaterOrEqual(t, c["events.Extended"], uint64(2))
	assert.Zero(t, c["events.Expired"])
	assert.Zero(t, c["rx.BadOption"]+c["rx.TruncatedOption"]+c["rx.NoEnd"], "dnsmasq's messages all parse")
	assert.EqualValues(t, 1, c["agent.DNSUpdates"], "resolved told once: the list never changed")
	assert.Zero(t, c["agent.ConfigureErrors"])
	// resolved never asked its -upstream default.
	rc := peertest.ParseReport(processOutput(out, "resolved"))
	assert.Zero(t, rc["upstream.Timeouts"], processOutput(out, "resolved"))
	assert.Contains(t, processOutput(out, "resolved"), "    Upstream         10.99.0.1:53\n    UpstreamSource   dhcp\n")
	require.Eventually(t, func() bool { return strings.Contains(dm.log.String(), "DHCPRELEASE(tap0) 10.99.0.2 ") }, 10*time.Second, 50*time.Millisecond,
		"released at power-off")
	t.Logf("QEMU start to netd ready %v, to lease and resolved told %v, renewal at %v, rebinding at %v, whole test %v",
		booted.Round(time.Millisecond), leased.Round(time.Millisecond), renewed.Round(time.Millisecond), rebound.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
}
