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

func (l *loop) tryPost(fn func()) error {
	select {
	case l.fns <- fn:
		return nil
	default:
		return errors.New("loop queue full")
	}
}

func TestPumpDirectDrainsFromTheReaderAndFallsBackWhenTheLoopIsFull(t *testing.T) {
	dev, peer := NewMemPair(nil)
	st := &fakeStack{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st.l = newLoop(ctx)
	p := NewPump(dev, st, st.l.post)
	var afters atomic.Int64
	p.Direct(st.l.tryPost, func() {
		st.check() // after runs on the loop too
		afters.Add(1)
	})
	go p.Run(ctx)

	send := func(from, n int) {
		for i := from; i < from+n; i++ {
			require.NoError(t, peer.WriteFrame([]byte{byte(i >> 8), byte(i), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))
			require.Eventually(t, func() bool { return dev.Pending() == 0 }, pumpWait, time.Millisecond)
		}
	}
	// An idle loop: the reader queues every drain itself.
	send(0, 50)
	require.Eventually(t, func() bool { return p.Stats().RxFrames == 50 }, pumpWait, time.Millisecond)
	assert.Equal(t, p.Stats().DirectDrains, uint64(afters.Load()), "after runs once per direct drain")
	assert.Positive(t, p.Stats().DirectDrains)
	assert.Zero(t, p.Stats().Drains, "nothing went through the pump goroutine")

	// A busy loop whose queue fills: the pump goroutine takes over, and no
	// frame is stranded.
	st.l.paused.Lock()
	for range cap(st.l.fns) + 1 { // fill the loop's queue and hold one
		st.l.fns <- func() {}
	}
	send(50, 100)
	st.l.paused.Unlock()
	require.Eventually(t, func() bool { return p.Stats().RxFrames == 150 }, pumpWait, time.Millisecond)
	assert.Positive(t, p.Stats().Drains, "the pump goroutine posted while the loop's queue was full")
	frames, offLoop := st.snapshot()
	require.Len(t, frames, 150)
	for i, f := range frames {
		assert.Equal(t, i, int(f[0])<<8|int(f[1]), "frame %d out of order", i)
	}
	assert.Zero(t, offLoop, "stack or after called off the loop goroutine")
	assert.Zero(t, p.Stats().RxQueueFull)
}
