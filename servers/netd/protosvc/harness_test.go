package protosvc_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libproto/protoproto"
	"armos/libsocket/sockproto"
	"armos/servers/netd/protosvc"
	"armos/servers/netd/sockets"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
)

var ourNet = netip.MustParsePrefix("10.0.2.15/24")

// host is one netd without a link peer: a stack on a recording link, its
// event loop (the socket service's) and the protocol service, in a broker.
type host struct {
	t      testing.TB
	st     *stack.Stack
	svc    *sockets.Service
	proto  *protosvc.Service
	broker *libipc.Broker
	link   *stacktest.Link // read it on the event loop (do)
}

func newHost(t testing.TB) *host {
	l := &stacktest.Link{Discard: true}
	st, err := stack.New(stack.Config{MAC: stack.MAC{2, 0, 0, 0, 0, 1}, Addr: ourNet, Dev: 1}, l, nil)
	require.NoError(t, err)
	h := &host{t: t, st: st, svc: sockets.New(st, nil), broker: libipc.NewBroker(), link: l}
	h.proto = protosvc.New(st, h.svc.Post)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = h.svc.Run(ctx); done <- struct{}{} }()
	go func() { _ = h.proto.Server().Serve(ctx); done <- struct{}{} }()
	h.broker.Register(protoproto.ServiceName, h.proto.Accept)
	t.Cleanup(func() { cancel(); <-done; <-done })
	return h
}

// do runs fn on the event loop and waits.
func (h *host) do(fn func()) {
	done := make(chan struct{})
	require.True(h.t, h.svc.Post(func() { fn(); close(done) }))
	<-done
}

// raw connects a bare endpoint (nothing reads it unless the test does).
func (h *host) raw() libipc.Endpoint {
	ep, err := h.broker.Connect(context.Background(), protoproto.ServiceName)
	require.NoError(h.t, err)
	h.t.Cleanup(func() { ep.Close() })
	return ep
}

// conn connects a libipc client connection.
func (h *host) conn() *libipc.Conn {
	c := libipc.NewConn(h.raw())
	h.t.Cleanup(func() { c.Close() })
	return c
}

func call(t testing.TB, c *libipc.Conn, op protoproto.Op, req, resp any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.Call(ctx, libipc.Op(op), req, resp)
	var re *libipc.RemoteError
	if errors.As(err, &re) {
		return sockproto.ErrnoOf(re.Code)
	}
	return err
}

// encode builds one message.
func encode(tb testing.TB, kind libipc.Kind, op protoproto.Op, id uint32, body any) []byte {
	b, err := libipc.AppendMessage(nil, libipc.Header{Version: libipc.Version, Kind: kind, Op: libipc.Op(op), ID: id}, body)
	require.NoError(tb, err)
	return b
}

// recvReply reads messages from ep until the reply to id, skipping
// deliveries; it returns the reply's header and body.
func recvReply(t testing.TB, ep libipc.Endpoint, id uint32) (libipc.Header, []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		m, err := ep.Recv(ctx)
		require.NoError(t, err)
		h, body, err := libipc.ParseHeader(m.Data)
		require.NoError(t, err)
		if h.ID == id && (h.Kind == libipc.KindReply || h.Kind == libipc.KindError) {
			return h, body
		}
	}
}
