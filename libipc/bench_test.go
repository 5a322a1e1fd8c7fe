package libipc_test

import (
	"context"
	"testing"

	"armos/libipc"
)

// sendtoBody is shaped like a small socket-protocol body.
type sendtoBody struct {
	Sock uint32 `msgpack:"sock"`
	Addr []byte `msgpack:"addr"`
	Port uint16 `msgpack:"port"`
	Data []byte `msgpack:"data"`
}

// BenchmarkFraming measures encoding and strictly decoding one message
// (envelope + small body) with a reused buffer.
func BenchmarkFraming(b *testing.B) {
	h := libipc.Header{Version: libipc.Version, Kind: libipc.KindRequest, Op: 5, ID: 1234}
	in := &sendtoBody{Sock: 3, Addr: []byte{10, 0, 2, 2}, Port: 7, Data: []byte("hello, world")}
	buf := make([]byte, 0, 256)
	var out sendtoBody
	b.ReportAllocs()
	for b.Loop() {
		m, err := libipc.AppendMessage(buf[:0], h, in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := libipc.DecodeMessage(m, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnvelope measures the hand-written envelope alone.
func BenchmarkEnvelope(b *testing.B) {
	h := libipc.Header{Version: libipc.Version, Kind: libipc.KindRequest, Op: 5, ID: 1234}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		m := libipc.AppendHeader(buf[:0], h)
		if _, _, err := libipc.ParseHeader(m); err != nil {
			b.Fatal(err)
		}
	}
}

func benchServer(b *testing.B) *libipc.Conn {
	mux := libipc.NewMux()
	libipc.Handle(mux, opEcho, func(r *libipc.Request, req *echoReq) (*echoResp, error) {
		return &echoResp{Text: req.Text, N: req.N + 1}, nil
	})
	srv := libipc.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go srv.Serve(ctx)
	cli, end := libipc.NewPair(libipc.DefaultQueueLen)
	srv.Accept(end)
	c := libipc.NewConn(cli)
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkCallRoundTrip measures one Call over the in-memory transport to a
// Server and back: encode, queue, dispatch, decode, reply, match.
func BenchmarkCallRoundTrip(b *testing.B) {
	c := benchServer(b)
	ctx := context.Background()
	req := &echoReq{Text: "ping", N: 1}
	var resp echoResp
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Call(ctx, opEcho, req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallRoundTripParallel measures concurrent callers multiplexed on
// one connection.
func BenchmarkCallRoundTripParallel(b *testing.B) {
	c := benchServer(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := &echoReq{Text: "ping", N: 1}
		var resp echoResp
		for pb.Next() {
			if err := c.Call(ctx, opEcho, req, &resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
