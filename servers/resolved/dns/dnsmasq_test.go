package dns

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Golden exchanges with dnsmasq (Debian's dnsmasq-base 2.90), recorded into
// testdata/dnsmasq.txt by
//
//	go test ./servers/resolved/dns -run TestDnsmasqGolden -record-dnsmasq
//
// which starts dnsmasq with dnsmasqArgs on 127.0.0.1, sends each query of
// dnsmasqQueries (packed by this package) and writes one line per exchange:
// name, type, whether the query carried EDNS0, the query and the answer in
// hex. Without the flag the test parses the recorded answers.
var recordDnsmasq = flag.Bool("record-dnsmasq", false, "run dnsmasq and rewrite testdata/dnsmasq.txt")

const dnsmasqFile = "testdata/dnsmasq.txt"

// DnsmasqArgs returns dnsmasq's command line for the golden exchanges:
// local names only, in the zone test.
func dnsmasqArgs(port int) []string {
	args := []string{"--no-daemon", "--conf-file=/dev/null", "--port=" + strconv.Itoa(port),
		"--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
		"--local=/test/", "--local-ttl=300",
		"--host-record=h.test,10.0.0.6,fd00::6", "--host-record=v4.test,10.0.0.7",
		"--address=/x.test/10.0.0.5",
		"--cname=www.test,h.test", "--cname=a1.test,a2.test", "--cname=a2.test,h.test"}
	for i := 1; i <= 40; i++ {
		args = append(args, fmt.Sprintf("--host-record=big.test,10.1.0.%d", i))
	}
	return args
}

var dnsmasqQueries = []struct {
	name string
	typ  Type
	edns bool
}{
	{"h.test", TypeA, false},
	{"h.test", TypeAAAA, true},
	{"www.test", TypeA, false},     // CNAME, then the A record
	{"a1.test", TypeAAAA, false},   // two CNAMEs
	{"nope.test", TypeA, false},    // NXDOMAIN
	{"v4.test", TypeAAAA, false},   // NODATA
	{"HeLLo.X.test", TypeA, false}, // case kept (0x20)
	{"big.test", TypeA, false},     // 40 records: truncated at 512 bytes
	{"big.test", TypeA, true},      // all 40 with EDNS0
}

type goldenExchange struct {
	name        string
	typ         Type
	edns        bool
	query, resp []byte
}

func readGolden(t *testing.T) []goldenExchange {
	t.Helper()
	f, err := os.Open(dnsmasqFile)
	require.NoError(t, err)
	defer f.Close()
	var out []goldenExchange
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		var g goldenExchange
		var typ int
		var qh, rh string
		_, err := fmt.Sscan(line, &g.name, &typ, &g.edns, &qh, &rh)
		require.NoError(t, err, line)
		g.typ = Type(typ)
		g.query, err = hex.DecodeString(qh)
		require.NoError(t, err)
		g.resp, err = hex.DecodeString(rh)
		require.NoError(t, err)
		out = append(out, g)
	}
	require.NoError(t, sc.Err())
	return out
}

func record(t *testing.T) {
	port := 20000 + os.Getpid()%20000
	cmd := exec.Command("dnsmasq", dnsmasqArgs(port)...)
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(300 * time.Millisecond)
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
	require.NoError(t, err)
	defer c.Close()
	var sb strings.Builder
	sb.WriteString("# dnsmasq 2.90 answers; see dnsmasq_test.go. name type edns query answer\n")
	for i, q := range dnsmasqQueries {
		m := &Message{ID: 0x1200 + uint16(i), Flags: FlagRD,
			Questions: []Question{{Name: MustParseName(q.name), Type: q.typ, Class: ClassINET}}}
		if q.edns {
			m.Additionals = []RR{NewOPT(1232)}
		}
		b, err := m.Pack()
		require.NoError(t, err)
		_, err = c.Write(b)
		require.NoError(t, err)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		require.NoError(t, err)
		fmt.Fprintf(&sb, "%s %d %v %x %x\n", q.name, q.typ, q.edns, b, buf[:n])
	}
	require.NoError(t, os.WriteFile(dnsmasqFile, []byte(sb.String()), 0o644))
}

func TestDnsmasqGolden(t *testing.T) {
	if *recordDnsmasq {
		record(t)
	}
	g := readGolden(t)
	require.Len(t, g, len(dnsmasqQueries))
	ip := netip.MustParseAddr
	for i, x := range g {
		q, err := Parse(x.query)
		require.NoError(t, err)
		m, err := Parse(x.resp)
		require.NoError(t, err, "exchange %d", i)
		require.Equal(t, q.ID, m.ID)
		require.True(t, m.Flags.Has(FlagQR|FlagRD|FlagRA))
		require.Equal(t, q.Questions, m.Questions, "the question comes back byte for byte")
		_, edns := m.EDNS()
		require.Equal(t, x.edns, edns)

		// Packing what was parsed and parsing it again gives the same message.
		b, err := m.Pack()
		require.NoError(t, err)
		m2, err := Parse(b)
		require.NoError(t, err)
		require.Equal(t, m, m2)
	}
	addrs := func(m *Message) (out []netip.Addr) {
		for _, rr := range m.Answers {
			if a, ok := rr.A(); ok {
				out = append(out, a)
			} else if a, ok := rr.AAAA(); ok {
				out = append(out, a)
			}
		}
		return out
	}
	parse := func(i int) *Message { m, err := Parse(g[i].resp); require.NoError(t, err); return m }

	m := parse(0)
	require.Equal(t, []netip.Addr{ip("10.0.0.6")}, addrs(m))
	require.Equal(t, uint32(300), m.Answers[0].TTL)
	require.Equal(t, []netip.Addr{ip("fd00::6")}, addrs(parse(1)))

	m = parse(2)
	require.Len(t, m.Answers, 2)
	target, ok := m.Answers[0].CNAME()
	require.True(t, ok)
	require.Equal(t, MustParseName("h.test"), target)
	require.Equal(t, []netip.Addr{ip("10.0.0.6")}, addrs(m))

	m = parse(3)
	require.Len(t, m.Answers, 3)
	t1, _ := m.Answers[0].CNAME()
	t2, _ := m.Answers[1].CNAME()
	require.Equal(t, []Name{MustParseName("a2.test"), MustParseName("h.test")}, []Name{t1, t2})
	require.Equal(t, []netip.Addr{ip("fd00::6")}, addrs(m))

	require.Equal(t, RCodeNameError, parse(4).Flags.RCode())
	m = parse(5)
	require.Equal(t, RCodeSuccess, m.Flags.RCode())
	require.Empty(t, m.Answers)

	m = parse(6)
	require.Equal(t, "HeLLo.X.test.", m.Questions[0].Name.String())
	require.Equal(t, m.Questions[0].Name, m.Answers[0].Name, "the answer points at the question's name")

	m = parse(7)
	require.True(t, m.Flags.Has(FlagTC))
	require.LessOrEqual(t, len(g[7].resp), MaxUDPLen)
	require.Len(t, addrs(parse(8)), 40)
}
