package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libproto"
	"armos/libproto/prototest"
	"armos/servers/netd/link"
	"armos/servers/toyd/toy"
)

// start runs a daemon on host h of the pair, its service registered in
// h's broker as init would; the returned function stops it and gives
// protocol 253 back.
func start(t *testing.T, h *prototest.Host) (*daemon, func()) {
	p := h.Register(t, toy.Proto)
	d := newDaemon(p, 50*time.Millisecond)
	h.Broker.Register(toy.Service, d.srv.Accept)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.run(ctx); close(done) }()
	stop := func() {
		cancel()
		<-done
		_ = p.Close(context.Background())
	}
	t.Cleanup(stop)
	return d, stop
}

// askVia asks host h's daemon, as apps/toy does.
func askVia(t *testing.T, h *prototest.Host, q *toy.AskReq) (*toy.AskResp, error) {
	ctx, cancel := context.WithTimeout(context.Background(), prototest.Wait)
	defer cancel()
	ep, err := h.Broker.ConnectWait(ctx, toy.Service)
	require.NoError(t, err)
	c := libipc.NewConn(ep)
	defer c.Close()
	var resp toy.AskResp
	return &resp, c.Call(ctx, toy.OpAsk, q, &resp)
}

// TestAnswers: toyd on B answers what a bare protocol client on A sends,
// and drops what does not parse.
func TestAnswers(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	d, stop := start(t, p.B)
	cli := p.A.Register(t, toy.Proto)
	ctx := context.Background()

	req, err := toy.Message{Op: toy.OpEcho, ID: 5, Payload: []byte("hello")}.Append(nil)
	require.NoError(t, err)
	require.NoError(t, cli.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, Payload: []byte("junk junk")}))
	require.NoError(t, cli.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, Payload: req}))
	m, err := toy.Parse(prototest.Recv(t, cli).Payload)
	require.NoError(t, err)
	assert.Equal(t, toy.Message{Op: toy.OpEcho | toy.Reply, ID: 5, Payload: []byte("hello")}, m)

	stop()
	assert.Equal(t, toy.Stats{Echo: 1, Malformed: 1}, d.toy.Stats())
}

// TestAsks: an application on A asks A's toyd, which asks B's (and
// itself); an ask to a host without toyd fails with the ICMP protocol
// unreachable it gets; one whose requests are lost times out after
// AskTries.
func TestAsks(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	a, stopA := start(t, p.A)
	_, stopB := start(t, p.B)

	r, err := askVia(t, p.A, &toy.AskReq{To: p.B.Addr.String(), Op: toy.OpEcho, Payload: []byte("hi B")})
	require.NoError(t, err)
	assert.Equal(t, "hi B", string(r.Payload))
	assert.Equal(t, 1, r.Tries)
	r, err = askVia(t, p.A, &toy.AskReq{To: p.A.Addr.String(), Op: toy.OpTime})
	require.NoError(t, err)
	_, err = time.Parse(time.RFC3339, string(r.Payload))
	require.NoError(t, err, "the time, from A itself: %q", r.Payload)

	_, err = askVia(t, p.A, &toy.AskReq{To: "nowhere", Op: toy.OpTime})
	require.ErrorIs(t, err, libipc.ErrInvalid)

	stopB()
	_, err = askVia(t, p.A, &toy.AskReq{To: p.B.Addr.String(), Op: toy.OpTime})
	require.ErrorIs(t, err, libipc.ErrConnRefused)
	var re *libipc.RemoteError
	require.True(t, errors.As(err, &re))
	assert.Equal(t, "10.99.0.2: protocol 253 unreachable", re.Msg)

	p.LinkA.SetFaults(link.Faults{DropPct: 100})
	_, err = askVia(t, p.A, &toy.AskReq{To: p.B.Addr.String(), Op: toy.OpTime})
	require.ErrorIs(t, err, libipc.ErrTimeout)

	stopA()
	assert.Equal(t, stats{Asks: 4, Answered: 2, Failed: 1, TimedOut: 1, Resent: AskTries - 1}, a.stats)
	assert.Equal(t, toy.Stats{Time: 1}, a.toy.Stats(), "A answered its own time request")
	assert.Contains(t, a.report(), "asks 4: 2 answered, 1 failed, 1 timed out")
}
