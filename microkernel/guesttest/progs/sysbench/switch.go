//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Switches: between two threads of one process (futex) and between two
// processes (pipe).

const (
	futexWaitPrivate = 0 | 128 // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
	futexWakePrivate = 1 | 128 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
)

// futexWait sleeps while *addr == val. It goes through syscall.Syscall6,
// not RawSyscall: the Go scheduler must know the thread is blocked, or a
// stop-the-world could wait forever on it while the thread that would wake
// it is the one stopped.
func futexWait(addr *uint32, val uint32) error {
	_, _, e := syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitPrivate,
		uintptr(val), 0, 0, 0)
	if e != 0 && e != syscall.EAGAIN && e != syscall.EINTR {
		return fmt.Errorf("FUTEX_WAIT: %v", e)
	}
	return nil
}

// futexWake wakes one thread sleeping on addr.
func futexWake(addr *uint32) error {
	if _, _, e := syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakePrivate,
		1, 0, 0, 0); e != 0 {
		return fmt.Errorf("FUTEX_WAKE: %v", e)
	}
	return nil
}

// The futex word's values: whose turn it is, or the end.
const (
	turnPing = 0
	turnPong = 1
	turnStop = 2
)

// benchFutex bounces the turn between two goroutines locked to their own
// OS threads through one futex word, n round trips: the pinger hands the
// turn over (store, FUTEX_WAKE) and sleeps (FUTEX_WAIT) until it comes
// back, the ponger does the same the other way. On one CPU a round trip is
// two thread switches and four futex calls. GOMAXPROCS is raised to 2 for
// the run (restored after), so each thread has its own P and never waits
// for the scheduler, only for the other thread.
func benchFutex(n int) error {
	old := runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	defer runtime.GOMAXPROCS(old)
	var word uint32
	pongErr := make(chan error, 1)
	go func() { // the ponger
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for {
			v := atomic.LoadUint32(&word)
			switch v {
			case turnPing:
				if err := futexWait(&word, turnPing); err != nil {
					pongErr <- err
					return
				}
				continue
			case turnStop:
				pongErr <- nil
				return
			}
			atomic.StoreUint32(&word, turnPing)
			if err := futexWake(&word); err != nil {
				pongErr <- err
				return
			}
		}
	}()
	type result struct {
		d   time.Duration
		err error
	}
	done := make(chan result, 1)
	go func() { // the pinger
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		trips := func(n int) error {
			for range n {
				atomic.StoreUint32(&word, turnPong)
				if err := futexWake(&word); err != nil {
					return err
				}
				for atomic.LoadUint32(&word) == turnPong {
					if err := futexWait(&word, turnPong); err != nil {
						return err
					}
				}
			}
			return nil
		}
		if err := trips(warmup(n)); err != nil {
			done <- result{err: err}
			return
		}
		start := time.Now()
		err := trips(n)
		done <- result{time.Since(start), err}
	}()
	r := <-done
	atomic.StoreUint32(&word, turnStop)
	if err := futexWake(&word); err != nil {
		return err
	}
	if err := errors.Join(r.err, <-pongErr); err != nil {
		return err
	}
	report("futex", n, r.d)
	return nil
}

