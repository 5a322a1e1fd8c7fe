package skbuff

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDoubleFreeIsRejectedAndCounted(t *testing.T) {
	p := NewPool(8)
	b := p.Get()
	require.NoError(t, b.Free())
	assert.ErrorIs(t, b.Free(), ErrDoubleFree)
	assert.ErrorIs(t, Free(b), ErrDoubleFree)
	s := p.Stats()
	assert.Equal(t, uint64(1), s.Frees)
	assert.Equal(t, uint64(2), s.DoubleFrees)
	assert.Equal(t, 1, s.Idle, "a double free must not put the buffer on the free list twice")

	// Two Gets must now return two distinct buffers.
	x, y := p.Get(), p.Get()
	assert.NotSame(t, x, y)
	assert.Same(t, b, x, "the freed buffer is reused")
	assert.Equal(t, uint64(2), p.Stats().Allocs)
}

func TestOperationsOnFreedBufFail(t *testing.T) {
	b := NewPool(1).Get()
	require.NoError(t, b.Append([]byte("x")))
	require.NoError(t, b.Free())
	_, err := b.Push(1)
	assert.ErrorIs(t, err, ErrFreed)
	_, err = b.Pull(1)
	assert.ErrorIs(t, err, ErrFreed)
	_, err = b.Put(1)
	assert.ErrorIs(t, err, ErrFreed)
	assert.ErrorIs(t, b.Trim(0), ErrFreed)
	assert.ErrorIs(t, b.Reserve(0), ErrFreed)
	assert.ErrorIs(t, b.Reset(0), ErrFreed)
	assert.ErrorIs(t, b.Mark(LinkLayer), ErrFreed)
	assert.Nil(t, b.Bytes())
	assert.ErrorIs(t, NewQueue(1).Enqueue(b), ErrFreed)
	assert.ErrorIs(t, new(Buf).CopyFrom(b), ErrFreed)
}

func TestGetResetsRecycledBuf(t *testing.T) {
	p := NewPool(1)
	b := p.Get()
	b.Dev = 7
	require.NoError(t, b.Append([]byte("old")))
	require.NoError(t, b.Mark(NetworkLayer))
	require.NoError(t, b.Free())
	b = p.Get()
	assert.Equal(t, DevID(0), b.Dev)
	assert.Equal(t, 0, b.Len())
	assert.Equal(t, DefaultHeadroom, b.Headroom())
	_, ok := b.Offset(NetworkLayer)
	assert.False(t, ok)
}

func TestPoolFreeListIsBounded(t *testing.T) {
	p := NewPool(2)
	bufs := []*Buf{p.Get(), p.Get(), p.Get()}
	for _, b := range bufs {
		require.NoError(t, b.Free())
	}
	s := p.Stats()
	assert.Equal(t, 2, s.Idle)
	assert.Equal(t, uint64(1), s.Discards)
	assert.Equal(t, uint64(3), s.Gets)
	assert.Equal(t, uint64(3), s.Allocs)
}

func TestFreeNilAndUnpooled(t *testing.T) {
	assert.ErrorIs(t, Free(nil), ErrNilBuf)
	var nb *Buf
	assert.ErrorIs(t, nb.Free(), ErrNilBuf)
	assert.ErrorIs(t, new(Buf).Free(), ErrNotPooled)
}

func TestQueueIsBoundedFIFOAndCountsDrops(t *testing.T) {
	p := NewPool(8)
	q := NewQueue(2)
	a, b, c := p.Get(), p.Get(), p.Get()
	require.NoError(t, q.Enqueue(a))
	assert.ErrorIs(t, q.Enqueue(a), ErrQueued)
	require.NoError(t, q.Enqueue(b))
	assert.ErrorIs(t, q.Enqueue(c), ErrQueueFull)
	assert.Equal(t, uint64(1), q.Dropped())
	assert.Equal(t, 2, q.Len())
	assert.ErrorIs(t, a.Free(), ErrQueued, "a queued buffer cannot be freed under the queue")
	assert.Same(t, a, q.Peek())
	assert.Same(t, a, q.Dequeue())
	assert.Same(t, b, q.Dequeue())
	assert.Nil(t, q.Dequeue())
	assert.Equal(t, 0, q.Len())
	require.NoError(t, q.Enqueue(c))
	require.NoError(t, q.Enqueue(a))
	assert.Equal(t, 2, q.Drain())
	assert.Equal(t, 0, q.Len())
	require.NoError(t, b.Free())
	assert.Equal(t, 3, p.Stats().Idle)
	assert.ErrorIs(t, new(Queue).Enqueue(p.Get()), ErrQueueFull, "zero Queue refuses")
	assert.ErrorIs(t, q.Enqueue(nil), ErrNilBuf)
}

func TestQueueInitReleasesBuffers(t *testing.T) {
	q := NewQueue(4)
	b := Get()
	require.NoError(t, q.Enqueue(b))
	q.Init(4)
	assert.Equal(t, 0, q.Len())
	assert.NoError(t, b.Free(), "after Init the buffer is no longer queued")
}

func TestPacketPathDoesNotAllocate(t *testing.T) {
	p := NewPool(4)
	p.Get().Free() // warm the free list
	payload := []byte("ping")
	allocs := testing.AllocsPerRun(1000, func() {
		b := p.Get()
		_ = b.Append(payload)
		h, _ := b.Push(8)
		h[0] = 1
		_, _ = b.Push(20)
		_ = b.Mark(NetworkLayer)
		_, _ = b.Push(14)
		_, _ = b.Pull(14)
		_, _ = b.Pull(20)
		_, _ = b.Header(NetworkLayer)
		_ = b.Trim(4)
		_ = b.Free()
	})
	assert.Zero(t, allocs)

	q := NewQueue(4)
	allocs = testing.AllocsPerRun(1000, func() {
		b := p.Get()
		_ = q.Enqueue(b)
		_ = q.Dequeue().Free()
	})
	assert.Zero(t, allocs)
}

// TestPoolConcurrentUse hands buffers between goroutines, as a driver and netd
// would; run with -race.
func TestPoolConcurrentUse(t *testing.T) {
	p := NewPool(16)
	ch := make(chan *Buf, 8)
	done := make(chan struct{})
	go func() {
		for b := range ch {
			assert.Equal(t, "pkt", string(b.Bytes()))
			assert.NoError(t, b.Free())
		}
		close(done)
	}()
	for range 1000 {
		b := p.Get()
		require.NoError(t, b.Append([]byte("pkt")))
		ch <- b
	}
	close(ch)
	<-done
	s := p.Stats()
	assert.Equal(t, uint64(1000), s.Gets)
	assert.Equal(t, uint64(1000), s.Frees)
	assert.Zero(t, s.DoubleFrees)
	assert.LessOrEqual(t, s.Allocs, uint64(16+8+2), "buffers are recycled")
}

func BenchmarkGetFree(b *testing.B) {
	p := NewPool(4)
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Get().Free()
	}
}

func BenchmarkPushPull(b *testing.B) {
	buf := Get()
	defer buf.Free()
	_ = buf.Append(make([]byte, 64))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = buf.Push(8)
		_, _ = buf.Push(20)
		_, _ = buf.Push(14)
		_, _ = buf.Pull(14)
		_, _ = buf.Pull(20)
		_, _ = buf.Pull(8)
	}
}

func BenchmarkQueue(b *testing.B) {
	buf := Get()
	defer buf.Free()
	q := NewQueue(1)
	b.ReportAllocs()
	for b.Loop() {
		_ = q.Enqueue(buf)
		_ = q.Dequeue()
	}
}
