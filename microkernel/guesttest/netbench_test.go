package guesttest_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/internal/benchchart"
	"armos/microkernel/guesttest"
	"armos/microkernel/guesttest/linuxref"
	"armos/servers/netd/link/peertest"
)

// Network benchmarks: armos and the Linux reference guest in the same
// QEMU machine (-M virt -cpu cortex-a72 -m 512M), each with the same
// virtio-mmio network device on a TAP in a private network namespace,
// serving UDP echo with the same static Go program (apps/echo: libsocket
// under armos, the system's socket on Linux), measured from the
// namespace's side in the same run:
//
//   - ms-echo-ready: QEMU start to the echo program's ready line (armos's
//     netd with -noprobe, as Linux does not probe a static address);
//   - us-rtt-median, us-rtt-p99: 64-byte echoes, one in flight;
//   - dgrams/s-1, dgrams/s-16: echoes per second with 1 and 16 in flight;
//   - us-ping-median: Linux's ping of the guest (100 at 10 ms).
//
// It needs root (the namespace) and the Linux reference kernel
// (./build.sh bench fetches it).
func BenchmarkNetwork(b *testing.B) {
	peertest.Require(b)
	dir := b.TempDir()
	kernel := guesttest.KernelForTest(b)
	img, err := guesttest.BuildImage(filepath.Join(dir, "img"),
		[]string{"servers/init", "servers/netd", "servers/virtionetd", "apps/echo"}, nil)
	require.NoError(b, err)
	echoBin := filepath.Join(dir, "echo")
	require.NoError(b, buildArm64(echoBin, "./apps/echo"))
	lg := linuxGuestWith(b, filepath.Join(dir, "linux"), linuxref.GuestFile{Path: "/bin/echo", Host: echoBin})

	all := map[string][]netFigures{}
	for _, guest := range []string{"armos", "linux"} {
		b.Run(guest, func(b *testing.B) {
			var figs []netFigures
			for i := 0; i < b.N; i++ {
				figs = append(figs, netBench(b, guest, kernel, img, lg))
			}
			all[guest] = figs
			f := medianFigures(figs)
			b.ReportMetric(ms(f.ready), "ms-echo-ready")
			b.ReportMetric(us(f.rttMedian), "us-rtt-median")
			b.ReportMetric(us(f.rttP99), "us-rtt-p99")
			b.ReportMetric(f.rate1, "dgrams/s-1")
			b.ReportMetric(f.rate16, "dgrams/s-16")
			b.ReportMetric(us(f.ping), "us-ping-median")
			b.ReportMetric(float64(f.lost), "lost")
		})
	}
	if len(all["armos"]) == 0 || len(all["linux"]) == 0 {
		return // a sub-benchmark was filtered out or failed
	}
	a, l := medianFigures(all["armos"]), medianFigures(all["linux"])
	rows := netRows(a, l)
	// The table, under the module root as procbench's is.
	root, err := guesttest.ModuleRoot()
	require.NoError(b, err)
	outDir := filepath.Join(root, "out", "netbench")
	require.NoError(b, os.MkdirAll(outDir, 0o755))
	table := netbenchTable(rows, len(all["armos"]), a.lost, l.lost)
	require.NoError(b, os.WriteFile(filepath.Join(outDir, "table.txt"), []byte(table), 0o644))
	fmt.Print(table)
	// ./build.sh bench: the medians as JSON and a chart (out/bench).
	if dir := os.Getenv("ARMOS_BENCH_OUT"); dir != "" {
		r := benchchart.Results{Title: "armos beside Linux in QEMU: network (medians of " + fmt.Sprint(len(all["armos"])) + " boots)",
			Date: time.Now().UTC().Format("2006-01-02"), Systems: []string{"armos", "linux"}}
		for _, row := range rows {
			r.Figures = append(r.Figures, benchchart.Figure{Name: row.name, Unit: row.unit, Better: row.better,
				Values: map[string]float64{"armos": row.armos, "linux": row.linux}})
		}
		require.NoError(b, benchchart.Write(dir, "network", r))
	}
}

