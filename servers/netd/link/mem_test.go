package link

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc/skbuff"
)

func frameOf(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }

func TestMemDeliversFramesBothWays(t *testing.T) {
	a, b := NewMemPair(nil)
	pool := skbuff.NewPool(4)
	out := pool.Get()
	require.NoError(t, out.Append(frameOf(60, 0xab)))
	require.NoError(t, a.Transmit(out))
	assert.Zero(t, pool.Stats().Frees, "the frame travels in the sender's buffer")

	in := skbuff.Get()
	defer in.Free()
	require.NoError(t, b.ReadBuf(in))
	assert.Equal(t, frameOf(60, 0xab), in.Bytes())
	assert.Equal(t, uint64(1), pool.Stats().Frees, "the transmitted buffer is freed once read")

	require.NoError(t, b.WriteFrame(frameOf(64, 1)))
	f, ok := a.Next()
	require.True(t, ok)
	assert.Equal(t, frameOf(64, 1), f)
	_, ok = a.Next()
	assert.False(t, ok, "queue empty")
	assert.Equal(t, MemCounters{Transmitted: 1, Delivered: 1}, a.Counters())
}

func TestMemQueueIsBoundedAndCountsDrops(t *testing.T) {
	a, b := NewMemPair(nil)
	for i := 0; i < MemQueueLen+5; i++ {
		require.NoError(t, a.WriteFrame(frameOf(60, byte(i))))
	}
	assert.Equal(t, MemQueueLen, b.Pending())
	c := a.Counters()
	assert.Equal(t, uint64(MemQueueLen), c.Delivered)
	assert.Equal(t, uint64(5), c.QueueFull)
	f, _ := b.Next()
	assert.Equal(t, byte(0), f[0], "oldest frame first")
}

func TestMemFaultsAreSeededAndAccounted(t *testing.T) {
	run := func() ([][]byte, MemCounters) {
		a, b := NewMemPair(nil)
		a.SetFaults(Faults{DropPct: 20, CorruptPct: 20, DuplicatePct: 20, Seed: 42})
		for i := 0; i < 200; i++ {
			require.NoError(t, a.WriteFrame(frameOf(100, 0x55)))
		}
		var got [][]byte
		for {
			f, ok := b.Next()
			if !ok {
				break
			}
			got = append(got, f)
		}
		return got, a.Counters()
	}
	got, c := run()
	again, c2 := run()
	assert.Equal(t, got, again, "same seed, same faults")
	assert.Equal(t, c, c2)

	assert.Equal(t, uint64(200), c.Transmitted)
	assert.Equal(t, c.Transmitted, c.Delivered-c.Duplicated+c.Dropped, "every frame delivered or counted")
	assert.InDelta(t, 40, float64(c.Dropped), 25)
	assert.NotZero(t, c.Corrupted)
	assert.NotZero(t, c.Duplicated)
	assert.Len(t, got, int(c.Delivered))
	corrupted := 0
	for _, f := range got {
		require.Len(t, f, 100)
		if !bytes.Equal(f, frameOf(100, 0x55)) {
			corrupted++
			diff := 0
			for _, x := range f {
				if x != 0x55 {
					diff++
				}
			}
			assert.Equal(t, 1, diff, "corruption changes exactly one byte")
		}
	}
	// A corrupted frame that was then duplicated arrives corrupted twice.
	assert.GreaterOrEqual(t, corrupted, int(c.Corrupted))
}

func TestMemMaxSizeDropsLongFrames(t *testing.T) {
	a, b := NewMemPair(nil)
	a.SetFaults(Faults{MaxSize: 100})
	require.NoError(t, a.WriteFrame(frameOf(100, 1)))
	require.NoError(t, a.WriteFrame(frameOf(101, 2)))
	require.NoError(t, a.WriteFrame(frameOf(MaxFrame+1, 2)))
	assert.Equal(t, 1, b.Pending())
	assert.Equal(t, uint64(2), a.Counters().TooBig)
}

func TestMemRateLimitFollowsTheClock(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	a, b := NewMemPair(clk)
	a.SetFaults(Faults{RateLimit: 3, RateInterval: 10 * time.Millisecond})
	for i := 0; i < 5; i++ {
		require.NoError(t, a.WriteFrame(frameOf(60, 0)))
	}
	assert.Equal(t, 3, b.Pending())
	assert.Equal(t, uint64(2), a.Counters().RateLimited)

	clk.now = clk.now.Add(9 * time.Millisecond)
	require.NoError(t, a.WriteFrame(frameOf(60, 0)))
	assert.Equal(t, 3, b.Pending(), "bucket not refilled before the interval ends")
	clk.now = clk.now.Add(time.Millisecond)
	for i := 0; i < 4; i++ {
		require.NoError(t, a.WriteFrame(frameOf(60, 0)))
	}
	assert.Equal(t, 6, b.Pending())
	assert.Equal(t, uint64(4), a.Counters().RateLimited)
}

func TestMemCloseUnblocksAndCounts(t *testing.T) {
	a, b := NewMemPair(nil)
	done := make(chan error, 1)
	go func() {
		var p [MaxFrame]byte
		_, err := b.ReadFrame(p[:])
		done <- err
	}()
	require.NoError(t, b.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrame still blocked after Close")
	}
	require.NoError(t, b.Close(), "second Close is harmless")
	require.NoError(t, a.WriteFrame(frameOf(60, 0)))
	assert.Equal(t, uint64(1), a.Counters().PeerClosed)
	assert.ErrorIs(t, b.WriteFrame(frameOf(60, 0)), ErrClosed)
	assert.ErrorIs(t, a.Transmit(nil), skbuff.ErrNilBuf)
}

// TestMemPathDoesNotAllocate: a frame crosses the link in the sender's own
// buffer; with pooled buffers the steady state allocates nothing.
func TestMemPathDoesNotAllocate(t *testing.T) {
	x, y := NewMemPair(nil)
	frame := frameOf(1514, 7)
	in := skbuff.Get()
	defer in.Free()
	allocs := testing.AllocsPerRun(100, func() {
		out := skbuff.Get()
		_ = out.Append(frame)
		_ = x.Transmit(out)
		_ = in.Reset(skbuff.DefaultHeadroom)
		_ = y.ReadBuf(in)
	})
	assert.Zero(t, allocs)
	assert.Equal(t, frame, in.Bytes())
}

func BenchmarkMemTransmitRead(b *testing.B) {
	x, y := NewMemPair(nil)
	frame := frameOf(1514, 7)
	in := skbuff.Get()
	b.SetBytes(1514)
	b.ReportAllocs()
	for b.Loop() {
		out := skbuff.Get()
		_ = out.Append(frame)
		_ = x.Transmit(out)
		_ = in.Reset(skbuff.DefaultHeadroom)
		if err := y.ReadBuf(in); err != nil {
			b.Fatal(err)
		}
	}
}

// fakeClock is a manual clock (the link package cannot import stacktest,
// whose helpers may build on this package).
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
