package gostd

import (
	"fmt"
	"strings"
)

// Counts summarises the -test.v output of one test binary run.
//
// Top-level entries are tests, examples, benchmarks and fuzz targets;
// subtests (names holding a slash) are counted apart. Tests excluded by
// -test.skip print nothing, so they appear in no count: the skip list says
// how many there are.
type Counts struct {
	Run     int // top-level entries started ("=== RUN")
	Passed  int // top-level "--- PASS"
	Failed  int // top-level "--- FAIL"
	Skipped int // top-level "--- SKIP": tests that skipped themselves

	SubRun     int // subtests started
	SubPassed  int // subtests passed
	SubFailed  int // subtests failed
	SubSkipped int // subtests skipped

	// Failures names every failed test and subtest, in output order.
	Failures []string
	// Unfinished names top-level entries that started but reported no
	// result (the binary crashed, timed out or exited in the middle).
	Unfinished []string

	// Result is the binary's closing verdict: "PASS", "FAIL", or "" when
	// the output has none (crash, os.Exit, truncated console).
	Result string
	// Panicked is set when the output holds a panic or a fatal runtime
	// error at the start of a line.
	Panicked bool
	// TimedOut is set when -test.timeout fired.
	TimedOut bool
}

// OK reports whether the run passed: a PASS verdict and no failures.
func (c Counts) OK() bool {
	return c.Result == "PASS" && c.Failed == 0 && c.SubFailed == 0 &&
		!c.Panicked && len(c.Unfinished) == 0
}

// String is a one-line summary, e.g.
// "PASS: 80 run, 79 passed, 0 failed, 1 skipped (12 subtests: 12 passed, 0 failed, 0 skipped)".
func (c Counts) String() string {
	verdict := c.Result
	if verdict == "" {
		verdict = "NO RESULT"
	}
	s := fmt.Sprintf("%s: %d run, %d passed, %d failed, %d skipped (%d subtests: %d passed, %d failed, %d skipped)",
		verdict, c.Run, c.Passed, c.Failed, c.Skipped, c.SubRun, c.SubPassed, c.SubFailed, c.SubSkipped)
	if c.TimedOut {
		s += "; timed out"
	} else if c.Panicked {
		s += "; panicked"
	}
	if len(c.Unfinished) > 0 {
		s += "; unfinished: " + strings.Join(c.Unfinished, ", ")
	}
	return s
}

// Add accumulates the counts of another run (for totals over packages).
// The verdict of the sum is the worse of the two ("FAIL", then no result,
// then "PASS"); adding to a zero Counts takes o's.
func (c *Counts) Add(o Counts) {
	if c.Run == 0 && c.SubRun == 0 && c.Result == "" && !c.Panicked {
		c.Result = o.Result
	} else {
		c.Result = worse(c.Result, o.Result)
	}
	c.Panicked = c.Panicked || o.Panicked
	c.TimedOut = c.TimedOut || o.TimedOut
	c.Run += o.Run
	c.Passed += o.Passed
	c.Failed += o.Failed
	c.Skipped += o.Skipped
	c.SubRun += o.SubRun
	c.SubPassed += o.SubPassed
	c.SubFailed += o.SubFailed
	c.SubSkipped += o.SubSkipped
	c.Failures = append(c.Failures, o.Failures...)
	c.Unfinished = append(c.Unfinished, o.Unfinished...)
}

// ParseTestOutput counts the tests in the output of a test binary run with
// -test.v (directly, as in the guest, or through `go test -v`). It tolerates
// CRLF line ends from a serial console.
//
// Result lines are recognised by their form ("--- PASS: Name (0.01s)",
// indented four spaces per subtest level); a test's own log lines are
// indented too but never take that form unless they quote a child test
// binary's output, which the names with slashes then put among subtests.
func ParseTestOutput(out string) Counts {
	var c Counts
	started := map[string]bool{} // top-level entries without a result yet
	var order []string           // top-level entries in start order
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		if name, ok := strings.CutPrefix(line, "=== RUN   "); ok {
			if isSubtest(name) {
				c.SubRun++
			} else {
				c.Run++
				if !started[name] {
					order = append(order, name)
				}
				started[name] = true
			}
			continue
		}
		if verdict, name, ok := resultLine(line); ok {
			sub := isSubtest(name)
			if !sub {
				delete(started, name)
			}
			switch {
			case verdict == "PASS" && sub:
				c.SubPassed++
			case verdict == "PASS":
				c.Passed++
			case verdict == "SKIP" && sub:
				c.SubSkipped++
			case verdict == "SKIP":
				c.Skipped++
			case verdict == "FAIL" && sub:
				c.SubFailed++
				c.Failures = append(c.Failures, name)
			case verdict == "FAIL":
				c.Failed++
				c.Failures = append(c.Failures, name)
			}
			continue
		}
		switch {
		case line == "PASS", strings.HasPrefix(line, "ok  \t"), strings.HasPrefix(line, "ok \t"):
			c.Result = "PASS"
		case line == "FAIL", strings.HasPrefix(line, "FAIL\t"):
			c.Result = "FAIL"
		case strings.HasPrefix(line, "panic: test timed out after "):
			c.TimedOut = true
			c.Panicked = true
		case strings.HasPrefix(line, "panic: "), strings.HasPrefix(line, "fatal error: "):
			c.Panicked = true
		}
	}
	for _, name := range order {
		if started[name] {
			c.Unfinished = append(c.Unfinished, name)
		}
	}
	return c
}

// worse returns the worse of two verdicts.
func worse(a, b string) string {
	switch {
	case a == "FAIL" || b == "FAIL":
		return "FAIL"
	case a == "" || b == "":
		return ""
	}
	return "PASS"
}

// resultLine parses "--- VERDICT: Name (1.23s)" after any indentation.
func resultLine(line string) (verdict, name string, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimLeft(line, " "), "--- ")
	if !ok {
		return "", "", false
	}
	verdict, rest, ok = strings.Cut(rest, ": ")
	if !ok || (verdict != "PASS" && verdict != "FAIL" && verdict != "SKIP") {
		return "", "", false
	}
	i := strings.LastIndex(rest, " (")
	if i <= 0 || !strings.HasSuffix(rest, "s)") {
		return "", "", false
	}
	return verdict, rest[:i], true
}

// isSubtest reports whether a test name is a subtest path.
func isSubtest(name string) bool {
	return strings.Contains(name, "/")
}
