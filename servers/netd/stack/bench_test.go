package stack_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc/skbuff"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

// echoRig is a stack with a UDP echo endpoint on port 7 whose notify
// callback answers each datagram, as apps/echo does through the socket
// service: one frame in gives one frame out.
type echoRig struct {
	f     *fixture
	frame []byte
	out   int
}

func newEchoRig(t testing.TB, size int) *echoRig {
	f := newFixture(t, 0)
	f.learn(peer)
	ep := f.bind("0.0.0.0:7")
	r := &echoRig{f: f, frame: peer.UDPFrame(ourMAC, 40000, ap(ourAddr, 7), pattern(size))}
	buf := make([]byte, 2048)
	ep.SetNotify(func() {
		n, meta, err := ep.Dequeue(buf)
		if err == nil {
			_ = ep.SendTo(buf[:n], meta.From)
		}
	})
	f.link.Discard = true
	f.link.OnTransmit = func([]byte) { r.out++ }
	return r
}

// once injects the request frame as a driver would (a pooled buffer filled
// with the received bytes).
func (r *echoRig) once() {
	b := skbuff.Get()
	_ = b.Reserve(0)
	_ = b.Append(r.frame)
	r.f.s.Input(b)
}

func TestUDPEchoPathAllocatesNothing(t *testing.T) {
	r := newEchoRig(t, 64)
	r.once() // warm the endpoint ring and the pool
	allocs := testing.AllocsPerRun(1000, r.once)
	require.Zero(t, allocs, "steady-state echo path must not allocate")
	require.Equal(t, 1002, r.out, "one reply per request (AllocsPerRun adds a warm-up run)")
	require.Zero(t, r.f.s.Counters().UDP.RxQueueFull)
}

func TestPingReplyPathAllocatesNothing(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	f.link.Discard = true
	frame := peer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4Echo, 1, 1, pattern(56))
	in := func() { f.s.Input(stacktest.Buf(frame)) }
	in()
	require.Zero(t, testing.AllocsPerRun(1000, in))
	require.EqualValues(t, 1002, f.s.Counters().ICMP.TxEchoReplies)
}

func BenchmarkUDPEcho(b *testing.B) {
	for _, size := range []int{64, 1024, 1472} {
		b.Run(sizeName(size), func(b *testing.B) {
			r := newEchoRig(b, size)
			r.once()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				r.once()
			}
		})
	}
}

func BenchmarkInputDrop(b *testing.B) {
	// The cheapest path: a frame for another host, dropped at the Ethernet
	// layer.
	f := newFixture(b, 0)
	frame := mutate(false, func(fr []byte) []byte { fr[5] ^= 1; return fr })
	b.ReportAllocs()
	for b.Loop() {
		f.s.Input(stacktest.Buf(frame))
	}
}

func BenchmarkFragmentedSend(b *testing.B) {
	f := newFixture(b, 0)
	f.learn(peer)
	f.link.Discard = true
	ep := f.bind("0.0.0.0:5000")
	payload := pattern(8000)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		_ = ep.SendTo(payload, ap(peer.Addr, 9))
	}
}

func BenchmarkReassembly(b *testing.B) {
	f := newFixture(b, 0)
	ep := f.bind("0.0.0.0:7")
	frames := udpFragments(pattern(8000), 1500, 1)
	var buf [9000]byte
	b.ReportAllocs()
	b.SetBytes(8000)
	for b.Loop() {
		for _, fr := range frames {
			f.s.Input(stacktest.Buf(fr))
		}
		_, _, _ = ep.Dequeue(buf[:])
	}
}

func sizeName(n int) string {
	switch n {
	case 64:
		return "64B"
	case 1024:
		return "1KiB"
	}
	return "1472B"
}

// TestDequeueFuncLendsThePacketBuffer: DequeueFunc hands over the payload
// where it arrived (inside the received frame's buffer, no copy), then
// frees the buffer; errors as Dequeue.
func TestDequeueFuncLendsThePacketBuffer(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	ep := f.bind("0.0.0.0:7")
	require.ErrorIs(t, ep.DequeueFunc(func([]byte, stack.RecvMeta) { t.Fatal("called on an empty queue") }), stack.ErrWouldBlock)
	b := skbuff.Get()
	_ = b.Reserve(0)
	_ = b.Append(peer.UDPFrame(ourMAC, 40000, ap(ourAddr, 7), []byte("lent, not copied")))
	frame := b.Bytes()
	before := skbuff.Default.Stats().Frees
	f.s.Input(b)
	called := false
	require.NoError(t, ep.DequeueFunc(func(p []byte, meta stack.RecvMeta) {
		called = true
		require.Equal(t, "lent, not copied", string(p))
		require.Equal(t, &frame[len(frame)-len(p)], &p[0], "the payload is the frame buffer's own bytes")
		require.Equal(t, ap(peer.Addr, 40000), meta.From)
	}))
	require.True(t, called)
	require.Equal(t, 0, ep.Len())
	require.Greater(t, skbuff.Default.Stats().Frees, before, "the buffer went back to the pool")
}

// TestPeekFuncAndDiscardLendSeveralDatagrams: PeekFunc shows the i-th
// queued datagram in its packet buffer without dequeuing it, NthLen gives
// its length, and Discard dequeues the oldest ones, freeing their buffers
// (the socket service's batched receive).
func TestPeekFuncAndDiscardLendSeveralDatagrams(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	ep := f.bind("0.0.0.0:7")
	for i := range 3 {
		f.s.Input(frameBuf(peer.UDPFrame(ourMAC, uint16(40000+i), ap(ourAddr, 7), []byte(fmt.Sprintf("dgram-%d%s", i, strings.Repeat("x", i))))))
	}
	require.Equal(t, 3, ep.Len())
	for i := range 3 {
		require.Equal(t, 7+i, ep.NthLen(i))
		require.True(t, ep.PeekFunc(i, func(p []byte, meta stack.RecvMeta) {
			assert.Equal(t, fmt.Sprintf("dgram-%d%s", i, strings.Repeat("x", i)), string(p))
			assert.Equal(t, ap(peer.Addr, uint16(40000+i)), meta.From)
		}))
	}
	assert.False(t, ep.PeekFunc(3, func([]byte, stack.RecvMeta) { t.Fatal("called past the queue") }))
	assert.False(t, ep.PeekFunc(-1, func([]byte, stack.RecvMeta) { t.Fatal("called before the queue") }))
	assert.Equal(t, -1, ep.NthLen(3))
	require.Equal(t, 3, ep.Len(), "peeking dequeues nothing")

	before := skbuff.Default.Stats().Frees
	ep.Discard(2)
	require.Equal(t, 1, ep.Len())
	assert.Equal(t, before+2, skbuff.Default.Stats().Frees, "both buffers went back to the pool")
	require.True(t, ep.PeekFunc(0, func(p []byte, _ stack.RecvMeta) { assert.Equal(t, "dgram-2xx", string(p)) }))
	ep.Discard(5) // more than queued: empties it
	assert.Equal(t, 0, ep.Len())
}

// frameBuf puts a frame in a pooled packet buffer.
func frameBuf(frame []byte) *skbuff.Buf {
	b := skbuff.Get()
	_ = b.Reserve(0)
	_ = b.Append(frame)
	return b
}
