package benchchart

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
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
	for _, name := range []string{"network", "restart"} {
		r, err := Load(filepath.Join("../../docs/bench", name+".json"))
		require.NoError(t, err)
		assert.FileExists(t, filepath.Join("../../docs/bench", name+".svg"))
		assert.Contains(t, string(readme), "(docs/bench/"+name+".svg)", "the README shows the chart")
		for _, f := range r.Figures {
			assert.Contains(t, string(readme), "| "+f.Name+" |", "the README's table has %q", f.Name)
		}
	}
}
