package libipc_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
)

// Ops of the test protocol.
const (
	opEcho libipc.Op = iota + 1
	opWait           // deferred: answered when opRelease arrives
	opRelease
	opFail
	opPanic
	opNotify // one-way
	opPushBack
)

// waitTimeout bounds how long a test waits for something that should happen
// promptly; it is a failure detector, not a performance assertion.
const waitTimeout = 5 * time.Second

type testServer struct {
	srv    *libipc.Server
	broker *libipc.Broker
	cancel context.CancelFunc
	served chan struct{} // closed when Serve has returned

	// state below is touched only on the server's dispatch goroutine
	waiting  []*libipc.Reply[echoResp]
	notes    []string
	gone     chan error
	connects int
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{broker: libipc.NewBroker(), served: make(chan struct{}), gone: make(chan error, 16)}
	mux := libipc.NewMux()
	libipc.Handle(mux, opEcho, func(r *libipc.Request, req *echoReq) (*echoResp, error) {
		return &echoResp{Text: req.Text, N: req.N + 1}, nil
	})
	libipc.HandleDeferred(mux, opWait, func(r *libipc.Request, req *echoReq, reply *libipc.Reply[echoResp]) {
		ts.waiting = append(ts.waiting, reply)
	})
	libipc.Handle(mux, opRelease, func(r *libipc.Request, req *libipc.Empty) (*echoResp, error) {
		n := 0
		for _, w := range ts.waiting {
			if w.OK(&echoResp{Text: "released", N: n}) == nil {
				n++
			}
		}
		ts.waiting = nil
		return &echoResp{N: n}, nil
	})
	libipc.Handle(mux, opFail, func(r *libipc.Request, req *echoReq) (*libipc.Empty, error) {
		return nil, fmt.Errorf("port %d: %w", req.N, libipc.ErrAddrInUse)
	})
	libipc.Handle(mux, opPanic, func(r *libipc.Request, req *libipc.Empty) (*libipc.Empty, error) {
		panic("handler bug")
	})
	libipc.HandleOneway(mux, opNotify, func(r *libipc.Request, msg *echoReq) {
		ts.notes = append(ts.notes, msg.Text)
	})
	libipc.Handle(mux, opPushBack, func(r *libipc.Request, req *echoReq) (*libipc.Empty, error) {
		// The server talks back to the client on the same connection.
		return &libipc.Empty{}, r.Conn().TrySend(opNotify, req)
	})
	mux.OnConnect(func(c *libipc.Conn) { ts.connects++ })
	mux.OnDisconnect(func(c *libipc.Conn, err error) { ts.gone <- err })
	ts.srv = libipc.NewServer(mux)
	ts.broker.Register("test", ts.srv.Accept)
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.srv.Serve(ctx); close(ts.served) }()
	t.Cleanup(func() {
		cancel()
		<-ts.served
	})
	return ts
}

func (ts *testServer) dial(t *testing.T) *libipc.Conn {
	t.Helper()
	ep, err := ts.broker.Connect(context.Background(), "test")
	require.NoError(t, err)
	c := libipc.NewConn(ep)
	t.Cleanup(func() { c.Close() })
	return c
}

// onServer runs fn on the server's dispatch goroutine and waits for it.
func (ts *testServer) onServer(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	require.True(t, ts.srv.Post(func() { fn(); close(done) }))
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("dispatch goroutine stuck")
	}
}

