package libipc_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
)

// TestNewConnFunc: a connection made with NewConnFunc hands every incoming
// message to deliver, in order, on one goroutine; requests can be answered
// from there; its own Calls get their replies meanwhile; and once the peer
// is gone, ended is told after the last delivery. Recv is not for it.
func TestNewConnFunc(t *testing.T) {
	a, b := newPair(t, 64)
	got := make(chan int, 16)
	ended := make(chan error, 1)
	var order []int
	fc := libipc.NewConnFunc(a, func(r *libipc.Request) {
		var m echoReq
		require.NoError(t, r.Decode(&m))
		order = append(order, m.N) // one goroutine: no lock needed
		if r.Kind == libipc.KindRequest {
			require.NoError(t, r.Reply(&echoResp{Text: m.Text, N: m.N + 1}))
		}
		r.Recycle()
		got <- m.N
	}, func(err error) {
		assert.Len(t, order, 6, "ended comes after the last delivery")
		ended <- err
	})
	defer fc.Close()
	peer := libipc.NewConn(b)

	// The peer's one-way messages and a request, in order.
	ctx := testCtx(t)
	for i := range 5 {
		require.NoError(t, peer.Send(ctx, opEcho, &echoReq{N: i}))
	}
	var resp echoResp
	require.NoError(t, peer.Call(ctx, opEcho, &echoReq{Text: "q", N: 5}, &resp))
	assert.Equal(t, echoResp{Text: "q", N: 6}, resp)
	for i := range 6 {
		assert.Equal(t, i, <-got)
	}

	// A Call of ours is answered by the peer (replies are routed by the
	// same reader).
	go func() {
		r, err := peer.Recv(context.Background())
		if err == nil {
			r.Reply(&echoResp{Text: "back"})
		}
	}()
	require.NoError(t, fc.Call(ctx, opEcho, &echoReq{}, &resp))
	assert.Equal(t, "back", resp.Text)

	_, err := fc.Recv(ctx)
	assert.ErrorIs(t, err, libipc.ErrInvalid)

	require.NoError(t, peer.Close())
	select {
	case err := <-ended:
		assert.ErrorIs(t, err, libipc.ErrPeerClosed)
	case <-ctx.Done():
		t.Fatal("ended not called")
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, order)
}
