// Package gostd lists the test binaries of Go's standard library that armos
// runs as processes, with the exact arguments under which they pass.
//
// Each binary is built by the stock toolchain (`go test -c`, linux/arm64,
// CGO_ENABLED=0; see Build) and is not modified. armos offers a test binary
// a narrow world: a read-only boot archive holding the binary and /dev/null,
// no writable directory (not even /tmp), no network, no /proc, no other
// programs to exec, one CPU and about 512 MiB of RAM. The arguments returned
// by Package.Args therefore add -test.skip for every test that fails or hangs
// there for one of those reasons; each such test is listed in Packages with
// its reason (SKIPS.md is the same list for people). Tests that skip
// themselves (testenv.MustHaveGoBuild, "skipping in short mode", ...) need
// no entry.
//
// The table was established by running each binary under Linux user-mode
// emulation (qemu-aarch64-static -cpu cortex-a72) in a sandbox that mimics
// armos: chroot into a read-only directory with only the binary, /dev/null
// and QEMU, an empty environment except HOME=/, a network namespace with no
// interface up, pinned to one CPU. The host test in this package re-runs
// that oracle when ARMOS_GOSTD_ORACLE is set.
//
// Packages marked CI form the subset that armos's CI runs in the guest; it
// additionally skips the tests whose Skip.CIOnly is set (slow under TCG).
// The full list is for a manual or benchmark run.
package gostd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The reasons for which a test is skipped by us. Every Skip.Reason is one of
// these (the host test checks it), so that SKIPS.md can group them.
const (
	NeedsTestdata = "needs testdata or source files from the package directory"
	NeedsTempDir  = "needs a writable temporary directory (t.TempDir, os.CreateTemp)"
	NeedsGOROOT   = "needs files from GOROOT"
	Execs         = "execs a subprocess (usually the test binary itself)"
	NeedsNetwork  = "needs network (loopback sockets)"
	NeedsProc     = "needs /proc"
	TooSlow       = "too slow under emulation"
	NeedsMemory   = "needs more memory than the guest's 512 MiB"
)

// Reasons is the set of valid Skip.Reason values.
var Reasons = []string{NeedsTestdata, NeedsTempDir, NeedsGOROOT, Execs, NeedsNetwork, NeedsProc, TooSlow, NeedsMemory}

// Skip is one top-level test, example, benchmark or fuzz target that the
// harness passes to -test.skip.
type Skip struct {
	// Test is the exact top-level name (no subtest path).
	Test string
	// Reason is one of the Reasons constants.
	Reason string
	// Detail says, in one line, what the test does that armos cannot offer.
	Detail string
	// CIOnly skips the test only in the CI subset: it passes in the guest
	// but takes too long there for every CI run.
	CIOnly bool
}

// Package is one standard-library package whose test binary armos runs.
type Package struct {
	// Path is the import path, e.g. "sync/atomic".
	Path string
	// CI puts the package in the subset that armos's CI runs in the guest.
	CI bool
	// Tags are build tags for `go test -c` (stock toolchain flags; the
	// binary is still not modified after the build).
	Tags []string
	// Timeout is the -test.timeout value, sized for TCG full-system
	// emulation (several times what qemu-user needs).
	Timeout time.Duration
	// Skips are the tests skipped by us, with their reasons.
	Skips []Skip
	// Note explains anything unusual about the package's entry.
	Note string
}

