// Package benchchart draws benchmark results as SVG bar charts (armos
// beside the Linux reference guest, one group of bars per figure) and
// keeps them as JSON, the form the charts are drawn from. Standard library
// only: an SVG is text.
package benchchart

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Figure is one measured quantity for every system compared.
type Figure struct {
	Name   string             `json:"name"`   // e.g. "UDP echo RTT, median"
	Unit   string             `json:"unit"`   // e.g. "µs"
	Better string             `json:"better"` // "lower" or "higher"
	Values map[string]float64 `json:"values"` // by system: "armos", "linux"
	// Absent are the systems this figure is not measured on (e.g. a
	// one-way message over a pipe, which the benchmark does not send):
	// drawn without a bar. Every other system has a value.
	Absent []string `json:"absent,omitempty"`
}

// Results are one benchmark's figures.
type Results struct {
	Title   string   `json:"title"`
	Date    string   `json:"date"`
	Systems []string `json:"systems"` // the order of the bars
	Figures []Figure `json:"figures"`
}

// Check reports what makes r unusable for a chart: every figure has a
// usable value for each system not in its Absent, and for no other, and
// at least one value.
func (r Results) Check() error {
	if len(r.Systems) == 0 || len(r.Figures) == 0 {
		return errors.New("benchchart: no systems or no figures")
	}
	for _, f := range r.Figures {
		if f.Better != "lower" && f.Better != "higher" {
			return fmt.Errorf("benchchart: %q: better must be lower or higher", f.Name)
		}
		for _, s := range f.Absent {
			if !slices.Contains(r.Systems, s) {
				return fmt.Errorf("benchchart: %q: absent system %q is not one of %q", f.Name, s, r.Systems)
			}
		}
		for name := range f.Values {
			if !slices.Contains(r.Systems, name) || slices.Contains(f.Absent, name) {
				return fmt.Errorf("benchchart: %q has a value for %q, not a system it is measured on", f.Name, name)
			}
		}
		if len(f.Values) == 0 {
			return fmt.Errorf("benchchart: %q has no values", f.Name)
		}
		for _, s := range r.Systems {
			if slices.Contains(f.Absent, s) {
				continue
			}
			v, ok := f.Values[s]
			if !ok || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("benchchart: %q has no usable value for %s", f.Name, s)
			}
		}
	}
	return nil
}

// Load reads results from a JSON file.
func Load(path string) (Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Results{}, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return Results{}, fmt.Errorf("benchchart: %s: %w", path, err)
	}
	return r, r.Check()
}

// Write writes r as dir/name.json and its chart as dir/name.svg.
func Write(dir, name string, r Results) error {
	if err := r.Check(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".svg"), SVG(r), 0o644)
}

// colours of the systems' bars, in order.
var colours = []string{"#2b6cb0", "#c05621", "#2f855a", "#6b46c1"}

// SVG draws r: per figure, one horizontal bar per system, scaled to the
// largest value of that figure, each labelled with its value; a system
// the figure is not measured on gets its label and "not measured". With a
// single system the bars are scaled to the largest value of the same unit
// in the chart instead (scaled per figure, each would be full width).
func SVG(r Results) []byte {
	// The systems' names go left of their bars: the column is as wide as
	// the longest (about 7 px a character at 12 px), at least 60 px.
	labelW := 60
	for _, s := range r.Systems {
		labelW = max(labelW, 10+7*len([]rune(s))+6)
	}
	const (
		barMax  = 480
		titleH  = 18 // a figure's name above its bars
		barH    = 16
		gap     = 4
		groupGp = 14
		top     = 48
	)
	width := labelW + barMax + 100
	h := top + len(r.Figures)*(titleH+len(r.Systems)*(barH+gap)+groupGp) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(r.Title))
	x := labelW
	for i, s := range r.Systems {
		fmt.Fprintf(&b, `<rect x="%d" y="30" width="12" height="12" fill="%s"/><text x="%d" y="40">%s</text>`+"\n",
			x, colours[i%len(colours)], x+16, html.EscapeString(s))
		x += 16 + 7*len([]rune(s)) + 20
	}
	unitMax := map[string]float64{}
	for _, f := range r.Figures {
		for _, v := range f.Values {
			unitMax[f.Unit] = math.Max(unitMax[f.Unit], v)
		}
	}
	y := top
	for _, f := range r.Figures {
		maxV := 0.0
		for _, v := range f.Values {
			maxV = math.Max(maxV, v)
		}
		if len(r.Systems) == 1 {
			maxV = unitMax[f.Unit]
		}
		label := fmt.Sprintf("%s (%s, %s is better)", f.Name, f.Unit, f.Better)
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y+13, html.EscapeString(label))
		y += titleH
		for i, s := range r.Systems {
			v, ok := f.Values[s]
			if !ok {
				fmt.Fprintf(&b, `<text x="10" y="%d">%s</text><text x="%d" y="%d" fill="#777">not measured</text>`+"\n",
					y+barH-3, html.EscapeString(s), labelW+4, y+barH-3)
				y += barH + gap
				continue
			}
			w := 0.0
			if maxV > 0 {
				w = v / maxV * barMax
			}
			fmt.Fprintf(&b, `<text x="10" y="%d">%s</text><rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/><text x="%.1f" y="%d">%s</text>`+"\n",
				y+barH-3, html.EscapeString(s), labelW, y, w, barH, colours[i%len(colours)], float64(labelW)+w+4, y+barH-3, format(v))
			y += barH + gap
		}
		y += groupGp
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555">%s</text>`+"\n", h-10, html.EscapeString("measured "+r.Date))
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// format prints a value with as many decimals as it deserves.
func format(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
