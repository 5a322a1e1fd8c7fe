package benchchart

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Charts drawn from `go test -bench` output (./build.sh bench's
// out/bench.txt), for the figures measured by separate benchmarks on each
// system (armos in microkernel/guesttest, Linux in its linuxref package).

// Metric names one metric of one benchmark, e.g. {"BenchmarkBoot512M",
// "ms-qemu-start-to-ready-median"}. Bench may name the package too,
// "armos/libipc.BenchmarkCallRoundTrip", when several packages have a
// benchmark of that name (ParseBenchText keeps both forms).
type Metric struct{ Bench, Unit string }

// SpecFigure is a chart's figure and where each system's value comes from;
// a system missing from From is not measured for this figure (Absent).
type SpecFigure struct {
	Name, Unit, Better string
	From               map[string]Metric // by system
}

// Spec is a chart drawn from benchmark output.
type Spec struct {
	Name, Title string
	Systems     []string
	Figures     []SpecFigure
}

// Specs are the charts ./build.sh bench draws from its output (the network
// and restart charts are written by their benchmarks directly). Every
// figure is named as the row of the README's table that shows it.
var Specs = []Spec{{
	Name: "boot", Title: "armos beside Linux in QEMU: boot (5 boots each, no network device)",
	Systems: []string{"armos", "linux"},
	Figures: []SpecFigure{
		{"QEMU start to ready, -m 512M", "ms", "lower", map[string]Metric{
			"armos": {"BenchmarkBoot512M", "ms-qemu-start-to-ready-median"},
			"linux": {"BenchmarkLinuxBoot512M", "ms-qemu-start-to-ready-median"}}},
		{"QEMU start to ready, -m 128M", "ms", "lower", map[string]Metric{
			"armos": {"BenchmarkBoot128M", "ms-qemu-start-to-ready-median"},
			"linux": {"BenchmarkLinuxBoot128M", "ms-qemu-start-to-ready-median"}}},
		// Linux reports only the mean of its boot clock's reading at ready.
		{`kernel entry to "ready", -m 512M, mean`, "ms", "lower", map[string]Metric{
			"armos": {"BenchmarkBoot512M", "ms-entry-to-ready"},
			"linux": {"BenchmarkLinuxBoot512M", "ms-entry-to-ready"}}},
		{"memory in use after boot, -m 512M", "KiB", "lower", map[string]Metric{
			"armos": {"BenchmarkBoot512M", "KiB-in-use"},
			"linux": {"BenchmarkLinuxBoot512M", "KiB-in-use"}}},
		{"memory in use after boot, -m 128M", "KiB", "lower", map[string]Metric{
			"armos": {"BenchmarkBoot128M", "KiB-in-use"},
			"linux": {"BenchmarkLinuxBoot128M", "KiB-in-use"}}},
		// No Linux search: its figure is not measured.
		{"smallest -m that boots", "MiB", "lower", map[string]Metric{
			"armos": {"BenchmarkMinMemory", "MiB-min"}}},
	},
}, {
	Name: "processes", Title: "The same Go program as an armos and a Linux process: guest instructions per operation (-icount shift=0)",
	Systems: []string{"armos", "Linux", "Linux kpti=0"},
	Figures: []SpecFigure{
		procFigure("null system call (getppid, round trip from Go)", "null"),
		procFigure("clock: time.Since (vDSO)", "clock-mono"),
		procFigure("clock: time.Now (vDSO)", "clock-now"),
		procFigure("clock: raw clock_gettime system call", "clock-raw"),
		procFigure("a plain Go function call (the clock's yardstick)", "call"),
		procFigure("thread switch: futex ping-pong round trip", "futex"),
		procFigure("pipe ping-pong between processes, round trip", "pipe"),
		procFigure("the same through Go's poller (epoll)", "pipe-poll"),
		procFigure("page fault, first write to a fresh page", "fault"),
		procFigure("munmap, per page", "munmap"),
		procFigure("spawn (os/exec): Start", "spawn-start"),
		procFigure("spawn: Start to the child's main", "spawn-main"),
		procFigure("spawn: Start to Wait of a child that exits at once", "spawn-wait"),
		// Memory does not depend on icount: the wall run's figure.
		{"memory an idle Go process costs (free RAM drop, KiB)", "KiB", "lower", map[string]Metric{
			"armos":        {"BenchmarkProcesses", "armos-idlemem-KiB/proc"},
			"Linux":        {"BenchmarkProcesses", "linux-idlemem-KiB/proc"},
			"Linux kpti=0": {"BenchmarkProcesses", "linux-nokpti-idlemem-KiB/proc"}}},
	},
}, {
	Name: "ipc", Title: "Messages between two processes: guest instructions per round trip or message (-icount shift=0; Linux with kpti=0)",
	Systems: []string{"armos IPC call", "armos pipe", "Linux pipe", "Linux Unix socket"},
	Figures: []SpecFigure{
		ipcFigure("round trip, 0–1 byte", "0", "1"),
		ipcFigure("round trip, 64 bytes", "64", "64"),
		ipcFigure("round trip, 1500 bytes", "1500", "1500"),
		// One-way: an armos IPC send, a Unix socket write; sysbench sends
		// none over pipes.
		{"one-way message, 64 bytes", "instructions", "lower", map[string]Metric{
			"armos IPC call":    {"BenchmarkProcesses", "armos-oneway-ipc-64-insns/op"},
			"Linux Unix socket": {"BenchmarkProcesses", "linux-nokpti-oneway-unix-64-insns/op"}}},
	},
}, {
	Name: "dns", Title: "DHCP and DNS in QEMU, dnsmasq on a tap: armos (dhcpc, resolved) beside Linux (medians of 5 boots each, alternating)",
	Systems: []string{"armos", "linux"},
	Figures: []SpecFigure{
		// No Linux figure: dhcpc is a netd client, not a Linux program
		// (BenchmarkDHCPDNS says why).
		{"dhcpc start to a configured address (DORA, -noprobe)", "ms", "lower", map[string]Metric{
			"armos": {"BenchmarkDHCPDNS", "armos-ms-dhcp-configured"}}},
		{"net.LookupHost of a new name (A + AAAA)", "µs", "lower", map[string]Metric{
			"armos": {"BenchmarkDHCPDNS", "armos-us-lookup-new"},
			"linux": {"BenchmarkDHCPDNS", "linux-us-lookup-new"}}},
		{"net.LookupHost of the same name again", "µs", "lower", map[string]Metric{
			"armos": {"BenchmarkDHCPDNS", "armos-us-lookup-again"},
			"linux": {"BenchmarkDHCPDNS", "linux-us-lookup-again"}}},
	},
}, {
	Name: "hosted", Title: "armos's network stack and IPC hosted: Go benchmarks on the development machine (amd64)",
	Systems: []string{"hosted (amd64)"},
	Figures: []SpecFigure{
		hostedFigure("UDP echo, 64 B, through netd + libsocket + in-memory IPC", "datagrams/s", "higher", "armos/servers/netd/sockets.BenchmarkUDPEcho/64B", "datagrams/s"),
		hostedFigure("UDP echo, 1024 B, same path", "datagrams/s", "higher", "armos/servers/netd/sockets.BenchmarkUDPEcho/1024B", "datagrams/s"),
		hostedFigure("UDP echo through the stack alone (frame in, reply frame out), 64 B", "ns", "lower", "armos/servers/netd/stack.BenchmarkUDPEcho/64B", "ns/op"),
		hostedFigure("UDP echo through the stack alone, 1472 B", "ns", "lower", "armos/servers/netd/stack.BenchmarkUDPEcho/1472B", "ns/op"),
		hostedFigure("hosted netd pair over a simulated link, echo round trip", "echoes/s", "higher", "armos/servers/netd.BenchmarkHostedEchoRTT", "echoes/s"),
		hostedFigure("hosted netd on a TAP, a Linux UDP socket as the peer, echo round trip", "echoes/s", "higher", "armos/servers/netd.BenchmarkRealPeerEchoRTT", "echoes/s"),
		hostedFigure("hosted netd on a TAP, 16 echoes in flight", "echoes/s", "higher", "armos/servers/netd.BenchmarkRealPeerEchoWindow/netd", "echoes/s"),
		hostedFigure("the same, netd of 2026-12-03 (9d7a957), same run", "echoes/s", "higher", "armos/servers/netd.BenchmarkRealPeerEchoWindow/baseline", "echoes/s"),
		hostedFigure("the same, tapfloor (a TAP read and write per frame, nothing else), same run", "echoes/s", "higher", "armos/servers/netd.BenchmarkRealPeerEchoWindow/floor", "echoes/s"),
		hostedFigure("netd's CPU per echo (user + system)", "µs", "lower", "armos/servers/netd.BenchmarkRealPeerEchoWindow/netd", "cpu-µs/echo"),
		hostedFigure("the same, netd of 2026-12-03", "µs", "lower", "armos/servers/netd.BenchmarkRealPeerEchoWindow/baseline", "cpu-µs/echo"),
		hostedFigure("the same, tapfloor", "µs", "lower", "armos/servers/netd.BenchmarkRealPeerEchoWindow/floor", "cpu-µs/echo"),
		hostedFigure("hosted netd's resident memory after it", "KiB", "lower", "armos/servers/netd.BenchmarkRealPeerEchoWindow/netd", "KiB-rss"),
		hostedFigure("of it anonymous (netd's own, not its program's pages)", "KiB", "lower", "armos/servers/netd.BenchmarkRealPeerEchoWindow/netd", "KiB-anon"),
		hostedFigure("parse Ethernet header", "ns", "lower", "armos/servers/netd/wire.BenchmarkParseEthernet", "ns/op"),
		hostedFigure("emit Ethernet header", "ns", "lower", "armos/servers/netd/wire.BenchmarkEmitEthernet", "ns/op"),
		hostedFigure("parse ARP", "ns", "lower", "armos/servers/netd/wire.BenchmarkParseARP", "ns/op"),
		hostedFigure("emit ARP", "ns", "lower", "armos/servers/netd/wire.BenchmarkEmitARP", "ns/op"),
		hostedFigure("parse IPv4 header", "ns", "lower", "armos/servers/netd/wire.BenchmarkParseIPv4", "ns/op"),
		hostedFigure("emit IPv4 header", "ns", "lower", "armos/servers/netd/wire.BenchmarkEmitIPv4", "ns/op"),
		hostedFigure("parse ICMPv4 header", "ns", "lower", "armos/servers/netd/wire.BenchmarkParseICMPv4", "ns/op"),
		hostedFigure("emit ICMPv4 echo reply", "ns", "lower", "armos/servers/netd/wire.BenchmarkEmitICMPv4EchoReply", "ns/op"),
		hostedFigure("parse UDP header, checksum verified", "ns", "lower", "armos/servers/netd/wire.BenchmarkParseUDP", "ns/op"),
		hostedFigure("UDP emit with checksum, 1480 B", "ns", "lower", "armos/servers/netd/wire.BenchmarkEmitUDP", "ns/op"),
		hostedFigure("msgpack framing, encode + decode: envelope alone", "ns", "lower", "armos/libipc.BenchmarkEnvelope", "ns/op"),
		hostedFigure("msgpack framing, encode + decode: envelope + small body", "ns", "lower", "armos/libipc.BenchmarkFraming", "ns/op"),
		hostedFigure("libipc Call round trip over the in-memory transport", "ns", "lower", "armos/libipc.BenchmarkCallRoundTrip", "ns/op"),
	},
}, {
	Name: "tcp", Title: "TCP: armos beside Linux, hosted (tcpd + netd vs loopback) and in QEMU (apps/httpd in both guests)",
	Systems: []string{"armos", "Linux"},
	Figures: []SpecFigure{
		tcpFigure("hosted: bulk, one connection, 64 KiB writes", "MB/s", "higher", "armos/servers/tcpd/server.BenchmarkTCPBulk", "MB/s"),
		tcpFigure("hosted: allocations per 64 KiB written", "allocs", "lower", "armos/servers/tcpd/server.BenchmarkTCPBulk", "allocs/op"),
		// Linux's loopback loses nothing: not counted.
		armosFigure("hosted: bulk, datagrams netd dropped handing them to tcpd (its channel full), per 64 KiB", "datagrams", "lower", "armos/servers/tcpd/server.BenchmarkTCPBulk/armos", "handoff-drops/op"),
		armosFigure("hosted: bulk, segments retransmitted per 64 KiB", "segments", "lower", "armos/servers/tcpd/server.BenchmarkTCPBulk/armos", "retransmits/op"),
		tcpFigure("hosted: request/response, 64 B each way, one in flight", "transactions/s", "higher", "armos/servers/tcpd/server.BenchmarkTCPRequestResponse", "transactions/s"),
		tcpFigure("hosted: allocations per transaction", "allocs", "lower", "armos/servers/tcpd/server.BenchmarkTCPRequestResponse", "allocs/op"),
		tcpGuestFigure("in QEMU: download 16 MiB from httpd", "MB/s", "higher", "MB/s-download"),
		tcpGuestFigure("in QEMU: GET /health on one connection, one in flight", "transactions/s", "higher", "transactions/s"),
		tcpGuestFigure("in QEMU: its round trip, median", "µs", "lower", "us-transaction-median"),
		tcpGuestFigure("in QEMU: QEMU start to httpd listening", "ms", "lower", "ms-http-ready"),
		// BenchmarkTCPGuestInsnProfile: both guests under -icount
		// shift=0, every instruction counted by the insnprof plugin.
		tcpInsnFigure("in QEMU, -icount shift=0: guest instructions per KiB downloaded", "insns/KiB"),
		tcpInsnFigure("in QEMU, -icount shift=0: guest instructions per GET /health", "insns/req"),
	},
}}

// tcpFigure is a figure of a hosted TCP benchmark whose sub-benchmarks
// "armos" and "linux" measure the two systems in the same run.
func tcpFigure(name, unit, better, bench, metric string) SpecFigure {
	return SpecFigure{name, unit, better, map[string]Metric{
		"armos": {bench + "/armos", metric}, "Linux": {bench + "/linux", metric}}}
}

// armosFigure is a figure of the TCP chart measured on armos only.
func armosFigure(name, unit, better, bench, metric string) SpecFigure {
	return SpecFigure{name, unit, better, map[string]Metric{"armos": {bench, metric}}}
}

// tcpGuestFigure is a figure of BenchmarkTCPGuest, which boots both
// guests in turn and reports each one's metric with its name in front.
func tcpGuestFigure(name, unit, better, metric string) SpecFigure {
	const bench = "armos/microkernel/guesttest.BenchmarkTCPGuest"
	return SpecFigure{name, unit, better, map[string]Metric{
		"armos": {bench, "armos-" + metric}, "Linux": {bench, "linux-" + metric}}}
}

// tcpInsnFigure is a figure of BenchmarkTCPGuestInsnProfile, which
// profiles both guests in turn and reports each one's metric with its
// name in front.
func tcpInsnFigure(name, metric string) SpecFigure {
	const bench = "armos/microkernel/guesttest.BenchmarkTCPGuestInsnProfile"
	return SpecFigure{name, "instructions", "lower", map[string]Metric{
		"armos": {bench, "armos-" + metric}, "Linux": {bench, "linux-" + metric}}}
}

// procFigure is a figure of BenchmarkProcesses (sysbench all) in guest
// instructions per operation, on armos and on Linux with and without KPTI.
func procFigure(name, figure string) SpecFigure {
	m := func(os string) Metric { return Metric{"BenchmarkProcesses", os + "-" + figure + "-insns/op"} }
	return SpecFigure{name, "instructions", "lower", map[string]Metric{
		"armos": m("armos"), "Linux": m("linux"), "Linux kpti=0": m("linux-nokpti"),
	}}
}

// ipcFigure is a round trip of BenchmarkProcesses's sysbench msg: the
// armos call carries callSize bytes, the pipes and socket size bytes.
func ipcFigure(name, callSize, size string) SpecFigure {
	m := func(unit string) Metric { return Metric{"BenchmarkProcesses", unit + "-insns/op"} }
	return SpecFigure{name, "instructions", "lower", map[string]Metric{
		"armos IPC call":    m("armos-ipc-call-" + callSize),
		"armos pipe":        m("armos-msg-pipe-" + size),
		"Linux pipe":        m("linux-nokpti-msg-pipe-" + size),
		"Linux Unix socket": m("linux-nokpti-msg-unix-" + size),
	}}
}

// hostedFigure is one host benchmark's metric (the hosted chart's only
// system).
func hostedFigure(name, unit, better, bench, metric string) SpecFigure {
	return SpecFigure{name, unit, better, map[string]Metric{"hosted (amd64)": {bench, metric}}}
}

// benchLine is a result line: name (with its -GOMAXPROCS suffix), the
// iteration count, then value-unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// pkgLine is go test's "pkg: IMPORTPATH" line before a package's results.
var pkgLine = regexp.MustCompile(`^pkg: (\S+)$`)

// ParseBenchText returns the metrics of every benchmark result line in r,
// by benchmark name (without the -GOMAXPROCS suffix) and unit, and again
// by the name qualified with the package of the last "pkg:" line before
// it ("armos/libipc.BenchmarkCallRoundTrip"). A name seen twice keeps its
// last line.
func ParseBenchText(r io.Reader) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	pkg := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if p := pkgLine.FindStringSubmatch(line); p != nil {
			pkg = p[1]
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break // not a value-unit pair: the rest is not metrics
			}
			metrics[f[i+1]] = v
		}
		if len(metrics) > 0 {
			out[m[1]] = metrics
			if pkg != "" {
				out[pkg+"."+m[1]] = metrics
			}
		}
	}
	return out, sc.Err()
}

// Results draws s's figures from metrics; an error names the first metric
// missing.
func (s Spec) Results(metrics map[string]map[string]float64, date string) (Results, error) {
	r := Results{Title: s.Title, Date: date, Systems: s.Systems}
	for _, f := range s.Figures {
		fig := Figure{Name: f.Name, Unit: f.Unit, Better: f.Better, Values: map[string]float64{}}
		for _, sys := range s.Systems {
			m, measured := f.From[sys]
			if !measured {
				fig.Absent = append(fig.Absent, sys)
				continue
			}
			v, ok := metrics[m.Bench][m.Unit]
			if !ok {
				return Results{}, fmt.Errorf("benchchart: %s: %q for %s: no %s %s in the output", s.Name, f.Name, sys, m.Bench, m.Unit)
			}
			fig.Values[sys] = v
		}
		r.Figures = append(r.Figures, fig)
	}
	return r, r.Check()
}
