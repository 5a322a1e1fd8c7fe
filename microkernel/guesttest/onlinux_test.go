package guesttest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The test programs check Linux behaviour, not armos quirks: the same
// programs pass on Linux. TestProgramsPassOnLinux runs every check program
// natively on this (Linux) host, and gort, the Go runtime check, also as
// the very arm64 binary armos runs, under qemu-aarch64-static (Debian's
// qemu-user-static, which build.sh test installs). The programs that start
// copies of themselves (spawn, pingpong, badptr) run natively only: under
// qemu-user their children would need binfmt_misc.

// onLinuxTimeout bounds one program's run.
const onLinuxTimeout = 3 * time.Minute

func TestProgramsPassOnLinux(t *testing.T) {
	qemuUser, err := exec.LookPath("qemu-aarch64-static")
	require.NoError(t, err, "qemu-aarch64-static is missing: apt-get install qemu-user-static (build.sh test does)")
	root, err := ModuleRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	build := func(pkg, goarch string) string {
		out := filepath.Join(dir, goarch, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, string(b))
		return out
	}
	summary := regexp.MustCompile(`(?m)^(\d+) passed, 0 failed$`)
	run := func(t *testing.T, argv ...string) {
		ctx, cancel := context.WithTimeout(context.Background(), onLinuxTimeout)
		defer cancel()
		b, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		require.NoError(t, err, "%q:\n%s", argv, b)
		m := summary.FindSubmatch(b)
		require.NotNil(t, m, "no 'N passed, 0 failed' line from %q:\n%s", argv, b)
		require.NotEqual(t, "0", string(m[1]), "no check ran")
	}
	host := "amd64"
	if out, err := exec.Command("go", "env", "GOHOSTARCH").Output(); err == nil {
		host = string(regexp.MustCompile(`\s+`).ReplaceAll(out, nil))
	}
	for _, name := range []string{"gort", "spawn", "pingpong", "badptr"} {
		prog := build("microkernel/guesttest/progs/"+name, host)
		t.Run(name+"-native", func(t *testing.T) {
			t.Parallel()
			run(t, prog)
		})
	}
	gortARM := build("microkernel/guesttest/progs/gort", "arm64")
	t.Run("gort-arm64-qemu-user", func(t *testing.T) {
		t.Parallel()
		run(t, qemuUser, gortARM)
	})
}

// TestArchCopyOnArm64 runs the kernel's SIMD copy (arch.Copy) through its
// test as the arm64 code it is, under qemu-aarch64-static: the host's own
// test run covers only the portable version.
func TestArchCopyOnArm64(t *testing.T) {
	t.Parallel()
	qemuUser, err := exec.LookPath("qemu-aarch64-static")
	require.NoError(t, err, "qemu-aarch64-static is missing: apt-get install qemu-user-static (build.sh test does)")
	root, err := ModuleRoot()
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "arch.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, "./microkernel/internal/arch")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	ctx, cancel := context.WithTimeout(context.Background(), onLinuxTimeout)
	defer cancel()
	b, err = exec.CommandContext(ctx, qemuUser, bin, "-test.run", "^TestCopy$", "-test.v").CombinedOutput()
	require.NoError(t, err, string(b))
	require.Contains(t, string(b), "--- PASS: TestCopy", string(b))
}