// newPair makes a pair on the transport libipc.TransportEnv selects: the
// in-memory one, or kernel channels when these tests run in armos.
func newPair(t testing.TB, capacity int) (libipc.Endpoint, libipc.Endpoint) {
	t.Helper()
	a, b, err := libipc.TransportPair(capacity)
	require.NoError(t, err)
	return a, b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestCallReply(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	var resp echoResp
	require.NoError(t, c.Call(testCtx(t), opEcho, &echoReq{Text: "hello", N: 41}, &resp))
	assert.Equal(t, echoResp{Text: "hello", N: 42}, resp)
	assert.Equal(t, uint64(1), c.Stats().Calls)
}

func TestConcurrentCalls(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	const callers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := g*1000 + i
				var resp echoResp
				if err := c.Call(testCtx(t), opEcho, &echoReq{Text: fmt.Sprint(n), N: n}, &resp); err != nil {
					errs <- err
					return
				}
				if resp.N != n+1 || resp.Text != fmt.Sprint(n) {
					errs <- fmt.Errorf("call %d got reply %+v", n, resp)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, uint64(callers*each), c.Stats().Calls)
	assert.Zero(t, c.Stats().Stray)
}

func TestDeferredReply(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	results := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			var resp echoResp
			err := c.Call(testCtx(t), opWait, &echoReq{Text: "block"}, &resp)
			if err == nil && resp.Text != "released" {
				err = fmt.Errorf("unexpected reply %+v", resp)
			}
			results <- err
		}()
	}
	// All three are parked in the server, and the server still serves others.
	require.Eventually(t, func() bool {
		n := 0
		ts.onServer(t, func() { n = len(ts.waiting) })
		return n == 3
	}, waitTimeout, time.Millisecond)
	select {
	case err := <-results:
		t.Fatalf("deferred call returned before its reply: %v", err)
	default:
	}
	var echo echoResp
	require.NoError(t, c.Call(testCtx(t), opEcho, &echoReq{N: 1}, &echo))

	var rel echoResp
	require.NoError(t, c.Call(testCtx(t), opRelease, &libipc.Empty{}, &rel))
	assert.Equal(t, 3, rel.N)
	for i := 0; i < 3; i++ {
		select {
		case err := <-results:
			assert.NoError(t, err)
		case <-time.After(waitTimeout):
			t.Fatal("deferred reply never arrived")
		}
	}
}

func TestDeferredReplyAfterClientLeft(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	go c.Call(ctx, opWait, &echoReq{}, nil)
	require.Eventually(t, func() bool {
		n := 0
		ts.onServer(t, func() { n = len(ts.waiting) })
		return n == 1
	}, waitTimeout, time.Millisecond)
	cancel()
	require.NoError(t, c.Close())
	<-ts.gone
	var err error
	ts.onServer(t, func() { err = ts.waiting[0].OK(&echoResp{}) })
	assert.ErrorIs(t, err, libipc.ErrPeerClosed, "answering a departed client reports it")
}

func TestPeerClosedDuringPendingCall(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	const n = 4
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() { results <- c.Call(context.Background(), opWait, &echoReq{}, nil) }()
	}
	require.Eventually(t, func() bool {
		k := 0
		ts.onServer(t, func() { k = len(ts.waiting) })
		return k == n
	}, waitTimeout, time.Millisecond)
	ts.cancel() // the server goes away with the calls parked
	for i := 0; i < n; i++ {
		select {
		case err := <-results:
			assert.ErrorIs(t, err, libipc.ErrPeerClosed)
		case <-time.After(waitTimeout):
			t.Fatal("pending call not failed when the peer closed")
		}
	}
	<-c.Done()
	assert.ErrorIs(t, c.Err(), libipc.ErrPeerClosed)
	// New calls fail at once.
	assert.ErrorIs(t, c.Call(context.Background(), opEcho, &echoReq{}, nil), libipc.ErrPeerClosed)
}

func TestCallAfterOwnClose(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	require.NoError(t, c.Close())
	assert.ErrorIs(t, c.Call(testCtx(t), opEcho, &echoReq{}, nil), libipc.ErrClosed)
	err := <-ts.gone
	assert.ErrorIs(t, err, libipc.ErrPeerClosed, "the server sees its client leave")
}

func TestRemoteErrors(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)

	err := c.Call(testCtx(t), opFail, &echoReq{N: 7}, nil)
	var re *libipc.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, libipc.ErrAddrInUse, re.Code)
	assert.Contains(t, re.Msg, "port 7")
	assert.ErrorIs(t, err, libipc.ErrAddrInUse)

	err = c.Call(testCtx(t), 999, &echoReq{}, nil)
	assert.ErrorIs(t, err, libipc.ErrUnknownOp)

	// A body of the wrong shape is refused by the server's strict decoder.
	err = c.Call(testCtx(t), opEcho, &struct {
		Text int `msgpack:"text"`
	}{Text: 3}, nil)
	assert.ErrorIs(t, err, libipc.ErrMalformed)
	err = c.Call(testCtx(t), opEcho, &struct {
		Bogus int `msgpack:"bogus"`
	}{}, nil)
	assert.ErrorIs(t, err, libipc.ErrMalformed)

	err = c.Call(testCtx(t), opPanic, &libipc.Empty{}, nil)
	assert.ErrorIs(t, err, libipc.ErrInternal)

	// The server survived all of that.
	var resp echoResp
	require.NoError(t, c.Call(testCtx(t), opEcho, &echoReq{N: 1}, &resp))
	assert.Equal(t, 2, resp.N)
	st := ts.srv.Stats()
	assert.Equal(t, uint64(1), st.UnknownOps)
	assert.Equal(t, uint64(1), st.Panics)
}

