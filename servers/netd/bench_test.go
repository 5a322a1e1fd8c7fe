package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"armos/microkernel/guesttest/linuxref"
	"armos/servers/netd/link/peertest"
	"armos/servers/netd/stack"
)

// echoRTT sends 64-byte datagrams to the echo app one at a time; an op is
// one round trip (two datagrams through each netd), also reported as echoed
// datagrams per second.
//
// The client uses the netip forms (ReadFromUDPAddrPort, WriteToUDPAddrPort)
// that libsocket's PacketConn shares with *net.UDPConn: net.Addr results
// allocate per datagram on both.
func echoRTT(b *testing.B, pc net.PacketConn, to netip.AddrPort) {
	ap := pc.(interface {
		ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
		WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	})
	msg := make([]byte, 64)
	buf := make([]byte, 2048)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ap.WriteToUDPAddrPort(msg, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ap.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "echoes/s")
}

// BenchmarkHostedEchoRTT: a libsocket client in one hosted netd, the echo
// app in another, an in-memory Ethernet link between them.
func BenchmarkHostedEchoRTT(b *testing.B) {
	client, _, _ := hostedPair(b, stack.SystemClock{})
	pc := dialClient(b, client)
	echoRTT(b, pc, echoUDP.AddrPort())
}

// BenchmarkRealPeerEchoRTT: a Linux UDP socket in the test's namespace, the
// echo app in hosted netd across a TAP device (needs root).
func BenchmarkRealPeerEchoRTT(b *testing.B) {
	peertest.Require(b)
	bin := buildNetd(b)
	ns := peertest.NewNS(b)
	ns.AddTap(b, peerDev, linuxSide)
	startNetd(b, ns, bin, "-tap", peerDev, "-ip", netdCIDR, "-apps", "echo")
	var pc net.PacketConn
	if err := ns.Do(func() (err error) {
		pc, err = net.ListenPacket("udp4", "10.99.0.1:0")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	echoRTT(b, pc, netip.AddrPortFrom(netip.MustParseAddr(netdIP), 7))
}

// BenchmarkRealPeerEchoWindow: the tap figure of issue 14's goal — Linux in
// the test's namespace keeps 16 64-byte datagrams in flight to hosted
// netd's echo app across a TAP device (linuxref.EchoWindow, the prober the
// guest benchmarks use); echoes/s, and netd's resident memory after the
// run (needs root). A "floor" sub-benchmark measures internal/tapfloor, a
// responder that does nothing but read and write each frame, the same way.
// With ARMOS_NETD_BASELINE naming another netd binary (an earlier commit's,
// built with CGO_ENABLED=0 go build), a "baseline" sub-benchmark measures it
// the same way in the same run.
func BenchmarkRealPeerEchoWindow(b *testing.B) {
	peertest.Require(b)
	var tags []string
	if os.Getenv("ARMOS_NETD_CPUPROFILE") != "" {
		tags = append(tags, "netdprof") // only a netdprof build carries the profiler
	}
	bin := buildNetd(b, tags...)
	b.Run("netd", func(b *testing.B) { echoWindow(b, bin) })
	// The floor: tapfloor answers the same echoes with nothing but a TAP
	// read and write per frame (no stack, no IPC, no queues), so its rate
	// is the most any user-space netd could reach on this machine in this
	// run, with this prober.
	floor := buildCommand(b, "./internal/tapfloor")
	b.Run("floor", func(b *testing.B) { echoWindow(b, floor) })
	if base := os.Getenv("ARMOS_NETD_BASELINE"); base != "" {
		b.Run("baseline", func(b *testing.B) { echoWindow(b, base) })
	}
}

func echoWindow(b *testing.B, bin string) {
	ns := peertest.NewNS(b)
	ns.AddTap(b, peerDev, linuxSide)
	args := []string{"-tap", peerDev, "-ip", netdCIDR, "-apps", "echo", "-noprobe"}
	prof := os.Getenv("ARMOS_NETD_CPUPROFILE") // where netd's CPU profile goes (docs/netd.md's profile)
	if prof != "" {
		args = append(args, "-cpuprofile", prof)
	}
	p := startNetd(b, ns, bin, args...)
	target := netip.AddrPortFrom(netip.MustParseAddr(netdIP), 7)
	run := func(n int) linuxref.WindowStats {
		var st linuxref.WindowStats
		if err := ns.Do(func() (err error) {
			st, err = linuxref.EchoWindow(target, n, 64, 16, time.Second)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		return st
	}
	run(2000) // ARP resolved, queues and pools warm
	cpu0, cpuErr := cpuTime(p.cmd.Process.Pid)
	b.ResetTimer()
	st := run(max(b.N, 16))
	b.StopTimer()
	b.ReportMetric(st.Rate(), "echoes/s")
	if cpu1, err := cpuTime(p.cmd.Process.Pid); err == nil && cpuErr == nil && len(st.RTTs) > 0 {
		// The server's own CPU (user and system) per echo: less swayed by
		// the machine's other work than the rate.
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(len(st.RTTs)), "cpu-µs/echo")
	}
	b.ReportMetric(float64(st.Lost), "lost")
	if kib, err := statusKiB(p.cmd.Process.Pid, "VmRSS"); err == nil {
		b.ReportMetric(float64(kib), "KiB-rss")
	}
	if kib, err := statusKiB(p.cmd.Process.Pid, "RssAnon"); err == nil {
		b.ReportMetric(float64(kib), "KiB-anon") // the rest is the program's text and data pages
	}
	if prof != "" {
		if err := p.stop(b); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime reads the user plus system CPU time a process has used from
// /proc (in clock ticks of 1/100 s, as Linux reports them to user space).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime: fields 14 and 15
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// statusKiB reads a memory figure (VmRSS, RssAnon...) of a process from
// /proc.
func statusKiB(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kib int
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib)
			return kib, err
		}
	}
	return 0, fmt.Errorf("no %s for %d", field, pid)
}