// Packages is the table, in the order in which a harness should run them:
// the CI subset first.
var Packages = []Package{
	{
		Path:    "runtime",
		CI:      true,
		Timeout: 15 * time.Minute,
		Skips: []Skip{
			{"TestFinalizerRegisterABI", Execs, "re-runs the test binary with GODEBUG settings", false},
			{"TestRuntimePanic", Execs, "checks the traceback of a crashing child process", false},
			{"TestTracebackRuntimeFunction", Execs, "checks the traceback of a crashing child process", false},
			{"TestTracebackRuntimeMethod", Execs, "checks the traceback of a crashing child process", false},
			{"TestG0StackOverflow", Execs, "overflows the g0 stack in a child process", false},
			{"TestCrashWhileTracing", Execs, "crashes a child process while it traces", false},
			{"TestIssue66841", Execs, "re-runs itself with GODEBUG=cpu.aes=off", false},
			{"TestArenaCollision", Execs, "re-runs the test binary to collide with the heap arena", false},
			{"TestMemHashGlobalSeed", Execs, "compares hash seeds of two child processes", false},
			{"TestTracebackSystem", Execs, "reads the crash report of a child process", false},
			{"TestSchedPauseMetrics", NeedsTempDir, "its debug.WriteHeapDump case writes to t.TempDir", false},
			{"ExampleAddCleanup", NeedsTempDir, "creates a file with os.CreateTemp", false},
			{"TestDecorateMappings", NeedsProc, "reads /proc/self/maps and fails without it (qemu-user fakes that file, so it passes there)", false},
			{"TestPageCacheFlush", TooSlow, "thousands of page-allocator set-ups, each reserving and freeing summary regions", true},
			{"TestDebugCallGrowStack", TooSlow, "grows the stack through debug calls", true},
			{"TestStackGrowth", TooSlow, "deep recursion in several goroutines", true},
		},
	},
	{
		Path:    "time",
		CI:      true,
		Tags:    []string{"timetzdata"},
		Timeout: 10 * time.Minute,
		Note: "built with -tags=timetzdata: the test binary panics in init unless it can load America/Los_Angeles, " +
			"which it looks for only in ../../lib/time/zoneinfo.zip (relative to the working directory) or in embedded tzdata",
		Skips: []Skip{
			{"TestLoadLocationFromTZData", NeedsGOROOT, "reads $GOROOT/lib/time/zoneinfo.zip", false},
			{"TestLoadLocationFromTZDataSlim", NeedsTestdata, "reads testdata/2020b_Europe_Berlin", false},
			{"TestResetResult", TooSlow, "races Reset against firing timers thousands of times per GODEBUG setting", true},
			{"TestStopResult", TooSlow, "races Stop against firing timers thousands of times per GODEBUG setting", true},
			{"TestTimerGC", TooSlow, "allocates and collects many timers", true},
			{"TestSleepZeroDeadlock", TooSlow, "100 runtime.GC calls against Sleep(0)", true},
		},
	},
	{
		Path:    "sync",
		CI:      true,
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"TestMutexMisuse", Execs, "checks the fatal error of a child process that misuses a mutex", false},
			{"TestIssue76126", Execs, "checks that a child process dies of an unhandled panic", false},
			{"ExampleOnceValues", NeedsTestdata, "reads example_test.go", false},
		},
	},
	{Path: "sync/atomic", CI: true, Timeout: 5 * time.Minute},
	{
		Path:    "context",
		CI:      true,
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"ExampleAfterFunc_connection", NeedsNetwork, "listens on and dials 127.0.0.1", false},
		},
	},
	{Path: "reflect", CI: true, Timeout: 5 * time.Minute},
	{Path: "math", CI: true, Timeout: 5 * time.Minute},
	{Path: "strconv", CI: true, Timeout: 5 * time.Minute},
	{Path: "sort", CI: true, Timeout: 5 * time.Minute},
	{Path: "strings", CI: true, Timeout: 5 * time.Minute},
	{Path: "bytes", CI: true, Timeout: 5 * time.Minute},
	{Path: "unicode/utf8", CI: true, Timeout: 5 * time.Minute},
	{Path: "encoding/binary", CI: true, Timeout: 5 * time.Minute},
	{
		Path:    "encoding/json",
		CI:      true,
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"TestHTTPDecoding", NeedsNetwork, "decodes from an httptest server on 127.0.0.1 (log.Fatal ends the whole binary)", false},
		},
	},
	{Path: "container/heap", CI: true, Timeout: 5 * time.Minute},
	{Path: "hash/crc32", CI: true, Timeout: 5 * time.Minute},
	{Path: "crypto/sha256", CI: true, Timeout: 5 * time.Minute},
	{
		Path:    "os/signal",
		CI:      true,
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"TestAtomicStop", Execs, "runs the test binary as a child to race signal.Stop", false},
			{"TestNotifyContextNotifications", Execs, "sends SIGINT to a child copy of the test binary", false},
			{"TestDetectNohup", Execs, "needs os.Executable (/proc/self/exe), then expects a child copy of the test binary to fail", false},
			{"TestNohup", Execs, "needs os.Executable (/proc/self/exe), then expects child copies of the test binary to die of SIGHUP", false},
		},
	},
	{Path: "errors", CI: true, Timeout: 5 * time.Minute},
	{Path: "fmt", CI: true, Timeout: 5 * time.Minute},
	{Path: "slices", CI: true, Timeout: 5 * time.Minute},
	{Path: "maps", CI: true, Timeout: 5 * time.Minute},
	{Path: "unique", CI: true, Timeout: 5 * time.Minute},
	{Path: "weak", CI: true, Timeout: 5 * time.Minute},
	{Path: "internal/runtime/atomic", CI: true, Timeout: 5 * time.Minute},
	{
		Path:    "runtime/debug",
		CI:      true,
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"TestWriteHeapDumpNonempty", NeedsTempDir, "writes a heap dump to os.CreateTemp", false},
			{"TestWriteHeapDumpFinalizers", NeedsTempDir, "writes a heap dump to os.CreateTemp", false},
			{"TestWriteHeapDumpTypeName", NeedsTempDir, "writes a heap dump to os.CreateTemp", false},
			{"TestSetCrashOutput", NeedsTempDir, "writes crash output to t.TempDir, then execs a child", false},
		},
	},
	{
		Path:    "math/big",
		CI:      true,
		Timeout: 15 * time.Minute,
		Skips: []Skip{
			{"TestAddVV", TooSlow, "checks the assembly vector routines against the Go ones on many lengths", true},
			{"TestSubVV", TooSlow, "checks the assembly vector routines against the Go ones on many lengths", true},
			{"TestAddMulVVWW", TooSlow, "checks the assembly vector routines against the Go ones on many lengths", true},
			{"TestMulAddVWW", TooSlow, "checks the assembly vector routines against the Go ones on many lengths", true},
			{"TestNatDiv", TooSlow, "divides many random naturals of growing sizes", true},
		},
	},

	// The full list: everything above plus these, for a manual or bench run.
	{Path: "unicode", Timeout: 5 * time.Minute},
	{Path: "unicode/utf16", Timeout: 5 * time.Minute},
	{Path: "encoding/hex", Timeout: 5 * time.Minute},
	{Path: "encoding/base64", Timeout: 5 * time.Minute},
	{Path: "container/list", Timeout: 5 * time.Minute},
	{Path: "container/ring", Timeout: 5 * time.Minute},
	{Path: "math/bits", Timeout: 5 * time.Minute},
	{Path: "math/rand", Timeout: 5 * time.Minute},
	{Path: "math/rand/v2", Timeout: 5 * time.Minute},
	{Path: "math/cmplx", Timeout: 5 * time.Minute},
	{Path: "hash/crc64", Timeout: 5 * time.Minute},
	{Path: "hash/fnv", Timeout: 5 * time.Minute},
	{Path: "hash/adler32", Timeout: 5 * time.Minute},
	{Path: "hash/maphash", Timeout: 5 * time.Minute},
	{Path: "crypto/sha512", Timeout: 5 * time.Minute},
	{Path: "crypto/sha1", Timeout: 5 * time.Minute},
	{Path: "crypto/md5", Timeout: 5 * time.Minute},
	{Path: "crypto/aes", Timeout: 5 * time.Minute},
	{Path: "crypto/hmac", Timeout: 5 * time.Minute},
	{Path: "crypto/subtle", Timeout: 5 * time.Minute},
	{Path: "crypto/rand", Timeout: 5 * time.Minute},
	{
		Path:    "bufio",
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"TestCopyUnixpacket", NeedsTempDir, "binds a unixpacket socket in t.TempDir", false},
		},
	},
	{
		Path:    "io",
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"TestOffsetWriter_Seek", NeedsTempDir, "writes a file in t.TempDir", false},
			{"TestOffsetWriter_WriteAt", NeedsTempDir, "writes a file in t.TempDir", false},
			{"TestWriteAt_PositionPriorToBase", NeedsTempDir, "writes a file in t.TempDir", false},
			{"TestOffsetWriter_Write", NeedsTempDir, "writes a file in t.TempDir", false},
		},
	},
	{
		Path:    "regexp",
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"TestRE2Search", NeedsTestdata, "reads testdata/re2-search.txt", false},
		},
	},
	{Path: "text/tabwriter", Timeout: 5 * time.Minute},
	{
		Path:    "text/template",
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"TestParseFiles", NeedsTestdata, "parses templates from testdata", false},
			{"TestParseGlob", NeedsTestdata, "parses templates from testdata", false},
			{"TestParseFS", NeedsTestdata, "parses templates from testdata", false},
			{"TestParseFilesWithData", NeedsTestdata, "parses templates from testdata", false},
			{"TestParseGlobWithData", NeedsTestdata, "parses templates from testdata", false},
			{"ExampleTemplate_glob", NeedsTempDir, "writes templates to os.MkdirTemp (log.Fatal ends the whole binary)", false},
			{"ExampleTemplate_helpers", NeedsTempDir, "writes templates to os.MkdirTemp (log.Fatal ends the whole binary)", false},
			{"ExampleTemplate_share", NeedsTempDir, "writes templates to os.MkdirTemp (log.Fatal ends the whole binary)", false},
		},
	},
	{Path: "path", Timeout: 5 * time.Minute},
	{Path: "iter", Timeout: 5 * time.Minute},
	{Path: "net/netip", Timeout: 5 * time.Minute},
	{Path: "net/url", Timeout: 5 * time.Minute},
	{Path: "log", Timeout: 5 * time.Minute},
	{Path: "log/slog", Timeout: 5 * time.Minute},
	{
		Path:    "encoding/gob",
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"TestLargeSlice", NeedsMemory, "round-trips slices of 2-20 Mi elements; the Go heap peaks near 550 MB", false},
		},
	},
	{Path: "internal/runtime/maps", Timeout: 5 * time.Minute},
	{Path: "internal/sync", Timeout: 5 * time.Minute},
	{Path: "internal/poll", Timeout: 5 * time.Minute},
	{
		Path:    "runtime/pprof",
		Timeout: 15 * time.Minute,
		Skips: []Skip{
			{"TestAtomicLoadStore64", NeedsTempDir, "writes a profile to os.CreateTemp", false},
			{"TestTracebackAll", NeedsTempDir, "writes a profile to os.CreateTemp", false},
			{"TestCPUProfileWithFork", Execs, "needs os.Executable (/proc/self/exe) and forks children while profiling", false},
			{"TestConvertCPUProfile", NeedsProc, "reads /proc/self/maps and fails without it", false},
			{"TestConvertMemProfile", NeedsProc, "reads /proc/self/maps and fails without it", false},
		},
	},
	{
		Path:    "runtime/metrics",
		Timeout: 5 * time.Minute,
		Skips: []Skip{
			{"TestDocs", NeedsTestdata, "compares the metrics against doc.go", false},
		},
	},
	{Path: "runtime/trace", Timeout: 5 * time.Minute},
}

