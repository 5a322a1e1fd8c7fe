package guesttest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/microkernel/guesttest"
	"armos/microkernel/guesttest/linuxref"
	"armos/servers/netd/link/peertest"
)

// BenchmarkTCPGuest: TCP in QEMU, armos beside the Linux reference guest
// in the same run, set up as BenchmarkNetwork is (the same QEMU machine,
// -m 512M, the same virtio-mmio NIC on a TAP in a private network
// namespace, wall-clock time). Both guests run the same static Go program,
// apps/httpd (Go's net/http: over libsocket and tcpd on armos, over the
// system's sockets on Linux); the host drives it from the namespace with
// its own TCP, each figure on one connection:
//
//   - MB/s-download: GET /bytes?n=16 MiB, from the request to the last
//     byte (checked byte-exact), the median of tcpBenchDownloads;
//   - transactions/s: GET /health on one keep-alive connection, one in
//     flight, tcpBenchRequests in a row (a request of about 40 bytes, a
//     response of about 120 with its headers);
//   - us-transaction-median: the median of those round trips.
//
// Each boot's figures are medians; b.N boots of each guest, alternating,
// the metrics ("armos-MB/s-download", "linux-MB/s-download"...) the
// medians over them. It needs root (the namespace) and the Linux
// reference kernel (./build.sh bench fetches it).
func BenchmarkTCPGuest(b *testing.B) {
	peertest.Require(b)
	dir := b.TempDir()
	kernel := guesttest.KernelForTest(b)
	img, err := guesttest.BuildImage(filepath.Join(dir, "img"),
		[]string{"servers/init", "servers/netd", "servers/virtionetd", "servers/tcpd", "apps/httpd"}, nil)
	require.NoError(b, err)
	httpdBin := filepath.Join(dir, "httpd")
	require.NoError(b, buildArm64(httpdBin, "./apps/httpd"))
	lg := linuxGuestWith(b, filepath.Join(dir, "linux"), linuxref.GuestFile{Path: "/bin/httpd", Host: httpdBin})

	// The boots alternate, armos then Linux, so that both see the same
	// host load (other work shares the host's cores).
	all := map[string][]tcpFigures{}
	for i := 0; i < b.N; i++ {
		for _, guest := range []string{"armos", "linux"} {
			all[guest] = append(all[guest], tcpBench(b, guest, kernel, img, lg))
		}
	}
	for _, guest := range []string{"armos", "linux"} {
		f := medianTCPFigures(all[guest])
		b.ReportMetric(f.download, guest+"-MB/s-download")
		b.ReportMetric(f.rate, guest+"-transactions/s")
		b.ReportMetric(us(f.rtt), guest+"-us-transaction-median")
		b.ReportMetric(ms(f.ready), guest+"-ms-http-ready")
	}
	table := tcpBenchTable(medianTCPFigures(all["armos"]), medianTCPFigures(all["linux"]), len(all["armos"]))
	root, err := guesttest.ModuleRoot()
	require.NoError(b, err)
	outDir := filepath.Join(root, "out", "netbench")
	require.NoError(b, os.MkdirAll(outDir, 0o755))
	require.NoError(b, os.WriteFile(filepath.Join(outDir, "tcp.txt"), []byte(table), 0o644))
	// Not printed: output during a benchmark would split its result line
	// (name, then metrics), which benchcharts reads.
}

const (
	tcpBenchBytes     = 16 << 20 // one download
	tcpBenchDownloads = 3        // per boot
	tcpBenchRequests  = 1000     // per boot, on one connection
)

// tcpFigures are one boot's measurements (or the medians of several).
type tcpFigures struct {
	ready, rtt     time.Duration
	download, rate float64 // MB/s (10^6 bytes), transactions/s
}

func medianTCPFigures(fs []tcpFigures) tcpFigures {
	med := func(get func(tcpFigures) float64) float64 {
		var v []float64
		for _, f := range fs {
			v = append(v, get(f))
		}
		return medianOf(v)
	}
	return tcpFigures{
		ready:    time.Duration(med(func(f tcpFigures) float64 { return float64(f.ready) })),
		rtt:      time.Duration(med(func(f tcpFigures) float64 { return float64(f.rtt) })),
		download: med(func(f tcpFigures) float64 { return f.download }),
		rate:     med(func(f tcpFigures) float64 { return f.rate }),
	}
}

