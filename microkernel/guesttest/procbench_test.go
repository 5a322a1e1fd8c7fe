package guesttest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/microkernel/guesttest"
	"armos/microkernel/guesttest/linuxref"
)

// Process benchmarks: the same static Go program (progs/sysbench) runs as
// an armos process and as a process of the Linux reference guest, in the
// same QEMU machine (-M virt -cpu cortex-a72, the same -m) in the same
// benchmark run, once as is (figures in ns: wall time as the guest's clock
// sees it, which moves with host load) and once with -icount shift=0
// (figures in guest instructions, which do not).
//
// Linux runs twice each way: as Debian boots it ("linux": KASLR is on, so
// the kernel forces page table isolation, KPTI, and every system call and
// exception switches page tables twice, which TCG makes very costly), and
// with kpti=0 ("linux-nokpti"), the fairer comparison for a kernel that
// does not isolate itself that way.
//
// This file is an external test package because linuxref imports
// guesttest.

// procbenchMemMiB is -m for both guests.
const procbenchMemMiB = 512

// procbenchTimeout bounds one guest run of "sysbench all" (about a minute
// without icount on an idle host; icount and a busy host slow it down).
const procbenchTimeout = 20 * time.Minute

// sysbenchArgsEnv replaces sysbench's arguments ("all"), e.g. "all -scale
// 0.2" for a quick run or "null -n 1000".
const sysbenchArgsEnv = "SYSBENCH_ARGS"

// guestRun is one boot of one guest running sysbench.
type guestRun struct {
	os      string // "armos", "linux" or "linux-nokpti": the metrics' prefix
	cmdline string // Linux: more kernel command line words
	icount  bool
}

// linux reports whether the run boots the Linux reference guest.
func (r guestRun) linux() bool { return r.os != "armos" }

// label names the run in file names: os, or os-icount.
func (r guestRun) label() string {
	if r.icount {
		return r.os + "-icount"
	}
	return r.os
}

// unit is the metric suffix for a figure of this run: times are
// instructions under icount.
func (r guestRun) unit(f guesttest.SysbenchFigure) string {
	if r.icount && f.Unit == "ns/op" {
		return "insns/op"
	}
	return f.Unit
}

func (r guestRun) String() string {
	if r.icount {
		return r.os + " (icount)"
	}
	return r.os
}

// procbenchRuns are the runs of one benchmark iteration, in order.
var procbenchRuns = []guestRun{
	{os: "armos"}, {os: "linux"}, {os: "linux-nokpti", cmdline: "kpti=0"},
	{os: "armos", icount: true}, {os: "linux", icount: true}, {os: "linux-nokpti", cmdline: "kpti=0", icount: true},
}

// procbenchOSes are the columns of the table, in order.
var procbenchOSes = []string{"armos", "linux", "linux-nokpti"}

// runOutcome is what one run gave: figures, failed figures, and the
// console output (for the log when something went wrong).
type runOutcome struct {
	figs    map[string]guesttest.SysbenchFigure
	fails   []string
	output  string
	elapsed time.Duration
}

