package ipc

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaitSetChannelsLevelTriggered(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	ws, _ := tb.WaitSetCreate()
	a, b := mustChannel(t, tb)
	c, d := mustChannel(t, tb)
	require.Equal(t, OK, tb.WaitSetAdd(ws, b, SigReadable|SigPeerClosed, 1))
	require.Equal(t, OK, tb.WaitSetAdd(ws, d, SigReadable|SigPeerClosed, 2))
	assert.Equal(t, EEXIST, tb.WaitSetAdd(ws, d, SigReadable, 2))

	out := make([]WaitResult, 4)
	_, e := tb.Wait(context.Background(), ws, time.Now(), out)
	assert.Equal(t, ETIMEDOUT, e, "past deadline polls")

	// Blocks until a send; then level-triggered: reported until drained.
	done := make(chan []WaitResult, 1)
	go func() {
		n, e := tb.Wait(context.Background(), ws, time.Time{}, out)
		assert.Equal(t, OK, e)
		done <- append([]WaitResult(nil), out[:n]...)
	}()
	time.Sleep(5 * time.Millisecond)
	require.Equal(t, OK, tb.Send(c, []byte("x"), nil))
	assert.Equal(t, []WaitResult{{Key: 2, Signals: SigReadable}}, <-done)
	for i := 0; i < 2; i++ {
		n, e := tb.Wait(context.Background(), ws, time.Time{}, out)
		require.Equal(t, OK, e)
		assert.Equal(t, []WaitResult{{Key: 2, Signals: SigReadable}}, out[:n])
	}
	_, e = tb.Recv(d, make([]byte, 1), nil)
	require.Equal(t, OK, e)
	_, e = tb.Wait(context.Background(), ws, time.Now().Add(5*time.Millisecond), out)
	assert.Equal(t, ETIMEDOUT, e)

	// Peer closed is a condition too.
	require.Equal(t, OK, tb.Close(a))
	n, e := tb.Wait(context.Background(), ws, time.Time{}, out)
	require.Equal(t, OK, e)
	assert.Equal(t, []WaitResult{{Key: 1, Signals: SigPeerClosed}}, out[:n])

	// Removing; closing the watched object removes its entry.
	require.Equal(t, OK, tb.WaitSetRemove(ws, 1))
	assert.Equal(t, ENOENT, tb.WaitSetRemove(ws, 1))
	require.Equal(t, OK, tb.Close(d))
	_, e = tb.Wait(context.Background(), ws, time.Now(), out)
	assert.Equal(t, ETIMEDOUT, e)
	w, _ := lookup[*WaitSet](tb, ws, TypeWaitSet, 0)
	assert.Equal(t, WaitSetStats{Entries: 0, AutoRemoved: 1}, w.Stats())
	tb.Destroy()
	requireClean(t, k)
}

func TestWaitSetBoundedAndChecked(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	ws, _ := tb.WaitSetCreate()
	ws2, _ := tb.WaitSetCreate()
	assert.Equal(t, EPROTOTYPE, tb.WaitSetAdd(ws, ws2, SigReadable, 1), "wait sets have no signals")
	_, b := mustChannel(t, tb)
	assert.Equal(t, EINVAL, tb.WaitSetAdd(ws, b, 0, 1))
	nowait, _ := tb.Dup(b, RightRead)
	assert.Equal(t, EACCES, tb.WaitSetAdd(ws, nowait, SigReadable, 1))
	for i := 0; i < MaxWaitItems; i++ {
		require.Equal(t, OK, tb.WaitSetAdd(ws, b, SigReadable, uint64(i)))
	}
	assert.Equal(t, ENOSPC, tb.WaitSetAdd(ws, b, SigReadable, 999))
	_, e := tb.Wait(context.Background(), ws, time.Time{}, nil)
	assert.Equal(t, EINVAL, e)
	tb.Destroy()
	requireClean(t, k)
}

