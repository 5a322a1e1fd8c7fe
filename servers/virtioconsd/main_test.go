package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/servers/virtioconsd/consproto"
	"armos/servers/virtionetd/virtio"
)

// fakeConsole is a device whose ring takes room bytes until the test
// makes more (free, then the port's interrupt service).
type fakeConsole struct {
	mu      sync.Mutex
	room    int
	freed   int // room made since the last Service
	out     []byte
	stopped bool
	c       virtio.ConsoleCounters
}

func (f *fakeConsole) Write(b []byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(len(b), f.room)
	f.room -= n
	f.out = append(f.out, b[:n]...)
	f.c.TxBytes += uint64(n)
	if n < len(b) {
		f.c.TxRingFull++
	}
	return n
}

func (f *fakeConsole) Service() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.freed
	f.freed = 0
	return n
}

func (f *fakeConsole) TxHeld() int                      { return 0 }
func (f *fakeConsole) Counters() virtio.ConsoleCounters { f.mu.Lock(); defer f.mu.Unlock(); return f.c }
func (f *fakeConsole) DMABytes() int                    { return 0 }
func (f *fakeConsole) Stop()                            { f.mu.Lock(); f.stopped = true; f.mu.Unlock() }

// free gives the ring n more bytes of room (the device finished some).
func (f *fakeConsole) free(n int) {
	f.mu.Lock()
	f.room += n
	f.freed += n
	f.mu.Unlock()
}

func (f *fakeConsole) bytes() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.out)
}

// rig is a port on a fake console, served through an in-memory broker.
type rig struct {
	dev    *fakeConsole
	p      *port
	broker *libipc.Broker
	ctx    context.Context
}

func newRig(t *testing.T, room int, stall time.Duration) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dev := &fakeConsole{room: room}
	r := &rig{dev: dev, p: newPort("hvc0", dev, "fake console", stall), broker: libipc.NewBroker(), ctx: ctx}
	srv := libipc.NewServer(r.p.mux())
	served, written := make(chan struct{}), make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(served) }()
	go func() { r.p.writer(ctx); close(written) }()
	r.broker.Register("hvc0", srv.Accept)
	t.Cleanup(func() {
		cancel()
		<-served
		<-written
	})
	return r
}

func (r *rig) dial(t *testing.T) *consproto.Port {
	t.Helper()
	ep, err := r.broker.Connect(r.ctx, "hvc0")
	require.NoError(t, err)
	p := consproto.NewPort(r.ctx, libipc.NewConn(ep))
	t.Cleanup(func() { p.Close() })
	return p
}

// Two clients write at once: every OpWrite arrives whole, each client's
// in its order, and the offset counts every byte.
func TestWritesWholeAndInOrder(t *testing.T) {
	r := newRig(t, 1<<30, time.Second)
	const perClient = 40
	var wg sync.WaitGroup
	for c := 0; c < 2; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := r.dial(t)
			for i := 0; i < perClient; i++ {
				// Records of 100..3,000 bytes: "<client>:<seq>:" and padding.
				rec := fmt.Sprintf("%d:%02d:", c, i)
				rec += strings.Repeat(string(rune('a'+c)), 100+(i*677)%2900) + "\n"
				n, err := p.Write([]byte(rec))
				assert.NoError(t, err)
				assert.Equal(t, len(rec), n)
			}
		}()
	}
	wg.Wait()
	out := r.dev.bytes()
	next := [2]int{}
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		var c, i int
		_, err := fmt.Sscanf(line, "%d:%d:", &c, &i)
		require.NoError(t, err, "a record cut or interleaved: %.40q", line)
		require.Equal(t, next[c], i, "client %d's records in order", c)
		require.Equal(t, strings.Repeat(string(rune('a'+c)), 100+(i*677)%2900), line[5:], "record %d:%d whole", c, i)
		next[c]++
	}
	assert.Equal(t, [2]int{perClient, perClient}, next)
	info, err := r.dial(t).Info()
	require.NoError(t, err)
	assert.Equal(t, uint64(len(out)), info.Offset)
	assert.Equal(t, "fake console", info.Driver)
	assert.EqualValues(t, 2*perClient, r.p.writes.Load())
}

