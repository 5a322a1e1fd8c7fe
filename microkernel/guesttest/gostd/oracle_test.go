package gostd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The oracle runs the table's test binaries under Linux user-mode emulation
// in a sandbox that mimics armos, to show that the arguments pass on Linux.
// armos's CI runs the same binaries in the guest instead, so the oracle is
// opt-in:
//
//	ARMOS_GOSTD_ORACLE=1     the CI subset with its CI arguments
//	ARMOS_GOSTD_ORACLE=full  every package with the full-run arguments
//	ARMOS_GOSTD_PKGS=a,b     only these packages (either mode)
//	ARMOS_GOSTD_OUT=dir      keep each run's output in dir/<binary>.out
//
// It needs qemu-aarch64-static (Debian's qemu-user-static), util-linux's
// unshare, mount and taskset, and chroot; root, or unprivileged user
// namespaces.
const (
	oracleEnv = "ARMOS_GOSTD_ORACLE"
	pkgsEnv   = "ARMOS_GOSTD_PKGS"
	outEnv    = "ARMOS_GOSTD_OUT"
)

// qemuCPU is the CPU model armos boots on (QEMU virt, -cpu cortex-a72): an
// ARMv8.0 core without LSE atomics or SHA-512, so the runtime and crypto
// take the same code paths as in the guest.
const qemuCPU = "cortex-a72"

const installQEMU = "sudo apt-get update && sudo apt-get install -y --no-install-recommends qemu-user-static"

func TestOracle(t *testing.T) {
	mode := os.Getenv(oracleEnv)
	if mode == "" {
		t.Skipf("set %s=1 (CI subset) or %s=full to run the test binaries under qemu-aarch64-static", oracleEnv, oracleEnv)
	}
	ci := mode != "full"
	pkgs := Packages
	if ci {
		pkgs = CI()
	}
	if only := os.Getenv(pkgsEnv); only != "" {
		var sel []Package
		for _, path := range strings.Split(only, ",") {
			p, ok := Lookup(path)
			require.True(t, ok, "%s=%s: %s is not in the table", pkgsEnv, only, path)
			sel = append(sel, p)
		}
		pkgs = sel
	}

	sb := newSandbox(t)
	start := time.Now()
	_, err := Build(sb.bin, Paths(pkgs)...)
	require.NoError(t, err)
	t.Logf("built %d test binaries in %v", len(pkgs), time.Since(start).Round(time.Second))

	var total Counts
	var cpu, wall time.Duration
	for _, p := range pkgs {
		t.Run(p.Path, func(t *testing.T) {
			sb.checkSkipsExist(t, p)

			res := sb.run(t, p, p.Args(ci)...)
			c := ParseTestOutput(res.out)
			cpu += res.cpu
			wall += res.wall
			total.Add(c)
			t.Logf("%s: %s; skipped by us: %d; wall %v, cpu %v",
				p.Path, c, len(p.Skipped(ci)), res.wall.Round(10*time.Millisecond), res.cpu.Round(10*time.Millisecond))
			if dir := os.Getenv(outEnv); dir != "" {
				require.NoError(t, os.MkdirAll(dir, 0o755))
				name := filepath.Join(dir, strings.TrimSuffix(BinaryName(p.Path), ".test")+".out")
				require.NoError(t, os.WriteFile(name, []byte(res.out), 0o644))
			}
			require.NoError(t, res.err, "%s exited badly; output tail:\n%s", p.Path, tail(res.out, 60))
			require.True(t, c.OK(), "%s did not pass: %s; output tail:\n%s", p.Path, c, tail(res.out, 60))
		})
	}
	t.Logf("total over %d packages: %s; wall %v, cpu %v", len(pkgs), total, wall.Round(time.Second), cpu.Round(time.Second))
}

// sandbox is a chroot directory laid out like armos's boot archive, plus
// the emulator: /bin/<binary>.test, /dev/null (a bind mount of the host's)
// and /qemu. Runs see it read-only, in new mount and network namespaces,
// with an empty environment except HOME=/, pinned to one CPU.
type sandbox struct {
	root, bin string
	unshare   []string // unshare command and flags
	taskset   string
	chroot    string
	cpu       string // the CPU to pin to
}