// tcpBenchTable formats the figures as armos | Linux | armos/Linux.
func tcpBenchTable(a, l tcpFigures, boots int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "TCP in QEMU: armos and Linux on the same virtio-mmio NIC on a tap, apps/httpd on both, driven from the host; medians of %d boots\n", boots)
	fmt.Fprintf(&sb, "%-52s %10s %10s %12s\n", "figure", "armos", "Linux", "armos/Linux")
	for _, r := range []struct {
		name         string
		armos, linux float64
	}{
		{fmt.Sprintf("download %d MiB (MB/s, higher is better)", tcpBenchBytes>>20), a.download, l.download},
		{"GET /health, one connection (1/s, higher is better)", a.rate, l.rate},
		{"its round trip, median (µs, lower is better)", us(a.rtt), us(l.rtt)},
		{"QEMU start to httpd listening (ms, lower is better)", ms(a.ready), ms(l.ready)},
	} {
		ratio := "-"
		if r.linux != 0 {
			ratio = fmt.Sprintf("%.2f", r.armos/r.linux)
		}
		fmt.Fprintf(&sb, "%-52s %10.1f %10.1f %12s\n", r.name, r.armos, r.linux, ratio)
	}
	return sb.String()
}

// tcpBench boots guest on a fresh tap with httpd and measures it.
func tcpBench(b *testing.B, guest, kernel, img string, lg linuxref.Guest) tcpFigures {
	l, ns, dial := startHTTPGuest(b, guest, kernel, img, lg, false, nil)
	defer l.Kill()
	f := tcpFigures{ready: l.Since()}
	idle := func() string { return "" }

	// Warm up: ARP both ways, the programs' first-use paths.
	c := dial()
	for range 20 {
		_, err := c.get("/health", io.Discard)
		require.NoError(b, err, guest)
	}
	_, err := c.get("/bytes?n=1000000", io.Discard)
	require.NoError(b, err, guest)
	c.c.Close()

	var rates []float64
	if guest == "armos" && cpuStatDuringDownloads {
		before := len(cpuStatRE.FindAllString(l.Output(), -1))
		idle = func() string { return downloadIdle(b, l.Output(), before) }
	}
	rx0 := tapRx(b, ns)
	for range tcpBenchDownloads {
		c := dial()
		check := &byteStreamCheck{}
		start := time.Now()
		n, err := c.get(fmt.Sprintf("/bytes?n=%d", tcpBenchBytes), check)
		d := time.Since(start)
		c.c.Close()
		require.NoError(b, err, guest)
		require.Equal(b, int64(tcpBenchBytes), n, "%s: bytes downloaded", guest)
		require.False(b, check.bad, "%s: the download is /bytes's stream, byte-exact", guest)
		rates = append(rates, float64(n)/d.Seconds()/1e6)
	}
	f.download = medianOf(rates)
	rx1 := tapRx(b, ns)
	// The frames the guest sent during the downloads, as the host's tap
	// received them: above 1514 bytes on average, the guest's NIC does
	// segmentation offload (QEMU passes its large frames to the tap).
	frames := fmt.Sprintf("tap rx %d frames, %.0f bytes a frame", rx1.packets-rx0.packets,
		float64(rx1.bytes-rx0.bytes)/float64(max(rx1.packets-rx0.packets, 1)))
	frames += idle()
	losses := "not counted"
	if guest == "armos" {
		losses = lossCounters(b, dial())
	}

	c = dial()
	defer c.c.Close()
	rtts := make([]time.Duration, 0, tcpBenchRequests)
	start := time.Now()
	for range tcpBenchRequests {
		t0 := time.Now()
		_, err := c.get("/health", io.Discard)
		require.NoError(b, err, guest)
		rtts = append(rtts, time.Since(t0))
	}
	f.rate = float64(tcpBenchRequests) / time.Since(start).Seconds()
	slices.Sort(rtts)
	f.rtt = rtts[len(rtts)/2]
	b.Logf("%s: httpd ready %.0f ms, download %.2f MB/s (%.2f), %.0f transactions/s, round trips min %.0f, p10 %.0f, median %.0f, p90 %.0f us; downloads: %s; after them: %s",
		guest, ms(f.ready), f.download, rates, f.rate, us(rtts[0]), us(rtts[len(rtts)/10]), us(f.rtt), us(rtts[len(rtts)*9/10]), frames, losses)
	return f
}

