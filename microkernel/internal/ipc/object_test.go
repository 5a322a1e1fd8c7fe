package ipc

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSharedMemoryAccounting(t *testing.T) {
	k := NewKernel()
	a, b := NewTable(k), NewTable(k)
	var freed []uint64
	_, e := k.NewSharedMemory(nil, func([]uint64) {})
	assert.Equal(t, EINVAL, e)
	_, e = k.NewSharedMemory(make([]uint64, MaxSharedPages+1), func([]uint64) {})
	assert.Equal(t, EINVAL, e)
	s, e := k.NewSharedMemory([]uint64{0x40100, 0x40101}, func(p []uint64) { freed = append(freed, p...) })
	require.Equal(t, OK, e)
	assert.Equal(t, int64(2), k.Stats().SharedPages)
	ha, _ := a.Install(s, DefaultRights(TypeSharedMem))
	hb, e := a.Dup(ha, RightMap|RightRead|RightTransfer)
	require.Equal(t, OK, e)
	// Hand the duplicate to b, map in both.
	ca, cb := k.NewChannel()
	x, _ := a.Install(ca, DefaultRights(TypeChannel))
	y, _ := b.Install(cb, DefaultRights(TypeChannel))
	_, e = a.SharedMemMap(hb)
	assert.Equal(t, OK, e)
	noMap, _ := a.Dup(ha, RightRead)
	_, e = a.SharedMemMap(noMap)
	assert.Equal(t, EACCES, e)
	require.Equal(t, OK, a.Close(noMap))
	require.Equal(t, OK, a.Send(x, nil, []Handle{hb}))
	hs := make([]Handle, 1)
	_, e = b.Recv(y, nil, hs)
	require.Equal(t, OK, e)
	sb, e := b.SharedMemMap(hs[0])
	require.Equal(t, OK, e)
	assert.Equal(t, []uint64{0x40100, 0x40101}, sb.Pages())
	assert.Equal(t, 2, s.Mappings())

	// Handles gone, mappings remain: pages stay.
	a.Destroy()
	b.Destroy()
	assert.Empty(t, freed)
	require.Equal(t, OK, s.Unmap())
	assert.Empty(t, freed)
	require.Equal(t, OK, s.Unmap())
	assert.Equal(t, []uint64{0x40100, 0x40101}, freed, "freed once, with the last mapping")
	assert.Equal(t, EINVAL, s.Unmap())
	requireClean(t, k)
}

func TestProcessTeardownWakesPeersAndFreesAll(t *testing.T) {
	k := NewKernel()
	netd, app := k.NewProcess(), k.NewProcess()
	// app has a channel to netd, a call pending, a blocked receive, a
	// wait set, a timer and a queued message holding a handle.
	ca, cb := k.NewChannel()
	ac, _ := app.Table().Install(ca, DefaultRights(TypeChannel))
	nc, _ := netd.Table().Install(cb, DefaultRights(TypeChannel))
	ws, _ := netd.Table().WaitSetCreate()
	require.Equal(t, OK, netd.Table().WaitSetAdd(ws, nc, SigPeerClosed, 1))
	_, _ = app.Table().TimerCreate()
	x, _ := mustChannel(t, app.Table())
	require.Equal(t, OK, app.Table().Send(ac, []byte("sock"), []Handle{x}))
	res, e := netd.Table().Recv(nc, make([]byte, 8), make([]Handle, 1))
	require.Equal(t, OK, e)
	require.Equal(t, 1, res.NHandles)
	// netd now holds x. app calls netd, which keeps the reply capability
	// (deferred).
	ctx, cancel := context.WithCancel(context.Background())
	callErr := make(chan Errno, 1)
	go func() {
		_, e := app.Table().Call(ctx, ac, []byte("q"), nil, nil, nil)
		callErr <- e
	}()
	res, e = netd.Table().RecvWait(context.Background(), nc, make([]byte, 8), nil)
	require.Equal(t, OK, e)
	require.NotEqual(t, InvalidHandle, res.Reply)

	// app dies: the kernel cancels its threads, then tears it down.
	cancel()
	assert.Equal(t, ECANCELED, <-callErr)
	app.Exit(9)
	out := make([]WaitResult, 1)
	n, e := netd.Table().Wait(context.Background(), ws, time.Now().Add(5*time.Second), out)
	require.Equal(t, OK, e)
	assert.Equal(t, []WaitResult{{1, SigPeerClosed}}, out[:n])
	assert.Equal(t, EPIPE, netd.Table().Send(nc, []byte("x"), nil))
	assert.Zero(t, k.Stats().Live[TypeTimer])
	finish(t, k, netd, app)
}

func TestCollectFreesCyclesInFlight(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, b := mustChannel(t, tb)
	c, d := mustChannel(t, tb)
	// d travels to b's queue and b to d's queue; then every handle closes.
	require.Equal(t, OK, tb.Send(a, []byte("d"), []Handle{d}))
	require.Equal(t, OK, tb.Send(c, []byte("b"), []Handle{b}))
	require.Equal(t, OK, tb.Close(a))
	require.Equal(t, OK, tb.Close(c))
	tb.Destroy()
	s := k.Stats()
	assert.Equal(t, int64(2), s.Live[TypeChannel], "the cycle keeps b and d")
	assert.Equal(t, 2, k.Collect())
	assert.Equal(t, int64(2), k.Stats().Collected)
	requireClean(t, k)
}

func TestCollectKeepsReachable(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, b := mustChannel(t, tb)
	x, y := mustChannel(t, tb)
	require.Equal(t, OK, tb.Send(a, []byte("y"), []Handle{y}))
	require.Equal(t, OK, tb.Send(x, []byte("for y"), nil))
	assert.Zero(t, k.Collect(), "y is reachable through b")
	hs := make([]Handle, 1)
	_, e := tb.Recv(b, nil, hs)
	require.Equal(t, EMSGSIZE, e)
	_, e = tb.Recv(b, make([]byte, 1), hs)
	require.Equal(t, OK, e)
	buf := make([]byte, 8)
	res, e := tb.Recv(hs[0], buf, nil)
	require.Equal(t, OK, e)
	assert.Equal(t, "for y", string(buf[:res.N]))
	tb.Destroy()
	requireClean(t, k)
}
