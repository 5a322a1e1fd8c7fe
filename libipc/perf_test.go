package libipc_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
)

// numMsg is a body whose decoding allocates nothing but the value itself, so
// an allocation count over a round trip measures libipc, not the body.
type numMsg struct {
	N int `msgpack:"n"`
}

// callRoundTripBudget is the promised steady-state allocation count of one
// Call round trip through a Server over the in-memory transport, with a body
// of plain numbers and a handler that returns a reused response: the
// Request the server hands to the handler and the *Req the typed wrapper
// decodes into. Message copies, wake-ups and reply slots are all reused.
const callRoundTripBudget = 2

func TestCallRoundTripAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	mux := libipc.NewMux()
	var out numMsg // touched on the dispatch goroutine only
	libipc.Handle(mux, opEcho, func(r *libipc.Request, req *numMsg) (*numMsg, error) {
		out.N = req.N + 1
		return &out, nil
	})
	srv := libipc.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { srv.Serve(ctx); close(served) }()
	t.Cleanup(func() { cancel(); <-served })
	cli, end := libipc.NewPair(libipc.DefaultQueueLen)
	srv.Accept(end)
	c := libipc.NewConn(cli)
	t.Cleanup(func() { c.Close() })

	req := &numMsg{N: 41}
	var resp numMsg
	call := func() {
		if err := c.Call(context.Background(), opEcho, req, &resp); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 { // warm up: pools, free lists, maps, waiter slices
		call()
	}
	allocs := testing.AllocsPerRun(500, call)
	t.Logf("%.1f allocations per Call round trip", allocs)
	assert.LessOrEqual(t, allocs, float64(callRoundTripBudget), "allocations per Call round trip")
	assert.Equal(t, 42, resp.N)
}

// The receiver owns a received buffer: released, it carries the next
// message; kept, it is never overwritten.
func TestMessageBufferOwnership(t *testing.T) {
	a, b := libipc.NewPair(4)
	require.NoError(t, a.TrySend(msg("first")))
	kept, err := b.TryRecv()
	require.NoError(t, err)

	for i := range 200 { // more than a free list holds, released each time
		require.NoError(t, a.TrySend(msg("again")))
		m, err := b.TryRecv()
		require.NoError(t, err)
		require.Equal(t, "again", string(m.Data), "message %d", i)
		m.Release()
		assert.Nil(t, m.Data)
	}
	assert.Equal(t, "first", string(kept.Data), "a buffer the receiver kept was reused")

	// Released buffers are handed out again.
	before := libipc.MessageBufStats()
	for range 10 {
		require.NoError(t, a.TrySend(msg("x")))
		m, err := b.TryRecv()
		require.NoError(t, err)
		m.Release()
	}
	after := libipc.MessageBufStats()
	assert.GreaterOrEqual(t, after.Reused-before.Reused, uint64(9))
}

// The free list is bounded per size class; what does not fit is counted.
func TestMessageBufferFreeListBounded(t *testing.T) {
	for _, size := range libipc.BufClasses() {
		before := libipc.MessageBufStats()
		for range libipc.BufFreeLen + 5 {
			m := libipc.Message{Data: make([]byte, 0, size)}
			m.Release()
		}
		after := libipc.MessageBufStats()
		assert.GreaterOrEqual(t, after.Discarded-before.Discarded, uint64(5), "class %d", size)
		assert.LessOrEqual(t, after.Released-before.Released, uint64(libipc.BufFreeLen), "class %d", size)
	}
	// A buffer of no class is never kept.
	before := libipc.MessageBufStats()
	odd := libipc.Message{Data: make([]byte, 3, 300)}
	odd.Release()
	assert.Equal(t, before.Discarded+1, libipc.MessageBufStats().Discarded)

	// Every size up to the bound still round-trips intact.
	a, b := libipc.NewPair(1)
	for _, n := range []int{0, 1, 255, 256, 257, 4000, libipc.MaxMessageSize} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7 + n)
		}
		require.NoError(t, a.TrySend(libipc.Message{Data: data}))
		m, err := b.TryRecv()
		require.NoError(t, err)
		require.Len(t, m.Data, n)
		assert.Equal(t, data, m.Data)
		m.Release()
	}
}

