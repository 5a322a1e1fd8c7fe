package nslookup

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/resolved/dns"
)

// fake is a Resolver answering from maps; a name in none of them is not
// found. fail makes every lookup return it.
type fake struct {
	v4, v6 map[string][]string
	cname  map[string]string
	fail   error
	calls  []string
}

func errNotFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fake) LookupCNAME(_ context.Context, host string) (string, error) {
	f.calls = append(f.calls, "cname "+host)
	host = strings.TrimSuffix(host, ".")
	if f.fail != nil {
		return "", f.fail
	}
	if c, ok := f.cname[host]; ok {
		return c, nil
	}
	if f.v4[host] != nil || f.v6[host] != nil {
		return host + ".", nil
	}
	return "", errNotFound(host)
}

func (f *fake) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.calls = append(f.calls, network+" "+host)
	host = strings.TrimSuffix(host, ".")
	if f.fail != nil {
		return nil, f.fail
	}
	m := f.v4
	if network == "ip6" {
		m = f.v6
	}
	if c, ok := f.cname[host]; ok {
		host = strings.TrimSuffix(c, ".")
	}
	var out []netip.Addr
	for _, s := range m[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if out == nil {
		return nil, errNotFound(host)
	}
	return out, nil
}

func zone() *fake {
	return &fake{
		v4:    map[string][]string{"host.test": {"10.99.0.7", "10.99.0.8"}, "v4.test": {"10.0.0.4"}},
		v6:    map[string][]string{"host.test": {"fd00::7"}, "v6.test": {"fd00::6"}},
		cname: map[string]string{"alias.test": "host.test."},
	}
}

// run runs Main with args against r, returning the status, stdout, stderr
// and the server it was told to ask.
func run(t *testing.T, r Resolver, args ...string) (int, string, string, netip.AddrPort) {
	t.Helper()
	var out, errOut bytes.Buffer
	var asked netip.AddrPort
	ticks := time.Unix(0, 0)
	now := func() time.Time { ticks = ticks.Add(1500 * time.Microsecond); return ticks }
	status := Main(context.Background(), args, Env{Stdout: &out, Stderr: &errOut, Now: now},
		func(_ context.Context, s netip.AddrPort) (Resolver, error) { asked = s; return r, nil })
	return status, out.String(), errOut.String(), asked
}

const header = "Server:\t\t127.0.0.1\nAddress:\t127.0.0.1#53\n\n"

func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		status     int
	}{
		{"host.test", header + "Non-authoritative answer:\nName:\thost.test\nAddress: 10.99.0.7\nName:\thost.test\nAddress: 10.99.0.8\nName:\thost.test\nAddress: fd00::7\n\n", ExitOK},
		{"host.test.", header + "Non-authoritative answer:\nName:\thost.test\nAddress: 10.99.0.7\nName:\thost.test\nAddress: 10.99.0.8\nName:\thost.test\nAddress: fd00::7\n\n", ExitOK},
		{"alias.test", header + "Non-authoritative answer:\nalias.test\tcanonical name = host.test.\nName:\thost.test\nAddress: 10.99.0.7\nName:\thost.test\nAddress: 10.99.0.8\nName:\thost.test\nAddress: fd00::7\n\n", ExitOK},
		{"v4.test", header + "Non-authoritative answer:\nName:\tv4.test\nAddress: 10.0.0.4\n\n", ExitOK},
		{"v6.test", header + "Non-authoritative answer:\nName:\tv6.test\nAddress: fd00::6\n\n", ExitOK},
		{"missing.test", header + "** server can't find missing.test: NXDOMAIN\n\n", ExitNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, errOut, asked := run(t, zone(), tc.name)
			assert.Equal(t, tc.want, out)
			assert.Empty(t, errOut)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:53"), asked, "resolved by default")
		})
	}
}

func TestNotFoundAsksNoCNAME(t *testing.T) {
	f := zone()
	run(t, f, "missing.test")
	assert.Equal(t, []string{"ip4 missing.test", "ip6 missing.test"}, f.calls)
}

func TestServerPortAndTiming(t *testing.T) {
	status, out, _, asked := run(t, zone(), "-port", "5353", "-timing", "v4.test", "10.99.0.1")
	assert.Equal(t, ExitOK, status)
	assert.Equal(t, netip.MustParseAddrPort("10.99.0.1:5353"), asked)
	assert.Equal(t, "Server:\t\t10.99.0.1\nAddress:\t10.99.0.1#5353\n\nNon-authoritative answer:\nName:\tv4.test\nAddress: 10.0.0.4\n;; Query time: 1500 usec (round 1)\n\n", out)
}