func newSandbox(t *testing.T) *sandbox {
	qemu, err := exec.LookPath("qemu-aarch64-static")
	require.NoError(t, err, "qemu-aarch64-static is missing; install it with:\n\t%s", installQEMU)
	sb := &sandbox{root: t.TempDir()}
	sb.bin = filepath.Join(sb.root, "bin")
	for _, tool := range []string{"unshare", "mount", "taskset", "sh", "env"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is missing (util-linux / coreutils)", tool)
	}
	unshare, _ := exec.LookPath("unshare")
	sb.unshare = []string{unshare, "--mount", "--net"}
	if os.Geteuid() != 0 {
		sb.unshare = append(sb.unshare, "--map-root-user")
	}
	sb.taskset, _ = exec.LookPath("taskset")
	sb.chroot, err = exec.LookPath("chroot")
	if err != nil {
		sb.chroot = "/usr/sbin/chroot" // outside a non-root PATH
	}
	sb.cpu = firstAllowedCPU()

	require.NoError(t, os.MkdirAll(sb.bin, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(sb.root, "dev"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sb.root, "dev", "null"), nil, 0o644))
	require.NoError(t, copyFile(filepath.Join(sb.root, "qemu"), qemu))
	return sb
}

// mountScript runs in the new mount namespace: it makes the sandbox a
// read-only bind mount of itself with the host's /dev/null inside, then
// execs the rest of its arguments.
const mountScript = `set -e
root=$1; shift
mount --bind "$root" "$root"
mount --bind /dev/null "$root/dev/null"
mount -o remount,ro,bind "$root"
exec "$@"`

type runResult struct {
	out       string
	err       error
	wall, cpu time.Duration
}

// run runs p's test binary in the sandbox with args, bounded by p.Timeout
// plus a margin (the binary's own -test.timeout should fire first).
func (sb *sandbox) run(t *testing.T, p Package, args ...string) runResult {
	ctx, cancel := context.WithTimeout(context.Background(), p.Timeout+time.Minute)
	defer cancel()
	argv := append([]string{}, sb.unshare[1:]...)
	argv = append(argv, "sh", "-c", mountScript, "sh", sb.root,
		"env", "-i", "HOME=/", sb.taskset, "-c", sb.cpu,
		sb.chroot, sb.root, "/qemu", "-cpu", qemuCPU, "/bin/"+BinaryName(p.Path))
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, sb.unshare[0], argv...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// Kill the whole chain (unshare execs through to QEMU, but be sure).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := runResult{out: out.String(), err: err, wall: time.Since(start)}
	if cmd.ProcessState != nil {
		res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ctx.Err() != nil {
		res.err = fmt.Errorf("killed after %v: %w", res.wall.Round(time.Second), ctx.Err())
	}
	return res
}

// checkSkipsExist fails on a stale skip entry: a name the binary no longer
// has (renamed upstream), which would silently skip nothing.
func (sb *sandbox) checkSkipsExist(t *testing.T, p Package) {
	if len(p.Skips) == 0 {
		return
	}
	res := sb.run(t, p, "-test.list=.")
	require.NoError(t, res.err, "%s -test.list:\n%s", p.Path, tail(res.out, 20))
	listed := map[string]bool{}
	for _, name := range strings.Fields(res.out) {
		listed[name] = true
	}
	for _, sk := range p.Skips {
		require.True(t, listed[sk.Test], "%s: skip entry %s names no test of the binary", p.Path, sk.Test)
	}
}

// firstAllowedCPU returns the first CPU this process may run on, from
// /proc/self/status, or "0".
func firstAllowedCPU() string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "0"
	}
	for line := range strings.Lines(string(status)) {
		if list, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			first, _, _ := strings.Cut(strings.TrimSpace(list), ",")
			first, _, _ = strings.Cut(first, "-")
			if first != "" {
				return first
			}
		}
	}
	return "0"
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}
