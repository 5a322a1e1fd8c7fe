// Package selftest is the kernel's in-guest test suite, run when the kernel
// command line contains "selftest". Each test prints one line,
//
//	selftest: PASS <name> (<details>)
//	selftest: FAIL <name>: <reason>
//
// and the suite ends with "selftest: N passed, M failed". The host test in
// microkernel/guesttest boots the kernel in QEMU and parses these lines.
// The tests exercise what the trap layer (internal/rt) provides to the Go
// runtime: threads, futexes, timers, preemption, demand paging, signals.
package selftest

import (
	"fmt"
	"time"
)

// Options tunes the suite.
type Options struct {
	// Only, if set, runs just the tests whose names it lists.
	Only []string
}

// testTimeout bounds each test: a test that takes longer fails (and the
// host test's QEMU timeout catches a kernel that stops entirely).
const testTimeout = 60 * time.Second

type test struct {
	name string
	fn   func() (string, error) // details on success
}

// suite lists the tests in the order they run.
var suite = []test{
	{"goroutines-10k-token-ring", testTokenRing},
	{"maps-fmt", testMapsFmt},
	{"panic-recover", testPanicRecover},
	{"nil-deref-panics", testNilDeref},
	{"sleep-10ms", testSleep},
	{"ticker", testTicker},
	{"select-timeout", testSelectTimeout},
	{"realtime-clock", testRealtimeClock},
	{"mutex-across-threads", testMutexAcrossThreads},
	{"fpsimd-across-switches", testFPSIMDAcrossSwitches},
	{"preempt-spinning-goroutine", testPreemptSpin},
	{"gc-while-spinning", testGCWhileSpinning},
	{"demand-paging", testDemandPaging},
	{"gc-churn-10x-memory", testChurn},
	{"kernel-wx", testKernelWX},
	{"memory-attributes", testMemoryAttributes},
}

// Run runs the suite and returns the number of failures.
func Run(o Options) int {
	passed, failed := 0, 0
	for _, t := range suite {
		if !selected(o.Only, t.name) {
			continue
		}
		details, err := runOne(t)
		if err != nil {
			failed++
			fmt.Printf("selftest: FAIL %s: %v\n", t.name, err)
			continue
		}
		passed++
		fmt.Printf("selftest: PASS %s (%s)\n", t.name, details)
	}
	fmt.Printf("selftest: %d passed, %d failed\n", passed, failed)
	return failed
}

func selected(only []string, name string) bool {
	if len(only) == 0 {
		return true
	}
	for _, n := range only {
		if n == name {
			return true
		}
	}
	return false
}

// runOne runs a test with a timeout; a panic in the test is a failure.
func runOne(t test) (string, error) {
	type result struct {
		details string
		err     error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("panic: %v", r)}
			}
		}()
		d, err := t.fn()
		done <- result{d, err}
	}()
	select {
	case r := <-done:
		return r.details, r.err
	case <-time.After(testTimeout):
		return "", fmt.Errorf("timed out after %v", testTimeout)
	}
}
