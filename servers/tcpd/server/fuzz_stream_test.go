package server_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libproto/prototest"
	"armos/libsocket/sockproto"
	sp "armos/libsocket/streamproto"
	"armos/servers/tcpd/server"
	"armos/servers/tcpd/tcp"
)

// fuzzMessages splits data into stream-protocol messages: each is a kind
// byte (odd: a request, even: one-way), an op byte, a length byte and that
// many body bytes (raw msgpack, well-formed or not).
func fuzzMessages(data []byte) [][]byte {
	var out [][]byte
	id := uint32(1)
	for len(data) >= 3 {
		kind, op, n := data[0], data[1], int(data[2])
		data = data[3:]
		n = min(n, len(data))
		body := data[:n]
		data = data[n:]
		h := libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway, Op: libipc.Op(op % 16)}
		if kind%2 == 1 {
			h.Kind, h.ID = libipc.KindRequest, id
			id++
		}
		msg, err := libipc.AppendMessage(nil, h, nil)
		if err != nil {
			continue
		}
		// The envelope, then the fuzzed body in place of the nil body.
		out = append(out, append(msg[:len(msg)-1], body...))
	}
	return out
}

func encodeSeed(t testing.TB, parts ...any) []byte {
	var seed []byte
	for i := 0; i+2 < len(parts)+1; i += 3 {
		kind, op := parts[i].(int), parts[i+1].(sp.Op)
		body, err := libipc.AppendBody(nil, parts[i+2])
		require.NoError(t, err)
		seed = append(seed, byte(kind), byte(op), byte(len(body)))
		seed = append(seed, body...)
	}
	return seed
}

// FuzzStreamMessages: whatever an application sends on its stream socket
// (any ops, kinds and bodies, in any order), tcpd never panics and its
// loop goes on serving; the socket is served or dropped.
func FuzzStreamMessages(f *testing.F) {
	p := prototest.NewPair(f, prototest.Options{})
	a := startTCPD(f, p.A, server.Config{TCP: testTCP()})
	startTCPD(f, p.B, server.Config{TCP: testTCP()})
	peer := sockproto.AddrFrom(netip.MustParseAddrPort("10.99.0.2:7"))
	f.Add(encodeSeed(f, 0, sp.OpCredit, &sp.Credit{Bytes: 4096, Msgs: 4}, 1, sp.OpConnect, &sp.ConnectReq{Addr: peer},
		0, sp.OpData, &sp.Data{Data: []byte("hello")}, 1, sp.OpShutdown, &sp.Empty{}))
	f.Add(encodeSeed(f, 1, sp.OpListen, &sp.ListenReq{Addr: sockproto.AddrFrom(netip.MustParseAddrPort("0.0.0.0:9")), Backlog: 2},
		0, sp.OpAccept, &sp.AcceptMsg{N: 3}, 1, sp.OpOption, &sp.OptionReq{}))
	f.Add(encodeSeed(f, 0, sp.OpData, &sp.Data{Data: make([]byte, 100)}, 0, sp.OpCredit, &sp.Credit{Bytes: -1}))
	f.Add([]byte{1, 1, 3, 0x81, 0xa1, 0x78})
	f.Fuzz(func(t *testing.T, data []byte) {
		ep := fuzzSocket(t, p.A)
		for _, m := range fuzzMessages(data) {
			if ep.TrySend(libipc.Message{Data: m}) != nil {
				break // tcpd dropped the socket, or its queue is full
			}
		}
		require.NoError(t, ep.Close())
		ctx, cancel := context.WithTimeout(context.Background(), prototest.Wait)
		defer cancel()
		require.NoError(t, a.Do(ctx, func(*tcp.Stack) {}), "tcpd's loop serves on")
	})
}

// fuzzSocket is streamSocket, retrying while netd answers ENOBUFS (tcpd's
// channel is full for a moment under the fuzzer's pace: counted in netd,
// the application may try again).
func fuzzSocket(t *testing.T, h *prototest.Host) libipc.Endpoint {
	ctx, cancel := context.WithTimeout(context.Background(), prototest.Wait)
	defer cancel()
	ep, err := h.Broker.Connect(ctx, sockproto.ServiceName)
	require.NoError(t, err)
	app := libipc.NewConn(ep)
	t.Cleanup(func() { app.Close() })
	for {
		var resp sockproto.SocketResp
		caps, err := app.CallCaps(ctx, libipc.Op(sockproto.OpSocket), &sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockStream}, &resp, nil)
		if libipc.CodeOf(err) == sockproto.ENOBUFS.Code() && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
			continue
		}
		require.NoError(t, err)
		require.Len(t, caps, 1)
		mine, ok := caps[0].(libipc.Endpoint)
		require.True(t, ok)
		return mine
	}
}