// cpuStatDuringDownloads (ARMOS_TCPBENCH_CPUSTAT=1) boots armos with
// armos.cpustat every tcpCPUStatPeriod and logs how idle its CPU was
// through the downloads: whether a download is bounded by armos's own
// instructions (idle near 0) or by the host's side of the path. Off by
// default: the table's figures are measured without the reports.
var cpuStatDuringDownloads = os.Getenv("ARMOS_TCPBENCH_CPUSTAT") == "1"

const tcpCPUStatPeriod = 50 * time.Millisecond

// downloadIdle returns ", armos idle N% of the downloads" from the
// armos.cpustat reports after the first before ones of out: those
// printed while the downloads ran (the last before them to the last
// after them, a period's slack at each end).
func downloadIdle(b *testing.B, out string, before int) string {
	ms := cpuStatRE.FindAllStringSubmatch(out, -1)
	if before < 1 || len(ms) < before+1 {
		return ", armos idle: too few cpustat reports"
	}
	first, err := parseCPUStat(ms[before-1])
	require.NoError(b, err)
	last, err := parseCPUStat(ms[len(ms)-1])
	require.NoError(b, err)
	if last.at <= first.at {
		return ", armos idle: no time between reports"
	}
	return fmt.Sprintf(", armos idle %.1f%% of the downloads (%d cpustat reports)",
		100*float64(last.idle-first.idle)/float64(last.at-first.at), len(ms)-before+1)
}

// tapCounters are the host's tap0's receive counters.
type tapCounters struct{ packets, bytes uint64 }

// tapRx reads tap0's receive counters in the namespace.
func tapRx(b *testing.B, ns *peertest.NS) tapCounters {
	var c tapCounters
	for _, f := range []struct {
		name string
		v    *uint64
	}{{"rx_packets", &c.packets}, {"rx_bytes", &c.bytes}} {
		out, err := ns.Run(context.Background(), "cat", "/sys/class/net/tap0/statistics/"+f.name)
		require.NoError(b, err, out)
		*f.v, err = strconv.ParseUint(strings.TrimSpace(out), 10, 64)
		require.NoError(b, err, out)
	}
	return c
}

// lossCounters reads httpd's status page (netd's and tcpd's counters) on
// c and returns its nonzero counters of drops, retransmissions and
// timeouts, for the log: a loss costs a retransmission, a tail loss an
// RTO.
func lossCounters(b *testing.B, c *httpConn) string {
	defer c.c.Close()
	var page strings.Builder
	_, err := c.get("/", &page)
	require.NoError(b, err)
	var out []string
	for _, line := range strings.Split(page.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] != "0" && regexp.MustCompile(`(?i)drop|retrans|timeout|full`).MatchString(f[0]) {
			out = append(out, f[0]+" "+f[1])
		}
	}
	return strings.Join(out, ", ")
}

// httpConn is the host's end of one keep-alive HTTP/1.1 connection. The
// requests are written and the responses read on the caller's goroutine
// (net/http's Transport would dial from its own, outside the namespace).
type httpConn struct {
	c net.Conn
	r *bufio.Reader
}

