package linuxref

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// Benchmarks of the Linux reference guest. They boot QEMU, so they need
// qemu-system-aarch64 and a fetched kernel (see FetchCommand); without them
// they fail and say what to do. Metric names match armos's own benchmarks
// (microkernel/guesttest/bench_test.go) so the two tabulate side by side.

var (
	guestOnce sync.Once
	guest     Guest
	guestErr  error
	guestDir  string
)

// linuxGuest returns the prepared kernel and initramfs, built once per
// test binary.
func linuxGuest(b *testing.B) Guest {
	guestOnce.Do(func() {
		dir, err := DefaultDir()
		if err != nil {
			guestErr = err
			return
		}
		a, err := Locate(dir)
		if err != nil {
			guestErr = err
			return
		}
		guestDir, guestErr = os.MkdirTemp("", "linuxref-")
		if guestErr == nil {
			guest, guestErr = Prepare(a, guestDir)
		}
	})
	if guestErr != nil {
		b.Fatalf("Linux reference guest: %v", guestErr)
	}
	return guest
}

// echoGuest is the one networked guest the echo benchmarks share; TestMain
// stops it.
var (
	echoOnce     sync.Once
	echoInstance *Instance
	echoAddr     netip.AddrPort
	echoReadyAt  time.Duration
	echoErr      error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if echoInstance != nil {
		echoInstance.Stop()
	}
	if guestDir != "" {
		os.RemoveAll(guestDir)
	}
	os.Exit(code)
}

// freeUDPPort picks a loopback UDP port nobody uses right now.
func freeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// bootEchoGuest boots a guest on memMiB with the echo server forwarded
// from a loopback port and waits for it to be ready.
func bootEchoGuest(g Guest, memMiB int) (*Instance, netip.AddrPort, time.Duration, error) {
	port, err := freeUDPPort()
	if err != nil {
		return nil, netip.AddrPort{}, 0, err
	}
	in, err := Start(g, Machine{MemoryMiB: memMiB, EchoPort: port}, DefaultTimeout)
	if err != nil {
		return nil, netip.AddrPort{}, 0, err
	}
	at, err := in.WaitFor(EchoReadyMarker)
	if err != nil {
		in.Stop()
		return nil, netip.AddrPort{}, 0, err
	}
	return in, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)), at, nil
}

func sharedEchoGuest(b *testing.B) netip.AddrPort {
	g := linuxGuest(b)
	echoOnce.Do(func() {
		echoInstance, echoAddr, echoReadyAt, echoErr = bootEchoGuest(g, 512)
		if echoErr == nil {
			// Warm up: slirp and the guest resolve each other (ARP) on
			// the first datagrams.
			_, echoErr = Echo(echoAddr, 20, echoSize, 0)
		}
	})
	if echoErr != nil {
		b.Fatalf("networked Linux guest: %v", echoErr)
	}
	return echoAddr
}

