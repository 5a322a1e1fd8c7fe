package benchchart

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's benchmark tables and the charts' JSON in docs/bench are
// checked against each other, both ways: every row of every table in the
// README's "## Benchmarks" section (its first cell names the metric) is a
// figure of some chart, unless it is listed below as derived from charted
// figures or as not a metric; every figure of every chart is a row (or is
// summed up by a derived row); and every value a chart holds is written
// in its row (to the precision the README writes it), so a table cannot
// drift from the run its chart was drawn from.

const (
	readmePath = "../../README.md"
	chartsDir  = "../../docs/bench"
)

// figureRef names one value of one chart.
type figureRef struct{ chart, figure, system string }

// derivedRow is a README row computed from charted figures: it is not a
// measurement of its own, so it has no figure, but each value the README
// writes for it must follow from the figures it is derived from.
type derivedRow struct {
	why    string
	from   []figureRef
	values func(v []float64) []float64 // from the values of from, in order
}

// nullCall is the figure the message table's ratio rows divide by.
var nullCall = figureRef{"processes", "null system call (getppid, round trip from Go)", "armos"}

// derivedRows are the README rows that are derived from charted figures,
// by their first cell.
var derivedRows = map[string]derivedRow{
	"call round trip / null system call": {
		why:    "a ratio of two charted figures of the same run (armos's IPC call at 0–1 byte over its null system call), the issue's goal for the call",
		from:   []figureRef{{"ipc", "round trip, 0–1 byte", "armos IPC call"}, nullCall},
		values: func(v []float64) []float64 { return []float64{v[0] / v[1]} },
	},
	"one-way message / null system call": {
		why:    "a ratio of two charted figures of the same run (armos's one-way IPC send over its null system call)",
		from:   []figureRef{{"ipc", "one-way message, 64 bytes", "armos IPC call"}, nullCall},
		values: func(v []float64) []float64 { return []float64{v[0] / v[1]} },
	},
	"parse / emit Ethernet, ARP, IPv4, ICMPv4, UDP header": {
		why: "a summary of nine charted figures: the range of the five parse and of the four emit benchmarks (UDP's emit has its own row)",
		from: []figureRef{
			{"hosted", "parse Ethernet header", "hosted (amd64)"},
			{"hosted", "parse ARP", "hosted (amd64)"},
			{"hosted", "parse IPv4 header", "hosted (amd64)"},
			{"hosted", "parse ICMPv4 header", "hosted (amd64)"},
			{"hosted", "parse UDP header, checksum verified", "hosted (amd64)"},
			{"hosted", "emit Ethernet header", "hosted (amd64)"},
			{"hosted", "emit ARP", "hosted (amd64)"},
			{"hosted", "emit IPv4 header", "hosted (amd64)"},
			{"hosted", "emit ICMPv4 echo reply", "hosted (amd64)"},
		},
		values: func(v []float64) []float64 {
			return []float64{slices.Min(v[:5]), slices.Max(v[:5]), slices.Min(v[5:]), slices.Max(v[5:])}
		},
	},
}

// notMetrics are the README rows that are not measurements, with the
// reason.
var notMetrics = map[string]string{
	"errors seen by the application": "a pass/fail condition, not a measurement: " +
		"BenchmarkRestartSoak asserts the echo app logs \"0 replies lost\" and is never restarted, so any other value fails the run",
	"kernel objects; init's / echo's descriptors, before → after 1,000 restarts": "a leak check, not a measurement: " +
		"BenchmarkRestartSoak asserts init's, echo's and sh's descriptors are unchanged and the kernel objects within 8 after the restarts (before → after pairs; the deltas are in its output)",
}

// mdTable is one markdown table: its header's cells and its rows' cells.
type mdTable struct {
	header []string
	rows   [][]string
}

// benchmarkTables returns the tables of the README section headed
// "## Benchmarks" (up to the next "## " heading). Cells are trimmed, with
// the markup of inline code and bold (` and **) removed.
func benchmarkTables(readme string) []mdTable {
	var tables []mdTable
	in, inTable := false, false
	for _, line := range strings.Split(readme, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "## ") {
			in = line == "## Benchmarks"
			inTable = false
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := splitRow(line)
		switch {
		case !inTable:
			tables = append(tables, mdTable{header: cells})
			inTable = true
		case isSeparator(cells):
		default:
			t := &tables[len(tables)-1]
			t.rows = append(t.rows, cells)
		}
	}
	return tables
}

// splitRow returns a table line's cells.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	cells := strings.Split(line, "|")
	for i, c := range cells {
		c = strings.ReplaceAll(c, "**", "")
		c = strings.ReplaceAll(c, "`", "")
		cells[i] = strings.TrimSpace(c)
	}
	return cells
}

// isSeparator reports a header's |---|---| line.
func isSeparator(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, "-: ") != "" {
			return false
		}
	}
	return true
}

// writtenNumber is a number as the README writes it: its value and how
// many decimals it shows.
type writtenNumber struct {
	value    float64
	decimals int
}

var numberRE = regexp.MustCompile(`(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?`)

