package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"armos/microkernel/guesttest/progs/check"
)

// patience bounds waits that should end quickly but must not hang the
// program if the kernel loses a wake-up. It is generous: guests may run 50
// times slower than the host.
const patience = 60 * time.Second

// checkPipeEpoll: os.Pipe files are non-blocking and driven by the
// runtime's network poller (epoll): an expiring read deadline, data written
// by another goroutine in pieces, end of file, and a write deadline on a
// full pipe.
func checkPipeEpoll(t *check.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("os.Pipe: %v", err)
	}
	defer r.Close()

	// Nothing written yet: the read waits in epoll until the deadline.
	const d = 20 * time.Millisecond
	buf := make([]byte, 100)
	start := time.Now()
	r.SetReadDeadline(start.Add(d))
	n, err := r.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read with nothing written: n=%d err=%v, want os.ErrDeadlineExceeded", n, err)
	}
	if elapsed := time.Since(start); elapsed < d {
		t.Errorf("read deadline of %v expired after %v", d, elapsed)
	}

	// 256 KiB written in uneven pieces with pauses arrive intact, then
	// closing the write end gives io.EOF.
	want := make([]byte, 256<<10)
	for i := range want {
		want[i] = byte(i * 7 / 3)
	}
	werr := make(chan error, 1)
	go func() {
		defer w.Close()
		rest := want
		for i := 0; len(rest) > 0; i++ {
			n := min(len(rest), 1+i*997%20000)
			if _, err := w.Write(rest[:n]); err != nil {
				werr <- err
				return
			}
			rest = rest[n:]
			if i%16 == 0 {
				time.Sleep(time.Millisecond) // let the reader drain the pipe
			}
		}
		werr <- nil
	}()
	r.SetReadDeadline(time.Now().Add(patience))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading what the writer sent: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("data read differs from data written")
	}
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("read after the writer closed: n=%d err=%v, want 0, io.EOF", n, err)
	}
	if err := <-werr; err != nil {
		t.Errorf("writer: %v", err)
	}

	// Nobody reads: a write fills the pipe and then waits in epoll for
	// room until its deadline.
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatalf("os.Pipe: %v", err)
	}
	defer r2.Close()
	defer w2.Close()
	// A deadline far enough off that the write surely starts before it
	// (with 20 ms, a loaded host running this under qemu-user passed it
	// before the first write: n=0).
	const fill = 500 * time.Millisecond
	start = time.Now()
	w2.SetWriteDeadline(start.Add(fill))
	n, err = w2.Write(make([]byte, 4<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 {
		t.Errorf("write to a full pipe: n=%d err=%v, want some bytes and os.ErrDeadlineExceeded", n, err)
	}
	if elapsed := time.Since(start); elapsed < fill {
		t.Errorf("write deadline of %v expired after %v", fill, elapsed)
	}
}

// expectSignal waits for sig on ch.
func expectSignal(t *check.T, ch <-chan os.Signal, sig os.Signal, what string) {
	select {
	case got := <-ch:
		if got != sig {
			t.Errorf("%s: received %v, want %v", what, got, sig)
		}
	case <-time.After(patience):
		t.Errorf("%s: %v not received within %v", what, sig, patience)
	}
}

// checkSignalKill: a signal sent to the process with kill reaches
// os/signal.Notify.
func checkSignalKill(t *check.T) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatalf("kill(getpid(), SIGUSR1): %v", err)
	}
	expectSignal(t, ch, syscall.SIGUSR1, "kill to self")
}

// checkSignalTgkill: signals sent with tgkill to this thread and to another
// thread of the process reach os/signal.Notify.
func checkSignalTgkill(t *check.T) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR2)
	defer signal.Stop(ch)

	runtime.LockOSThread()
	err := syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGUSR2)
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("tgkill(getpid(), gettid(), SIGUSR2): %v", err)
	}
	expectSignal(t, ch, syscall.SIGUSR2, "tgkill to this thread")

	release := make(chan struct{})
	tids, _, done := threadIDs(1, release)
	if err := syscall.Tgkill(os.Getpid(), tids[0], syscall.SIGUSR2); err != nil {
		t.Errorf("tgkill to another thread: %v", err)
	} else {
		expectSignal(t, ch, syscall.SIGUSR2, "tgkill to another thread")
	}
	close(release)
	<-done

	// A thread ID that is not in the process is refused.
	if err := syscall.Tgkill(os.Getpid(), 0x3fffffff, syscall.SIGUSR2); err != syscall.ESRCH {
		t.Errorf("tgkill to a thread that does not exist: %v, want ESRCH", err)
	}
}
