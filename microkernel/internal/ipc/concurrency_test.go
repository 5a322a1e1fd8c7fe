package ipc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConcurrentClientsServerDies: several client goroutines call a server
// that answers some requests at once and defers others; another pumps
// one-way messages carrying handles; then the server process dies
// mid-stream. Every caller returns (answered or EPIPE), nothing leaks.
func TestConcurrentClientsServerDies(t *testing.T) {
	k := NewKernel()
	cl, sv := k.NewProcess(), k.NewProcess()
	ce, se := k.NewChannel()
	c, _ := cl.Table().Install(ce, DefaultRights(TypeChannel))
	s, _ := sv.Table().Install(se, DefaultRights(TypeChannel))

	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		buf, hbuf := make([]byte, 64), make([]Handle, MaxMessageHandles)
		var kept []Handle
		for i := 0; ; i++ {
			res, e := sv.Table().RecvWait(context.Background(), s, buf, hbuf)
			if e != OK {
				return // EBADF once the process is torn down
			}
			for _, h := range hbuf[:res.NHandles] {
				sv.Table().Close(h)
			}
			if res.Reply == InvalidHandle {
				continue
			}
			if i%3 == 0 {
				kept = append(kept, res.Reply) // deferred, answered later or never
				if len(kept) > 4 {
					sv.Table().Reply(kept[0], []byte("late"), nil)
					kept = kept[1:]
				}
				continue
			}
			sv.Table().Reply(res.Reply, buf[:res.N], nil)
		}
	}()

	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[Errno]int{}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rbuf := make([]byte, 64)
			for i := 0; i < 200; i++ {
				_, e := cl.Table().Call(context.Background(), c, []byte("hello"), nil, rbuf, nil)
				mu.Lock()
				outcomes[e]++
				mu.Unlock()
				if e == EPIPE && i > 0 {
					// the server is gone for good once Send also fails
					if cl.Table().Send(c, nil, nil) == EPIPE {
						return
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 500; i++ {
			x, _, e := cl.Table().ChannelCreate()
			if e != OK {
				continue
			}
			switch cl.Table().Send(c, []byte("one-way"), []Handle{x}) {
			case OK:
			case EPIPE:
				cl.Table().Close(x)
				return
			default:
				cl.Table().Close(x)
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	sv.Exit(1)
	wg.Wait()
	<-srvDone
	mu.Lock()
	for e := range outcomes {
		assert.Contains(t, []Errno{OK, EPIPE, EAGAIN}, e)
	}
	mu.Unlock()
	require.Equal(t, EPIPE, cl.Table().Send(c, nil, nil))
	finish(t, k, cl, sv)
}

func TestHandoffCarriesHandlesIntoReservedSlots(t *testing.T) {
	k := NewKernel()
	a, b := NewTable(k), NewTable(k)
	ae, be := k.NewChannel()
	ha, _ := a.Install(ae, DefaultRights(TypeChannel))
	hb, _ := b.Install(be, DefaultRights(TypeChannel))
	// Fill b's table to leave exactly 2 free slots.
	for b.Len() < MaxHandles-2 {
		_, e := b.Dup(hb, RightRead)
		require.Equal(t, OK, e)
	}
	got := make(chan RecvResult, 1)
	hbuf := make([]Handle, 4)
	go func() {
		res, e := b.RecvWait(context.Background(), hb, nil, hbuf)
		assert.Equal(t, OK, e)
		got <- res
	}()
	require.Eventually(t, func() bool { return be.State() == StateRecvBlocked }, 5*time.Second, time.Millisecond)
	// While b waits, its free slots are reserved: a Dup in b must fail.
	_, e := b.Dup(hb, RightRead)
	assert.Equal(t, EMFILE, e)
	x, y, _ := a.ChannelCreate()
	require.Equal(t, OK, a.Send(ha, nil, []Handle{x, y}))
	res := <-got
	assert.Equal(t, 2, res.NHandles)
	assert.Equal(t, uint64(1), ae.Stats().Handoffs)
	assert.Equal(t, MaxHandles, b.Len())
	a.Destroy()
	b.Destroy()
	requireClean(t, k)
}

func TestWaitSetWritableAfterBackPressure(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, b := mustChannel(t, tb)
	ws, _ := tb.WaitSetCreate()
	require.Equal(t, OK, tb.WaitSetAdd(ws, a, SigWritable, 7))
	for tb.Send(a, []byte("x"), nil) == OK {
	}
	out := make([]WaitResult, 1)
	_, e := tb.Wait(context.Background(), ws, time.Now(), out)
	require.Equal(t, ETIMEDOUT, e, "full: not writable")
	go func() {
		time.Sleep(2 * time.Millisecond)
		tb.Recv(b, make([]byte, 1), nil)
	}()
	n, e := tb.Wait(context.Background(), ws, time.Now().Add(5*time.Second), out)
	require.Equal(t, OK, e)
	assert.Equal(t, []WaitResult{{7, SigWritable}}, out[:n])
	tb.Destroy()
	requireClean(t, k)
}
