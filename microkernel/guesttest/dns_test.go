package guesttest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/link/peertest"
	"armos/servers/resolved/dns"
)

// syncBuffer is a bytes.Buffer for a process's output read while it runs.
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

// startDnsmasq runs dnsmasq (Debian package dnsmasq-base) in ns on the
// Linux side of the tap (linuxIP:53), authoritative for the zone test on
// the tap (so its negative answers carry the SOA that lets resolved cache
// them: dnsmasq's --local answers have none; on that interface it answers
// nothing outside the zone, --address wildcards included): host.test and
// time.test have an A and an AAAA record, alias.test is a CNAME for
// host.test, other names in test are NXDOMAIN. Answers live 300 s. It returns dnsmasq's log. The test fails, loudly,
// where dnsmasq is not installed.
func startDnsmasq(t *testing.T, ns *peertest.NS) *syncBuffer {
	t.Helper()
	return newDnsmasq(t, ns).log
}

// dnsmasq is a dnsmasq process in a namespace that a test can stop and
// start again (same arguments, same log).
type dnsmasq struct {
	t      testing.TB
	ns     *peertest.NS
	bin    string
	args   []string
	log    *syncBuffer
	cmd    *exec.Cmd
	cancel context.CancelFunc
}

// newDnsmasq starts dnsmasq as startDnsmasq says, with extra arguments
// (DHCP's, say), and waits until it answers DNS.
func newDnsmasq(t testing.TB, ns *peertest.NS, extra ...string) *dnsmasq {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/dnsmasq")
	}
	if err != nil {
		t.Fatal("dnsmasq is not installed: apt-get install dnsmasq-base (./build.sh test installs it)")
	}
	d := &dnsmasq{t: t, ns: ns, bin: bin, log: &syncBuffer{}, args: append([]string{"--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--listen-address=" + linuxIP, "--bind-interfaces", "--log-queries", "--log-facility=-",
		"--auth-server=ns.test," + guestTap, "--auth-zone=test", "--auth-ttl=300", "--local-ttl=300",
		"--host-record=host.test,10.99.0.7,fd00::7", "--cname=alias.test,host.test",
		"--host-record=time.test,10.99.0.8,fd00::8"}, extra...)}
	d.start()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("dnsmasq:\n%s", tail(d.log.String(), 60))
		}
	})
	return d
}

