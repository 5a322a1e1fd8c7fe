package link

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc/skbuff"
)

// pumpWait bounds every wait in the pump tests.
const pumpWait = 5 * time.Second

// loop is a minimal single-goroutine event loop, like libipc.Server's.
type loop struct {
	fns    chan func()
	inLoop atomic.Bool
	paused sync.Mutex // held: the loop does not run functions
}

func newLoop(ctx context.Context) *loop {
	l := &loop{fns: make(chan func(), 8)}
	go func() {
		for {
			select {
			case fn := <-l.fns:
				l.paused.Lock()
				l.inLoop.Store(true)
				fn()
				l.inLoop.Store(false)
				l.paused.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	return l
}

func (l *loop) post(fn func()) bool { l.fns <- fn; return true }

// fakeStack records what the pump asked of it and checks it is only ever
// called on the loop goroutine.
type fakeStack struct {
	l       *loop
	mu      sync.Mutex
	frames  [][]byte
	offLoop int
}

func (s *fakeStack) check() {
	if !s.l.inLoop.Load() {
		s.offLoop++
	}
}

func (s *fakeStack) Input(b *skbuff.Buf) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.check()
	s.frames = append(s.frames, append([]byte(nil), b.Bytes()...))
	releaseBuf(b)
}

func (s *fakeStack) snapshot() (frames [][]byte, offLoop int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.frames...), s.offLoop
}

func startPump(t *testing.T, dev Device, st *fakeStack) (*Pump, context.CancelFunc, <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st.l = newLoop(ctx)
	p := NewPump(dev, st, st.l.post)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return p, cancel, done
}

func TestPumpFeedsFramesInOrderOnTheLoop(t *testing.T) {
	dev, peer := NewMemPair(nil)
	st := &fakeStack{}
	p, cancel, done := startPump(t, dev, st)
	const n = 100
	for i := range n {
		require.NoError(t, peer.WriteFrame([]byte{byte(i), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))
	}
	require.Eventually(t, func() bool { f, _ := st.snapshot(); return len(f) == n }, pumpWait, time.Millisecond)
	frames, offLoop := st.snapshot()
	for i, f := range frames {
		assert.Equal(t, byte(i), f[0], "frame %d out of order", i)
	}
	assert.Zero(t, offLoop, "stack called off the loop goroutine")
	assert.Equal(t, uint64(n), p.Stats().RxFrames)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(pumpWait):
		t.Fatal("Run did not return after cancel")
	}
	assert.ErrorIs(t, dev.WriteFrame(make([]byte, 14)), ErrClosed, "Run closed the device")
}

func TestPumpBoundsTheReceiveQueue(t *testing.T) {
	dev, peer := NewMemPair(nil)
	st := &fakeStack{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st.l = newLoop(ctx)
	st.l.paused.Lock() // the loop is busy: nothing is drained
	p := NewPump(dev, st, st.l.post)
	go p.Run(ctx)

	const extra = 5
	for range RxQueueLen + extra {
		require.NoError(t, peer.WriteFrame(make([]byte, 60)))
		// One at a time, so the link's own queue never overflows.
		require.Eventually(t, func() bool { return dev.Pending() == 0 }, pumpWait, time.Millisecond)
	}
	require.Eventually(t, func() bool { return p.Stats().RxQueueFull == extra }, pumpWait, time.Millisecond)
	frames, _ := st.snapshot()
	assert.Empty(t, frames, "nothing reached the stack while the loop was busy")

	st.l.paused.Unlock()
	require.Eventually(t, func() bool { return p.Stats().RxFrames == RxQueueLen }, pumpWait, time.Millisecond,
		"the queued frames reach the stack once the loop runs")
	assert.Equal(t, uint64(extra), p.Stats().RxQueueFull)
}

type brokenDevice struct{}

func (brokenDevice) ReadBuf(*skbuff.Buf) error { return errors.New("device unplugged") }
func (brokenDevice) Close() error              { return nil }

func TestPumpStopsOnDeviceError(t *testing.T) {
	_, _, done := startPump(t, brokenDevice{}, &fakeStack{})
	select {
	case err := <-done:
		assert.ErrorContains(t, err, "device unplugged")
	case <-time.After(pumpWait):
		t.Fatal("Run did not return after the device failed")
	}
}
