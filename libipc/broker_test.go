package libipc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
)

func TestBrokerUnknownService(t *testing.T) {
	b := libipc.NewBroker()
	_, err := b.Connect(testCtx(t), "nope")
	assert.ErrorIs(t, err, libipc.ErrNotFound)
	assert.Contains(t, err.Error(), "nope")
}

func TestBrokerConnectAndRestart(t *testing.T) {
	ts := newTestServer(t)
	var _ libipc.Dialer = ts.broker
	c := ts.dial(t)
	require.NoError(t, c.Call(testCtx(t), opEcho, &echoReq{}, nil))

	// The service dies: clients see peer closed, connects fail.
	ts.cancel()
	<-ts.served
	<-c.Done()
	assert.ErrorIs(t, c.Err(), libipc.ErrPeerClosed)
	ts.broker.Unregister("test")
	_, err := ts.broker.Connect(testCtx(t), "test")
	assert.ErrorIs(t, err, libipc.ErrNotFound)

	// A client waiting to reconnect gets through once the new instance registers.
	reconnected := make(chan libipc.Endpoint, 1)
	go func() {
		ep, err := ts.broker.ConnectWait(testCtx(t), "test")
		if err == nil {
			reconnected <- ep
		}
	}()
	mux := libipc.NewMux()
	libipc.Handle(mux, opEcho, func(r *libipc.Request, req *echoReq) (*echoResp, error) {
		return &echoResp{Text: "second instance"}, nil
	})
	srv2 := libipc.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv2.Serve(ctx)
	ts.broker.Register("test", srv2.Accept)

	var ep libipc.Endpoint
	select {
	case ep = <-reconnected:
	case <-time.After(waitTimeout):
		t.Fatal("ConnectWait did not see the re-registration")
	}
	c2 := libipc.NewConn(ep)
	defer c2.Close()
	var resp echoResp
	require.NoError(t, c2.Call(testCtx(t), opEcho, &echoReq{}, &resp))
	assert.Equal(t, "second instance", resp.Text)
	assert.Equal(t, uint64(1), srv2.Stats().Accepted)
}

func TestBrokerConnectWaitHonoursContext(t *testing.T) {
	b := libipc.NewBroker()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := b.ConnectWait(ctx, "never")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestAcceptOnStoppedServerClosesEndpoint(t *testing.T) {
	srv := libipc.NewServer(libipc.NewMux())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, srv.Serve(ctx), context.Canceled)
	a, b := libipc.NewPair(1)
	srv.Accept(b)
	_, err := a.Recv(testCtx(t))
	assert.ErrorIs(t, err, libipc.ErrPeerClosed)
	assert.False(t, srv.Post(func() {}))
}

func TestServeNamed(t *testing.T) {
	b := libipc.NewBroker()
	var _ libipc.Registrar = b
	mux := libipc.NewMux()
	libipc.Handle(mux, opEcho, func(r *libipc.Request, req *echoReq) (*echoResp, error) {
		return &echoResp{Text: "named " + req.Text}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- libipc.ServeNamed(ctx, b, "echo", mux) }()
	ep, err := b.ConnectWait(testCtx(t), "echo")
	require.NoError(t, err)
	c := libipc.NewConn(ep)
	defer c.Close()
	var resp echoResp
	require.NoError(t, c.Call(testCtx(t), opEcho, &echoReq{Text: "x"}, &resp))
	assert.Equal(t, "named x", resp.Text)
	cancel()
	assert.ErrorIs(t, <-served, context.Canceled)
	<-c.Done()
	assert.ErrorIs(t, c.Err(), libipc.ErrPeerClosed)
}
