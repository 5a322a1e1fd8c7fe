package guesttest

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sync"
	"time"
)

// Live is a guest the test talks to while it runs (a network peer's
// tests): QEMU started in the background, its console collected, lines
// waited for.
type Live struct {
	cmd   *exec.Cmd
	start time.Time

	mu      sync.Mutex
	out     bytes.Buffer
	changed chan struct{}  // closed (and replaced) at every write
	done    chan struct{}  // closed when QEMU has exited
	err     error          // its exit
	in      io.WriteCloser // the serial console's input
}

// Type sends s to the guest's serial console, as if typed.
func (l *Live) Type(s string) error {
	if l.in == nil {
		return fmt.Errorf("live: the console's input is not ours")
	}
	_, err := io.WriteString(l.in, s)
	return err
}

// StartLive starts cmd (a QEMU command line, possibly wrapped, e.g. in
// ip netns exec) and collects its output.
func StartLive(cmd *exec.Cmd) (*Live, error) {
	l := &Live{cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = l, l
	if cmd.Stdin == nil {
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		l.in = in
	}
	l.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		err := cmd.Wait()
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		close(l.done)
		l.Write(nil) // wake waiters
	}()
	return l, nil
}

// Write collects console output (io.Writer for exec.Cmd).
func (l *Live) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.out.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return len(p), nil
}

// Output returns the console so far.
func (l *Live) Output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

// Since is the time since QEMU started.
func (l *Live) Since() time.Duration { return time.Since(l.start) }

// WaitFor waits until the console from offset from on matches re, and
// returns the match's submatches and the offset just past it. It fails
// when QEMU exits or timeout passes first.
func (l *Live) WaitFor(re *regexp.Regexp, from int, timeout time.Duration) ([]string, int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		buf := l.out.Bytes()
		if from > len(buf) {
			from = len(buf)
		}
		loc := re.FindSubmatchIndex(buf[from:])
		var subs []string
		if loc != nil {
			for i := 0; i+1 < len(loc); i += 2 {
				if loc[i] >= 0 {
					subs = append(subs, string(buf[from+loc[i]:from+loc[i+1]]))
				} else {
					subs = append(subs, "")
				}
			}
		}
		changed := l.changed
		l.mu.Unlock()
		if loc != nil {
			return subs, from + loc[1], nil
		}
		select {
		case <-changed:
		case <-l.done:
			if m := re.FindStringSubmatch(l.Output()[from:]); m != nil {
				continue
			}
			return nil, from, fmt.Errorf("QEMU exited (%v) before %q appeared", l.exitErr(), re)
		case <-deadline.C:
			return nil, from, fmt.Errorf("%q did not appear within %v", re, timeout)
		}
	}
}

func (l *Live) exitErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Wait waits for QEMU to exit by itself (the guest powered off).
func (l *Live) Wait(timeout time.Duration) error {
	select {
	case <-l.done:
		return l.exitErr()
	case <-time.After(timeout):
		return fmt.Errorf("QEMU still running after %v", timeout)
	}
}

// Kill stops QEMU (idempotent).
func (l *Live) Kill() {
	select {
	case <-l.done:
		return
	default:
	}
	_ = l.cmd.Process.Kill()
	<-l.done
}