// Lookup returns the table entry of an import path.
func Lookup(path string) (Package, bool) {
	for _, p := range Packages {
		if p.Path == path {
			return p, true
		}
	}
	return Package{}, false
}

// CI returns the packages of the CI subset, in table order.
func CI() []Package {
	var ps []Package
	for _, p := range Packages {
		if p.CI {
			ps = append(ps, p)
		}
	}
	return ps
}

// Paths returns the import paths of ps.
func Paths(ps []Package) []string {
	paths := make([]string, len(ps))
	for i, p := range ps {
		paths[i] = p.Path
	}
	return paths
}

// Skipped returns the tests that the run skips: in CI mode also those
// marked CIOnly.
func (p Package) Skipped(ci bool) []Skip {
	var s []Skip
	for _, sk := range p.Skips {
		if ci || !sk.CIOnly {
			s = append(s, sk)
		}
	}
	return s
}

// SkipPattern returns the -test.skip regular expression of a run, or "" if
// it skips nothing: an anchored alternation of the exact top-level names.
func (p Package) SkipPattern(ci bool) string {
	var names []string
	for _, sk := range p.Skipped(ci) {
		names = append(names, regexp.QuoteMeta(sk.Test))
	}
	if len(names) == 0 {
		return ""
	}
	return "^(" + strings.Join(names, "|") + ")$"
}