// startHTTPGuest boots guest ("armos" from kernel and img, or the Linux
// reference guest lg) with httpd on a fresh tap in its own namespace, as
// the TCP benchmarks do, under -icount if icount, with extra QEMU
// arguments, and waits for httpd to listen. dial connects to it from the
// namespace ns. The caller kills the guest.
func startHTTPGuest(b *testing.B, guest, kernel, img string, lg linuxref.Guest, icount bool, extra []string) (l *guesttest.Live, ns *peertest.NS, dial func() *httpConn) {
	ns = peertest.NewNS(b)
	ns.AddTap(b, "tap0", "10.99.0.1/24")
	qemu := append([]string{"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-device,netdev=n0"}, extra...)
	var args []string
	if guest == "armos" {
		if icount {
			qemu = append(qemu, guesttest.IcountArgs...)
		}
		stat := ""
		if cpuStatDuringDownloads && !icount {
			stat = fmt.Sprintf("armos.cpustat=%d ", tcpCPUStatPeriod.Milliseconds())
		}
		m := guesttest.Machine{MemoryMiB: 512, Image: img, Extra: qemu,
			Append: stat + "-- init -conf /etc/none service,virtionetd,device=net,/bin/virtionetd " +
				"service,netd,/bin/netd,-link,nic:net0,-ip," + netbenchGuest + "/24,-noprobe service,tcpd,/bin/tcpd service,httpd,/bin/httpd"}
		args = m.Args(kernel)
	} else {
		m := linuxref.Machine{MemoryMiB: 512, Icount: icount, Extra: qemu,
			Options: linuxref.Options{Net: netip.MustParsePrefix(netbenchGuest + "/24"), Run: [][]string{{"/bin/httpd", "-addr", ":80"}}}}
		args = m.Args(lg)
	}
	l, err := guesttest.StartLive(ns.Command(context.Background(), "qemu-system-aarch64", args...))
	require.NoError(b, err)
	if _, _, err := l.WaitFor(regexp.MustCompile(`httpd: listening on`), 0, 3*time.Minute); err != nil {
		l.Kill()
		require.NoError(b, err, "%s:\n%s", guest, l.Output())
	}
	dial = func() *httpConn {
		var c net.Conn
		require.NoError(b, ns.Do(func() error { // the socket is the namespace's
			var err error
			c, err = net.DialTimeout("tcp", netbenchGuest+":80", 30*time.Second)
			return err
		}), "%s:\n%s", guest, l.Output())
		return &httpConn{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	}
	return l, ns, dial
}

// get requests path and copies the response's body to w.
func (h *httpConn) get(path string, w io.Writer) (int64, error) {
	if err := h.c.SetDeadline(time.Now().Add(2 * time.Minute)); err != nil {
		return 0, err
	}
	if _, err := fmt.Fprintf(h.c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, netbenchGuest); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(h.r, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return io.Copy(w, resp.Body)
}

// byteStreamCheck is an io.Writer checking that what it is written is
// httpd's /bytes stream (byte i is i mod 256).
type byteStreamCheck struct {
	n   int
	bad bool
}

func (c *byteStreamCheck) Write(p []byte) (int, error) {
	for i, v := range p {
		if v != byte(c.n+i) {
			c.bad = true
		}
	}
	c.n += len(p)
	return len(p), nil
}

func TestTCPBenchTable(t *testing.T) {
	a := tcpFigures{ready: 400 * time.Millisecond, rtt: 2 * time.Millisecond, download: 4, rate: 480}
	l := tcpFigures{ready: 1200 * time.Millisecond, rtt: 500 * time.Microsecond, download: 16, rate: 1900}
	lines := strings.Split(strings.TrimSpace(tcpBenchTable(a, l, 3)), "\n")
	require.Len(t, lines, 6)
	require.Contains(t, lines[0], "medians of 3 boots")
	require.Regexp(t, `^download 16 MiB \(MB/s, higher is better\) +4\.0 +16\.0 +0\.25$`, lines[2])
	require.Regexp(t, `^GET /health, one connection \(1/s, higher is better\) +480\.0 +1900\.0 +0\.25$`, lines[3])
	require.Regexp(t, `^its round trip, median \(µs, lower is better\) +2000\.0 +500\.0 +4\.00$`, lines[4])

	var c byteStreamCheck
	c.Write([]byte{0, 1, 2})
	c.Write([]byte{3, 4})
	require.False(t, c.bad)
	c.Write([]byte{9})
	require.True(t, c.bad)
}
