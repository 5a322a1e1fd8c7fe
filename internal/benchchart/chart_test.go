package benchchart

import (
	"bytes"
	"encoding/xml"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sample() Results {
	return Results{Title: "Echo <in QEMU>", Date: "2026-12-04", Systems: []string{"armos", "linux"}, Figures: []Figure{
		{Name: "RTT median", Unit: "µs", Better: "lower", Values: map[string]float64{"armos": 1171, "linux": 208}},
		{Name: "echoes/s", Unit: "1/s", Better: "higher", Values: map[string]float64{"armos": 817, "linux": 4050}},
	}}
}

// The chart is well-formed XML naming every figure and value.
func TestSVG(t *testing.T) {
	svg := SVG(sample())
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "well-formed XML:\n%s", svg)
	}
	for _, s := range []string{"Echo &lt;in QEMU&gt;", "RTT median (µs, lower is better)", ">1171<", ">208<", ">4050<", ">armos<", ">linux<"} {
		assert.Contains(t, string(svg), s)
	}
	assert.NotContains(t, string(svg), "not measured")
	// Bars are scaled per figure: each figure's largest is full width.
	assert.Equal(t, 2, strings.Count(string(svg), `width="480.0"`))
}

// A system a figure is not measured on gets no bar; a single system's
// bars are scaled per unit over the chart.
func TestSVGAbsentAndSingle(t *testing.T) {
	r := sample()
	r.Figures[0].Absent = []string{"linux"}
	delete(r.Figures[0].Values, "linux")
	require.NoError(t, r.Check())
	svg := string(SVG(r))
	assert.Equal(t, 1, strings.Count(svg, "not measured"))
	assert.Equal(t, 2*len(r.Systems)-1+len(r.Systems), strings.Count(svg, "<rect")-1, "a legend square per system, a bar per value")

	one := Results{Title: "hosted", Date: "2026-12-04", Systems: []string{"hosted"}, Figures: []Figure{
		{Name: "a", Unit: "ns", Better: "lower", Values: map[string]float64{"hosted": 10}},
		{Name: "b", Unit: "ns", Better: "lower", Values: map[string]float64{"hosted": 40}},
		{Name: "c", Unit: "1/s", Better: "higher", Values: map[string]float64{"hosted": 7}},
	}}
	svg = string(SVG(one))
	assert.Contains(t, svg, `width="120.0"`, "10 ns of 40 ns: a quarter of the width")
	assert.Equal(t, 2, strings.Count(svg, `width="480.0"`), "40 ns and 7/s: the largest of their units")
}

func TestWriteLoad(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, Write(dir, "net", sample()))
	r, err := Load(filepath.Join(dir, "net.json"))
	require.NoError(t, err)
	assert.Equal(t, sample(), r)
	assert.FileExists(t, filepath.Join(dir, "net.svg"))
}

func TestCheck(t *testing.T) {
	r := sample()
	r.Figures[0].Better = "more"
	assert.Error(t, r.Check())
	r = sample()
	delete(r.Figures[1].Values, "linux")
	assert.Error(t, r.Check(), "a value missing, not said absent")
	r.Figures[1].Absent = []string{"linux"}
	assert.NoError(t, r.Check(), "absent")
	r.Figures[1].Values["linux"] = 1
	assert.Error(t, r.Check(), "a value for a system said absent")
	r = sample()
	r.Figures[0].Absent = []string{"bsd"}
	assert.Error(t, r.Check(), "absent: not a system")
	r = sample()
	r.Figures[0].Values["bsd"] = 1
	assert.Error(t, r.Check(), "a value for no system")
	r = sample()
	r.Figures[0].Values = nil
	r.Figures[0].Absent = []string{"armos", "linux"}
	assert.Error(t, r.Check(), "no values at all")
	r = sample()
	r.Figures[0].Values["armos"] = -1
	assert.Error(t, r.Check(), "negative")
	assert.Error(t, Results{}.Check())
	_, err := Load(filepath.Join(t.TempDir(), "missing.json"))
	assert.Error(t, err)
}