// netRow is one figure of the network benchmark on both systems.
type netRow struct {
	name, unit, better string
	armos, linux       float64
}

// netRows are the figures charted and tabulated, in order.
func netRows(a, l netFigures) []netRow {
	return []netRow{
		{"QEMU start to echo ready", "ms", "lower", ms(a.ready), ms(l.ready)},
		{"UDP echo RTT, median", "µs", "lower", us(a.rttMedian), us(l.rttMedian)},
		{"UDP echo RTT, p99", "µs", "lower", us(a.rttP99), us(l.rttP99)},
		{"echoes/s, 1 in flight", "1/s", "higher", a.rate1, l.rate1},
		{"echoes/s, 16 in flight", "1/s", "higher", a.rate16, l.rate16},
		{"ping RTT, median", "µs", "lower", us(a.ping), us(l.ping)},
	}
}

// netbenchTable formats the figures as armos | Linux | armos/Linux.
func netbenchTable(rows []netRow, boots, armosLost, linuxLost int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "network in QEMU: armos and Linux on the same virtio-mmio NIC on a tap, %d-byte UDP echo (apps/echo on both), medians of %d boots\n",
		netbenchSize, boots)
	fmt.Fprintf(&sb, "%-48s %10s %10s %12s\n", "figure", "armos", "Linux", "armos/Linux")
	for _, r := range rows {
		ratio := "-"
		if r.linux != 0 {
			ratio = fmt.Sprintf("%.2f", r.armos/r.linux)
		}
		fmt.Fprintf(&sb, "%-48s %10.0f %10.0f %12s\n", r.name+" ("+r.unit+", "+r.better+" is better)", r.armos, r.linux, ratio)
	}
	fmt.Fprintf(&sb, "echoes lost (all boots): armos %d, Linux %d; armos's netd runs with -noprobe (Linux does not probe a static address)\n",
		armosLost, linuxLost)
	return sb.String()
}