func TestReplyOfWrongShapeIsAClientError(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	var wrong struct {
		Other bool `msgpack:"other"`
	}
	err := c.Call(testCtx(t), opEcho, &echoReq{}, &wrong)
	var fe *libipc.FrameError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, libipc.ReasonWrongType, fe.Reason)
	assert.Equal(t, opEcho, fe.Op)
}

func TestOnewayBothWays(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	require.NoError(t, c.Send(testCtx(t), opNotify, &echoReq{Text: "a"}))
	require.NoError(t, c.TrySend(opNotify, &echoReq{Text: "b"}))
	// A call after the one-way messages is handled after them (per-connection order).
	require.NoError(t, c.Call(testCtx(t), opEcho, &echoReq{}, nil))
	var notes []string
	ts.onServer(t, func() { notes = append(notes, ts.notes...) })
	assert.Equal(t, []string{"a", "b"}, notes)

	require.NoError(t, c.Call(testCtx(t), opPushBack, &echoReq{Text: "back"}, nil))
	r, err := c.Recv(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, libipc.KindOneway, r.Kind)
	assert.Equal(t, opNotify, r.Op)
	var msg echoReq
	require.NoError(t, r.Decode(&msg))
	assert.Equal(t, "back", msg.Text)
	assert.ErrorIs(t, r.Reply(nil), libipc.ErrInvalid, "one-way messages take no reply")
}

func TestClientAnswersServerRequest(t *testing.T) {
	// Conn is symmetric: the peer of a NewConn can be another NewConn.
	a, b := newPair(t, 8)
	ca, cb := libipc.NewConn(a), libipc.NewConn(b)
	defer ca.Close()
	defer cb.Close()
	go func() {
		r, err := cb.Recv(context.Background())
		if err != nil {
			return
		}
		var req echoReq
		if err := r.Decode(&req); err != nil {
			r.Fail(err)
			return
		}
		r.Reply(&echoResp{Text: req.Text + "!"})
		assert.ErrorIs(t, r.Reply(&echoResp{}), libipc.ErrInvalid, "second answer refused")
	}()
	var resp echoResp
	require.NoError(t, ca.Call(testCtx(t), opEcho, &echoReq{Text: "hi"}, &resp))
	assert.Equal(t, "hi!", resp.Text)
}

func TestCallContextCanceled(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, opWait, &echoReq{}, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	// The late reply is counted, not delivered to anyone.
	require.NoError(t, c.Call(testCtx(t), opRelease, &libipc.Empty{}, nil))
	require.Eventually(t, func() bool { return c.Stats().Stray == 1 }, waitTimeout, time.Millisecond)
	require.NoError(t, c.Call(testCtx(t), opEcho, &echoReq{}, nil))
}

func TestServerRepliesToGarbage(t *testing.T) {
	ts := newTestServer(t)
	ep, err := ts.broker.Connect(testCtx(t), "test")
	require.NoError(t, err)
	defer ep.Close()
	cases := []struct {
		name string
		msg  []byte
		id   uint32
		code libipc.Code
	}{
		{"not msgpack", []byte("GET / HTTP/1.0"), 0, libipc.ErrMalformed},
		{"bad version", []byte{0x94, 0x09, 0x01, 0x01, 0x05, 0xc0}, 5, libipc.ErrBadVersion},
		{"unknown op", []byte{0x94, 0x01, 0x01, 0xcd, 0x10, 0x00, 0x06, 0xc0}, 6, libipc.ErrUnknownOp},
		{"op 0", []byte{0x94, 0x01, 0x01, 0x00, 0x06, 0xc0}, 6, libipc.ErrUnknownOp},
		{"trailing", []byte{0x94, 0x01, 0x01, 0x01, 0x07, 0x80, 0x00}, 7, libipc.ErrMalformed},
		{"truncated body", []byte{0x94, 0x01, 0x01, 0x01, 0x08, 0x81}, 8, libipc.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, ep.Send(testCtx(t), libipc.Message{Data: tc.msg}))
			m, err := ep.Recv(testCtx(t))
			require.NoError(t, err)
			var eb libipc.ErrorBody
			h, err := libipc.DecodeMessage(m.Data, &eb)
			require.NoError(t, err)
			assert.Equal(t, libipc.KindError, h.Kind)
			assert.Equal(t, tc.id, h.ID)
			assert.Equal(t, tc.code, eb.Code, "message: %s", eb.Msg)
		})
	}
}