// TestParseBenchText reads go test -bench lines (with and without the
// GOMAXPROCS suffix, with -benchmem columns, sub-benchmarks, the package
// from the "pkg:" line) and draws a spec from them; a figure a system is
// not measured on is absent; a missing metric is named.
func TestParseBenchText(t *testing.T) {
	text := `goos: linux
pkg: armos/microkernel/guesttest
BenchmarkBoot512M-2   	       5	 101.2 ms-qemu-start-to-ready	 99.00 ms-qemu-start-to-ready-median	 55.00 ms-entry-to-ready	 5916 KiB-in-use
BenchmarkBoot128M-2   	       5	 116 ms-qemu-start-to-ready-median	 5088 KiB-in-use
BenchmarkMinMemory-2   	       1	 6.000 MiB-min
pkg: armos/microkernel/guesttest/linuxref
BenchmarkLinuxBoot512M 	       5	1417 ms-qemu-start-to-ready-median	701 ms-entry-to-ready	22092 KiB-in-use
BenchmarkLinuxBoot128M-2 	       5	1339 ms-qemu-start-to-ready-median	20424 KiB-in-use
pkg: armos/servers/netd/stack
BenchmarkUDPEcho/64B-2   	 1000000	        285 ns/op	 224.56 MB/s	       0 B/op	       0 allocs/op
pkg: armos/servers/netd/sockets
BenchmarkUDPEcho/64B-2   	   50000	      12800 ns/op	 78000 datagrams/s
BenchmarkParse-2   	 1000000	        12.5 ns/op	       0 B/op	       0 allocs/op
--- BENCH: BenchmarkBoot512M-2
PASS
`
	m, err := ParseBenchText(strings.NewReader(text))
	require.NoError(t, err)
	assert.Equal(t, 99.0, m["BenchmarkBoot512M"]["ms-qemu-start-to-ready-median"])
	assert.Equal(t, 99.0, m["armos/microkernel/guesttest.BenchmarkBoot512M"]["ms-qemu-start-to-ready-median"])
	assert.Equal(t, 22092.0, m["BenchmarkLinuxBoot512M"]["KiB-in-use"])
	assert.Equal(t, 12.5, m["BenchmarkParse"]["ns/op"])
	assert.Equal(t, 285.0, m["armos/servers/netd/stack.BenchmarkUDPEcho/64B"]["ns/op"])
	assert.Equal(t, 78000.0, m["armos/servers/netd/sockets.BenchmarkUDPEcho/64B"]["datagrams/s"])
	assert.Equal(t, 12800.0, m["BenchmarkUDPEcho/64B"]["ns/op"], "unqualified: the last line of the name")

	boot := Specs[0]
	require.Equal(t, "boot", boot.Name)
	r, err := boot.Results(m, "2026-12-04")
	require.NoError(t, err)
	require.Len(t, r.Figures, 6)
	assert.Equal(t, `kernel entry to "ready", -m 512M, mean`, r.Figures[2].Name)
	assert.Equal(t, map[string]float64{"armos": 55, "linux": 701}, r.Figures[2].Values)
	assert.Equal(t, map[string]float64{"armos": 5088, "linux": 20424}, r.Figures[4].Values)
	assert.Equal(t, Figure{Name: "smallest -m that boots", Unit: "MiB", Better: "lower",
		Values: map[string]float64{"armos": 6}, Absent: []string{"linux"}}, r.Figures[5])
	require.NoError(t, Write(t.TempDir(), "boot", r))

	delete(m, "BenchmarkLinuxBoot128M")
	_, err = boot.Results(m, "2026-12-04")
	assert.ErrorContains(t, err, "BenchmarkLinuxBoot128M")
}

// FuzzParseBenchText: any text parses without a panic, and every metric
// kept came from a result line of the text (a qualified name's package
// from a "pkg:" line), each qualified name also kept unqualified with the
// same metrics.
func FuzzParseBenchText(f *testing.F) {
	f.Add("BenchmarkBoot512M-2 5 101.2 ms-qemu-start-to-ready 5916 KiB-in-use\n")
	f.Add("BenchmarkX 1 NaN x 1e309 y\n--- BENCH: BenchmarkX\n")
	f.Add("pkg: armos/libipc\nBenchmarkCallRoundTrip-2 100 3712 ns/op 5 allocs/op\npkg: a.Benchmark\nBenchmarkY/1B 1 2 z\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseBenchText(strings.NewReader(text))
		if err != nil {
			return // a line over the scanner's bound
		}
		for name, metrics := range m {
			assert.NotEmpty(t, metrics)
			if strings.HasPrefix(name, "Benchmark") && strings.Contains(text, name) {
				continue // unqualified
			}
			// Qualified: some split is a "pkg:" line's package and a
			// name also kept unqualified (with the metrics of the last
			// package that has a result of that name).
			split := false
			for i := 0; i < len(name); i++ {
				if strings.HasPrefix(name[i:], ".Benchmark") && strings.Contains(text, "pkg: "+name[:i]) {
					if _, ok := m[name[i+1:]]; ok {
						split = true
					}
				}
			}
			assert.True(t, split, "%q is a result line's name, or its package's and its", name)
		}
	})
}
