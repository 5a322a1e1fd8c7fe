package ipc

import (
	"context"
	"testing"
)

// BenchmarkChannelSendRecv: one Send and one Recv of a 64-byte message on
// one goroutine (copy-in, queue, copy-out).
func BenchmarkChannelSendRecv(b *testing.B) {
	k := NewKernel()
	tb := NewTable(k)
	a, c, _ := tb.ChannelCreate()
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if tb.Send(a, msg, nil) != OK {
			b.Fatal("send")
		}
		if _, e := tb.Recv(c, buf, nil); e != OK {
			b.Fatal("recv")
		}
	}
}

// BenchmarkCallRoundTrip: a Call from one goroutine to a server goroutine
// blocked in RecvWait (hand-off) that Replies at once.
func BenchmarkCallRoundTrip(b *testing.B) {
	k := NewKernel()
	cl, sv := NewTable(k), NewTable(k)
	ce, se := k.NewChannel()
	c, _ := cl.Install(ce, DefaultRights(TypeChannel))
	s, _ := sv.Install(se, DefaultRights(TypeChannel))
	go func() {
		buf := make([]byte, 64)
		for {
			res, e := sv.RecvWait(context.Background(), s, buf, nil)
			if e != OK {
				return
			}
			sv.Reply(res.Reply, buf[:res.N], nil)
		}
	}()
	msg, rbuf := make([]byte, 64), make([]byte, 64)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, e := cl.Call(ctx, c, msg, nil, rbuf, nil); e != OK {
			b.Fatal("call", e)
		}
	}
	b.StopTimer()
	cl.Destroy()
	sv.Destroy()
}

// BenchmarkHandleLookup: the type+rights check every syscall starts with.
func BenchmarkHandleLookup(b *testing.B) {
	k := NewKernel()
	tb := NewTable(k)
	a, _, _ := tb.ChannelCreate()
	b.ReportAllocs()
	for b.Loop() {
		if _, e := lookup[*Endpoint](tb, a, TypeChannel, RightWrite); e != OK {
			b.Fatal("lookup")
		}
	}
}