// numbersIn returns the numbers written in s (thousands separated by
// commas or not).
func numbersIn(s string) []writtenNumber {
	var out []writtenNumber
	for _, m := range numberRE.FindAllString(s, -1) {
		d := 0
		if i := strings.IndexByte(m, '.'); i >= 0 {
			d = len(m) - i - 1
		}
		v, err := strconv.ParseFloat(strings.ReplaceAll(m, ",", ""), 64)
		if err == nil {
			out = append(out, writtenNumber{v, d})
		}
	}
	return out
}

// writes reports whether n is v written to n's decimals (rounded either
// way at the halfway point).
func (n writtenNumber) writes(v float64) bool {
	half := 0.5 * math.Pow(10, -float64(n.decimals))
	return math.Abs(v-n.value) <= half*(1+1e-9)
}

// rowWrites reports whether one of the row's cells after the first writes v.
func rowWrites(row []string, v float64) bool {
	for _, c := range row[1:] {
		for _, n := range numbersIn(c) {
			if n.writes(v) {
				return true
			}
		}
	}
	return false
}

// loadCharts loads every chart's JSON in docs/bench, by name.
func loadCharts(t *testing.T) map[string]Results {
	paths, err := filepath.Glob(filepath.Join(chartsDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	charts := map[string]Results{}
	for _, p := range paths {
		r, err := Load(p)
		require.NoError(t, err, "%s parses and can be drawn", p)
		charts[strings.TrimSuffix(filepath.Base(p), ".json")] = r
	}
	return charts
}

// TestReadmeCharts: every chart in docs/bench parses and is shown in the
// README, and every chart the README shows is there; every figure of every
// chart is a row of the README's benchmark tables, with every value it
// holds written in that row (or is summed up by a derived row); every row
// is a figure of a chart, or derived from charted figures (and the values
// it writes follow from them), or listed as not a metric.
func TestReadmeCharts(t *testing.T) {
	b, err := os.ReadFile(readmePath)
	require.NoError(t, err)
	readme := string(b)
	charts := loadCharts(t)

	rows := map[string][]string{} // by first cell
	var order []string            // the first cells in the README's order
	tables := benchmarkTables(readme)
	require.NotEmpty(t, tables, "the README has tables under ## Benchmarks")
	for _, tb := range tables {
		assert.NotEmpty(t, tb.rows, "the table headed %q has rows", tb.header)
		for _, row := range tb.rows {
			_, dup := rows[row[0]]
			assert.False(t, dup, "one row per metric: %q", row[0])
			rows[row[0]] = row
			order = append(order, row[0])
		}
	}

	// Every chart is shown, and each figure is named once over all charts.
	where := map[string]string{} // figure name -> chart
	for name, r := range charts {
		assert.FileExists(t, filepath.Join(chartsDir, name+".svg"))
		assert.Contains(t, readme, "(docs/bench/"+name+".svg)", "the README shows the %s chart", name)
		for _, f := range r.Figures {
			if other, dup := where[f.Name]; dup {
				t.Errorf("%q is a figure of both %s and %s", f.Name, other, name)
			}
			where[f.Name] = name
		}
	}
	for _, m := range regexp.MustCompile(`\(docs/bench/([^)/]+)\.svg\)`).FindAllStringSubmatch(readme, -1) {
		assert.Contains(t, charts, m[1], "the README's chart %s.svg has its JSON", m[1])
	}

	// Chart -> README: each figure is a row writing each of its values, or
	// summed up by a derived row.
	for name, r := range charts {
		for _, f := range r.Figures {
			row, ok := rows[f.Name]
			if !ok {
				assert.True(t, summedUp(name, f.Name), "the README's tables have a row %q (chart %s), or a derived row sums it up", f.Name, name)
				continue
			}
			for _, sys := range r.Systems {
				if v, ok := f.Values[sys]; ok {
					assert.True(t, rowWrites(row, v), "the README's row %q writes %s's %v %s (chart %s): %q", f.Name, sys, v, f.Unit, name, row[1:])
				}
			}
		}
	}

	// README -> charts: each row is a figure, derived from figures, or not
	// a metric.
	for _, first := range order {
		row := rows[first]
		d, derived := derivedRows[first]
		_, excepted := notMetrics[first]
		_, charted := where[first]
		switch {
		case charted:
			assert.False(t, derived || excepted, "%q is a chart's figure: not derived, not excepted", first)
		case derived:
			var vs []float64
			for _, ref := range d.from {
				v, ok := charts[ref.chart].figureValue(ref.figure, ref.system)
				if assert.True(t, ok, "%q (%s) is derived from %s's %q (%s), charted", first, d.why, ref.chart, ref.figure, ref.system) {
					vs = append(vs, v)
				}
			}
			if len(vs) == len(d.from) {
				for _, v := range d.values(vs) {
					assert.True(t, rowWrites(row, v), "the derived row %q writes %.4g, from its figures: %q", first, v, row[1:])
				}
			}
		case excepted:
			t.Logf("%q: not a metric: %s", first, notMetrics[first])
		default:
			t.Errorf("the README's row %q is a figure of no chart in docs/bench (nor listed as derived or not a metric)", first)
		}
	}
	for first := range derivedRows {
		_, ok := rows[first]
		assert.True(t, ok, "the derived row %q is in the README", first)
	}
	for first := range notMetrics {
		_, ok := rows[first]
		assert.True(t, ok, "the row %q excepted as not a metric is in the README", first)
	}
}

// summedUp reports whether a derived row is drawn from a chart's figure.
func summedUp(chart, figure string) bool {
	for _, d := range derivedRows {
		for _, ref := range d.from {
			if ref.chart == chart && ref.figure == figure {
				return true
			}
		}
	}
	return false
}

// figureValue returns the value of a figure for a system.
func (r Results) figureValue(figure, system string) (float64, bool) {
	for _, f := range r.Figures {
		if f.Name == figure {
			v, ok := f.Values[system]
			return v, ok
		}
	}
	return 0, false
}

// benchText is the go test -bench output the spec charts in docs/bench
// were drawn from (benchcharts writes it beside the charts, as
// out/bench/bench.txt under ./build.sh bench).
const benchText = chartsDir + "/bench.txt"

// TestChartsMatchSpecs: each chart benchcharts draws is in docs/bench as
// the specs draw it today from docs/bench/bench.txt (the date aside): its
// values came from that benchmark output, not by hand, and docs/bench was
// regenerated after a spec changed.
func TestChartsMatchSpecs(t *testing.T) {
	charts := loadCharts(t)
	f, err := os.Open(benchText)
	require.NoError(t, err, "the output the charts were drawn from")
	metrics, err := ParseBenchText(f)
	f.Close()
	require.NoError(t, err)
	for _, s := range Specs {
		got, ok := charts[s.Name]
		if !assert.True(t, ok, "docs/bench/%s.json (benchcharts' %s chart)", s.Name, s.Name) {
			continue
		}
		want, err := s.Results(metrics, got.Date)
		if assert.NoError(t, err, "%s: %s has every metric of the chart", s.Name, benchText) {
			assert.Equal(t, want, got, "docs/bench/%s.json is what benchcharts draws from %s: "+
				"copy its charts and the bench.txt it writes beside them together", s.Name, benchText)
		}
	}
}

// TestSpecs: the specs are well formed: names unique, every figure
// measured on at least one system and only on systems of its chart.
func TestSpecs(t *testing.T) {
	names := map[string]bool{}
	for _, s := range Specs {
		assert.False(t, names[s.Name], "chart %s named once", s.Name)
		names[s.Name] = true
		require.NotEmpty(t, s.Systems, s.Name)
		require.NotEmpty(t, s.Figures, s.Name)
		for _, f := range s.Figures {
			assert.False(t, names["figure "+f.Name], "figure %q named once", f.Name)
			names["figure "+f.Name] = true
			assert.NotEmpty(t, f.From, "%s: %q is measured somewhere", s.Name, f.Name)
			for sys, m := range f.From {
				assert.Contains(t, s.Systems, sys, "%s: %q", s.Name, f.Name)
				assert.True(t, strings.HasPrefix(m.Bench, "Benchmark") || strings.Contains(m.Bench, ".Benchmark"), "%s: %q: %v names a benchmark", s.Name, f.Name, m)
			}
			assert.Contains(t, []string{"lower", "higher"}, f.Better)
		}
	}
}

// The table parser and the number matcher on a README-like section.
func TestBenchmarkTables(t *testing.T) {
	md := "# x\n| a | b |\n|---|---|\n| not | here |\n## Benchmarks\ntext\n\n" +
		"| figure | armos | Linux |\n|---|---|---|\n| `-m` boot | 1,177,681 | **0.28** |\n| two | 27.6 ms (p99 49.2) | — |\n\n" +
		"| figure | result |\n|:--|--:|\n| three | 3.7 µs |\n## Next\n| no | 1 |\n"
	tables := benchmarkTables(md)
	require.Len(t, tables, 2)
	assert.Equal(t, []string{"figure", "armos", "Linux"}, tables[0].header)
	assert.Equal(t, [][]string{{"-m boot", "1,177,681", "0.28"}, {"two", "27.6 ms (p99 49.2)", "—"}}, tables[0].rows)
	assert.Equal(t, [][]string{{"three", "3.7 µs"}}, tables[1].rows)

	row := tables[0].rows[0]
	assert.True(t, rowWrites(row, 1177681.4))
	assert.True(t, rowWrites(row, 0.284))
	assert.False(t, rowWrites(row, 0.29))
	assert.False(t, rowWrites(row, 1177682))
	row = tables[0].rows[1]
	assert.True(t, rowWrites(row, 27.55))
	assert.True(t, rowWrites(row, 49.24))
	assert.False(t, rowWrites(row, 27.66))
	assert.Equal(t, []writtenNumber{{1.3, 1}, {10.6, 1}, {0.3, 1}, {15, 0}}, numbersIn("1.3–10.6 ns / 0.3–15 ns"))
	assert.Empty(t, numbersIn("—"))
}
