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
// "ms-qemu-start-to-ready-median"}.
type Metric struct{ Bench, Unit string }

// SpecFigure is a chart's figure and where each system's value comes from.
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
// and restart charts are written by their benchmarks directly).
var Specs = []Spec{{
	Name: "boot", Title: "armos beside Linux in QEMU: boot (medians of 5 boots, no network device)",
	Systems: []string{"armos", "linux"},
	Figures: []SpecFigure{
		{"QEMU start to ready, -m 512M", "ms", "lower", map[string]Metric{
			"armos": {"BenchmarkBoot512M", "ms-qemu-start-to-ready-median"},
			"linux": {"BenchmarkLinuxBoot512M", "ms-qemu-start-to-ready-median"}}},
		{"QEMU start to ready, -m 128M", "ms", "lower", map[string]Metric{
			"armos": {"BenchmarkBoot128M", "ms-qemu-start-to-ready-median"},
			"linux": {"BenchmarkLinuxBoot128M", "ms-qemu-start-to-ready-median"}}},
		{"memory in use after boot, -m 512M", "KiB", "lower", map[string]Metric{
			"armos": {"BenchmarkBoot512M", "KiB-in-use"},
			"linux": {"BenchmarkLinuxBoot512M", "KiB-in-use"}}},
		{"memory in use after boot, -m 128M", "KiB", "lower", map[string]Metric{
			"armos": {"BenchmarkBoot128M", "KiB-in-use"},
			"linux": {"BenchmarkLinuxBoot128M", "KiB-in-use"}}},
	},
}, {
	Name: "ipc", Title: "Messages between two processes: guest instructions per round trip (-icount shift=0; Linux with kpti=0)",
	Systems: []string{"armos IPC call", "armos pipe", "Linux pipe", "Linux Unix socket"},
	Figures: []SpecFigure{
		ipcFigure("round trip, 0–1 byte", "0", "1"),
		ipcFigure("round trip, 64 bytes", "64", "64"),
		ipcFigure("round trip, 1500 bytes", "1500", "1500"),
	},
}}

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

// benchLine is a result line: name (with its -GOMAXPROCS suffix), the
// iteration count, then value-unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// ParseBenchText returns the metrics of every benchmark result line in r,
// by benchmark name (without the -GOMAXPROCS suffix) and unit. A name seen
// twice keeps its last line.
func ParseBenchText(r io.Reader) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
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
			m := f.From[sys]
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
