// Command benchcharts draws the charts of benchchart.Specs from `go test
// -bench` output (./build.sh bench runs it on out/bench.txt): each chart's
// JSON and SVG into -out, and the output itself as -out/bench.txt, so that
// copying -out to docs/bench keeps what the charts were drawn from (the
// test TestChartsMatchSpecs draws them from docs/bench/bench.txt again). A
// chart whose benchmarks are not in the output is skipped and said so.
// Output of several runs may be concatenated: a benchmark's later line
// wins.
//
//	go run ./internal/benchchart/cmd/benchcharts -in out/bench.txt -out out/bench
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"armos/internal/benchchart"
)

func main() {
	in := flag.String("in", "out/bench.txt", "go test -bench output")
	out := flag.String("out", "out/bench", "directory for the charts")
	flag.Parse()
	text, err := os.ReadFile(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcharts:", err)
		os.Exit(1)
	}
	metrics, err := benchchart.ParseBenchText(bytes.NewReader(text))
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcharts:", err)
		os.Exit(1)
	}
	date := time.Now().UTC().Format("2006-01-02")
	for _, s := range benchchart.Specs {
		r, err := s.Results(metrics, date)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchcharts: %s skipped: %v\n", s.Name, err)
			continue
		}
		if err := benchchart.Write(*out, s.Name, r); err != nil {
			fmt.Fprintln(os.Stderr, "benchcharts:", err)
			os.Exit(1)
		}
		fmt.Printf("benchcharts: %s/%s.svg\n", *out, s.Name)
	}
	err = os.MkdirAll(*out, 0o755)
	if err == nil {
		err = os.WriteFile(filepath.Join(*out, "bench.txt"), text, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcharts:", err)
		os.Exit(1)
	}
}