// Call releases reply buffers right after decoding; that is only sound
// because decoded values never alias the body. Hold the decoder to it.
func TestDecodedValuesDoNotAliasBody(t *testing.T) {
	in := &sendtoBody{Sock: 3, Addr: []byte{10, 0, 2, 2}, Port: 7, Data: []byte("payload bytes")}
	type withString struct {
		Text string `msgpack:"text"`
		Raw  []byte `msgpack:"raw"`
	}
	body, err := libipc.AppendBody(nil, in)
	require.NoError(t, err)
	var out sendtoBody
	require.NoError(t, libipc.DecodeBody(body, &out))
	body2, err := libipc.AppendBody(nil, &withString{Text: "some text", Raw: []byte{1, 2, 3}})
	require.NoError(t, err)
	var out2 withString
	require.NoError(t, libipc.DecodeBody(body2, &out2))
	for _, b := range [][]byte{body, body2} {
		for i := range b {
			b[i] = 0xff
		}
	}
	assert.Equal(t, *in, out)
	assert.Equal(t, withString{Text: "some text", Raw: []byte{1, 2, 3}}, out2)
}

// Typed handlers get their request decoded and its buffer already released
// (Body is nil); a HandleRaw handler owns Body and may keep it while many
// more messages pass through the transport.
func TestRequestBodyOwnership(t *testing.T) {
	mux := libipc.NewMux()
	typedBody := []byte("not called")
	libipc.Handle(mux, opEcho, func(r *libipc.Request, req *echoReq) (*echoResp, error) {
		typedBody = r.Body
		return &echoResp{Text: req.Text}, nil
	})
	var keptBody []byte
	libipc.Handle(mux, opRelease, func(r *libipc.Request, req *libipc.Empty) (*echoResp, error) {
		return &echoResp{Text: string(keptBody)}, nil
	})
	mux.HandleRaw(opNotify, func(r *libipc.Request) {
		if keptBody == nil {
			keptBody = r.Body // kept past the handler, never released
		}
		r.Reply(&libipc.Empty{})
	})
	srv := libipc.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { srv.Serve(ctx); close(served) }()
	t.Cleanup(func() { cancel(); <-served })
	cli, end := libipc.NewPair(libipc.DefaultQueueLen)
	srv.Accept(end)
	c := libipc.NewConn(cli)
	t.Cleanup(func() { c.Close() })
	tctx := testCtx(t)

	var resp echoResp
	require.NoError(t, c.Call(tctx, opEcho, &echoReq{Text: "hi"}, &resp))
	assert.Equal(t, "hi", resp.Text)

	require.NoError(t, c.Call(tctx, opNotify, &echoReq{Text: "keep me"}, nil))
	want, err := libipc.AppendBody(nil, &echoReq{Text: "keep me"})
	require.NoError(t, err)
	for range 300 {
		require.NoError(t, c.Call(tctx, opEcho, &echoReq{Text: "overwrite", N: 99}, &resp))
	}
	require.NoError(t, c.Call(tctx, opRelease, &libipc.Empty{}, &resp))
	assert.Equal(t, string(want), resp.Text, "a kept raw body was overwritten")
	assert.Nil(t, typedBody, "typed handlers see a released body")
}

// A blocked call that gives up unregisters its wake-up channel, and a pair
// stays usable afterwards; many goroutines blocked on one end are all woken.
func TestWaitersRegistration(t *testing.T) {
	a, b := libipc.NewPair(1)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { _, err := b.Recv(ctx); got <- err }()
	require.Eventually(t, func() bool { return libipc.Waiters(b) == 1 }, waitTimeout, time.Millisecond)
	cancel()
	select {
	case err := <-got:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(waitTimeout):
		t.Fatal("Recv ignored its context")
	}
	assert.Zero(t, libipc.Waiters(b), "a canceled Recv left its wake-up channel registered")

	const n = 8
	var wg sync.WaitGroup
	recvd := make(chan string, n)
	for range n {
		wg.Go(func() {
			m, err := b.Recv(context.Background())
			if assert.NoError(t, err) {
				recvd <- string(m.Data)
			}
		})
	}
	require.Eventually(t, func() bool { return libipc.Waiters(b) == n }, waitTimeout, time.Millisecond)
	for i := range n {
		require.NoError(t, a.Send(testCtx(t), msg(string(rune('a'+i)))))
	}
	wg.Wait()
	close(recvd)
	seen := map[string]bool{}
	for s := range recvd {
		seen[s] = true
	}
	assert.Len(t, seen, n)
	assert.Zero(t, libipc.Waiters(b))
}