func TestRepeat(t *testing.T) {
	f := zone()
	status, out, _, _ := run(t, f, "-repeat", "3", "-timing", "v4.test")
	assert.Equal(t, ExitOK, status)
	assert.Equal(t, header+"Non-authoritative answer:\nName:\tv4.test\nAddress: 10.0.0.4\n"+
		";; Query time: 1500 usec (round 1)\n;; Query time: 1500 usec (round 2)\n;; Query time: 1500 usec (round 3)\n\n", out)
	assert.Len(t, f.calls, 9, "three rounds of A, AAAA and the canonical name")
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"servfail", &net.DNSError{Err: "server misbehaving", Name: "x.test", IsTemporary: true}, "** server can't find x.test: SERVFAIL\n"},
		{"timeout", &net.DNSError{Err: "i/o timeout", Name: "x.test", IsTimeout: true}, ";; connection timed out; no servers could be reached\n"},
		{"deadline", context.DeadlineExceeded, ";; connection timed out; no servers could be reached\n"},
		{"refused", &net.OpError{Op: "read", Err: errors.New("connection refused")}, "** server can't find x.test: SERVFAIL\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _, _ := run(t, &fake{fail: tc.err}, "x.test")
			assert.Equal(t, ExitNotFound, status)
			assert.Equal(t, header+tc.want+"\n", out)
		})
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{}, {"a", "10.0.0.1", "extra"}, {"-port", "0", "a"}, {"-port", "70000", "a"}, {"-bogus", "a"},
		{"a", "not-an-address"}, {"a", "::1"}, {"."}, {"-timeout", "0s", "a"}, {strings.Repeat("a.", 200)}, {"-repeat", "0", "a"},
	} {
		status, out, errOut, _ := run(t, zone(), args...)
		assert.Equal(t, ExitUsage, status, "%q", args)
		assert.Empty(t, out, "%q", args)
		assert.NotEmpty(t, errOut, "%q", args)
	}
	// No resolver: a usage-class failure, said on stderr.
	var out, errOut bytes.Buffer
	status := Main(context.Background(), []string{"a"}, Env{Stdout: &out, Stderr: &errOut},
		func(context.Context, netip.AddrPort) (Resolver, error) { return nil, errors.New("no socket service") })
	assert.Equal(t, ExitUsage, status)
	assert.Contains(t, errOut.String(), "no socket service")
}

// TestGoResolver runs Main against Go's own resolver talking to a tiny
// in-process DNS server: the output of a real exchange.
func TestGoResolver(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	go miniServer(pc)
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp4", pc.LocalAddr().String())
	}}
	status, out, _, _ := run(t, r, "alias.test")
	assert.Equal(t, ExitOK, status, out)
	assert.Contains(t, out, "alias.test\tcanonical name = host.test.\nName:\thost.test\nAddress: 10.99.0.7\n")
	status, out, _, _ = run(t, r, "missing.test")
	assert.Equal(t, ExitNotFound, status, out)
	assert.Contains(t, out, "** server can't find missing.test: NXDOMAIN\n")
}

// miniServer answers on pc: alias.test is a CNAME for host.test, which has
// the A record 10.99.0.7 and no AAAA; other names are NXDOMAIN.
func miniServer(pc net.PacketConn) {
	host, alias := dns.MustParseName("host.test"), dns.MustParseName("alias.test")
	soa := dns.NewSOA(dns.MustParseName("test"), 60, dns.SOA{MName: dns.MustParseName("ns.test"),
		RName: dns.MustParseName("hostmaster.test"), Serial: 1, Minimum: 60})
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q, err := dns.Parse(buf[:n])
		if err != nil || len(q.Questions) != 1 {
			continue
		}
		qu := q.Questions[0]
		m := &dns.Message{ID: q.ID, Flags: dns.FlagQR | dns.FlagRD | dns.FlagRA, Questions: q.Questions}
		name := qu.Name
		if name.EqualFold(alias) {
			m.Answers = append(m.Answers, dns.NewCNAME(qu.Name, 60, host))
			name = host
		}
		switch {
		case name.EqualFold(host) && qu.Type == dns.TypeA:
			m.Answers = append(m.Answers, dns.NewA(name, 60, netip.MustParseAddr("10.99.0.7")))
		case name.EqualFold(host):
			m.Authorities = []dns.RR{soa}
		default:
			m.Flags = m.Flags.WithRCode(dns.RCodeNameError)
			m.Authorities = []dns.RR{soa}
		}
		b, err := m.Pack()
		if err != nil {
			panic(err)
		}
		pc.WriteTo(b, from)
	}
}
