package ipc

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzOps drives random operation sequences over two processes — create,
// send (with handles), receive, call with an already-expired context,
// reply, close, dup with random rights, wait-set add/poll, process
// teardown and Collect — and checks the invariants after every step
// (queues within QueueLen, tables within MaxHandles, no panic) and at the
// end that tearing everything down leaks nothing.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 0, 2, 1, 1})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 1, 2, 1, 1, 3, 0, 5, 0, 2, 1})
	f.Add([]byte{0, 0, 0, 1, 1, 0, 0x12, 1, 2, 3, 2, 1, 10, 0})
	f.Add([]byte{0, 0, 8, 0, 0, 2, 9, 1, 3, 5, 7, 0})
	f.Add([]byte{6, 0, 0, 0, 7, 0, 1, 1, 7, 0, 3, 1, 7, 0})
	f.Add([]byte{0, 0, 1, 0, 0x21, 1, 0, 1, 0x31, 3, 0, 3, 2, 5, 0, 5, 1, 10, 0})
	f.Fuzz(runOps)
}

func runOps(t *testing.T, ops []byte) {
	{
		if len(ops) > 512 {
			ops = ops[:512]
		}
		k := NewKernel()
		procs := [2]*Process{k.NewProcess(), k.NewProcess()}
		handles := [2][]Handle{}
		expired, cancel := context.WithCancel(context.Background())
		cancel()
		next := func(i *int) byte {
			if *i >= len(ops) {
				return 0
			}
			b := ops[*i]
			*i++
			return b
		}
		pick := func(p int, b byte) Handle {
			if len(handles[p]) == 0 {
				return Handle(b)
			}
			return handles[p][int(b)%len(handles[p])]
		}
		buf := make([]byte, 256)
		hbuf := make([]Handle, MaxMessageHandles)
		for i := 0; i < len(ops); {
			op := next(&i)
			p := int(op>>4) & 1
			tb := procs[p].Table()
			switch op & 15 {
			case 0:
				if a, b, e := tb.ChannelCreate(); e == OK {
					handles[p] = append(handles[p], a)
					handles[1-p] = append(handles[1-p], 0) // placeholder keeps indices moving
					// Give b to the other process directly to make cross-process traffic.
					ep, _ := lookup[*Endpoint](tb, b, TypeChannel, 0)
					acquire(ep)
					if h, e := procs[1-p].Table().Install(ep, DefaultRights(TypeChannel)); e == OK {
						handles[1-p][len(handles[1-p])-1] = h
					}
					tb.Close(b)
				}
			case 1:
				h := pick(p, next(&i))
				n := int(next(&i))
				nh := int(next(&i)) % 3
				var hs []Handle
				for j := 0; j < nh; j++ {
					hs = append(hs, pick(p, next(&i)))
				}
				tb.Send(h, buf[:n], hs)
			case 2:
				res, e := tb.Recv(pick(p, next(&i)), buf, hbuf)
				if e == OK {
					handles[p] = append(handles[p], hbuf[:res.NHandles]...)
					if res.Reply != InvalidHandle {
						handles[p] = append(handles[p], res.Reply)
					}
				}
			case 3:
				tb.Close(pick(p, next(&i)))
			case 4:
				if h, e := tb.Dup(pick(p, next(&i)), Rights(next(&i))&RightsAll); e == OK {
					handles[p] = append(handles[p], h)
				}
			case 5:
				procs[p].Exit(int(next(&i)))
				procs[p].Release()
				procs[p] = k.NewProcess()
				handles[p] = nil
			case 6:
				if h, e := tb.WaitSetCreate(); e == OK {
					handles[p] = append(handles[p], h)
				}
			case 7:
				tb.WaitSetAdd(pick(p, next(&i)), pick(p, next(&i)), Signals(next(&i))|SigReadable, uint64(next(&i)))
				out := make([]WaitResult, 2)
				tb.Wait(context.Background(), pick(p, next(&i)), time.Now(), out)
			case 8:
				tb.Call(expired, pick(p, next(&i)), buf[:next(&i)], nil, buf, hbuf[:1])
			case 9:
				tb.Reply(pick(p, next(&i)), buf[:next(&i)%8], nil)
			case 10:
				k.Collect()
			case 11:
				if h, e := tb.TimerCreate(); e == OK {
					handles[p] = append(handles[p], h)
					tb.TimerSet(h, time.Now().Add(-time.Second))
				}
			}
			for _, pr := range procs {
				require.LessOrEqual(t, pr.Table().Len(), MaxHandles)
			}
			k.regMu.Lock()
			for ep := range k.endpoints {
				ep.ch.mu.Lock()
				n := ep.q.n
				ep.ch.mu.Unlock()
				require.LessOrEqual(t, n, QueueLen)
			}
			k.regMu.Unlock()
			s := k.Stats()
			require.GreaterOrEqual(t, s.QueuedMessages, int64(0))
			require.LessOrEqual(t, s.QueuedBytes, s.QueuedMessages*MaxMessageBytes)
		}
		for _, pr := range procs {
			pr.Exit(0)
			pr.Release()
		}
		requireClean(t, k)
	}
}