// Args returns the test binary's arguments for a run in the guest: verbose
// (ParseTestOutput needs -test.v), short, the package's timeout, and the
// skip pattern. ci selects the CI variant, which also skips slow tests.
func (p Package) Args(ci bool) []string {
	args := []string{
		"-test.v",
		"-test.short",
		"-test.count=1",
		"-test.paniconexit0",
		"-test.timeout=" + p.Timeout.String(),
	}
	if pat := p.SkipPattern(ci); pat != "" {
		args = append(args, "-test.skip="+pat)
	}
	return args
}

// BinaryName is the file name of a package's test binary: the import path
// with slashes replaced by underscores, plus ".test" ("sync/atomic" becomes
// "sync_atomic.test"). The boot archive holds it under /bin.
func BinaryName(path string) string {
	return strings.ReplaceAll(path, "/", "_") + ".test"
}

// BuildEnv is the environment that Build adds to the caller's for every
// `go test -c`.
var BuildEnv = []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}

// buildParallelism bounds concurrent `go test -c` runs: the host has two
// shared cores, and each build is itself parallel.
const buildParallelism = 2

// Build builds the test binaries of pkgs (every package of the table if
// none is given) into dir with the stock toolchain, two at a time:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go test -c [-tags=...] -o dir/<BinaryName> <pkg>
//
// It reuses the go command's build cache. Packages not in the table are
// built without tags. It returns each import path's binary path; on error,
// the paths of the binaries that did build, and every failure joined.
func Build(dir string, pkgs ...string) (map[string]string, error) {
	if len(pkgs) == 0 {
		pkgs = Paths(Packages)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	goTool, err := goCommand()
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		bins = map[string]string{}
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, buildParallelism)
	)
	for _, pkg := range pkgs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out := filepath.Join(dir, BinaryName(pkg))
			err := buildOne(goTool, pkg, out)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			bins[pkg] = out
		})
	}
	wg.Wait()
	return bins, errors.Join(errs...)
}

// buildOne runs one `go test -c`.
func buildOne(goTool, pkg, out string) error {
	args := []string{"test", "-c", "-o", out}
	if p, ok := Lookup(pkg); ok && len(p.Tags) > 0 {
		args = append(args, "-tags="+strings.Join(p.Tags, ","))
	}
	args = append(args, pkg)
	cmd := exec.Command(goTool, args...)
	cmd.Env = append(os.Environ(), BuildEnv...)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gostd: go %s: %v\n%s", strings.Join(args, " "), err, buf.Bytes())
	}
	// A package without test files builds nothing, successfully.
	if _, err := os.Stat(out); err != nil {
		return fmt.Errorf("gostd: go %s wrote no binary (no test files?): %v", strings.Join(args, " "), err)
	}
	return nil
}

// goCommand finds the go command: on PATH, else in $GOROOT/bin.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("gostd: the go command is neither on PATH nor in $GOROOT/bin")
}
