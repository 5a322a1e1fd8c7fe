// Package guesttest builds the armos kernel and runs it in QEMU from host
// tests: the boot report, the in-kernel self-test suite on each supported
// machine variant, the fault path, and boot benchmarks.
//
// Build (kbuild.Build) is the authoritative way to build the kernel (build.sh runs
// the same command line); Run starts QEMU with a timeout and returns the
// console output.
package guesttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"armos/microkernel/internal/kbuild"
)

// FailMarker is printed by the kernel before it stops because of a failure
// (internal/rt.FailMarker).
const FailMarker = "ARMOS-FAIL"

// PowerOffLine is printed by the kernel on a clean power off.
const PowerOffLine = "armos: power off"

// DefaultTimeout bounds one QEMU run: TCG on a shared 2-core host is slow
// (the self-test suite takes 20-50 s there; the margin is for slower CI).
const DefaultTimeout = 240 * time.Second

// ModuleRoot returns the directory holding go.mod, searching up from the
// working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("guesttest: go.mod not found")
		}
		dir = parent
	}
}

// Build builds the kernel into dir and returns the ELF's path
// (kbuild.Build: the authoritative build, which build.sh runs too).
func Build(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "kernel.elf")
	if err := kbuild.Build(root, out); err != nil {
		return "", err
	}
	return out, nil
}

// BuildImage builds each Go package (module-relative, e.g.
// "microkernel/guesttest/progs/gort") for linux/arm64 and packs them as
// /bin/<base name> into a boot image in dir, plus extra image paths
// mapped to host files. It returns the image's path.
func BuildImage(dir string, pkgs []string, extra map[string]string) (string, error) {
	return buildImage(dir, pkgs, extra, false)
}

// BuildImageApart is BuildImage with each program linked at its own
// address (the i-th package's text at ProgramText(i)), so that an
// instruction address names one program: what insnprof profiles need.
// The programs behave the same wherever they are linked.
func BuildImageApart(dir string, pkgs []string, extra map[string]string) (string, error) {
	return buildImage(dir, pkgs, extra, true)
}

// ProgramText is where BuildImageApart links the i-th program's text:
// 512 MiB apart from 512 MiB up, clear of the Go runtime's heap hints.
func ProgramText(i int) uint64 { return uint64(i+1)<<29 | 0x11000 }

func buildImage(dir string, pkgs []string, extra map[string]string, apart bool) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	args := []string{"run", "./microkernel/cmd/mkimage", "-o", filepath.Join(dir, "armos.img")}
	for i, p := range pkgs {
		out := filepath.Join(bin, filepath.Base(p))
		flags := []string{"build", "-trimpath", "-o", out}
		if apart {
			flags = append(flags, fmt.Sprintf("-ldflags=-T %#x", ProgramText(i)))
		}
		cmd := exec.Command("go", append(flags, "./"+p)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", p, err, b)
		}
		args = append(args, "/bin/"+filepath.Base(p)+"="+out)
	}
	allowAny := false
	for in, host := range extra {
		args = append(args, in+"="+host)
		allowAny = true
	}
	if allowAny {
		args = append(args[:4], append([]string{"-allow-any"}, args[4:]...)...)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("packing the boot image: %v\n%s", err, b)
	}
	return filepath.Join(dir, "armos.img"), nil
}

// Machine selects a QEMU virt configuration.
type Machine struct {
	MemoryMiB      int    // -m (default 256)
	CPU            string // -cpu (default cortex-a72)
	GICVersion     int    // 2 (default) or 3
	Virtualization bool   // enter at EL2
	Append         string // kernel command line
	Image          string // boot image (fw_cfg opt/armos/image), if any
	Extra          []string
}

// Args returns QEMU's command line for kernel on m.
func (m Machine) Args(kernel string) []string {
	mem := m.MemoryMiB
	if mem == 0 {
		mem = 256
	}
	machine := "virt"
	if m.GICVersion == 3 {
		machine += ",gic-version=3"
	}
	if m.Virtualization {
		machine += ",virtualization=on"
	}
	cpu := m.CPU
	if cpu == "" {
		cpu = "cortex-a72"
	}
	args := []string{"-M", machine, "-cpu", cpu, "-m", fmt.Sprintf("%dM", mem),
		"-nographic", "-no-reboot", "-net", "none", "-kernel", kernel}
	if m.Append != "" {
		args = append(args, "-append", m.Append)
	}
	if m.Image != "" {
		args = append(args, "-fw_cfg", "name=opt/armos/image,file="+m.Image)
	}
	return append(args, m.Extra...)
}

// Result is one QEMU run.
type Result struct {
	Output   string
	TimedOut bool
	Elapsed  time.Duration
	// ReadyAfter is when the "armos: ready" line appeared (0 if it did not).
	ReadyAfter time.Duration
}

// Run boots kernel on m and waits until QEMU exits or timeout passes.
func Run(kernel string, m Machine, timeout time.Duration) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-aarch64", m.Args(kernel)...)
	w := &watchWriter{start: time.Now(), mark: "armos: ready"}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Stdin = nil
	err := cmd.Run()
	res := Result{Output: w.buf.String(), Elapsed: time.Since(w.start), ReadyAfter: w.at}
	if ctx.Err() != nil {
		res.TimedOut = true
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("qemu: %v\n%s", err, res.Output)
	}
	return res, nil
}

// watchWriter collects output and notes when a marker first appears.
type watchWriter struct {
	buf   bytes.Buffer
	start time.Time
	mark  string
	at    time.Duration
}

func (w *watchWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if w.at == 0 && strings.Contains(w.buf.String(), w.mark) {
		w.at = time.Since(w.start)
	}
	return n, err
}

// HaveQEMU reports whether qemu-system-aarch64 is installed.
func HaveQEMU() bool {
	_, err := exec.LookPath("qemu-system-aarch64")
	return err == nil
}
