package libipc_test

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libipc/mpwrite"
)

// gatherBody is a message with a payload between other fields, encoding
// itself with the payload left out as two pieces (libipc.BodyGatherer).
type gatherBody struct {
	Head uint32 `msgpack:"h"`
	Data []byte `msgpack:"d"`
	Tail string `msgpack:"t"`
}

func (g *gatherBody) AppendMsgpack(b []byte) []byte {
	b, pieces := g.AppendMsgpackGather(b, nil)
	return libipc.JoinPieces(nil, b, pieces)
}

func (g *gatherBody) AppendMsgpackGather(b []byte, pieces []libipc.Piece) ([]byte, []libipc.Piece) {
	b = mpwrite.Uint(append(b, 0x83, 0xa1, 'h'), uint64(g.Head))
	b = mpwrite.BinHeader(append(b, 0xa1, 'd'), len(g.Data))
	half := len(g.Data) / 2
	pieces = append(pieces, libipc.Piece{Off: len(b), Data: g.Data[:half]}, libipc.Piece{Off: len(b), Data: g.Data[half:]})
	b = append(b, 0xa1, 't', 0xa0|byte(len(g.Tail)))
	return append(b, g.Tail...), pieces
}

// TestConnGatherAndPostedReceives: messages whose payload an encoder
// leaves out of its encoding (BodyGatherer) arrive whole, of every size
// class and in order, through the pair the transport makes (kernel
// channels in armos, LIBIPC_TRANSPORT=kernel: there they go as
// abi.SendGather, and the receiving end, once it has had a large
// message, posts its receive buffer, abi.RecvPost); the encoding is the
// general encoder's.
func TestConnGatherAndPostedReceives(t *testing.T) {
	g := &gatherBody{Head: 7, Data: []byte("payload"), Tail: "end"}
	want, err := libipc.AppendBodyGeneral(nil, g)
	require.NoError(t, err)
	require.Equal(t, want, g.AppendMsgpack(nil))

	a, b, err := libipc.TransportPair(16)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	ca := libipc.NewConn(a)
	defer ca.Close()
	sizes := []int{0, 1, 100, 5000, 20000, 70000, 3, 40000, 40000, 40000, 10, 65000, 2, 30000}
	done := make(chan error, 1)
	go func() {
		for i, n := range sizes {
			body := &gatherBody{Head: uint32(i), Data: bytes.Repeat([]byte{byte(i + 1)}, n), Tail: "t"}
			if err := ca.Send(context.Background(), libipc.Op(9), body); err != nil {
				done <- err
				return
			}
			if i%3 == 0 {
				time.Sleep(time.Millisecond) // the receiver drains and waits (posts) now and then
			}
		}
		done <- nil
	}()
	for i, n := range sizes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := b.Recv(ctx)
		cancel()
		require.NoError(t, err, "message %d", i)
		var got gatherBody
		h, err := libipc.DecodeMessage(m.Data, &got)
		require.NoError(t, err, "message %d", i)
		require.Equal(t, libipc.Op(9), h.Op)
		require.Equal(t, uint32(i), got.Head, "in order")
		require.Equal(t, "t", got.Tail)
		require.True(t, bytes.Equal(bytes.Repeat([]byte{byte(i + 1)}, n), got.Data), "message %d: %d bytes whole", i, n)
		m.Release()
	}
	require.NoError(t, <-done)
}

// testSource is a PostSource of n buffers of 64 KiB (less than a
// message can be), counting those out.
type testSource struct {
	mu   sync.Mutex
	bufs [][]byte
	free [][]byte
	out  int
}

func newTestSource(n int) *testSource {
	s := &testSource{}
	for range n {
		b := make([]byte, 64<<10)
		s.bufs = append(s.bufs, b)
		s.free = append(s.free, b)
	}
	return s
}

func (s *testSource) PostBuf() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) == 0 {
		return nil
	}
	b := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	s.out++
	return b
}

func (s *testSource) PutBuf(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.index(b)
	if i < 0 {
		panic("not a buffer of this source")
	}
	s.free = append(s.free, s.bufs[i])
	s.out--
}

// index returns the buffer b lies in, or -1.
func (s *testSource) index(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	p := uintptr(unsafe.Pointer(&b[0]))
	for i, o := range s.bufs {
		base := uintptr(unsafe.Pointer(&o[0]))
		if p >= base && p < base+uintptr(len(o)) {
			return i
		}
	}
	return -1
}

func (s *testSource) Owns(b []byte) bool { return s.index(b) >= 0 }

// postPair returns a pair for the PostSource tests (a closed at the
// test's end) and b as a kernel endpoint, or nil over the in-memory
// transport (which must not be what LIBIPC_TRANSPORT=kernel gives).
func postPair(t *testing.T) (a, b libipc.Endpoint, kb *libipc.KernelEndpoint) {
	t.Helper()
	a, b, err := libipc.TransportPair(16)
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	kb, kernel := b.(*libipc.KernelEndpoint)
	if os.Getenv(libipc.TransportEnv) == "kernel" {
		require.True(t, kernel, "a kernel channel")
	}
	return a, b, kb
}

// recvNumbered receives message i, which must be n bytes of i+1.
func recvNumbered(t *testing.T, b libipc.Endpoint, i, n int) libipc.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := b.Recv(ctx)
	require.NoError(t, err, "message %d", i)
	require.True(t, bytes.Equal(bytes.Repeat([]byte{byte(i + 1)}, n), m.Data), "message %d: %d bytes whole, in order", i, n)
	return m
}

