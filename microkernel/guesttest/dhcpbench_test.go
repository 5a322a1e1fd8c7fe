package guesttest_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/microkernel/guesttest"
	"armos/microkernel/guesttest/linuxref"
	"armos/servers/netd/link/peertest"
)

// DHCP and DNS benchmarks (issue 11's figures), armos and the Linux
// reference guest in the same QEMU machine on a TAP in a private network
// namespace, dnsmasq on the Linux side serving DHCP and the zone test,
// alternating systems boot by boot in one run:
//
//   - armos-ms-dhcp-configured (armos only): dhcpc's start (netd ready on a link
//     that is up) to netd's reply that the leased address is in use — the
//     whole DORA exchange with dnsmasq and the configuration call —
//     printed by dhcpc itself ("address ... configured N ms after
//     start"), with -startdelay 0 and -noprobe (RFC 5227's probing adds
//     3-7 s of its own timers; Linux does not probe either). No Linux
//     figure: the rule is the same program on both, and dhcpc is a netd
//     client (libsocket, netd's admin protocol) with no Linux backend; the
//     reference guest has no DHCP client at all (its /init sets a static
//     address), and another client (busybox udhcpc, dhclient) would
//     measure another program.
//   - armos-us-lookup-new, -again, linux-us-lookup-new, -again: the same static Go program
//     (progs/lookupbench) times net.LookupHost (A and AAAA) of 20 names
//     never asked before, each then asked again; medians. On armos Go asks
//     resolved (its cache empty for the first, a hit for the second); on
//     Linux, which has no caching resolver in the reference guest, Go asks
//     dnsmasq both times.
//
// Wall time (not -icount: every figure waits for dnsmasq on the host,
// which instruction counting does not make deterministic). It needs root,
// dnsmasq and the Linux reference kernel (./build.sh bench fetches it).
func BenchmarkDHCPDNS(b *testing.B) {
	peertest.Require(b)
	dir := b.TempDir()
	kernel := guesttest.KernelForTest(b)
	root, err := guesttest.ModuleRoot()
	require.NoError(b, err)
	etc := filepath.Join(root, "servers", "resolved", "etc")
	img, err := guesttest.BuildImage(filepath.Join(dir, "img"),
		[]string{"servers/init", "servers/netd", "servers/virtionetd", "servers/dhcpc", "servers/resolved", "microkernel/guesttest/progs/lookupbench"},
		map[string]string{"/etc/resolv.conf": filepath.Join(etc, "resolv.conf"), "/etc/hosts": filepath.Join(etc, "hosts"),
			"/etc/nsswitch.conf": filepath.Join(etc, "nsswitch.conf")})
	require.NoError(b, err)
	bin := filepath.Join(dir, "lookupbench")
	require.NoError(b, buildArm64(bin, "./microkernel/guesttest/progs/lookupbench"))
	resolv := filepath.Join(dir, "resolv.conf")
	require.NoError(b, os.WriteFile(resolv, []byte("nameserver "+dhcpbenchServer+"\n"), 0o644))
	lg := linuxGuestWith(b, filepath.Join(dir, "linux"), linuxref.GuestFile{Path: "/bin/lookupbench", Host: bin},
		linuxref.GuestFile{Path: "/etc/resolv.conf", Host: resolv}, linuxref.GuestFile{Path: "/etc/hosts", Host: filepath.Join(etc, "hosts")})

	// Alternate the systems boot by boot, so that host load moves both.
	figs := map[string][]dhcpFigures{}
	for i := 0; i < b.N; i++ {
		for _, guest := range []string{"armos", "linux"} {
			figs[guest] = append(figs[guest], dhcpDNSBench(b, guest, kernel, img, lg))
		}
	}
	for _, guest := range []string{"armos", "linux"} {
		f := figs[guest]
		if guest == "armos" {
			b.ReportMetric(medianOf(collect(f, func(f dhcpFigures) float64 { return f.configuredMS })), "armos-ms-dhcp-configured")
		}
		b.ReportMetric(medianOf(collect(f, func(f dhcpFigures) float64 { return f.newUS })), guest+"-us-lookup-new")
		b.ReportMetric(medianOf(collect(f, func(f dhcpFigures) float64 { return f.againUS })), guest+"-us-lookup-again")
	}
}

func collect(fs []dhcpFigures, get func(dhcpFigures) float64) []float64 {
	var v []float64
	for _, f := range fs {
		v = append(v, get(f))
	}
	return v
}

const (
	dhcpbenchServer = "10.99.0.1"
	dhcpbenchGuest  = "10.99.0.2"
	dhcpbenchNames  = 20
)

// dhcpFigures are one boot's figures (configuredMS 0 on Linux).
type dhcpFigures struct {
	configuredMS, newUS, againUS float64
}

var (
	dhcpConfiguredRE = regexp.MustCompile(`dhcpc: address \S+ configured (\d+(?:\.\d+)?)ms after start\r?\n`)
	lookupbenchRE    = regexp.MustCompile(`lookupbench: n (\d+) new-us (\d+(?:\.\d+)?) again-us (\d+(?:\.\d+)?)\r?\n`)
)

