package libipc

import (
	"context"
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pollPipe returns a pipe whose read end is in the network poller, and its
// waiter. (Pipes are pollable on Linux and on armos alike.)
func pollPipe(t *testing.T) (r, w *os.File, pw pollWaiter) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	rc, err := r.SyscallConn()
	require.NoError(t, err)
	var fd int
	require.NoError(t, rc.Control(func(u uintptr) { fd = int(u) }))
	pw = newPollWaiter(r, fd)
	require.True(t, pw.usable(), "os.File's poll descriptor was not found: Recv would make the extra receive")
	return r, w, pw
}

// waitDone runs pw.wait in a goroutine and reports whether it returned
// within d.
func waitDone(pw pollWaiter, r *os.File, d time.Duration) bool {
	rc, _ := r.SyscallConn()
	done := make(chan struct{})
	go func() { pw.wait(rc); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// letPollerCollect gives the network poller time to collect pending
// readiness (an idle P's thread sleeps in it).
func letPollerCollect() {
	for range 5 {
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPollWaiterKeepsAnEarlierEdge: readiness the poller collected before
// the wait began is not lost (RawConn.Read would clear it first), which
// is what lets Recv skip its receive after a drained one.
func TestPollWaiterKeepsAnEarlierEdge(t *testing.T) {
	r, w, pw := pollPipe(t)
	_, err := w.Write([]byte("x"))
	require.NoError(t, err)
	letPollerCollect()
	require.True(t, waitDone(pw, r, 5*time.Second), "an edge collected before the wait was lost")

	// The contrast: RawConn.Read forgets it. The pipe still holds "x",
	// but a function that waits on its first call is never called again.
	_, err = w.Write([]byte("y"))
	require.NoError(t, err)
	letPollerCollect()
	rc, err := r.SyscallConn()
	require.NoError(t, err)
	require.NoError(t, r.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	calls := 0
	err = rc.Read(func(uintptr) bool { calls++; return calls > 1 })
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "RawConn.Read kept the edge: the skip's reasoning no longer holds")
	require.NoError(t, r.SetReadDeadline(time.Time{}))
}

// TestPollWaiterWakes: a wait ends on new data, on the read deadline and
// on Close.
func TestPollWaiterWakes(t *testing.T) {
	r, w, pw := pollPipe(t)
	// Nothing to read: the wait lasts until the deadline.
	start := time.Now()
	require.NoError(t, r.SetReadDeadline(start.Add(50*time.Millisecond)))
	require.True(t, waitDone(pw, r, 5*time.Second), "the deadline did not end the wait")
	require.GreaterOrEqual(t, time.Since(start), 45*time.Millisecond, "nothing to read, yet the wait ended")
	require.NoError(t, r.SetReadDeadline(time.Time{}))
	rc, _ := r.SyscallConn()
	done := make(chan struct{})
	go func() { pw.wait(rc); close(done) }()
	time.Sleep(10 * time.Millisecond)
	_, err := w.Write([]byte("x"))
	require.NoError(t, err)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("data did not end the wait")
	}
	var b [8]byte
	_, err = syscall.Read(fdOf(t, r), b[:])
	require.NoError(t, err)

	// Close.
	done = make(chan struct{})
	go func() { pw.wait(rc); close(done) }()
	time.Sleep(10 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the wait")
	}
	require.NoError(t, <-closed)
}

func fdOf(t *testing.T, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	require.NoError(t, err)
	var fd int
	require.NoError(t, rc.Control(func(u uintptr) { fd = int(u) }))
	return fd
}

// TestKernelRecvSkipLosesNoWakeup: over kernel channels (armos only), a
// receive loop that drains its queue and then waits without a receive
// (Recv after a receive without abi.RecvMore) sees every message, however
// the sender's messages fall around the receiver's scheduling points,
// and a context still ends its wait.
func TestKernelRecvSkipLosesNoWakeup(t *testing.T) {
	if os.Getenv(TransportEnv) != "kernel" {
		t.Skip("kernel channels: armos only (" + TransportEnv + "=kernel)")
	}
	a, b, err := NewKernelPair()
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	require.True(t, b.poll.usable())
	const rounds = 600
	errc := make(chan error, 1)
	go func() {
		for i := range rounds {
			// Sends land before, during and after the receiver's wait;
			// some in pairs, so the queue is sometimes not drained.
			switch i % 4 {
			case 1:
				runtime.Gosched()
			case 2:
				time.Sleep(time.Duration(i%3) * 100 * time.Microsecond)
			}
			if err := a.Send(context.Background(), Message{Data: []byte{byte(i)}}); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range rounds {
		m, err := b.Recv(ctx)
		require.NoError(t, err, "message %d: a lost wake-up leaves Recv waiting", i)
		require.Equal(t, []byte{byte(i)}, m.Data)
		m.Release()
		if i%5 == 0 {
			runtime.Gosched()
			time.Sleep(50 * time.Microsecond) // let the poller collect the next edge first
		}
	}
	require.NoError(t, <-errc)
	require.True(t, b.drained, "the last receive emptied the queue")
	// A drained endpoint's wait still ends with its context, and then
	// with the next message.
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	_, err = b.Recv(short)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	require.NoError(t, a.Send(context.Background(), Message{Data: []byte("last")}))
	m, err := b.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "last", string(m.Data))
	// TryRecv asks the kernel even when drained.
	require.NoError(t, a.Send(context.Background(), Message{Data: []byte("try")}))
	require.Eventually(t, func() bool {
		m, err := b.TryRecv()
		return err == nil && string(m.Data) == "try"
	}, 10*time.Second, time.Millisecond)
	// The peer's close is a wake-up too, also when it came before the
	// last message was received (the receive reports RecvMore then).
	require.NoError(t, a.Send(context.Background(), Message{Data: []byte("bye")}))
	require.NoError(t, a.Close())
	letPollerCollect()
	m, err = b.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "bye", string(m.Data))
	_, err = b.Recv(ctx)
	require.ErrorIs(t, err, ErrPeerClosed)
	// And when it comes while the receiver waits.
	c, d, err := NewKernelPair()
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, c.Send(context.Background(), Message{Data: []byte("one")}))
	m, err = d.Recv(ctx)
	require.NoError(t, err)
	require.True(t, d.drained)
	go func() { time.Sleep(20 * time.Millisecond); c.Close() }()
	_, err = d.Recv(ctx)
	require.ErrorIs(t, err, ErrPeerClosed)
}
