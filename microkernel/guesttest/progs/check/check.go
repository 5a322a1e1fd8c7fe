// Package check is a tiny test harness for the guest test programs: register
// named checks, run them one after another and report in the line protocol
// that the host test parses from the guest console:
//
//	ok NAME
//	FAIL NAME: REASON
//	N passed, N failed
//
// The program then exits 0 if nothing failed and 1 otherwise. It is not the
// testing package: the programs are ordinary executables that must run on a
// kernel with no go tool, no /proc and no file system to speak of.
//
// Flags (registered on flag.CommandLine, so a program may add its own):
//
//	-run REGEXP   run only the checks whose name matches
//	-v            print each check's start, duration and log lines
//	-list         print the check names and exit
//	-timeout D    give up on a check that runs longer than D (0: never)
package check

import (
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
)

var (
	runFlag     = flag.String("run", "", "run only the checks whose name matches this regexp")
	verboseFlag = flag.Bool("v", false, "verbose: print each check's start, duration and log lines")
	listFlag    = flag.Bool("list", false, "list the check names and exit")
	timeoutFlag = flag.Duration("timeout", 10*time.Minute,
		"fail a check that runs longer than this and stop (0: no limit); generous because guests may run 50x slower")
)

// Output is where results go. Tests of this package replace it.
var Output io.Writer = os.Stdout

// exit ends the program; tests of this package replace it.
var exit = os.Exit

// A check is one registered named function.
type check struct {
	name string
	fn   func(*T)
}

var registry []check

// Add registers a check. Names should be short, unique and contain no
// spaces or colons, since they appear in the line protocol.
func Add(name string, fn func(*T)) {
	if strings.ContainsAny(name, " :\n") {
		panic(fmt.Sprintf("check: bad check name %q", name))
	}
	for _, c := range registry {
		if c.name == name {
			panic("check: duplicate check name " + name)
		}
	}
	registry = append(registry, check{name, fn})
}

// T is passed to a check function to record failures and log lines. Like
// testing.T, Fatalf ends the check's goroutine; it must therefore be called
// from the goroutine running the check.
type T struct {
	name   string
	mu     sync.Mutex
	errs   []string
	logs   []string
	failed bool
}

// Name returns the check's name.
func (t *T) Name() string { return t.name }

// Errorf records a failure and lets the check go on. It may be called from
// any goroutine.
func (t *T) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
}

// Fatalf records a failure and ends the check.
func (t *T) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

// Logf records a line that is printed with -v, or with the check's result
// if it fails.
func (t *T) Logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.logs = append(t.logs, fmt.Sprintf(format, args...))
}

// Failed reports whether the check has failed so far.
func (t *T) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// logLines returns a copy of the lines recorded by Logf.
func (t *T) logLines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.logs...)
}

// reason joins the recorded failures into the one-line reason of a FAIL line.
func (t *T) reason() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := strings.Join(t.errs, "; ")
	return strings.ReplaceAll(r, "\n", `\n`)
}

// Main parses the command line if the program has not, runs the selected
// checks in registration order, prints the summary and exits.
func Main() {
	if !flag.Parsed() {
		flag.Parse()
	}
	exit(Run(*runFlag, *verboseFlag, *listFlag, *timeoutFlag))
}

// Run runs the checks whose names match pattern and returns the exit status
// that Main would use.
func Run(pattern string, verbose, list bool, timeout time.Duration) int {
	re, err := regexp.Compile(pattern)
	if err != nil {
		fmt.Fprintf(Output, "check: bad -run pattern: %v\n", err)
		return 2
	}
	passed, failed := 0, 0
	for _, c := range registry {
		if !re.MatchString(c.name) {
			continue
		}
		if list {
			fmt.Fprintln(Output, c.name)
			continue
		}
		t, timedOut := runOne(c, verbose, timeout)
		if t.Failed() {
			failed++
			if !verbose { // the logs help explain a failure
				for _, l := range t.logLines() {
					fmt.Fprintf(Output, "    %s\n", l)
				}
			}
			fmt.Fprintf(Output, "FAIL %s: %s\n", c.name, t.reason())
		} else {
			passed++
			fmt.Fprintf(Output, "ok %s\n", c.name)
		}
		if timedOut {
			// The check's goroutine is still running and may hold
			// resources the next checks need: stop here.
			break
		}
	}
	if list {
		return 0
	}
	fmt.Fprintf(Output, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// runOne runs one check in its own goroutine, turning a panic into a
// failure, and gives up after timeout.
func runOne(c check, verbose bool, timeout time.Duration) (t *T, timedOut bool) {
	t = &T{name: c.name}
	if verbose {
		fmt.Fprintf(Output, "=== RUN %s\n", c.name)
	}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("panic: %v", r)
			}
		}()
		c.fn(t)
	}()
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case <-done:
	case <-expired:
		t.Errorf("timed out after %v", timeout)
		timedOut = true
	}
	if verbose {
		for _, l := range t.logLines() {
			fmt.Fprintf(Output, "    %s\n", l)
		}
		fmt.Fprintf(Output, "--- %s (%v)\n", c.name, time.Since(start).Round(time.Microsecond))
	}
	return t, timedOut
}
