package ipc

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func endpointOf(t *testing.T, tb *Table, h Handle) *Endpoint {
	ep, e := lookup[*Endpoint](tb, h, TypeChannel, 0)
	require.Equal(t, OK, e)
	return ep
}

func TestChannelSendRecvBytesAndCounters(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, b := mustChannel(t, tb)
	require.Equal(t, OK, tb.Send(a, []byte("hello"), nil))
	require.Equal(t, OK, tb.Send(a, []byte("world!"), nil))
	assert.Equal(t, int64(2), k.Stats().QueuedMessages)
	assert.Equal(t, int64(11), k.Stats().QueuedBytes)
	assert.Equal(t, StateQueued, endpointOf(t, tb, b).State())

	buf := make([]byte, 16)
	res, e := tb.Recv(b, buf, nil)
	require.Equal(t, OK, e)
	assert.Equal(t, "hello", string(buf[:res.N]))
	// A buffer too small: EMSGSIZE with the size needed, message kept.
	res, e = tb.Recv(b, buf[:3], nil)
	require.Equal(t, EMSGSIZE, e)
	assert.Equal(t, 6, res.N)
	res, e = tb.Recv(b, buf, nil)
	require.Equal(t, OK, e)
	assert.Equal(t, "world!", string(buf[:res.N]))
	_, e = tb.Recv(b, buf, nil)
	assert.Equal(t, EAGAIN, e)

	sa, sb := endpointOf(t, tb, a).Stats(), endpointOf(t, tb, b).Stats()
	assert.Equal(t, uint64(2), sa.Sent)
	assert.Equal(t, uint64(11), sa.Bytes)
	assert.Equal(t, uint64(2), sb.Received)
	assert.Equal(t, StateIdle, endpointOf(t, tb, b).State())
	tb.Destroy()
	requireClean(t, k)
}

func TestChannelBounds(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, b := mustChannel(t, tb)
	assert.Equal(t, EMSGSIZE, tb.Send(a, make([]byte, MaxMessageBytes+1), nil))
	assert.Equal(t, EMSGSIZE, tb.Send(a, nil, make([]Handle, MaxMessageHandles+1)))
	require.Equal(t, OK, tb.Send(a, make([]byte, MaxMessageBytes), nil), "64 KiB fits")
	for i := 1; i < QueueLen; i++ {
		require.Equal(t, OK, tb.Send(a, []byte{byte(i)}, nil))
	}
	// Full: would block, counted, nothing queued beyond the bound.
	x, _ := mustChannel(t, tb)
	assert.Equal(t, EAGAIN, tb.Send(a, []byte("more"), []Handle{x}))
	assert.Equal(t, uint64(1), endpointOf(t, tb, a).Stats().Full)
	assert.Equal(t, QueueLen, endpointOf(t, tb, b).Stats().Queued)
	_, _, e := tb.Info(x)
	assert.Equal(t, OK, e, "handle stays in the table when send fails")
	assert.Zero(t, endpointOf(t, tb, a).sig.Signals()&SigWritable)
	// Draining one makes room.
	_, e = tb.Recv(b, make([]byte, MaxMessageBytes), nil)
	require.Equal(t, OK, e)
	assert.NotZero(t, endpointOf(t, tb, a).sig.Signals()&SigWritable)
	assert.Equal(t, OK, tb.Send(a, []byte("more"), []Handle{x}))
	tb.Destroy()
	requireClean(t, k)
}

func TestChannelTransferMovesHandles(t *testing.T) {
	k := NewKernel()
	client, server := NewTable(k), NewTable(k)
	ca, sb := k.NewChannel()
	a, _ := client.Install(ca, DefaultRights(TypeChannel))
	b, _ := server.Install(sb, DefaultRights(TypeChannel))

	x, y := mustChannel(t, client)
	xr, e := client.Dup(x, RightRead|RightTransfer)
	require.Equal(t, OK, e)
	// Duplicates and the channel's own ends are refused.
	assert.Equal(t, EINVAL, client.Send(a, nil, []Handle{x, x}))
	assert.Equal(t, EINVAL, client.Send(a, nil, []Handle{a}))
	noXfer, _ := client.Dup(y, RightRead)
	assert.Equal(t, EACCES, client.Send(a, nil, []Handle{noXfer}))

	require.Equal(t, OK, client.Send(a, []byte("take"), []Handle{xr, y}))
	_, _, e = client.Info(xr)
	assert.Equal(t, EBADF, e, "moved out of the sender")
	hbuf := make([]Handle, 1)
	res, e := server.Recv(b, make([]byte, 8), hbuf)
	assert.Equal(t, EMSGSIZE, e, "handle buffer too small")
	assert.Equal(t, 2, res.NHandles)
	hbuf = make([]Handle, 4)
	res, e = server.Recv(b, make([]byte, 8), hbuf)
	require.Equal(t, OK, e)
	require.Equal(t, 2, res.NHandles)
	typ, r, e := server.Info(hbuf[0])
	require.Equal(t, OK, e)
	assert.Equal(t, TypeChannel, typ)
	assert.Equal(t, RightRead|RightTransfer, r, "rights travel with the handle")
	// The moved y works in the server: x (still in client) sends to it.
	require.Equal(t, OK, client.Send(x, []byte("via"), nil))
	buf := make([]byte, 8)
	res, e = server.Recv(hbuf[1], buf, nil)
	require.Equal(t, OK, e)
	assert.Equal(t, "via", string(buf[:res.N]))
	client.Destroy()
	server.Destroy()
	requireClean(t, k)
}