func median(ds []time.Duration) time.Duration { return Quantile(ds, 0.5) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchLinuxBoot boots Linux (no network, power off once ready) b.N times
// on memMiB and reports QEMU-start-to-ready wall time (mean, as armos
// reports it, and median), the kernel's own uptime at ready and memory in
// use (MemTotal - MemFree). ms-entry-to-ready is the kernel's
// CLOCK_BOOTTIME, which misses the kernel's work before timekeeping starts;
// ms-vm-counter-at-ready is the guest's virtual counter, which runs from
// QEMU's machine start.
func benchLinuxBoot(b *testing.B, memMiB int, extra ...string) {
	g := linuxGuest(b)
	b.ResetTimer()
	var walls, uptimes, counters []time.Duration
	var inUse int
	for i := 0; i < b.N; i++ {
		res, err := Boot(g, Machine{MemoryMiB: memMiB, Extra: extra}, DefaultTimeout)
		if err != nil {
			b.Fatalf("Linux boot: %v", err)
		}
		walls = append(walls, res.ReadyAfter)
		uptimes = append(uptimes, time.Duration(res.Ready.UptimeMS*float64(time.Millisecond)))
		counters = append(counters, time.Duration(res.Ready.CounterMS*float64(time.Millisecond)))
		inUse = res.Ready.InUseKiB
	}
	var sum, upSum, cntSum time.Duration
	for i := range walls {
		sum += walls[i]
		upSum += uptimes[i]
		cntSum += counters[i]
	}
	b.Logf("-m %dM: QEMU start to ready per boot %v", memMiB, walls)
	b.ReportMetric(ms(sum)/float64(b.N), "ms-qemu-start-to-ready")
	b.ReportMetric(ms(median(walls)), "ms-qemu-start-to-ready-median")
	b.ReportMetric(ms(upSum)/float64(b.N), "ms-entry-to-ready")
	b.ReportMetric(ms(cntSum)/float64(b.N), "ms-vm-counter-at-ready")
	b.ReportMetric(float64(inUse), "KiB-in-use")
}

// BenchmarkLinuxBoot128M is BenchmarkBoot128M for Linux.
func BenchmarkLinuxBoot128M(b *testing.B) { benchLinuxBoot(b, 128) }

// BenchmarkLinuxBoot512M is BenchmarkBoot512M for Linux.
func BenchmarkLinuxBoot512M(b *testing.B) { benchLinuxBoot(b, 512) }

// BenchmarkLinuxBootIcount512M boots with -icount shift=0, so the guest
// clock advances 1 ns per guest instruction: ms-entry-to-ready becomes an
// instruction count (in millions) that host load does not move (the
// counter still includes idle time, which icount skips ahead).
func BenchmarkLinuxBootIcount512M(b *testing.B) { benchLinuxBoot(b, 512, "-icount", "shift=0") }

// BenchmarkLinuxEchoReady512M boots Linux with a virtio-net device on slirp
// b.N times and reports QEMU start to the UDP echo server being up (the
// modules loaded and eth0 configured).
func BenchmarkLinuxEchoReady512M(b *testing.B) {
	g := linuxGuest(b)
	b.ResetTimer()
	var walls []time.Duration
	for i := 0; i < b.N; i++ {
		in, _, at, err := bootEchoGuest(g, 512)
		if err != nil {
			b.Fatalf("Linux boot with network: %v", err)
		}
		in.Stop()
		walls = append(walls, at)
	}
	var sum time.Duration
	for _, w := range walls {
		sum += w
	}
	b.ReportMetric(ms(sum)/float64(b.N), "ms-qemu-start-to-echo-ready")
	b.ReportMetric(ms(median(walls)), "ms-qemu-start-to-echo-ready-median")
}

// echoSize is the UDP payload of the RTT benchmark.
const echoSize = 64

// BenchmarkLinuxUDPEchoRTT sends b.N 64-byte UDP datagrams, one in flight,
// from the host to the guest's echo server through slirp's host forward
// on 127.0.0.1, and reports the median and 99th percentile round trip.
func BenchmarkLinuxUDPEchoRTT(b *testing.B) {
	addr := sharedEchoGuest(b)
	b.ResetTimer()
	st, err := Echo(addr, b.N, echoSize, 0)
	b.StopTimer()
	if err != nil {
		b.Fatalf("echo: %v", err)
	}
	if len(st.RTTs) == 0 {
		b.Fatalf("no echo replies from %s (%d lost)", addr, st.Lost)
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	b.ReportMetric(us(Quantile(st.RTTs, 0.5)), "us-rtt-median")
	b.ReportMetric(us(Quantile(st.RTTs, 0.99)), "us-rtt-p99")
	b.ReportMetric(float64(st.Lost), "lost")
	b.ReportMetric(float64(len(st.RTTs))/b.Elapsed().Seconds(), "datagrams/s")
}
