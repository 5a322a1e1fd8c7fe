package ipc

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pair makes a client and a server process joined by a channel.
func pair(t *testing.T, k *Kernel) (client, server *Process, c, s Handle) {
	client, server = k.NewProcess(), k.NewProcess()
	ce, se := k.NewChannel()
	c, e := client.Table().Install(ce, DefaultRights(TypeChannel))
	require.Equal(t, OK, e)
	s, e = server.Table().Install(se, DefaultRights(TypeChannel))
	require.Equal(t, OK, e)
	return
}

func finish(t *testing.T, k *Kernel, ps ...*Process) {
	for _, p := range ps {
		p.Exit(0)
		p.Release()
	}
	requireClean(t, k)
}

func TestCallRoundTripWithHandles(t *testing.T) {
	k := NewKernel()
	cl, sv, c, s := pair(t, k)
	go func() {
		buf := make([]byte, 64)
		res, e := sv.Table().RecvWait(context.Background(), s, buf, nil)
		if !assert.Equal(t, OK, e) {
			return
		}
		x, _, _ := sv.Table().ChannelCreate()
		out := append([]byte("re:"), buf[:res.N]...)
		assert.Equal(t, OK, sv.Table().Reply(res.Reply, out, []Handle{x}))
		_, _, e = sv.Table().Info(res.Reply)
		assert.Equal(t, EBADF, e, "reply capability is one-shot")
	}()
	rbuf, rh := make([]byte, 64), make([]Handle, 2)
	res, e := cl.Table().Call(context.Background(), c, []byte("ping"), nil, rbuf, rh)
	require.Equal(t, OK, e)
	assert.Equal(t, "re:ping", string(rbuf[:res.N]))
	require.Equal(t, 1, res.NHandles)
	typ, _, e := cl.Table().Info(rh[0])
	require.Equal(t, OK, e)
	assert.Equal(t, TypeChannel, typ)
	finish(t, k, cl, sv)
}

func TestCallDeferredReply(t *testing.T) {
	k := NewKernel()
	cl, sv, c, s := pair(t, k)
	type result struct {
		s string
		e Errno
	}
	got := make(chan result, 2)
	for i := 0; i < 2; i++ {
		go func() {
			rbuf := make([]byte, 16)
			res, e := cl.Table().Call(context.Background(), c, []byte("req"), nil, rbuf, nil)
			got <- result{string(rbuf[:res.N]), e}
		}()
	}
	// The server takes both requests, keeps the reply handles, answers later
	// in reverse order.
	var replies []Handle
	for len(replies) < 2 {
		res, e := sv.Table().RecvWait(context.Background(), s, make([]byte, 16), nil)
		require.Equal(t, OK, e)
		require.NotEqual(t, InvalidHandle, res.Reply)
		replies = append(replies, res.Reply)
	}
	select {
	case r := <-got:
		t.Fatalf("call returned before the reply: %v", r)
	case <-time.After(20 * time.Millisecond):
	}
	require.Equal(t, OK, sv.Table().Reply(replies[1], []byte("second"), nil))
	require.Equal(t, OK, sv.Table().Reply(replies[0], []byte("first"), nil))
	a, b := <-got, <-got
	assert.Equal(t, OK, a.e)
	assert.Equal(t, OK, b.e)
	assert.ElementsMatch(t, []string{"first", "second"}, []string{a.s, b.s})
	finish(t, k, cl, sv)
}

func TestCallFailsWhenServerDropsOrDies(t *testing.T) {
	k := NewKernel()
	cl, sv, c, s := pair(t, k)
	errs := make(chan Errno, 1)
	call := func() {
		_, e := cl.Table().Call(context.Background(), c, []byte("q"), nil, nil, nil)
		errs <- e
	}
	// Reply handle closed without an answer.
	go call()
	res, e := sv.Table().RecvWait(context.Background(), s, make([]byte, 4), nil)
	require.Equal(t, OK, e)
	require.Equal(t, OK, sv.Table().Close(res.Reply))
	assert.Equal(t, EPIPE, <-errs)
	// Request still queued when the server dies; then later calls fail fast.
	go call()
	require.Eventually(t, func() bool { return k.Stats().QueuedMessages == 1 }, 5*time.Second, time.Millisecond)
	sv.Exit(1)
	assert.Equal(t, EPIPE, <-errs)
	_, e = cl.Table().Call(context.Background(), c, []byte("q"), nil, nil, nil)
	assert.Equal(t, EPIPE, e)
	finish(t, k, cl, sv)
}

func TestReplyAfterCallerGaveUp(t *testing.T) {
	k := NewKernel()
	cl, sv, c, s := pair(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan Errno, 1)
	go func() {
		_, e := cl.Table().Call(ctx, c, []byte("q"), nil, make([]byte, 8), make([]Handle, 1))
		done <- e
	}()
	res, e := sv.Table().RecvWait(context.Background(), s, make([]byte, 4), nil)
	require.Equal(t, OK, e)
	assert.Equal(t, ETIMEDOUT, <-done)
	x, _, _ := sv.Table().ChannelCreate()
	assert.Equal(t, EPIPE, sv.Table().Reply(res.Reply, []byte("late"), []Handle{x}))
	_, _, e = sv.Table().Info(x)
	assert.Equal(t, OK, e, "handles stay with the server")
	assert.Equal(t, int64(1), k.Stats().DroppedReplies)
	assert.Zero(t, cl.Table().reserved)
	finish(t, k, cl, sv)
}

func TestReplyTooLargeForCaller(t *testing.T) {
	k := NewKernel()
	cl, sv, c, s := pair(t, k)
	done := make(chan string, 1)
	go func() {
		rbuf := make([]byte, 4)
		res, e := cl.Table().Call(context.Background(), c, nil, nil, rbuf, nil)
		assert.Equal(t, OK, e)
		done <- string(rbuf[:res.N])
	}()
	res, e := sv.Table().RecvWait(context.Background(), s, nil, nil)
	require.Equal(t, OK, e)
	assert.Equal(t, EMSGSIZE, sv.Table().Reply(res.Reply, []byte("too long"), nil))
	x, _, _ := sv.Table().ChannelCreate()
	assert.Equal(t, EMSGSIZE, sv.Table().Reply(res.Reply, nil, []Handle{x}), "caller takes no handles")
	assert.Equal(t, OK, sv.Table().Reply(res.Reply, []byte("err"), nil))
	assert.Equal(t, "err", <-done)
	finish(t, k, cl, sv)
}

func TestReplyCapabilityIsNotDuplicable(t *testing.T) {
	k := NewKernel()
	cl, sv, c, s := pair(t, k)
	go cl.Table().Call(context.Background(), c, nil, nil, nil, nil)
	res, e := sv.Table().RecvWait(context.Background(), s, nil, nil)
	require.Equal(t, OK, e)
	_, e = sv.Table().Dup(res.Reply, RightWrite)
	assert.Equal(t, EACCES, e)
	require.Equal(t, OK, sv.Table().Reply(res.Reply, nil, nil))
	finish(t, k, cl, sv)
}
