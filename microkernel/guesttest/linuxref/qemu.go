package linuxref

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"armos/microkernel/guesttest"
)

// DefaultTimeout bounds one boot: TCG on a shared 2-core host is slow.
const DefaultTimeout = 120 * time.Second

// BaseCmdline is the kernel command line before the linuxref.* options:
// the console on the PL011, boot messages off ("quiet", as armos prints
// only its own lines), and a panic exits at once (with -no-reboot, QEMU
// quits) instead of leaving a run to time out.
const BaseCmdline = "console=ttyAMA0 quiet panic=-1"

// Machine is the QEMU configuration, the same as armos's (-M virt -cpu
// cortex-a72 -nographic -no-reboot) plus the initramfs.
type Machine struct {
	MemoryMiB int // -m (default 256)
	// EchoPort > 0 adds a virtio-net-device on slirp with UDP port
	// 127.0.0.1:EchoPort forwarded to the guest's port 7; 0 means -net none.
	EchoPort int
	Options  Options // the linuxref.* options (Net is set from EchoPort if unset)
	// Cmdline is more kernel command line words, after BaseCmdline and
	// before the linuxref.* options (e.g. "kpti=0").
	Cmdline string
	// Icount adds guesttest.IcountArgs (-icount shift=0): the guest's
	// clock then advances 1 ns per instruction, so times measured inside
	// the guest are instruction counts, which host load does not move.
	Icount bool
	Extra  []string // more QEMU arguments
}

// Args returns QEMU's command line for g on m.
func (m Machine) Args(g Guest) []string {
	mem := m.MemoryMiB
	if mem == 0 {
		mem = 256
	}
	opts := m.Options
	if m.EchoPort > 0 && !opts.Net.IsValid() {
		opts.Net = DefaultGuestAddr
	}
	cmdline := BaseCmdline
	if s := strings.TrimSpace(m.Cmdline); s != "" {
		cmdline += " " + s
	}
	if s := opts.String(); s != "" {
		cmdline += " " + s
	}
	args := []string{"-M", "virt", "-cpu", "cortex-a72", "-m", fmt.Sprintf("%dM", mem),
		"-nographic", "-no-reboot"}
	if m.EchoPort > 0 {
		args = append(args, "-netdev", fmt.Sprintf("user,id=n0,hostfwd=udp:127.0.0.1:%d-:7", m.EchoPort),
			"-device", "virtio-net-device,netdev=n0")
	} else {
		args = append(args, "-net", "none")
	}
	args = append(args, "-kernel", g.Kernel, "-initrd", g.Initrd, "-append", cmdline)
	if m.Icount {
		args = append(args, guesttest.IcountArgs...)
	}
	return append(args, m.Extra...)
}

// Instance is a running guest.
type Instance struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	w      *watcher
	done   chan struct{}
	err    error
}

// Start boots g on m. The guest runs until it powers off, Stop is called,
// or timeout passes.
func Start(g Guest, m Machine, timeout time.Duration) (*Instance, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := exec.CommandContext(ctx, "qemu-system-aarch64", m.Args(g)...)
	w := newWatcher(ReadyMarker, EchoReadyMarker, FailMarker)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = time.Second // don't hang on output a killed QEMU's children hold
	w.start = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting qemu-system-aarch64: %w", err)
	}
	in := &Instance{cmd: cmd, cancel: cancel, w: w, done: make(chan struct{})}
	go func() {
		in.err = cmd.Wait()
		if ctx.Err() != nil {
			in.err = fmt.Errorf("qemu stopped: %w", ctx.Err())
		}
		w.exited()
		close(in.done)
	}()
	return in, nil
}

// WaitFor waits until marker appears on the console and returns how long
// after QEMU's start it did. It fails if QEMU exits first or the guest
// prints FailMarker.
func (in *Instance) WaitFor(marker string) (time.Duration, error) {
	for {
		in.w.mu.Lock()
		at, seen := in.w.at[marker]
		_, failed := in.w.at[FailMarker]
		exited := in.w.gone
		ch := in.w.changed
		in.w.mu.Unlock()
		switch {
		case seen:
			return at, nil
		case failed:
			line, _ := Failure(in.Output())
			return 0, fmt.Errorf("guest failed before %q: %s", marker, line)
		case exited:
			return 0, fmt.Errorf("qemu exited before %q: %v\n%s", marker, in.err, in.Output())
		}
		<-ch
	}
}

// Wait waits for QEMU to exit and returns its error (nil on power off).
func (in *Instance) Wait() error {
	<-in.done
	return in.err
}

// Stop kills QEMU and waits for it.
func (in *Instance) Stop() {
	in.cancel()
	<-in.done
}

// Output is the console output so far.
func (in *Instance) Output() string {
	in.w.mu.Lock()
	defer in.w.mu.Unlock()
	return in.w.buf.String()
}

// Result is one boot that ran to power off.
type Result struct {
	Output     string
	ReadyAfter time.Duration // QEMU start to ReadyMarker
	Ready      Ready
	Elapsed    time.Duration // QEMU start to exit
}

// Boot boots g on m with power off requested once ready, and waits for
// QEMU to exit.
func Boot(g Guest, m Machine, timeout time.Duration) (Result, error) {
	m.Options.PowerOff = true
	in, err := Start(g, m, timeout)
	if err != nil {
		return Result{}, err
	}
	at, werr := in.WaitFor(ReadyMarker)
	if werr != nil {
		in.Stop()
		return Result{Output: in.Output(), Elapsed: time.Since(in.w.start)}, werr
	}
	err = in.Wait()
	res := Result{Output: in.Output(), ReadyAfter: at, Elapsed: time.Since(in.w.start)}
	if err != nil {
		return res, fmt.Errorf("qemu: %w\n%s", err, res.Output)
	}
	r, ok := ParseReady(res.Output)
	if !ok {
		return res, fmt.Errorf("no parsable ready line in:\n%s", res.Output)
	}
	res.Ready = r
	if line, failed := Failure(res.Output); failed {
		// After the ready line, e.g. a linuxref.run program that
		// could not be started.
		return res, fmt.Errorf("guest failed: %s", line)
	}
	return res, nil
}

// watcher collects console output and notes when each marker first
// appears, waking waiters on every change.
type watcher struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	start   time.Time
	marks   []string
	at      map[string]time.Duration
	gone    bool
	changed chan struct{}
}

func newWatcher(marks ...string) *watcher {
	return &watcher{marks: marks, at: map[string]time.Duration{}, changed: make(chan struct{})}
}

func (w *watcher) Write(p []byte) (int, error) {
	now := time.Since(w.start)
	w.mu.Lock()
	defer w.mu.Unlock()
	from := w.buf.Len()
	w.buf.Write(p)
	for _, m := range w.marks {
		if _, ok := w.at[m]; ok {
			continue
		}
		// Only the new bytes, plus enough before them to catch a marker
		// split across writes, need a look.
		lo := max(0, from-len(m)+1)
		if strings.Contains(string(w.buf.Bytes()[lo:]), m) {
			w.at[m] = now
		}
	}
	close(w.changed)
	w.changed = make(chan struct{})
	return len(p), nil
}

func (w *watcher) exited() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gone = true
	close(w.changed)
	w.changed = make(chan struct{})
}