// medianFigures takes each figure's median over several boots.
func medianFigures(fs []netFigures) netFigures {
	med := func(get func(netFigures) float64) float64 {
		var v []float64
		for _, f := range fs {
			v = append(v, get(f))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	d := func(get func(netFigures) time.Duration) time.Duration {
		return time.Duration(med(func(f netFigures) float64 { return float64(get(f)) }))
	}
	var m netFigures
	m.ready = d(func(f netFigures) time.Duration { return f.ready })
	m.rttMedian = d(func(f netFigures) time.Duration { return f.rttMedian })
	m.rttP99 = d(func(f netFigures) time.Duration { return f.rttP99 })
	m.ping = d(func(f netFigures) time.Duration { return f.ping })
	m.rate1 = med(func(f netFigures) float64 { return f.rate1 })
	m.rate16 = med(func(f netFigures) float64 { return f.rate16 })
	for _, f := range fs {
		m.lost += f.lost
	}
	return m
}

// netFigures are one guest boot's measurements.
type netFigures struct {
	ready, rttMedian, rttP99, ping time.Duration
	rate1, rate16                  float64
	lost                           int
}

const (
	netbenchGuest = "10.99.0.2"
	netbenchEcho  = 2000 // echoes per figure (4x that with 16 in flight)
	netbenchSize  = 64   // bytes of UDP payload
)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// netBench boots guest on a fresh tap and measures it.
func netBench(b *testing.B, guest, kernel, img string, lg linuxref.Guest) netFigures {
	ns := peertest.NewNS(b)
	ns.AddTap(b, "tap0", "10.99.0.1/24")
	tap := []string{"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-device,netdev=n0"}
	var args []string
	var ready *regexp.Regexp
	if guest == "armos" {
		m := guesttest.Machine{MemoryMiB: 512, Image: img, Extra: tap,
			Append: "-- init -conf /etc/none service,virtionetd,device=net,/bin/virtionetd " +
				"service,netd,/bin/netd,-link,nic:net0,-ip," + netbenchGuest + "/24,-noprobe service,echo,/bin/echo"}
		args = m.Args(kernel)
		ready = regexp.MustCompile(`echo: ready on udp`)
	} else {
		m := linuxref.Machine{MemoryMiB: 512, Extra: tap,
			Options: linuxref.Options{Net: netip.MustParsePrefix(netbenchGuest + "/24"), Echo: "/bin/echo"}}
		args = m.Args(lg)
		ready = regexp.MustCompile(regexp.QuoteMeta(linuxref.EchoReadyMarker))
	}
	l, err := guesttest.StartLive(ns.Command(context.Background(), "qemu-system-aarch64", args...))
	require.NoError(b, err)
	defer l.Kill()
	_, _, err = l.WaitFor(ready, 0, 3*time.Minute)
	require.NoError(b, err, "%s:\n%s", guest, l.Output())
	var f netFigures
	f.ready = l.Since()

	target := netip.MustParseAddrPort(netbenchGuest + ":7")
	require.NoError(b, ns.Do(func() error {
		// Warm up: ARP both ways, the servers' first-use paths.
		if _, err := linuxref.EchoWindow(target, 50, netbenchSize, 1, 0); err != nil {
			return err
		}
		st, err := linuxref.EchoWindow(target, netbenchEcho, netbenchSize, 1, 0)
		if err != nil {
			return err
		}
		if len(st.RTTs) == 0 {
			return errors.New("no echo answered")
		}
		f.rttMedian, f.rttP99 = linuxref.Quantile(st.RTTs, 0.5), linuxref.Quantile(st.RTTs, 0.99)
		f.rate1 = st.Rate()
		f.lost += st.Lost
		st, err = linuxref.EchoWindow(target, 4*netbenchEcho, netbenchSize, 16, 0)
		if err != nil {
			return err
		}
		f.rate16 = st.Rate()
		f.lost += st.Lost
		return nil
	}), "%s", guest)

	out, err := ns.Run(context.Background(), "ping", "-c", "100", "-i", "0.01", "-W", "1", netbenchGuest)
	r, perr := peertest.ParsePing(out)
	require.NoError(b, perr, out)
	require.NoError(b, err, out)
	var pings []time.Duration
	for _, rep := range r.Replies {
		pings = append(pings, rep.RTT)
	}
	slices.Sort(pings)
	f.ping = pings[len(pings)/2]
	b.Logf("%s: echo ready %.0f ms, rtt median %.0f us p99 %.0f us, %.0f dgrams/s (1 in flight), %.0f (16), ping %.0f us, lost %d",
		guest, ms(f.ready), us(f.rttMedian), us(f.rttP99), f.rate1, f.rate16, us(f.ping), f.lost)
	return f
}

// buildArm64 builds pkg as a static linux/arm64 binary at out.
func buildArm64(out, pkg string) error {
	root, err := guesttest.ModuleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func TestNetbenchTable(t *testing.T) {
	a := netFigures{ready: 300 * time.Millisecond, rttMedian: 1200 * time.Microsecond, rttP99: 1700 * time.Microsecond,
		ping: 990 * time.Microsecond, rate1: 800, rate16: 790}
	l := netFigures{ready: 1100 * time.Millisecond, rttMedian: 240 * time.Microsecond, rttP99: 1000 * time.Microsecond,
		ping: 400 * time.Microsecond, rate1: 3400, rate16: 0}
	table := netbenchTable(netRows(a, l), 3, 1, 0)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 9, table)
	require.Contains(t, lines[0], "medians of 3 boots")
	require.Regexp(t, `^figure +armos +Linux +armos/Linux$`, lines[1])
	require.Regexp(t, `^QEMU start to echo ready \(ms, lower is better\) +300 +1100 +0\.27$`, lines[2])
	require.Regexp(t, `^UDP echo RTT, median \(µs, lower is better\) +1200 +240 +5\.00$`, lines[3])
	require.Regexp(t, `^echoes/s, 16 in flight \(1/s, higher is better\) +790 +0 +-$`, lines[6])
	require.Contains(t, lines[8], "armos 1, Linux 0")
}

// BenchmarkNetworkProfile boots armos as BenchmarkNetwork does, under
// -icount shift=0 (the guest's counter counts instructions while anything
// runs) with armos.cpustat, and reports the guest instructions each
// process spends per echoed 64-byte datagram (one in flight):
// "insns/echo-NAME" for virtionetd, netd, echo, init and the kernel's own
// threads, and their sum "insns/echo-total". The background the system
// spends when no echo arrives, measured over a quiet interval of the same
// boot, is taken off in proportion to the time. Interrupts taken while a
// process runs are charged to it, those taken in the idle loop to no one.
func BenchmarkNetworkProfile(b *testing.B) {
	peertest.Require(b)
	kernel := guesttest.KernelForTest(b)
	img, err := guesttest.BuildImage(filepath.Join(b.TempDir(), "img"),
		[]string{"servers/init", "servers/netd", "servers/virtionetd", "apps/echo"}, nil)
	require.NoError(b, err)
	per := map[string][]float64{}
	for i := 0; i < b.N; i++ {
		for name, v := range netProfile(b, kernel, img) {
			per[name] = append(per[name], v)
		}
	}
	var lines []string
	for name, vs := range per {
		b.ReportMetric(medianOf(vs), "insns/echo-"+name)
		lines = append(lines, fmt.Sprintf("%-12s %10.0f", name, medianOf(vs)))
	}
	slices.Sort(lines)
	root, err := guesttest.ModuleRoot()
	require.NoError(b, err)
	outDir := filepath.Join(root, "out", "netbench")
	require.NoError(b, os.MkdirAll(outDir, 0o755))
	profile := fmt.Sprintf("armos: guest instructions per 64-byte UDP echo (one in flight, -icount shift=0, armos.cpustat; median of %d boots)\n%s\n",
		b.N, strings.Join(lines, "\n"))
	// The table goes to the file only: printed during the benchmark it
	// would split go test's result line, which benchcharts reads.
	require.NoError(b, os.WriteFile(filepath.Join(outDir, "profile.txt"), []byte(profile), 0o644))
}

// cpuStat is one armos.cpustat line: counter ns at the line, idle, and
// each process's by name (pids of the same name summed).
type cpuStat struct {
	at, idle uint64
	procs    map[string]uint64
}

var (
	cpuStatRE     = regexp.MustCompile(`armos: cpu at (\d+) idle (\d+)((?: \S+\[\d+\] \d+)*) end\r?\n`)
	cpuStatProcRE = regexp.MustCompile(` (\S+)\[\d+\] (\d+)`)
)

func parseCPUStat(m []string) (cpuStat, error) {
	var s cpuStat
	var err error
	if s.at, err = strconv.ParseUint(m[1], 10, 64); err != nil {
		return s, err
	}
	if s.idle, err = strconv.ParseUint(m[2], 10, 64); err != nil {
		return s, err
	}
	s.procs = map[string]uint64{}
	for _, p := range cpuStatProcRE.FindAllStringSubmatch(m[3], -1) {
		v, err := strconv.ParseUint(p[2], 10, 64)
		if err != nil {
			return s, err
		}
		s.procs[p[1]] += v
	}
	return s, nil
}

// cpuCost is what each process spent from a to b, less the background
// (bgFrom to bgTo's, scaled to the interval), divided by n; "total" sums
// the processes.
func cpuCost(bgFrom, bgTo, a, b cpuStat, n int) map[string]float64 {
	scale := float64(b.at-a.at) / float64(bgTo.at-bgFrom.at)
	out := map[string]float64{}
	total := 0.0
	for name, v := range b.procs {
		d := float64(v - a.procs[name])
		bg := float64(bgTo.procs[name]-bgFrom.procs[name]) * scale
		out[name] = (d - bg) / float64(n)
		total += out[name]
	}
	out["total"] = total
	return out
}

const (
	profileEchoes = 2000
	profilePeriod = 500 * time.Millisecond // armos.cpustat period (guest time)
)

// netProfile boots armos under icount with armos.cpustat and measures
// profileEchoes echoes between two lines, the quiet interval before them
// as the background.
func netProfile(b *testing.B, kernel, img string) map[string]float64 {
	ns := peertest.NewNS(b)
	ns.AddTap(b, "tap0", "10.99.0.1/24")
	m := guesttest.Machine{MemoryMiB: 512, Image: img,
		Extra: append([]string{"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-device,netdev=n0"},
			guesttest.IcountArgs...),
		Append: fmt.Sprintf("armos.cpustat=%d -- init -conf /etc/none service,virtionetd,device=net,/bin/virtionetd ", profilePeriod.Milliseconds()) +
			"service,netd,/bin/netd,-link,nic:net0,-ip," + netbenchGuest + "/24,-noprobe service,echo,/bin/echo"}
	l, err := guesttest.StartLive(ns.Command(context.Background(), "qemu-system-aarch64", m.Args(kernel)...))
	require.NoError(b, err)
	defer l.Kill()
	_, from, err := l.WaitFor(regexp.MustCompile(`echo: ready on udp`), 0, 3*time.Minute)
	require.NoError(b, err, l.Output())
	target := netip.MustParseAddrPort(netbenchGuest + ":7")
	echo := func(n int) {
		require.NoError(b, ns.Do(func() error {
			st, err := linuxref.EchoWindow(target, n, netbenchSize, 1, 0)
			if err == nil && st.Lost > 0 {
				err = fmt.Errorf("%d of %d echoes lost", st.Lost, n)
			}
			return err
		}))
	}
	echo(50) // warm up
	next := func() cpuStat {
		sm, end, err := l.WaitFor(cpuStatRE, from, time.Minute)
		require.NoError(b, err, l.Output())
		from = end
		s, err := parseCPUStat(sm)
		require.NoError(b, err, sm[0])
		return s
	}
	next()                     // a line after the warm-up: start afresh
	bg0, bg1 := next(), next() // a quiet period
	echo(profileEchoes)        // right after bg1's line
	end := next()              // the first line after the echoes
	cost := cpuCost(bg0, bg1, bg1, end, profileEchoes)
	b.Logf("armos under icount, guest instructions per echo (background %.0f%% busy): %v",
		100*(1-float64(bg1.idle-bg0.idle)/float64(bg1.at-bg0.at)), cost)
	return cost
}

func TestCPUStatCost(t *testing.T) {
	out := "armos: cpu at 1000 idle 900 kernel[1] 10 init[4103] 20 netd[4111] 30 ech" + "o: x\n" +
		"armos: cpu at 1000 idle 900 kernel[1] 10 init[4103] 20 netd[4111] 30 end\n" +
		"armos: cpu at 2000 idle 1800 kernel[1] 20 init[4103] 40 netd[4111] 60 netd[4120] 5 end\r\n" +
		"armos: cpu at 4000 idle 1900 kernel[1] 40 init[4103] 80 netd[4111] 1060 netd[4120] 1005 end\n"
	var stats []cpuStat
	for _, m := range cpuStatRE.FindAllStringSubmatch(out, -1) {
		s, err := parseCPUStat(m)
		require.NoError(t, err)
		stats = append(stats, s)
	}
	require.Len(t, stats, 3, "the cut line is skipped")
	require.Equal(t, cpuStat{at: 2000, idle: 1800, procs: map[string]uint64{"kernel": 20, "init": 40, "netd": 65}}, stats[1])
	// From 2000 to 4000 the background (1000 to 2000: kernel 10, init 20,
	// netd 35) doubles: 20, 40, 70; netd spent 2000, (2000-70)/10 each.
	cost := cpuCost(stats[0], stats[1], stats[1], stats[2], 10)
	require.InDeltaMapValues(t, map[string]float64{"kernel": 0, "init": 0, "netd": 193, "total": 193}, cost, 1e-9)
}
