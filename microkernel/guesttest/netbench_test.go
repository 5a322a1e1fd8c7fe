package guesttest_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
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
	lg := netbenchLinuxGuest(b, filepath.Join(dir, "linux"), echoBin)

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
	// ./build.sh bench: the medians as JSON and a chart (out/bench).
	if dir := os.Getenv("ARMOS_BENCH_OUT"); dir != "" && len(all["armos"]) > 0 && len(all["linux"]) > 0 {
		a, l := medianFigures(all["armos"]), medianFigures(all["linux"])
		fig := func(name, unit, better string, av, lv float64) benchchart.Figure {
			return benchchart.Figure{Name: name, Unit: unit, Better: better, Values: map[string]float64{"armos": av, "linux": lv}}
		}
		r := benchchart.Results{Title: "armos beside Linux in QEMU: network (medians of " + fmt.Sprint(len(all["armos"])) + " boots)",
			Date: time.Now().UTC().Format("2006-01-02"), Systems: []string{"armos", "linux"}, Figures: []benchchart.Figure{
				fig("QEMU start to echo ready", "ms", "lower", ms(a.ready), ms(l.ready)),
				fig("UDP echo RTT, median", "µs", "lower", us(a.rttMedian), us(l.rttMedian)),
				fig("UDP echo RTT, p99", "µs", "lower", us(a.rttP99), us(l.rttP99)),
				fig("echoes/s, 1 in flight", "1/s", "higher", a.rate1, l.rate1),
				fig("echoes/s, 16 in flight", "1/s", "higher", a.rate16, l.rate16),
				fig("ping RTT, median", "µs", "lower", us(a.ping), us(l.ping)),
			}}
		require.NoError(b, benchchart.Write(dir, "network", r))
	}
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
	netbenchEcho  = 2000 // echoes per figure
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

	require.NoError(b, ns.Do(func() error {
		c, err := net.Dial("udp4", netbenchGuest+":7")
		if err != nil {
			return err
		}
		defer c.Close()
		if _, _, _, err := echoWindow(c, 50, 64, 1); err != nil { // warm up: ARP both ways
			return err
		}
		rtts, el, lost, err := echoWindow(c, netbenchEcho, 64, 1)
		if err != nil {
			return err
		}
		slices.Sort(rtts)
		f.rttMedian, f.rttP99 = rtts[len(rtts)/2], rtts[len(rtts)*99/100]
		f.rate1 = float64(len(rtts)) / el.Seconds()
		f.lost += lost
		rtts, el, lost, err = echoWindow(c, 4*netbenchEcho, 64, 16)
		if err != nil {
			return err
		}
		f.rate16 = float64(len(rtts)) / el.Seconds()
		f.lost += lost
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

// echoWindow sends count datagrams of size bytes to the echo service c
// is connected to, keeping window of them in flight, and returns the
// round-trip time of each answered one, the time it all took, and how
// many were not answered within a second.
func echoWindow(c net.Conn, count, size, window int) ([]time.Duration, time.Duration, int, error) {
	if size < 8 {
		return nil, 0, 0, errors.New("echoWindow: datagrams carry an 8-byte sequence number")
	}
	sent := make([]atomic.Int64, count)
	slots := make(chan struct{}, window)
	var mu sync.Mutex
	var rtts []time.Duration
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, size+1)
		seen := make([]bool, count)
		for got := 0; got < count; {
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err != nil {
				return // the rest are lost
			}
			seq := binary.BigEndian.Uint64(buf)
			if n != size || seq >= uint64(count) || seen[seq] {
				continue
			}
			seen[seq] = true
			got++
			mu.Lock()
			rtts = append(rtts, time.Duration(time.Now().UnixNano()-sent[seq].Load()))
			mu.Unlock()
			<-slots
		}
	}()
	p := make([]byte, size)
	lost := 0
	for i := 0; i < count; i++ {
		select {
		case slots <- struct{}{}:
		case <-time.After(time.Second):
			lost++ // a slot never freed: its datagram was lost
		case <-done:
		}
		binary.BigEndian.PutUint64(p, uint64(i))
		sent[i].Store(time.Now().UnixNano())
		if _, err := c.Write(p); err != nil {
			return nil, 0, 0, err
		}
	}
	<-done
	el := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if len(rtts) == 0 {
		return nil, el, count, errors.New("echoWindow: no answers")
	}
	return rtts, el, count - len(rtts), nil
}

// netbenchLinuxGuest prepares the Linux guest with the echo program.
func netbenchLinuxGuest(b *testing.B, dir, echoBin string) linuxref.Guest {
	cache, err := linuxref.DefaultDir()
	require.NoError(b, err)
	a, err := linuxref.Locate(cache)
	if err != nil {
		b.Fatalf("Linux reference guest: %v", err)
	}
	require.NoError(b, os.MkdirAll(dir, 0o755))
	g, err := linuxref.Prepare(a, dir, linuxref.GuestFile{Path: "/bin/echo", Host: echoBin})
	require.NoError(b, err)
	return g
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