func TestCallSendsAndReceivesCaps(t *testing.T) {
	// Brokering by message: the reply carries a new endpoint.
	mux := libipc.NewMux()
	mux.HandleRaw(opEcho, func(r *libipc.Request) {
		mine, theirs := newPair(t, 4)
		go func() {
			m, err := mine.Recv(context.Background())
			if err == nil {
				mine.Send(context.Background(), m) // echo one raw message
			}
		}()
		r.Reply(&libipc.Empty{}, theirs)
	})
	srv := libipc.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	a, b := newPair(t, 4)
	srv.Accept(b)
	c := libipc.NewConn(a)
	defer c.Close()

	caps, err := c.CallCaps(testCtx(t), opEcho, &libipc.Empty{}, nil, nil)
	require.NoError(t, err)
	require.Len(t, caps, 1)
	ep, ok := caps[0].(libipc.Endpoint)
	require.True(t, ok)
	require.NoError(t, ep.Send(testCtx(t), libipc.Message{Data: []byte("ping")}))
	m, err := ep.Recv(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, "ping", string(m.Data))
}

func TestRecvQueueOverflowCounted(t *testing.T) {
	a, b := newPair(t, libipc.RecvQueueLen*2)
	c := libipc.NewConn(a)
	defer c.Close()
	peer := libipc.NewConn(b)
	defer peer.Close()
	for i := 0; i < libipc.RecvQueueLen+5; i++ {
		require.NoError(t, peer.Send(testCtx(t), opNotify, &echoReq{N: i}))
	}
	// A request behind the full queue is refused, not lost silently.
	err := peer.Call(testCtx(t), opEcho, &echoReq{}, nil)
	assert.ErrorIs(t, err, libipc.ErrNoBufs)
	assert.Equal(t, uint64(6), c.Stats().DroppedRecv)
	for i := 0; i < libipc.RecvQueueLen; i++ {
		r, err := c.Recv(testCtx(t))
		require.NoError(t, err)
		var m echoReq
		require.NoError(t, r.Decode(&m))
		assert.Equal(t, i, m.N, "queued messages keep their order")
	}
}

func TestRecvAfterPeerClosedDrainsThenFails(t *testing.T) {
	a, b := newPair(t, 8)
	c := libipc.NewConn(a)
	defer c.Close()
	require.NoError(t, b.Send(testCtx(t), libipc.Message{Data: mustMsg(t, libipc.KindOneway, opNotify, 0, &echoReq{Text: "last"})}))
	require.NoError(t, b.Close())
	<-c.Done()
	r, err := c.Recv(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, opNotify, r.Op)
	_, err = c.Recv(testCtx(t))
	assert.ErrorIs(t, err, libipc.ErrPeerClosed)
	assert.True(t, errors.Is(c.Err(), libipc.ErrPeerClosed))
}

func mustMsg(t *testing.T, k libipc.Kind, op libipc.Op, id uint32, body any) []byte {
	t.Helper()
	b, err := libipc.AppendMessage(nil, libipc.Header{Version: libipc.Version, Kind: k, Op: op, ID: id}, body)
	require.NoError(t, err)
	return b
}

func TestTryPost(t *testing.T) {
	srv := libipc.NewServer(libipc.NewMux())
	// Not serving yet: the dispatch queue fills and TryPost refuses.
	for i := 0; i < libipc.DispatchQueueLen; i++ {
		require.NoError(t, srv.TryPost(func() {}))
	}
	assert.ErrorIs(t, srv.TryPost(func() {}), libipc.ErrWouldBlock)
	assert.Equal(t, uint64(1), srv.Stats().PostFull)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go srv.Serve(ctx)
	require.True(t, srv.Post(func() { close(ran) }))
	select {
	case <-ran:
	case <-time.After(waitTimeout):
		t.Fatal("posted function never ran")
	}
	cancel()
	require.Eventually(t, func() bool { return errors.Is(srv.TryPost(func() {}), libipc.ErrClosed) }, waitTimeout, time.Millisecond)
}

