package benchchart

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
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
	assert.Error(t, r.Check())
	assert.Error(t, Results{}.Check())
	_, err := Load(filepath.Join(t.TempDir(), "missing.json"))
	assert.Error(t, err)
}

// The charts the README shows exist, their JSON parses, and every figure
// they draw is a row of the README's table (same name), so the two cannot
// drift apart unnoticed.
func TestReadmeCharts(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, name := range []string{"network", "restart", "boot", "ipc"} {
		r, err := Load(filepath.Join("../../docs/bench", name+".json"))
		require.NoError(t, err)
		assert.FileExists(t, filepath.Join("../../docs/bench", name+".svg"))
		assert.Contains(t, string(readme), "(docs/bench/"+name+".svg)", "the README shows the chart")
		for _, f := range r.Figures {
			assert.Contains(t, string(readme), "| "+f.Name+" |", "the README's table has %q", f.Name)
		}
	}
}

// TestParseBenchText reads go test -bench lines (with and without the
// GOMAXPROCS suffix, with -benchmem columns) and draws a spec from them;
// a missing metric is named.
func TestParseBenchText(t *testing.T) {
	text := `goos: linux
BenchmarkBoot512M-2   	       5	 101.2 ms-qemu-start-to-ready	 99.00 ms-qemu-start-to-ready-median	 55.00 ms-entry-to-ready	 5916 KiB-in-use
BenchmarkLinuxBoot512M 	       5	1417 ms-qemu-start-to-ready-median	22092 KiB-in-use
BenchmarkBoot128M-2   	       5	 116 ms-qemu-start-to-ready-median	 5088 KiB-in-use
BenchmarkLinuxBoot128M-2 	       5	1339 ms-qemu-start-to-ready-median	20424 KiB-in-use
BenchmarkParse-2   	 1000000	        12.5 ns/op	       0 B/op	       0 allocs/op
--- BENCH: BenchmarkBoot512M-2
PASS
`
	m, err := ParseBenchText(strings.NewReader(text))
	require.NoError(t, err)
	assert.Equal(t, 99.0, m["BenchmarkBoot512M"]["ms-qemu-start-to-ready-median"])
	assert.Equal(t, 22092.0, m["BenchmarkLinuxBoot512M"]["KiB-in-use"])
	assert.Equal(t, 12.5, m["BenchmarkParse"]["ns/op"])
	r, err := Specs[0].Results(m, "2026-12-04")
	require.NoError(t, err)
	require.Len(t, r.Figures, 4)
	assert.Equal(t, map[string]float64{"armos": 5088, "linux": 20424}, r.Figures[3].Values)

	delete(m, "BenchmarkLinuxBoot128M")
	_, err = Specs[0].Results(m, "2026-12-04")
	assert.ErrorContains(t, err, "BenchmarkLinuxBoot128M")
}

// FuzzParseBenchText: any text parses without a panic, and every metric
// kept came from a result line of the text.
func FuzzParseBenchText(f *testing.F) {
	f.Add("BenchmarkBoot512M-2 5 101.2 ms-qemu-start-to-ready 5916 KiB-in-use\n")
	f.Add("BenchmarkX 1 NaN x 1e309 y\n--- BENCH: BenchmarkX\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseBenchText(strings.NewReader(text))
		if err != nil {
			return // a line over the scanner's bound
		}
		for name := range m {
			assert.Contains(t, text, name)
		}
	})
}
