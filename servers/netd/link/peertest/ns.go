package peertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// CommandTimeout bounds every command the harness runs on its own behalf
// (ip netns add/del, address configuration).
const CommandTimeout = 10 * time.Second

// nsSeq makes namespace names unique within one test process; the pid makes
// them unique between processes (go test runs packages in parallel).
var nsSeq atomic.Uint32

// NS is a network namespace created for one test.
type NS struct {
	// Name is the namespace's name as `ip netns` knows it.
	Name string
}

// NewNS creates a fresh network namespace named armos-<pid>-<n>, brings its
// loopback up and registers its removal with t.Cleanup. It fails t (via
// Require) if the test cannot run here.
func NewNS(t testing.TB) *NS {
	t.Helper()
	Require(t)
	ns := &NS{Name: fmt.Sprintf("armos-%d-%d", os.Getpid(), nsSeq.Add(1))}
	if out, err := run(context.Background(), "ip", "netns", "add", ns.Name); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns.Name, err, out)
	}
	t.Cleanup(func() {
		if out, err := run(context.Background(), "ip", "netns", "del", ns.Name); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
		}
	})
	if out, err := ns.Run(context.Background(), "ip", "link", "set", "lo", "up"); err != nil {
		t.Fatalf("lo up in %s: %v: %s", ns.Name, err, out)
	}
	return ns
}

// Command returns an exec.Cmd that runs name with args inside the namespace.
// The command is killed when ctx ends.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	full := append([]string{"netns", "exec", ns.Name, name}, args...)
	cmd := exec.CommandContext(ctx, "ip", full...)
	// Kill only what we started; WaitDelay bounds waiting for its output.
	cmd.WaitDelay = time.Second
	return cmd
}

// Run runs a command inside the namespace and returns its combined output.
// It is bounded by ctx and by CommandTimeout.
func (ns *NS) Run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := ns.Command(ctx, name, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// AddTap creates a persistent TAP device called dev in the namespace, gives
// the Linux side the address cidr (e.g. "10.99.0.1/24") and brings it up. The
// device has no carrier until a driver (netd, or OpenTAP under Do) attaches.
func (ns *NS) AddTap(t testing.TB, dev, cidr string) {
	t.Helper()
	ctx := context.Background()
	for _, args := range [][]string{
		{"ip", "tuntap", "add", "dev", dev, "mode", "tap"},
		{"ip", "addr", "add", cidr, "dev", dev},
		{"ip", "link", "set", dev, "up"},
	} {
		if out, err := ns.Run(ctx, args[0], args[1:]...); err != nil {
			t.Fatalf("%v in %s: %v: %s", args, ns.Name, err, out)
		}
	}
}

// Do runs fn with the calling goroutine's OS thread inside the namespace, so
// that sockets and devices fn opens belong to it (they stay there after Do
// returns). If the thread cannot be moved back, it is left locked so the Go
// runtime discards it rather than reuse it in the wrong namespace.
func (ns *NS) Do(fn func() error) error {
	target, err := os.Open("/var/run/netns/" + ns.Name)
	if err != nil {
		return fmt.Errorf("peertest: open namespace %s: %w", ns.Name, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	home, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("peertest: open own namespace: %w", err)
	}
	defer home.Close()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("peertest: enter %s: %w", ns.Name, err)
	}
	fnErr := fn()
	if err := setns(home); err != nil {
		// Stay locked: the thread dies with this goroutine.
		return fmt.Errorf("peertest: leave %s: %w", ns.Name, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

func setns(f *os.File) error {
	_, _, errno := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// run runs a command outside any namespace, bounded by CommandTimeout.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
