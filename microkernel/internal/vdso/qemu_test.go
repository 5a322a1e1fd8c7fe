package vdso

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The EL0 tests (el0_linux_arm64_test.go) and the runtime test
// (runtime_linux_arm64_test.go) need linux/arm64. On any host, TestUnderQEMU
// cross-builds this package's test binary and runs them under
// qemu-aarch64-static, which lets EL0 read CNTVCT_EL0.

// childEnv marks the test binary running under qemu, so that it does not
// start qemu itself.
const childEnv = "ARMOS_VDSO_QEMU_CHILD"

const qemuInstall = "sudo apt-get update && sudo apt-get install -y --no-install-recommends qemu-user-static"

// childRunner returns how to run the linux/arm64 test binary bin: directly
// ("") where the kernel runs it (a linux/arm64 host), otherwise under
// qemu-aarch64-static, failing the test when that is missing. The first
// case excludes this binary itself running under qemu (go test -exec
// qemu-aarch64-static), where the host kernel refuses arm64 binaries.
func childRunner(tb testing.TB, bin string) string {
	if runtime.GOOS == "linux" && runtime.GOARCH == "arm64" {
		if _, err := runQEMU(tb, "", bin, "-test.list", "^$"); !errors.Is(err, syscall.ENOEXEC) {
			return ""
		}
	}
	return qemuPath(tb)
}

// qemuPath finds qemu-aarch64-static, failing the test when it is missing.
func qemuPath(tb testing.TB) string {
	p, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		if _, err := os.Stat("/usr/bin/qemu-aarch64-static"); err == nil {
			return "/usr/bin/qemu-aarch64-static"
		}
		tb.Fatalf("qemu-aarch64-static is needed to run the vDSO at EL0; install it with\n    %s", qemuInstall)
	}
	return p
}

// buildARM64Test cross-builds this package's tests for linux/arm64, with the
// runtime test (build tag vdsoruntime, which reaches runtime internals and
// so links with -checklinkname=0).
func buildARM64Test(tb testing.TB) string {
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	bin := filepath.Join(tb.TempDir(), "vdso.test")
	cmd := exec.Command(gobin, "test", "-c", "-o", bin, "-tags", "vdsoruntime", "-ldflags=-checklinkname=0", ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(tb, err, "cross-building the linux/arm64 test binary:\n%s", out)
	return bin
}

// runQEMU runs the arm64 test binary with args under qemu-aarch64-static,
// or directly when qemu is "" (a linux/arm64 host).
func runQEMU(tb testing.TB, qemu, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The child's own timeout comes first and prints its goroutines.
	argv := append([]string{bin, "-test.timeout", "3m"}, args...)
	if qemu != "" {
		argv = append([]string{qemu}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestUnderQEMU(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("running under qemu already")
	}
	bin := buildARM64Test(t)
	qemu := childRunner(t, bin)

	// Each group in a process of its own: the runtime test leaves the
	// runtime using its image.
	for _, pattern := range []string{"^TestEL0", "^TestRuntime"} {
		out, err := runQEMU(t, qemu, bin, "-test.list", pattern)
		require.NoError(t, err, "%s", out)
		names := strings.Fields(out)
		require.NotEmpty(t, names, "no tests match %s in the arm64 binary", pattern)

		out, err = runQEMU(t, qemu, bin, "-test.run", pattern, "-test.v", "-test.count=1")
		t.Logf("qemu-aarch64-static vdso.test -test.run %s:\n%s", pattern, out)
		require.NoError(t, err)
		for _, name := range names {
			require.Contains(t, out, "--- PASS: "+name+" ", "%s did not pass under qemu", name)
		}
	}
}

// BenchmarkUnderQEMU runs the arm64 benchmarks under qemu-aarch64-static
// (once, whatever b.N) and reports each as a sub-benchmark with the child's
// ns/op.
func BenchmarkUnderQEMU(b *testing.B) {
	if os.Getenv(childEnv) != "" {
		b.Skip("running under qemu already")
	}
	bin := buildARM64Test(b)
	qemu := childRunner(b, bin)
	benchtime := "1s"
	if f := flag.Lookup("test.benchtime"); f != nil {
		benchtime = f.Value.String()
	}
	out, err := runQEMU(b, qemu, bin, "-test.run", "^$", "-test.bench", ".", "-test.benchtime", benchtime)
	require.NoError(b, err, "%s", out)
	line := regexp.MustCompile(`(?m)^Benchmark(\w+)(?:-\d+)?\s+(\d+)\s+([0-9.]+) ns/op`)
	matches := line.FindAllStringSubmatch(out, -1)
	require.NotEmpty(b, matches, "no benchmark results:\n%s", out)
	for _, m := range matches {
		if m[1] == "UnderQEMU" {
			continue
		}
		ns, err := strconv.ParseFloat(m[3], 64)
		require.NoError(b, err)
		var once sync.Once
		b.Run(m[1], func(b *testing.B) {
			once.Do(func() { b.Logf("under qemu: %s iterations", m[2]) })
			b.ReportMetric(ns, "ns/op")
		})
	}
}