// A write the ring cannot take waits for the device: its answer comes
// once the last byte is in, and the offset then counts it.
func TestWritePacedByDevice(t *testing.T) {
	r := newRig(t, 1000, 10*time.Second)
	p := r.dial(t)
	data := bytes.Repeat([]byte("0123456789"), 1000) // 10,000 bytes
	done := make(chan error, 1)
	go func() { _, err := p.Write(data); done <- err }()
	require.Eventually(t, func() bool { return len(r.dev.bytes()) == 1000 }, 5*time.Second, time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the write was answered with the ring full: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.dev.free(4000)
	r.p.service() // the interrupt
	require.Eventually(t, func() bool { return len(r.dev.bytes()) == 5000 }, 5*time.Second, time.Millisecond)
	r.dev.free(5000)
	r.p.service()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("no answer once the device took everything")
	}
	assert.Equal(t, data, r.dev.bytes())
	assert.EqualValues(t, len(data), r.p.offset.Load())
	assert.NotZero(t, r.p.waited.Load())
}

// Without an interrupt the writer still looks again (pollEvery).
func TestWriteWithoutInterrupt(t *testing.T) {
	r := newRig(t, 0, 10*time.Second)
	p := r.dial(t)
	done := make(chan error, 1)
	go func() { _, err := p.Write([]byte("hello")); done <- err }()
	time.Sleep(20 * time.Millisecond)
	r.dev.free(5) // no service call: the interrupt is lost
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the writer never looked again")
	}
	assert.Equal(t, "hello", string(r.dev.bytes()))
}

// A device that takes nothing for the stall time fails the write (with
// what it took), and the port goes on with the next one.
func TestWriteStalls(t *testing.T) {
	r := newRig(t, 3, 150*time.Millisecond)
	p := r.dial(t)
	start := time.Now()
	n, err := p.Write([]byte("abcdef"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, libipc.ErrTimeout), "%v", err)
	assert.Contains(t, err.Error(), "3 of 6 bytes taken")
	assert.Zero(t, n, "consproto reports an error reply as nothing taken")
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	assert.EqualValues(t, 1, r.p.failed.Load())
	r.dev.free(10)
	_, err = p.Write([]byte("gh"))
	require.NoError(t, err)
	assert.Equal(t, "abcgh", string(r.dev.bytes()))
	assert.EqualValues(t, 5, r.p.offset.Load(), "the offset counts what the device took")
}

// Oversized writes and a client with too many writes waiting are refused;
// an empty write is answered at once.
func TestRefusals(t *testing.T) {
	r := newRig(t, 0, 10*time.Second)
	ep, err := r.broker.Connect(r.ctx, "hvc0")
	require.NoError(t, err)
	conn := libipc.NewConn(ep)
	defer conn.Close()
	var w consproto.Written
	err = conn.Call(r.ctx, consproto.OpWrite, &consproto.Write{Data: make([]byte, consproto.MaxWrite+1)}, &w)
	require.ErrorIs(t, err, libipc.ErrTooLarge)
	require.NoError(t, conn.Call(r.ctx, consproto.OpWrite, &consproto.Write{}, &w))
	assert.Equal(t, consproto.Written{}, w)

	// The ring is full: maxPending writes wait, the next is refused.
	errs := make(chan error, maxPending+1)
	for i := 0; i < maxPending; i++ {
		go func() {
			var w consproto.Written
			errs <- conn.Call(r.ctx, consproto.OpWrite, &consproto.Write{Data: []byte{byte('A' + i)}}, &w)
		}()
	}
	require.Eventually(t, func() bool {
		r.p.qmu.Lock()
		defer r.p.qmu.Unlock()
		return r.p.pending[firstConn(r.p)] == maxPending
	}, 5*time.Second, time.Millisecond)
	err = conn.Call(r.ctx, consproto.OpWrite, &consproto.Write{Data: []byte("x")}, &w)
	require.ErrorIs(t, err, libipc.ErrBusy)
	assert.EqualValues(t, 2, r.p.refused.Load())
	// The waiting writes go, in order, once the device takes bytes.
	r.dev.free(maxPending)
	r.p.service()
	for i := 0; i < maxPending; i++ {
		require.NoError(t, <-errs)
	}
	assert.Len(t, r.dev.bytes(), maxPending)
}

func firstConn(p *port) *libipc.Conn {
	for c := range p.pending {
		return c
	}
	return nil
}

func TestReport(t *testing.T) {
	r := newRig(t, 100, time.Second)
	_, err := r.dial(t).Write([]byte("twelve bytes"))
	require.NoError(t, err)
	var b bytes.Buffer
	r.p.report(&b)
	assert.Contains(t, b.String(), "virtioconsd: hvc0: wrote 12 bytes in 0 chunks for 1 writes from 1 clients (0 failed, 0 refused)")
	assert.Contains(t, b.String(), "virtioconsd: device: interrupts 0")
}