func TestRepliesNeverBlockServer(t *testing.T) {
	mux := libipc.NewMux()
	conns := make(chan *libipc.Conn, 2)
	mux.OnConnect(func(c *libipc.Conn) { conns <- c })
	libipc.Handle(mux, opEcho, func(r *libipc.Request, req *echoReq) (*echoResp, error) {
		return &echoResp{N: req.N}, nil
	})
	srv := libipc.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)

	// A client that sends requests but never reads its replies.
	const qlen, n = 2, 80
	raw, end := newPair(t, qlen)
	defer raw.Close()
	srv.Accept(end)
	sc := <-conns
	go func() {
		for i := 0; i < n; i++ {
			if raw.Send(context.Background(), libipc.Message{Data: mustMsg(t, libipc.KindRequest, opEcho, uint32(i+1), &echoReq{N: i})}) != nil {
				return
			}
		}
	}()
	// qlen replies fit the queue, OutboxLen wait in the outbox, one is in
	// the writer's hands (or not yet), the rest are dropped and counted.
	kept := qlen + libipc.OutboxLen
	require.Eventually(t, func() bool {
		d := sc.Stats().DroppedReplies
		return d == uint64(n-kept) || d == uint64(n-kept-1)
	}, waitTimeout, time.Millisecond, "dropped: %d", sc.Stats().DroppedReplies)

	// The server is not stuck: another client is served meanwhile.
	a, b := newPair(t, 4)
	srv.Accept(b)
	c := libipc.NewConn(a)
	defer c.Close()
	var resp echoResp
	require.NoError(t, c.Call(testCtx(t), opEcho, &echoReq{N: 5}, &resp))
	assert.Equal(t, 5, resp.N)

	// The slow client gets the replies that were kept, in order.
	got := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		m, err := raw.Recv(ctx)
		cancel()
		if err != nil {
			break
		}
		h, err := libipc.DecodeMessage(m.Data, &resp)
		require.NoError(t, err)
		assert.Equal(t, libipc.KindReply, h.Kind)
		got++
	}
	assert.Equal(t, uint64(n), uint64(got)+sc.Stats().DroppedReplies, "every reply is delivered or counted")
}

// capRefuser is an endpoint whose sends with caps fail as the kernel's do
// when a cap may not travel (EBUSY: it would close a cycle of ends).
type capRefuser struct{ libipc.Endpoint }

func (e capRefuser) TrySend(m libipc.Message) error {
	if len(m.Caps) > 0 {
		return fmt.Errorf("a cap refused: %w", libipc.ErrBusy)
	}
	return e.Endpoint.TrySend(m)
}

func (e capRefuser) Send(ctx context.Context, m libipc.Message) error {
	if len(m.Caps) > 0 {
		return fmt.Errorf("a cap refused: %w", libipc.ErrBusy)
	}
	return e.Endpoint.Send(ctx, m)
}

// TestReplyNotSentFailsTheCall: a reply the transport refuses (its cap may
// not travel) reaches the caller as an error reply with the transport's
// code instead of leaving its Call waiting for ever (init's reply to a
// Connect once did that), and the reply's caps are closed.
func TestReplyNotSentFailsTheCall(t *testing.T) {
	a, b := newPair(t, 8)
	client, server := libipc.NewConn(a), libipc.NewConn(capRefuser{b})
	t.Cleanup(func() { client.Close(); server.Close() })
	x, y := newPair(t, 8)
	replied := make(chan error, 1)
	go func() {
		r, err := server.Recv(testCtx(t))
		if err != nil {
			replied <- err
			return
		}
		replied <- r.Reply(&libipc.Empty{}, x)
	}()
	_, err := client.CallCaps(testCtx(t), opEcho, &echoReq{}, nil, nil)
	require.ErrorIs(t, err, libipc.ErrBusy, "the caller learns why")
	assert.Contains(t, err.Error(), "reply not delivered")
	require.ErrorIs(t, <-replied, libipc.ErrBusy)
	_, err = y.Recv(testCtx(t))
	assert.ErrorIs(t, err, libipc.ErrPeerClosed, "the refused cap was closed")
}