// echo is the pipe child: it answers each byte read on fd 0 with that
// byte plus one on fd 1 (plain blocking read and write system calls) until
// end of input, and returns the exit status.
func echo() int {
	// The parent's polled ends may share a non-blocking file description
	// with ours; this side blocks.
	_ = syscall.SetNonblock(0, false)
	_ = syscall.SetNonblock(1, false)
	var b [1]byte
	for {
		n, err := syscall.Read(0, b[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sysbench echo: read:", err)
			return 1
		}
		if n == 0 {
			return 0
		}
		b[0]++
		if _, err := syscall.Write(1, b[:]); err != nil {
			fmt.Fprintln(os.Stderr, "sysbench echo: write:", err)
			return 1
		}
	}
}

// echoChild starts "sysbench echo" with stdin and stdout the given files.
func echoChild(stdin, stdout *os.File) (*exec.Cmd, error) {
	cmd := &exec.Cmd{
		Path:   os.Args[0],
		Args:   []string{os.Args[0], "echo"},
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: os.Stderr,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s echo: %v", os.Args[0], err)
	}
	return cmd, nil
}

// pingPong sends n bytes through w, each time reading the answer from r
// before sending the next, and checks each answer.
func pingPong(w io.Writer, r io.Reader, n int) error {
	var b [1]byte
	for i := range n {
		b[0] = byte(i)
		if _, err := w.Write(b[:]); err != nil {
			return fmt.Errorf("round trip %d: write: %v", i, err)
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return fmt.Errorf("round trip %d: read: %v", i, err)
		}
		if b[0] != byte(i+1) {
			return fmt.Errorf("round trip %d: got %d back, want %d", i, b[0], byte(i+1))
		}
	}
	return nil
}

// rawFile is an io.ReadWriter on a blocking descriptor: plain read and
// write system calls, no poller.
type rawFile int

func (f rawFile) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(f), p)
		if err == syscall.EINTR {
			continue
		}
		if err == nil && n == 0 {
			return 0, io.EOF
		}
		return n, err
	}
}

func (f rawFile) Write(p []byte) (int, error) {
	for {
		n, err := syscall.Write(int(f), p)
		if err == syscall.EINTR {
			continue
		}
		return n, err
	}
}

// benchPipe bounces a byte through a child process, n round trips, twice:
//
//   - pipe: over blocking pipes with plain read/write system calls on
//     both sides (what the kernel costs: two pipe transfers and two
//     process switches per round trip);
//   - pipe-poll: the parent uses os.Pipe, which Go reads and writes
//     through its netpoller (epoll), as a Go program normally does; the
//     child is the same.
func benchPipe(n int) error {
	if err := pipeRaw(n); err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	if err := pipePolled(n); err != nil {
		return fmt.Errorf("pipe-poll: %w", err)
	}
	return nil
}

// pipeRaw is the blocking-pipe ping-pong.
func pipeRaw(n int) error {
	var toChild, fromChild [2]int
	if err := syscall.Pipe2(toChild[:], syscall.O_CLOEXEC); err != nil {
		return err
	}
	if err := syscall.Pipe2(fromChild[:], syscall.O_CLOEXEC); err != nil {
		syscall.Close(toChild[0])
		syscall.Close(toChild[1])
		return err
	}
	childIn := os.NewFile(uintptr(toChild[0]), "child stdin")
	childOut := os.NewFile(uintptr(fromChild[1]), "child stdout")
	w, r := rawFile(toChild[1]), rawFile(fromChild[0])
	cmd, err := echoChild(childIn, childOut)
	childIn.Close()
	childOut.Close()
	if err != nil {
		syscall.Close(int(w))
		syscall.Close(int(r))
		return err
	}
	err = pingPong(w, r, warmup(n))
	var d time.Duration
	if err == nil {
		start := time.Now()
		err = pingPong(w, r, n)
		d = time.Since(start)
	}
	syscall.Close(int(w)) // end of input: the child exits
	werr := cmd.Wait()
	syscall.Close(int(r))
	if err := errors.Join(err, werr); err != nil {
		return err
	}
	report("pipe", n, d)
	return nil
}

// pipePolled is the ping-pong with the parent on Go's polled os.Pipe.
func pipePolled(n int) error {
	childIn, w, err := os.Pipe()
	if err != nil {
		return err
	}
	r, childOut, err := os.Pipe()
	if err != nil {
		childIn.Close()
		w.Close()
		return err
	}
	defer r.Close()
	cmd, err := echoChild(childIn, childOut)
	childIn.Close()
	childOut.Close()
	if err != nil {
		w.Close()
		return err
	}
	err = pingPong(w, r, warmup(n))
	var d time.Duration
	if err == nil {
		start := time.Now()
		err = pingPong(w, r, n)
		d = time.Since(start)
	}
	w.Close()
	if err := errors.Join(err, cmd.Wait()); err != nil {
		return err
	}
	report("pipe-poll", n, d)
	return nil
}
