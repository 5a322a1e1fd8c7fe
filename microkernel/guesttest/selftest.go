package guesttest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// SelftestReport is the parsed output of the in-kernel suite.
type SelftestReport struct {
	Passed, Failed []string // test names
	Failures       []string // "name: reason" lines
	// SummaryPassed and SummaryFailed come from the closing line; Summary is
	// false if that line never appeared.
	Summary                      bool
	SummaryPassed, SummaryFailed int
}

var (
	passLine    = regexp.MustCompile(`^selftest: PASS (\S+)`)
	failLine    = regexp.MustCompile(`^selftest: FAIL (\S+): (.*)$`)
	summaryLine = regexp.MustCompile(`^selftest: (\d+) passed, (\d+) failed$`)
)

// ParseSelftest extracts the suite's result lines from console output.
func ParseSelftest(out string) SelftestReport {
	var r SelftestReport
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := passLine.FindStringSubmatch(line); m != nil {
			r.Passed = append(r.Passed, m[1])
		} else if m := failLine.FindStringSubmatch(line); m != nil {
			r.Failed = append(r.Failed, m[1])
			r.Failures = append(r.Failures, m[1]+": "+m[2])
		} else if m := summaryLine.FindStringSubmatch(line); m != nil {
			r.Summary = true
			r.SummaryPassed, _ = strconv.Atoi(m[1])
			r.SummaryFailed, _ = strconv.Atoi(m[2])
		}
	}
	return r
}

// Check returns an error describing what is wrong with a run of the suite:
// failures, a missing or inconsistent summary.
func (r SelftestReport) Check() error {
	switch {
	case !r.Summary:
		return fmt.Errorf("no summary line (kernel died or hung?); passed %v, failed %v", r.Passed, r.Failures)
	case r.SummaryFailed != 0 || len(r.Failed) != 0:
		return fmt.Errorf("%d failed: %s", r.SummaryFailed, strings.Join(r.Failures, "; "))
	case r.SummaryPassed != len(r.Passed) || r.SummaryPassed == 0:
		return fmt.Errorf("summary says %d passed, %d PASS lines", r.SummaryPassed, len(r.Passed))
	}
	return nil
}

// ReadyStats is the "armos: ready" line: boot time and memory in use.
type ReadyStats struct {
	BootMS   float64
	InUseKiB int
}

var readyLine = regexp.MustCompile(`armos: ready in ([0-9.]+) ms; memory in use (\d+) KiB`)

// ParseReady extracts the ready line's figures.
func ParseReady(out string) (ReadyStats, bool) {
	m := readyLine.FindStringSubmatch(out)
	if m == nil {
		return ReadyStats{}, false
	}
	ms, _ := strconv.ParseFloat(m[1], 64)
	kib, _ := strconv.Atoi(m[2])
	return ReadyStats{BootMS: ms, InUseKiB: kib}, true
}