// BenchmarkProcesses builds sysbench, boots armos and Linux (with and
// without KPTI) with it, with and without icount, and reports every
// figure as "<os>-<figure>-ns/op" (wall), "<os>-<figure>-insns/op"
// (icount) and "<os>-idlemem-KiB/proc", the median over b.N iterations,
// where <os> is armos, linux or linux-nokpti. It prints the last
// iteration's figures side by side, and keeps every run's console and
// that table in out/procbench (under the module root).
//
// A figure armos fails is printed with its reason and counted in
// armos-failures (the benchmark still reports the rest); a Linux failure,
// or a guest that gives no figure at all, fails the benchmark. Without the
// fetched Linux kernel it fails with the command that fetches it.
func BenchmarkProcesses(b *testing.B) {
	k := guesttest.KernelForTest(b)
	dir := b.TempDir()
	img, err := guesttest.BuildImage(filepath.Join(dir, "armos"), []string{guesttest.SysbenchPackage}, nil)
	require.NoError(b, err)
	prog := filepath.Join(dir, "armos", "bin", "sysbench")
	g := linuxGuestWith(b, filepath.Join(dir, "linux"), linuxref.GuestFile{Path: "/bin/sysbench", Host: prog})
	root, err := guesttest.ModuleRoot()
	require.NoError(b, err)
	outDir := filepath.Join(root, "out", "procbench")
	require.NoError(b, os.MkdirAll(outDir, 0o755))
	args := []string{"all"}
	if s := os.Getenv(sysbenchArgsEnv); s != "" {
		args = strings.Fields(s)
	}

	values := map[string][]float64{} // metric -> one value per iteration
	var armosFailures []float64      // per iteration
	var last map[guestRun]runOutcome
	b.ResetTimer()
	for range b.N {
		last = map[guestRun]runOutcome{}
		failures := 0
		for _, r := range procbenchRuns {
			var o runOutcome
			if r.linux() {
				o = runLinuxSysbench(g, r, args)
			} else {
				o = runArmosSysbench(k, img, r.icount, args)
			}
			last[r] = o
			console := filepath.Join(outDir, r.label()+".log")
			require.NoError(b, os.WriteFile(console, []byte(o.output), 0o644))
			fmt.Printf("procbench: %s: %d figures in %v (console: %s)\n", r, len(o.figs), o.elapsed.Round(time.Second), console)
			switch {
			case len(o.figs) == 0:
				b.Fatalf("%s gave no figures (failures %q); console %s ends:\n%s", r, o.fails, console, lastLines(o.output, 40))
			case len(o.fails) > 0 && r.linux():
				b.Fatalf("the Linux reference failed: %q; console %s ends:\n%s", o.fails, console, lastLines(o.output, 40))
			case len(o.fails) > 0:
				failures += len(o.fails)
				for _, f := range o.fails {
					fmt.Printf("procbench: %s FAILED: %s\n", r, f)
				}
			}
			for name, f := range o.figs {
				if r.icount && f.Unit != "ns/op" {
					continue // memory does not depend on icount
				}
				key := r.os + "-" + name + "-" + r.unit(f)
				values[key] = append(values[key], f.PerOp)
			}
		}
		armosFailures = append(armosFailures, float64(failures))
	}
	b.StopTimer()
	for key, vs := range values {
		b.ReportMetric(medianOf(vs), key)
	}
	b.ReportMetric(slices.Max(armosFailures), "armos-failures")
	table := procbenchTable(last)
	require.NoError(b, os.WriteFile(filepath.Join(outDir, "table.txt"), []byte(table), 0o644))
	fmt.Print(table)
}

// runArmosSysbench boots armos running sysbench args and collects the
// figures. sysbench must exit 0 and the kernel power off cleanly; what
// went wrong otherwise is a failure of the run.
func runArmosSysbench(kernel, img string, icount bool, args []string) runOutcome {
	m := guesttest.Machine{MemoryMiB: procbenchMemMiB, Image: img, Append: "-- sysbench " + strings.Join(args, " ")}
	if icount {
		m.Extra = guesttest.IcountArgs
	}
	res, err := guesttest.Run(kernel, m, procbenchTimeout)
	o := runOutcome{output: res.Output, elapsed: res.Elapsed}
	o.figs, o.fails = guesttest.ParseSysbench(res.Output)
	switch {
	case err != nil:
		o.fails = append(o.fails, "qemu: "+err.Error())
	case res.TimedOut:
		o.fails = append(o.fails, fmt.Sprintf("timed out after %v", procbenchTimeout))
	case strings.Contains(res.Output, guesttest.FailMarker):
		o.fails = append(o.fails, "kernel failure: "+lineWith(res.Output, guesttest.FailMarker))
	case !strings.Contains(res.Output, guesttest.PowerOffLine):
		o.fails = append(o.fails, "no power off")
	}
	// The kernel reports the end of every process (sysbench's children
	// too): find the one it started.
	started := regexp.MustCompile(`armos: started /bin/sysbench as pid (\d+)`).FindStringSubmatch(res.Output)
	if started == nil {
		o.fails = append(o.fails, "sysbench did not start: "+lineWith(res.Output, "cannot start"))
		return o
	}
	exit := regexp.MustCompile(`armos: process sysbench \(pid ` + started[1] + `\) (.*)`).FindStringSubmatch(res.Output)
	if exit == nil {
		o.fails = append(o.fails, "no exit line for sysbench")
	} else if strings.TrimSpace(exit[1]) != "exited with status 0" {
		o.fails = append(o.fails, "sysbench "+strings.TrimSpace(exit[1]))
	}
	return o
}