// start starts dnsmasq and waits until it answers DNS.
func (d *dnsmasq) start() {
	t := d.t
	t.Helper()
	var ctx context.Context
	ctx, d.cancel = context.WithCancel(context.Background())
	d.cmd = d.ns.Command(ctx, d.bin, d.args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	require.NoError(t, d.cmd.Start())
	// It answers before armos boots (a query made here, on this thread in
	// the namespace: Go's resolver would query from other threads).
	q, err := (&dns.Message{ID: 1, Flags: dns.FlagRD, Questions: []dns.Question{
		{Name: dns.MustParseName("host.test"), Type: dns.TypeA, Class: dns.ClassINET}}}).Pack()
	require.NoError(t, err)
	var answer *dns.Message
	require.NoError(t, d.ns.Do(func() error {
		c, err := net.Dial("udp4", linuxIP+":53")
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 1500)
		for deadline := time.Now().Add(10 * time.Second); ; {
			if _, err := c.Write(q); err != nil && time.Now().After(deadline) {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := c.Read(buf)
			if err == nil {
				answer, err = dns.Parse(buf[:n])
				return err
			}
			if time.Now().After(deadline) {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}), d.log.String())
	require.Len(t, answer.Answers, 1, d.log.String())
	a, ok := answer.Answers[0].A()
	require.True(t, ok)
	require.Equal(t, "10.99.0.7", a.String())
}

// stop kills dnsmasq and waits for it to end.
func (d *dnsmasq) stop() {
	if d.cmd == nil {
		return
	}
	d.cancel()
	_ = d.cmd.Wait()
	d.cmd = nil
}

// nslookupBlocks splits nslookup's console output (each run writes its
// whole output at once) into one block per run, keyed by its first
// answer-bearing line's name: the block's text without the prefixes.
func nslookupBlocks(out string) []string {
	var blocks []string
	for _, b := range strings.Split(processOutput(out, "nslookup"), "Server:") {
		if strings.TrimSpace(b) != "" {
			blocks = append(blocks, "Server:"+b)
		}
	}
	return blocks
}

// findBlock returns the block of an nslookup that asked server
// ("127.0.0.1" or another address) and printed marker but none of
// without.
func findBlock(t *testing.T, blocks []string, server, marker string, without ...string) string {
	t.Helper()
next:
	for _, b := range blocks {
		if strings.Contains(b, "Address:\t"+server+"#53\n") && strings.Contains(b, marker) {
			for _, w := range without {
				if strings.Contains(b, w) {
					continue next
				}
			}
			return b
		}
	}
	t.Fatalf("no nslookup output from %s containing %q in:\n%s", server, marker, strings.Join(blocks, "--\n"))
	return ""
}

var queryTime = regexp.MustCompile(`;; Query time: (\d+) usec \(round (\d+)\)`)

// roundTimes returns a block's ";; Query time" figures, in rounds.
func roundTimes(t *testing.T, block string) []time.Duration {
	t.Helper()
	var d []time.Duration
	for _, m := range queryTime.FindAllStringSubmatch(block, -1) {
		us, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		d = append(d, time.Duration(us)*time.Microsecond)
	}
	return d
}

// TestDNS is issue 11 item 2 on armos: the system on a tap (legacy
// virtio-mmio) with resolved asking dnsmasq on the Linux side, and
// five nslookups started by init beside it (one boot for everything) —
// through resolved (Go's net.Resolver over libsocket, 127.0.0.1:53
// through netd's loopback): host.test, alias.test (the CNAME line),
// missing.test (NXDOMAIN, exit status 1), time.test in three timed rounds (the first fills resolved's
// cache, the next are answered from it); and time.test asked of dnsmasq
// directly (SERVER) for comparison. A query from the LAN gets no answer
// (resolved serves loopback only). At power off resolved's counters show
// the cache at work.
func TestDNS(t *testing.T) {
	peertest.Require(t)
	ns := peertest.NewNS(t)
	ns.AddTap(t, guestTap, linuxCIDR)
	dnsmasqLog := startDnsmasq(t, ns)

	const look = "/bin/nslookup,-timeout,2m,"
	runs := map[string]string{ // init entry -> its arguments
		"ns-host":   "host.test",
		"ns-alias":  "alias.test",
		"ns-miss":   "missing.test",
		"ns-time":   "-timing,-repeat,3,time.test",            // only it asks for time.test
		"ns-direct": "-timing,-repeat,3,time.test," + linuxIP, // dnsmasq itself
	}
	entries := []string{"service,resolved,/bin/resolved,-upstream," + linuxIP}
	for name, args := range runs {
		entries = append(entries, "app,"+name+","+look+args)
	}
	g := startNetGuestIn(t, ns, false, entries...)
	_, _, err := g.l.WaitFor(regexp.MustCompile(`resolved: resolved: ready on udp 0\.0\.0\.0:53 upstream 10\.99\.0\.1:53 cache 1024 entries`), 0, time.Minute)
	require.NoError(t, err, tail(g.l.Output(), 60))
	for name := range runs {
		_, _, err := g.l.WaitFor(regexp.MustCompile(`init: `+name+` \(pid \d+\) exited with status \d+`), 0, 3*time.Minute)
		require.NoError(t, err, tail(g.l.Output(), 80))
	}
	out := g.l.Output()
	status := func(name string) string {
		m := regexp.MustCompile(`init: ` + name + ` \(pid \d+\) exited with status (\d+)`).FindStringSubmatch(out)
		require.NotNil(t, m)
		return m[1]
	}
	blocks := nslookupBlocks(out)
	require.Len(t, blocks, len(runs), "one output per nslookup:\n%s", processOutput(out, "nslookup"))
	const header = "Server:\t\t127.0.0.1\nAddress:\t127.0.0.1#53\n\n"

	t.Run("address", func(t *testing.T) {
		b := findBlock(t, blocks, "127.0.0.1", "\nName:\thost.test\n", "alias")
		assert.Equal(t, header+"Non-authoritative answer:\nName:\thost.test\nAddress: 10.99.0.7\nName:\thost.test\nAddress: fd00::7\n\n", b)
		assert.Equal(t, "0", status("ns-host"))
	})
	t.Run("cname", func(t *testing.T) {
		b := findBlock(t, blocks, "127.0.0.1", "alias.test")
		assert.Equal(t, header+"Non-authoritative answer:\n"+
			"alias.test\tcanonical name = host.test.\nName:\thost.test\nAddress: 10.99.0.7\nName:\thost.test\nAddress: fd00::7\n\n", b)
		assert.Equal(t, "0", status("ns-alias"))
	})
	t.Run("nxdomain", func(t *testing.T) {
		b := findBlock(t, blocks, "127.0.0.1", "missing.test")
		assert.Equal(t, header+"** server can't find missing.test: NXDOMAIN\n\n", b)
		assert.Equal(t, "1", status("ns-miss"))
	})
	answer := "Non-authoritative answer:\nName:\ttime.test\nAddress: 10.99.0.8\nName:\ttime.test\nAddress: fd00::8\n"
	t.Run("server argument", func(t *testing.T) {
		b := findBlock(t, blocks, linuxIP, "time.test")
		assert.True(t, strings.HasPrefix(b, "Server:\t\t10.99.0.1\nAddress:\t10.99.0.1#53\n\n"+answer), b)
		assert.Equal(t, "0", status("ns-direct"))
	})
	t.Run("cached", func(t *testing.T) {
		b := findBlock(t, blocks, "127.0.0.1", "time.test")
		assert.True(t, strings.HasPrefix(b, header+answer), b)
		assert.Equal(t, "0", status("ns-time"))
		viaResolved := roundTimes(t, b)
		direct := roundTimes(t, findBlock(t, blocks, linuxIP, "time.test"))
		require.Len(t, viaResolved, 3)
		require.Len(t, direct, 3)
		// A round is A, AAAA and the canonical name (Go's LookupCNAME
		// asks A, AAAA and CNAME in parallel): five queries. The first
		// round also has Go's one-time work (reading /etc/resolv.conf...).
		t.Logf("nslookup time.test, a round of 5 queries: through resolved %v (3 asked upstream), then %v and %v (all from the cache); dnsmasq directly %v, %v, %v",
			viaResolved[0], viaResolved[1], viaResolved[2], direct[0], direct[1], direct[2])
		assert.Less(t, min(viaResolved[1], viaResolved[2]), viaResolved[0], "a round from resolved's cache is quicker than one that asks upstream")
	})
	t.Run("not an open resolver", func(t *testing.T) {
		// A query from Linux to armos's port 53 is dropped unanswered.
		q := []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04host\x04test\x00\x00\x01\x00\x01")
		err := ns.Do(func() error {
			c, err := net.Dial("udp4", guestIP+":53")
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.Write(q); err != nil {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := c.Read(make([]byte, 512))
			if err == nil {
				return errors.New("answered " + strconv.Itoa(n) + " bytes")
			}
			return nil
		})
		require.NoError(t, err)
	})

	out = g.stop(t)
	assert.NotRegexp(t, `init: restarting resolved `, out, "resolved ran through the whole test")
	c := peertest.ParseReport(processOutput(out, "resolved"))
	t.Logf("resolved: %d client queries, %d from the cache (%d hits), %d joined, %d upstream tries; cache %d entries, %d bytes",
		c["clients.Queries"], c["lookups.FromCache"], c["cache.Hits"], c["lookups.Joined"], c["upstream.Tries"], c["cache.Entries"], c["cache.Bytes"])
	assert.GreaterOrEqual(t, c["lookups.FromCache"], uint64(10), "rounds 2 and 3 of time.test came from the cache:\n%s", processOutput(out, "resolved"))
	assert.NotZero(t, c["cache.Entries"])
	assert.NotZero(t, c["cache.Negative"], "missing.test's NXDOMAIN (with the zone's SOA) was cached")
	assert.Equal(t, c["upstream.Tries"], c["upstream.Accepted"], "every try answered and accepted (dnsmasq echoes 0x20)")
	assert.Less(t, c["upstream.Tries"], c["clients.Queries"], "not every query left armos")
	assert.EqualValues(t, 1, c["clients.DropNotAllowed"], "the query from the LAN was refused")
	assert.Zero(t, c["upstream.Timeouts"])
	assert.Zero(t, c["server.UpstreamSockets"], "no upstream socket left open once the lookups ended")
	// dnsmasq saw the queries through resolved (mixed case: 0x20).
	assert.Contains(t, strings.ToLower(dnsmasqLog.String()), "auth[a] time.test from 10.99.0.2")
}