// TestPostSource: over kernel channels (LIBIPC_TRANSPORT=kernel in
// armos), an endpoint given a PostSource posts its buffers: large
// messages arrive in them, whole and in order (the caller gives each
// back), small ones are copied out, a message larger than the source's
// buffers still arrives (in one of libipc's own), and after Close every
// buffer is back with the source. Over the in-memory transport only the
// messages are checked (it has nothing to post).
func TestPostSource(t *testing.T) {
	src := newTestSource(3)
	a, b, kb := postPair(t)
	kernel := kb != nil
	if kernel {
		kb.SetPostSource(src)
	}
	sizes := []int{20000, 40000, 30000, 10, 50000, 50000, 70000, 40000, 5, 60000, 60000, 60000, 20000}
	done := make(chan error, 1)
	go func() {
		for i, n := range sizes {
			msg := bytes.Repeat([]byte{byte(i + 1)}, n)
			if err := a.Send(context.Background(), libipc.Message{Data: msg}); err != nil {
				done <- err
				return
			}
			if i%2 == 0 {
				time.Sleep(time.Millisecond) // the receiver drains and posts now and then
			}
		}
		done <- nil
	}()
	inSource := 0
	for i, n := range sizes {
		m := recvNumbered(t, b, i, n)
		if src.Owns(m.Data) {
			require.Greater(t, n, 16<<10, "a small message is copied out")
			inSource++
			src.PutBuf(m.Data)
		} else {
			m.Release()
		}
	}
	require.NoError(t, <-done)
	require.NoError(t, b.Close())
	if kernel {
		assert.Positive(t, inSource, "large messages arrived in the source's buffers")
		assert.Zero(t, src.out, "every buffer back after Close")
	}
	t.Logf("%d of %d messages in the source's buffers", inSource, len(sizes))
}

// TestPostSourceMixed: an endpoint given a source with SetPostSourceMixed
// posts the source's buffers first and libipc's own when the source has
// none (here: its one buffer held by the receiver), so large messages keep
// landing in posted buffers; a source buffer given back with
// Message.Release goes to the source (registered), not to libipc's free
// list; the posting ends after a run of small messages (MixedSmallRun)
// and starts again with a large one; after Close every buffer is back
// with the source.
func TestPostSourceMixed(t *testing.T) {
	src := newTestSource(1)
	a, b, kb := postPair(t)
	kernel := kb != nil
	if kernel {
		kb.SetPostSourceMixed(src)
	}
	sizes := []int{30000, 30000, 20, 30000, 30000, 40000, 10, 30000, 30000}
	done := make(chan error, 1)
	go func() {
		for i, n := range sizes {
			if err := a.Send(context.Background(), libipc.Message{Data: bytes.Repeat([]byte{byte(i + 1)}, n)}); err != nil {
				done <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
		done <- nil
	}()
	var held []libipc.Message
	inSource := 0
	for i, n := range sizes {
		m := recvNumbered(t, b, i, n)
		if src.Owns(m.Data) {
			inSource++
			held = append(held, m) // kept: the source has nothing more to give
			continue
		}
		m.Release()
	}
	require.NoError(t, <-done)
	for i := range held {
		held[i].Release() // back to the source, not to libipc's free list
	}
	if kernel {
		assert.Positive(t, inSource, "large messages arrived in the source's buffer")
		assert.Zero(t, src.out, "Release gave the source its buffer back")
		// Posting goes on through a few small messages in a row, and
		// ends with a longer run of them (requests and responses).
		require.True(t, libipc.Posting(kb), "posting after the last large message")
		for i := range libipc.MixedSmallRun {
			require.True(t, libipc.Posting(kb), "still posting after %d small messages", i)
			require.NoError(t, a.Send(context.Background(), libipc.Message{Data: []byte("small")}))
			m, err := b.Recv(context.Background())
			require.NoError(t, err)
			m.Release()
		}
		assert.False(t, libipc.Posting(kb), "a run of small messages ends the posting")
		// A large one starts it again.
		require.NoError(t, a.Send(context.Background(), libipc.Message{Data: make([]byte, 30000)}))
		m, err := b.Recv(context.Background())
		require.NoError(t, err)
		m.Release()
		assert.True(t, libipc.Posting(kb), "a large message starts the posting again")
	}
	require.NoError(t, b.Close())
	if kernel {
		assert.Zero(t, src.out, "every buffer back after Close")
	}
	t.Logf("%d of %d messages in the source's buffer", inSource, len(sizes))
}

// TestSendRecvAllocations: a message sent and received costs the
// endpoints no allocation once warm, in memory and over kernel channels
// (LIBIPC_TRANSPORT=kernel in the guest's libipc suite; there the receive
// and send callbacks are made once per endpoint and the buffers come
// from libipc's free lists; a closure per call was three allocations a
// message each way).
func TestSendRecvAllocations(t *testing.T) {
	a, b, err := libipc.TransportPair(16)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	msg := bytes.Repeat([]byte{7}, 300)
	ctx := context.Background()
	roundTrip := func() {
		require.NoError(t, a.TrySend(libipc.Message{Data: msg}))
		m, err := b.Recv(ctx)
		require.NoError(t, err)
		if len(m.Data) != len(msg) { // (require.Len would box the slice: an allocation)
			t.Fatalf("received %d bytes of %d", len(m.Data), len(msg))
		}
		m.Release()
		require.NoError(t, a.Send(ctx, libipc.Message{Data: msg}))
		m, err = b.TryRecv()
		require.NoError(t, err)
		m.Release()
	}
	roundTrip()
	allocs := testing.AllocsPerRun(200, roundTrip)
	t.Logf("%s transport: %.1f allocations per two messages", os.Getenv(libipc.TransportEnv), allocs)
	require.Zero(t, allocs)
}