// runLinuxSysbench boots the Linux guest running /bin/sysbench args.
func runLinuxSysbench(g linuxref.Guest, r guestRun, args []string) runOutcome {
	m := linuxref.Machine{MemoryMiB: procbenchMemMiB, Icount: r.icount, Cmdline: r.cmdline,
		Options: linuxref.Options{Run: [][]string{append([]string{"/bin/sysbench"}, args...)}}}
	res, err := linuxref.Boot(g, m, procbenchTimeout)
	o := runOutcome{output: res.Output, elapsed: res.Elapsed}
	o.figs, o.fails = guesttest.ParseSysbench(res.Output)
	if err != nil {
		o.fails = append(o.fails, err.Error())
	}
	exits := linuxref.ParseExits(res.Output)
	switch {
	case len(exits) != 1:
		o.fails = append(o.fails, fmt.Sprintf("want one exit line for sysbench, got %v", exits))
	case exits[0].Status != 0:
		o.fails = append(o.fails, exits[0].String())
	}
	return o
}

// linuxGuestWith prepares the Linux guest with files in its initramfs
// (e.g. /bin/sysbench), or fails the benchmark saying how to fetch the
// kernel.
func linuxGuestWith(b *testing.B, dir string, files ...linuxref.GuestFile) linuxref.Guest {
	cache, err := linuxref.DefaultDir()
	require.NoError(b, err)
	a, err := linuxref.Locate(cache)
	if err != nil {
		b.Fatalf("Linux reference guest: %v", err)
	}
	require.NoError(b, os.MkdirAll(dir, 0o755))
	g, err := linuxref.Prepare(a, dir, files...)
	require.NoError(b, err)
	return g
}