func TestChannelPeerClosed(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, b := mustChannel(t, tb)
	require.Equal(t, OK, tb.Send(a, []byte("last words"), nil))
	require.Equal(t, OK, tb.Close(a))
	// The receiver drains first, then sees ECONNRESET; its sends fail EPIPE.
	assert.Equal(t, EPIPE, tb.Send(b, []byte("x"), nil))
	buf := make([]byte, 32)
	res, e := tb.Recv(b, buf, nil)
	require.Equal(t, OK, e)
	assert.Equal(t, "last words", string(buf[:res.N]))
	_, e = tb.Recv(b, buf, nil)
	assert.Equal(t, ECONNRESET, e)
	assert.Equal(t, StatePeerClosed, endpointOf(t, tb, b).State())
	assert.NotZero(t, endpointOf(t, tb, b).sig.Signals()&SigPeerClosed)
	tb.Destroy()
	requireClean(t, k)
}

func TestChannelUndeliveredHandlesClosedOnTeardown(t *testing.T) {
	k := NewKernel()
	p, q := NewTable(k), NewTable(k)
	pa, qb := k.NewChannel()
	a, _ := p.Install(pa, DefaultRights(TypeChannel))
	b, _ := q.Install(qb, DefaultRights(TypeChannel))
	// p sends one end of another channel to q; q dies before reading it.
	x, y := mustChannel(t, p)
	require.Equal(t, OK, p.Send(a, []byte("here"), []Handle{y}))
	_ = b
	q.Destroy()
	assert.Equal(t, uint64(1), pa.peer.Stats().Dropped)
	assert.Equal(t, int64(1), k.Stats().DroppedMessages)
	// y was closed with the dropped message: x sees peer closed.
	assert.Equal(t, EPIPE, p.Send(x, []byte("?"), nil))
	assert.Equal(t, EPIPE, p.Send(a, []byte("?"), nil))
	p.Destroy()
	requireClean(t, k)
}

func TestChannelHandoffToBlockedReceiver(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, b := mustChannel(t, tb)
	ep := endpointOf(t, tb, b)
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 16)
		res, e := tb.RecvWait(context.Background(), b, buf, nil)
		if e != OK {
			got <- e.Error()
			return
		}
		got <- string(buf[:res.N])
	}()
	require.Eventually(t, func() bool { return ep.State() == StateRecvBlocked }, 5*time.Second, time.Millisecond)
	require.Equal(t, OK, tb.Send(a, []byte("direct"), nil))
	assert.Equal(t, "direct", <-got)
	assert.Equal(t, uint64(1), endpointOf(t, tb, a).Stats().Handoffs, "never queued")
	assert.Equal(t, StateIdle, ep.State())
	tb.Destroy()
	requireClean(t, k)
}

func TestRecvWaitWakesOnPeerCloseAndCancel(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, b := mustChannel(t, tb)
	done := make(chan Errno, 1)
	go func() {
		_, e := tb.RecvWait(context.Background(), b, nil, nil)
		done <- e
	}()
	require.Eventually(t, func() bool { return endpointOf(t, tb, b).State() == StateRecvBlocked }, 5*time.Second, time.Millisecond)
	require.Equal(t, OK, tb.Close(a))
	assert.Equal(t, ECONNRESET, <-done)

	c, d := mustChannel(t, tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, e := tb.RecvWait(ctx, d, nil, nil)
	assert.Equal(t, ETIMEDOUT, e)
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, e = tb.RecvWait(ctx2, d, nil, nil)
	assert.Equal(t, ECANCELED, e)
	assert.Zero(t, tb.reserved, "reservations returned")
	_ = c
	tb.Destroy()
	requireClean(t, k)
}

func TestRecvWaitTooSmallForHandoffReportsEMSGSIZE(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, b := mustChannel(t, tb)
	done := make(chan RecvResult, 1)
	go func() {
		res, e := tb.RecvWait(context.Background(), b, make([]byte, 2), nil)
		assert.Equal(t, EMSGSIZE, e)
		done <- res
	}()
	require.Eventually(t, func() bool { return endpointOf(t, tb, b).State() == StateRecvBlocked }, 5*time.Second, time.Millisecond)
	require.Equal(t, OK, tb.Send(a, []byte("toolong"), nil))
	assert.Equal(t, 7, (<-done).N)
	assert.Equal(t, 1, endpointOf(t, tb, b).Stats().Queued, "kept for a bigger buffer")
	tb.Destroy()
	requireClean(t, k)
}