// parseDHCPDNS reads the figures from a guest's console: lookupbench's
// line, and on armos dhcpc's.
func parseDHCPDNS(out string, armos bool) (dhcpFigures, error) {
	var f dhcpFigures
	m := lookupbenchRE.FindStringSubmatch(out)
	if m == nil {
		return f, errors.New("no lookupbench line")
	}
	if m[1] != strconv.Itoa(dhcpbenchNames) {
		return f, fmt.Errorf("lookupbench looked up %s names, not %d", m[1], dhcpbenchNames)
	}
	var err1, err2 error
	f.newUS, err1 = strconv.ParseFloat(m[2], 64)
	f.againUS, err2 = strconv.ParseFloat(m[3], 64)
	if err := errors.Join(err1, err2); err != nil {
		return f, err
	}
	if armos {
		m := dhcpConfiguredRE.FindStringSubmatch(out)
		if m == nil {
			return f, errors.New("no dhcpc configured line")
		}
		var err error
		if f.configuredMS, err = strconv.ParseFloat(m[1], 64); err != nil {
			return f, err
		}
	}
	return f, nil
}

// dhcpDNSBench boots guest on a fresh tap with dnsmasq beside it and
// reads its figures.
func dhcpDNSBench(b *testing.B, guest, kernel, img string, lg linuxref.Guest) dhcpFigures {
	ns := peertest.NewNS(b)
	ns.AddTap(b, "tap0", dhcpbenchServer+"/24")
	args := []string{"--interface=tap0", "--dhcp-authoritative", "--no-ping",
		"--dhcp-range=" + dhcpbenchGuest + "," + dhcpbenchGuest + ",255.255.255.0,2m",
		"--dhcp-option=option:router," + dhcpbenchServer, "--dhcp-option=option:dns-server," + dhcpbenchServer,
		"--host-record=warm.test,10.99.1.250,fd00::1:250"}
	for i := range dhcpbenchNames {
		args = append(args, fmt.Sprintf("--host-record=b%d.test,10.99.1.%d,fd00::1:%d", i, i, i))
	}
	guesttest.StartDnsmasq(b, ns, args...)
	tap := []string{"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-device,netdev=n0"}
	lb := []string{"/bin/lookupbench", "-n", strconv.Itoa(dhcpbenchNames), "test"}
	var qemu []string
	if guest == "armos" {
		m := guesttest.Machine{MemoryMiB: 512, Image: img, Extra: tap,
			Append: "-- init -conf /etc/none -exit service,virtionetd,device=net,/bin/virtionetd service,netd,/bin/netd,-link,nic:net0,-dhcp " +
				"service,dhcpc,/bin/dhcpc,-startdelay,0,-noprobe service,resolved,/bin/resolved,-upstream," + dhcpbenchServer +
				" app,lookupbench," + strings.Join(lb, ",")}
		qemu = m.Args(kernel)
	} else {
		m := linuxref.Machine{MemoryMiB: 512, Extra: tap,
			Options: linuxref.Options{Net: netip.MustParsePrefix(dhcpbenchGuest + "/24"), Run: [][]string{lb}, PowerOff: true}}
		qemu = m.Args(lg)
	}
	l, err := guesttest.StartLive(ns.Command(context.Background(), "qemu-system-aarch64", qemu...))
	require.NoError(b, err)
	defer l.Kill()
	_, _, err = l.WaitFor(lookupbenchRE, 0, 3*time.Minute)
	require.NoError(b, err, "%s:\n%s", guest, l.Output())
	require.NoError(b, l.Wait(time.Minute), "%s powers off:\n%s", guest, l.Output())
	f, err := parseDHCPDNS(l.Output(), guest == "armos")
	require.NoError(b, err, "%s:\n%s", guest, l.Output())
	dhcp := "- (no dhcpc)"
	if guest == "armos" {
		dhcp = fmt.Sprintf("%.1f ms", f.configuredMS)
	}
	b.Logf("%s: dhcpc start to configured %s, lookup of a new name %.0f us, the same again %.0f us", guest, dhcp, f.newUS, f.againUS)
	return f
}

func TestParseDHCPDNS(t *testing.T) {
	out := "dhcpc: dhcpc: address 10.99.0.2/24 configured 51.250ms after start\nlookupbench: lookupbench: n 20 new-us 2500.5 again-us 700.0\n"
	f, err := parseDHCPDNS(out, true)
	require.NoError(t, err)
	assert.Equal(t, dhcpFigures{configuredMS: 51.25, newUS: 2500.5, againUS: 700}, f)
	f, err = parseDHCPDNS("lookupbench: lookupbench: n 20 new-us 3000 again-us 2900\r\n", false) // Linux's console
	require.NoError(t, err)
	assert.Equal(t, dhcpFigures{newUS: 3000, againUS: 2900}, f)
	for _, bad := range []string{"", "lookupbench: n 19 new-us 1 again-us 1\n", "lookupbench: n 20 new-us 1 again-us 1\n"} {
		_, err := parseDHCPDNS(bad, true)
		assert.Error(t, err, "%q", bad)
	}
}

// FuzzParseDHCPDNS: any console parses or fails, never panics; what
// parses is non-negative.
func FuzzParseDHCPDNS(f *testing.F) {
	f.Add("dhcpc: address 10.99.0.2/24 configured 51.250ms after start\nlookupbench: n 20 new-us 2500.5 again-us 700.0\n", true)
	f.Add("lookupbench: n 20 new-us 99999999999999999999999999999999999999999999999999 again-us 1\n", false)
	f.Fuzz(func(t *testing.T, out string, armos bool) {
		fig, err := parseDHCPDNS(out, armos)
		if err == nil {
			require.GreaterOrEqual(t, fig.newUS, 0.0)
			require.GreaterOrEqual(t, fig.againUS, 0.0)
			require.GreaterOrEqual(t, fig.configuredMS, 0.0)
		}
	})
}
