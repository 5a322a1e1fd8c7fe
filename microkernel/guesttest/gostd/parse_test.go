package gostd

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A passing run in the shape of real output (trimmed from context.test and
// time.test under qemu-aarch64-static): parallel tests, nested subtests,
// a self-skip, examples, and log lines.
const samplePass = `=== RUN   TestBackground
--- PASS: TestBackground (0.00s)
=== RUN   TestTicker
=== PAUSE TestTicker
=== RUN   TestChan
=== RUN   TestChan/asynctimerchan=1
=== RUN   TestChan/asynctimerchan=1/Timer
=== RUN   TestChan/asynctimerchan=1/Ticker
=== RUN   TestChan/asynctimerchan=2
--- PASS: TestChan (1.01s)
    --- PASS: TestChan/asynctimerchan=1 (0.60s)
        --- PASS: TestChan/asynctimerchan=1/Timer (0.30s)
        --- PASS: TestChan/asynctimerchan=1/Ticker (0.30s)
    --- SKIP: TestChan/asynctimerchan=2 (0.00s)
=== RUN   TestMultiWakeupTicker
    sleep_test.go:854: -short
--- SKIP: TestMultiWakeupTicker (0.00s)
=== CONT  TestTicker
    tick_test.go:53: saw 10 errors
--- PASS: TestTicker (0.52s)
=== RUN   ExampleWithCancel
--- PASS: ExampleWithCancel (0.00s)
PASS
`

func TestParsePass(t *testing.T) {
	c := ParseTestOutput(samplePass)
	require.Equal(t, Counts{
		Run: 5, Passed: 4, Failed: 0, Skipped: 1,
		SubRun: 4, SubPassed: 3, SubSkipped: 1,
		Result: "PASS",
	}, c)
	require.True(t, c.OK())
	require.Equal(t, "PASS: 5 run, 4 passed, 0 failed, 1 skipped (4 subtests: 3 passed, 0 failed, 1 skipped)", c.String())
}

func TestParseCRLF(t *testing.T) {
	c := ParseTestOutput(strings.ReplaceAll(samplePass, "\n", "\r\n"))
	require.Equal(t, ParseTestOutput(samplePass), c)
}

// A failing run: a failed subtest fails its parent; an example's got/want
// block follows its result line.
func TestParseFail(t *testing.T) {
	out := `=== RUN   TestMutexMisuse
    mutex_test.go:193: Mutex.Unlock: did not find failure with message about unlocked lock: fork/exec /bin/sync.test: exec format error
--- FAIL: TestMutexMisuse (0.04s)
=== RUN   TestMemHashGlobalSeed
=== RUN   TestMemHashGlobalSeed/aes
    map_test.go:1087: cmd.Output got err fork/exec /bin/runtime.test: exec format error want nil
=== RUN   TestMemHashGlobalSeed/noaes
--- FAIL: TestMemHashGlobalSeed (0.02s)
    --- FAIL: TestMemHashGlobalSeed/aes (0.01s)
    --- PASS: TestMemHashGlobalSeed/noaes (0.01s)
=== RUN   ExampleOnceValues
--- FAIL: ExampleOnceValues (0.00s)
got:
Reading file once
want:
Reading file once
=== RUN   TestOK
--- PASS: TestOK (0.00s)
FAIL
`
	c := ParseTestOutput(out)
	require.Equal(t, 4, c.Run)
	require.Equal(t, 1, c.Passed)
	require.Equal(t, 3, c.Failed)
	require.Equal(t, 2, c.SubRun)
	require.Equal(t, 1, c.SubPassed)
	require.Equal(t, 1, c.SubFailed)
	require.Equal(t, []string{"TestMutexMisuse", "TestMemHashGlobalSeed", "TestMemHashGlobalSeed/aes", "ExampleOnceValues"}, c.Failures)
	require.Equal(t, "FAIL", c.Result)
	require.False(t, c.OK())
}

// A run that dies in the middle of a test: no verdict, the test unfinished.
func TestParseCrash(t *testing.T) {
	out := `=== RUN   TestA
--- PASS: TestA (0.00s)
=== RUN   TestHTTPDecoding
2026/12/03 07:45:20 http.Get error: Get "http://127.0.0.1:42375": dial tcp 127.0.0.1:42375: connect: network is unreachable
`
	c := ParseTestOutput(out)
	require.Equal(t, 2, c.Run)
	require.Equal(t, 1, c.Passed)
	require.Equal(t, []string{"TestHTTPDecoding"}, c.Unfinished)
	require.Equal(t, "", c.Result)
	require.False(t, c.OK())
	require.Contains(t, c.String(), "NO RESULT")
}

// A panic inside a test: the result line is printed before the stack.
func TestParsePanic(t *testing.T) {
	out := `=== RUN   TestPrlimitOtherProcess
--- FAIL: TestPrlimitOtherProcess (0.00s)
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x28 pc=0xc3b94]

goroutine 99 [running]:
`
	c := ParseTestOutput(out)
	require.True(t, c.Panicked)
	require.False(t, c.TimedOut)
	require.Equal(t, 1, c.Failed)
	require.Empty(t, c.Unfinished)
	require.False(t, c.OK())
}

func TestParseTimeout(t *testing.T) {
	out := `=== RUN   TestSlow
panic: test timed out after 1m0s
	running tests:
		TestSlow (1m0s)
`
	c := ParseTestOutput(out)
	require.True(t, c.TimedOut)
	require.Equal(t, []string{"TestSlow"}, c.Unfinished)
	require.Contains(t, c.String(), "timed out")
}

// go test -v output ends in "ok" or "FAIL" plus the package, not a bare
// verdict; a test's indented log line quoting a child's result line counts
// as a subtest, not as a top-level result.
func TestParseGoTestForm(t *testing.T) {
	out := "=== RUN   TestNohup\n" +
		"    signal_test.go:330: child output:\n" +
		"        --- PASS: TestNohup/uncaught/2 (0.00s)\n" +
		"--- PASS: TestNohup (0.40s)\n" +
		"PASS\n" +
		"ok  \tos/signal\t0.412s\n"
	c := ParseTestOutput(out)
	require.Equal(t, 1, c.Run)
	require.Equal(t, 1, c.Passed)
	require.Equal(t, 1, c.SubPassed)
	require.True(t, c.OK())

	c = ParseTestOutput("--- FAIL: TestX (0.00s)\nFAIL\nFAIL\tsync\t0.1s\n")
	require.Equal(t, "FAIL", c.Result)
}

func TestParseNotResultLines(t *testing.T) {
	for _, line := range []string{
		"--- PASS: TestX",             // no duration
		"--- DONE: TestX (0.00s)",     // not a verdict
		"---PASS: TestX (0.00s)",      // no space
		"    --- BENCH: BenchmarkX-2", // benchmark log
		"--- PASS:  (0.00s)",          // no name
	} {
		_, _, ok := resultLine(line)
		require.False(t, ok, line)
	}
}

func TestCountsAdd(t *testing.T) {
	var total Counts
	total.Add(Counts{Run: 2, Passed: 2, Result: "PASS"})
	require.Equal(t, "PASS", total.Result)
	total.Add(Counts{Run: 3, Passed: 2, Skipped: 1, SubRun: 4, SubPassed: 4, Result: "PASS"})
	require.True(t, total.OK())
	total.Add(Counts{Run: 2, Passed: 1, Failed: 1, Failures: []string{"TestA"}, Result: "FAIL"})
	require.Equal(t, Counts{Run: 7, Passed: 5, Failed: 1, Skipped: 1, SubRun: 4, SubPassed: 4,
		Failures: []string{"TestA"}, Result: "FAIL"}, total)

	// A run without a verdict spoils a PASS, not a FAIL.
	total = Counts{}
	total.Add(Counts{Run: 1, Passed: 1, Result: "PASS"})
	total.Add(Counts{Run: 1, Unfinished: []string{"TestB"}, Panicked: true})
	require.Equal(t, "", total.Result)
	require.True(t, total.Panicked)
	total.Add(Counts{Run: 1, Failed: 1, Result: "FAIL"})
	require.Equal(t, "FAIL", total.Result)
}