// procbenchTable lays the last iteration's figures out side by side:
// each OS's wall time, armos over Linux (as Debian boots it), then the
// same in instructions.
func procbenchTable(runs map[guestRun]runOutcome) string {
	var names []string
	for _, o := range runs {
		for name := range o.figs {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-12s", "figure")
	for _, icount := range []bool{false, true} {
		for _, os := range procbenchOSes {
			if icount {
				os += " insns"
			}
			fmt.Fprintf(&sb, " %18s", os)
		}
		fmt.Fprintf(&sb, " %11s", "armos/linux")
	}
	sb.WriteByte('\n')
	for _, name := range names {
		fmt.Fprintf(&sb, "%-12s", name)
		for _, icount := range []bool{false, true} {
			for _, os := range procbenchOSes {
				f, ok := figureOf(runs, os, icount, name)
				fmt.Fprintf(&sb, " %18s", cell(f, ok, icount))
			}
			a, aok := figureOf(runs, "armos", icount, name)
			l, lok := figureOf(runs, "linux", icount, name)
			if aok && lok && l.PerOp != 0 {
				fmt.Fprintf(&sb, " %11.2f", a.PerOp/l.PerOp)
			} else {
				fmt.Fprintf(&sb, " %11s", "-")
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// figureOf finds a figure of the run of os (either Linux command line).
func figureOf(runs map[guestRun]runOutcome, os string, icount bool, name string) (guesttest.SysbenchFigure, bool) {
	for r, o := range runs {
		if r.os == os && r.icount == icount {
			f, ok := o.figs[name]
			return f, ok
		}
	}
	return guesttest.SysbenchFigure{}, false
}

// cell formats a figure for the table: ns, instructions (icount) or KiB.
func cell(f guesttest.SysbenchFigure, ok, icount bool) string {
	if !ok {
		return "-"
	}
	unit := "ns"
	switch {
	case f.Unit == "KiB/proc":
		unit = "KiB"
	case icount:
		unit = "insns"
	}
	return fmt.Sprintf("%.1f %s", f.PerOp, unit)
}

// lastLines returns the last n lines of out.
func lastLines(out string, n int) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// lineWith returns the first line of out containing s.
func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// medianOf returns the middle value (the mean of the middle two).
func medianOf(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func TestParseSysbench(t *testing.T) {
	out := "armos: started /bin/sysbench as pid 2\n" +
		"sysbench: sysbench: info go1.26 linux/arm64 gomaxprocs 2 numcpu 1 pagesize 4096\n" +
		"sysbench: sysbench: null 200000 ops 600000000 ns 3000.0 ns/op\r\n" +
		"sysbench: null 10 ops 50 ns 5.0 ns/op\n" + // unprefixed, later: wins
		"sysbench: sysbench: pipe-poll 100 ops 2000 ns 20.0 ns/op\n" +
		"sysbench: sysbench: idlemem 8 procs -16 KiB -2.0 KiB/proc\n" +
		"sysbench: sysbench: clock-mono/call 3.10\n" +
		"sysbench: sysbench: FAIL spawn: starting /bin/sysbench exit: exec format error\r\n" +
		"sysbench: sysbench: null 0 ops 0 ns NaN ns/op\n" +
		"linuxref: ready in 1 ops 2 ns 3 ns/op\n"
	figs, fails := guesttest.ParseSysbench(out)
	require.Equal(t, map[string]guesttest.SysbenchFigure{
		"null":      {Name: "null", Count: 10, Total: 50, PerOp: 5, Unit: "ns/op"},
		"pipe-poll": {Name: "pipe-poll", Count: 100, Total: 2000, PerOp: 20, Unit: "ns/op"},
		"idlemem":   {Name: "idlemem", Count: 8, Total: -16, PerOp: -2, Unit: "KiB/proc"},
	}, figs)
	require.Equal(t, []string{"spawn: starting /bin/sysbench exit: exec format error"}, fails)
}

func TestProcbenchTable(t *testing.T) {
	fig := func(name string, v float64, unit string) guesttest.SysbenchFigure {
		return guesttest.SysbenchFigure{Name: name, Count: 1, PerOp: v, Unit: unit}
	}
	runs := map[guestRun]runOutcome{
		{os: "armos"}:                           {figs: map[string]guesttest.SysbenchFigure{"null": fig("null", 300, "ns/op"), "idlemem": fig("idlemem", 900, "KiB/proc")}},
		{os: "linux"}:                           {figs: map[string]guesttest.SysbenchFigure{"null": fig("null", 600, "ns/op"), "idlemem": fig("idlemem", 1800, "KiB/proc")}},
		{os: "linux-nokpti", cmdline: "kpti=0"}: {figs: map[string]guesttest.SysbenchFigure{"null": fig("null", 400, "ns/op")}},
		{os: "armos", icount: true}:             {figs: map[string]guesttest.SysbenchFigure{}},
		{os: "linux", icount: true}:             {figs: map[string]guesttest.SysbenchFigure{"null": fig("null", 250, "ns/op")}},
	}
	table := procbenchTable(runs)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, []string{"figure", "armos", "linux", "linux-nokpti", "armos/linux",
		"armos", "insns", "linux", "insns", "linux-nokpti", "insns", "armos/linux"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"idlemem", "900.0", "KiB", "1800.0", "KiB", "-", "0.50", "-", "-", "-", "-"}, strings.Fields(lines[1]))
	require.Equal(t, []string{"null", "300.0", "ns", "600.0", "ns", "400.0", "ns", "0.50", "-", "250.0", "insns", "-", "-"}, strings.Fields(lines[2]))
	require.Equal(t, "armos-null-insns/op", "armos-null-"+guestRun{os: "armos", icount: true}.unit(fig("null", 1, "ns/op")))
	require.Equal(t, 2.5, medianOf([]float64{9, 1, 2, 3}))
	require.Equal(t, 2.0, medianOf([]float64{9, 1, 2}))
	require.Equal(t, "b\nc", lastLines("a\nb\nc\n", 2))
	require.Equal(t, "a", lastLines("a", 5))
	require.Equal(t, "linux-nokpti-icount", guestRun{os: "linux-nokpti", icount: true}.label())
}
