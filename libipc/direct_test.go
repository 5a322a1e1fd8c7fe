package libipc_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
)

// TestDirectDispatch: a direct server runs posted events on the posting
// goroutine when it is idle, yet keeps the server's guarantees: handlers
// run one at a time, each connection's messages in order, calls are
// answered, a Post from a handler runs after that handler, and after
// Serve ends nothing runs.
func TestDirectDispatch(t *testing.T) {
	const conns, perConn = 6, 400
	mux := libipc.NewMux()
	var inHandler, overlaps atomic.Int32
	var mu sync.Mutex
	next := map[int]int{} // connection -> next sequence number expected
	disorder := 0
	var srv *libipc.Server
	var postedAfter atomic.Int32 // Posts from a handler that ran after it
	libipc.HandleOneway(mux, opNotify, func(r *libipc.Request, m *echoReq) {
		if inHandler.Add(1) != 1 {
			overlaps.Add(1)
		}
		mu.Lock()
		if next[m.N/perConn] != m.N%perConn {
			disorder++
		}
		next[m.N/perConn] = m.N%perConn + 1
		mu.Unlock()
		if m.N%perConn == perConn-1 {
			done := false
			srv.Post(func() {
				if done {
					postedAfter.Add(1)
				}
			})
			done = true
		}
		inHandler.Add(-1)
	})
	libipc.Handle(mux, opEcho, func(r *libipc.Request, req *echoReq) (*echoResp, error) {
		if inHandler.Add(1) != 1 {
			overlaps.Add(1)
		}
		defer inHandler.Add(-1)
		return &echoResp{Text: req.Text, N: req.N + 1}, nil
	})
	srv = libipc.NewServer(mux)
	srv.SetDirect(true)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	var wg sync.WaitGroup
	for i := range conns {
		cli, end := libipc.NewPair(libipc.DefaultQueueLen)
		srv.Accept(end)
		c := libipc.NewConn(cli)
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perConn {
				assert.NoError(t, c.Send(context.Background(), opNotify, &echoReq{N: i*perConn + k}))
				if k%50 == 0 {
					var resp echoResp
					assert.NoError(t, c.Call(context.Background(), opEcho, &echoReq{Text: "x", N: k}, &resp))
					assert.Equal(t, k+1, resp.N)
				}
			}
		}()
	}
	wg.Wait()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range conns {
			if next[i] != perConn {
				return false
			}
		}
		return postedAfter.Load() == conns
	}, waitTimeout, time.Millisecond, "every message handled, every Post run")
	assert.Zero(t, overlaps.Load(), "handlers overlapped")
	assert.Zero(t, disorder, "a connection's messages out of order")
	st := srv.Stats()
	assert.NotZero(t, st.Direct, "some events ran on their posting goroutine")
	t.Logf("%+v", st)

	cancel()
	require.ErrorIs(t, <-served, context.Canceled)
	ran := false
	assert.False(t, srv.Post(func() { ran = true }))
	assert.ErrorIs(t, srv.TryPost(func() { ran = true }), libipc.ErrClosed)
	assert.False(t, ran, "nothing runs once Serve has ended")
}