func TestWaitSetRoundRobin(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	ws, _ := tb.WaitSetCreate()
	for i := 0; i < 3; i++ {
		a, b := mustChannel(t, tb)
		require.Equal(t, OK, tb.Send(a, []byte("x"), nil))
		require.Equal(t, OK, tb.WaitSetAdd(ws, b, SigReadable, uint64(i)))
	}
	out := make([]WaitResult, 1)
	var keys []uint64
	for i := 0; i < 3; i++ {
		n, e := tb.Wait(context.Background(), ws, time.Time{}, out)
		require.Equal(t, OK, e)
		require.Equal(t, 1, n)
		keys = append(keys, out[0].Key)
	}
	assert.ElementsMatch(t, []uint64{0, 1, 2}, keys, "no entry starves the others")
	tb.Destroy()
	requireClean(t, k)
}

func TestWaitSetInterruptTimerProcess(t *testing.T) {
	k := NewKernel()
	drv := k.NewProcess()
	tb := drv.Table()
	irq := newFakeIRQ()
	i, e := k.NewInterrupt(33, irq)
	require.Equal(t, OK, e)
	_, e = k.NewInterrupt(33, irq)
	assert.Equal(t, EBUSY, e, "one INTID, one object")
	ih, _ := tb.Install(i, DefaultRights(TypeInterrupt))
	th, _ := tb.TimerCreate()
	child := k.NewProcess()
	ph, _ := child.InstallHandle(tb)
	ws, _ := tb.WaitSetCreate()
	require.Equal(t, OK, tb.WaitSetAdd(ws, ih, SigSignaled, 10))
	require.Equal(t, OK, tb.WaitSetAdd(ws, th, SigSignaled, 20))
	require.Equal(t, OK, tb.WaitSetAdd(ws, ph, SigExited, 30))
	out := make([]WaitResult, 4)
	wait := func() []WaitResult {
		n, e := tb.Wait(context.Background(), ws, time.Now().Add(5*time.Second), out)
		require.Equal(t, OK, e)
		return out[:n]
	}

	go func() { time.Sleep(2 * time.Millisecond); i.Signal() }()
	assert.Equal(t, []WaitResult{{10, SigSignaled}}, wait())
	assert.False(t, i.Signal(), "coalesced while pending")
	assert.Equal(t, int64(1), k.Stats().IRQCoalesced)
	require.Equal(t, OK, tb.InterruptAck(ih))
	assert.Equal(t, 1, irq.unmasks)
	assert.Equal(t, InterruptStats{INTID: 33, Fired: 2, Acks: 1}, i.Stats())

	require.Equal(t, OK, tb.TimerSet(th, time.Now().Add(3*time.Millisecond)))
	assert.Equal(t, []WaitResult{{20, SigSignaled}}, wait())
	require.Equal(t, OK, tb.TimerSet(th, time.Time{}))
	require.Equal(t, OK, tb.TimerSet(th, time.Now().Add(time.Hour)))

	go func() { time.Sleep(2 * time.Millisecond); child.Exit(7) }()
	assert.Equal(t, []WaitResult{{30, SigExited}}, wait())
	exited, code, e := tb.ProcessStatus(ph)
	require.Equal(t, OK, e)
	assert.True(t, exited)
	assert.Equal(t, 7, code)

	drv.Exit(0)
	assert.True(t, irq.masked[33], "closing the interrupt masks it")
	drv.Release()
	child.Release()
	requireClean(t, k)
}

func TestInterruptSignalAllocFree(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	i, _ := k.NewInterrupt(40, newFakeIRQ())
	ih, _ := tb.Install(i, DefaultRights(TypeInterrupt))
	ws, _ := tb.WaitSetCreate()
	require.Equal(t, OK, tb.WaitSetAdd(ws, ih, SigSignaled, 1))
	allocs := testing.AllocsPerRun(100, func() {
		i.Signal()
		i.sig.update(0, SigSignaled)
	})
	assert.Zero(t, allocs)
	tb.Destroy()
	requireClean(t, k)
}

func TestWaitSetClosedWakesWaiters(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	ws, _ := tb.WaitSetCreate()
	done := make(chan Errno, 2)
	for j := 0; j < 2; j++ {
		go func() {
			_, e := tb.Wait(context.Background(), ws, time.Time{}, make([]WaitResult, 1))
			done <- e
		}()
	}
	time.Sleep(5 * time.Millisecond)
	require.Equal(t, OK, tb.Close(ws))
	assert.Equal(t, EBADF, <-done)
	assert.Equal(t, EBADF, <-done)
	tb.Destroy()
	requireClean(t, k)
}
