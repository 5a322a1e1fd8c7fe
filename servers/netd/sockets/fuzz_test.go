package sockets_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libsocket/sockproto"
	"armos/servers/netd/sockets/sockettest"
)

// seedRequest encodes one well-formed request.
func seedRequest(tb testing.TB, op sockproto.Op, id uint32, body any) []byte {
	b, err := libipc.AppendMessage(nil, libipc.Header{Version: libipc.Version, Kind: libipc.KindRequest, Op: libipc.Op(op), ID: id}, body)
	require.NoError(tb, err)
	return b
}

// FuzzServiceRequest sends arbitrary bytes to the socket service as one
// message on a fresh connection. Invariants: the service never panics;
// every request (a readable envelope of kind request) gets exactly one
// answer, a reply or a well-formed error reply, with its ID; an unreadable
// envelope gets an error reply; and the service still answers a valid
// request afterwards.
func FuzzServiceRequest(f *testing.F) {
	to := sockproto.AddrFrom(netip.MustParseAddrPort("10.0.2.2:7"))
	for _, s := range [][]byte{
		seedRequest(f, sockproto.OpSocket, 1, &sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockDgram}),
		seedRequest(f, sockproto.OpSocket, 1, &sockproto.SocketReq{Family: 10, Type: 1}),
		seedRequest(f, sockproto.OpBind, 2, &sockproto.BindReq{Handle: 1, Addr: to}),
		seedRequest(f, sockproto.OpConnect, 3, &sockproto.ConnectReq{Handle: 1, Peer: to}),
		seedRequest(f, sockproto.OpSendTo, 4, &sockproto.SendToReq{Handle: 1, To: to, Data: []byte("hello")}),
		seedRequest(f, sockproto.OpRecvFrom, 5, &sockproto.RecvFromReq{Handle: 1, Max: 100, Flags: sockproto.MsgDontWait, Timeout: 1e9, Tag: 3}),
		seedRequest(f, sockproto.OpGetSockName, 6, &sockproto.HandleReq{Handle: 1}),
		seedRequest(f, sockproto.OpSetSockOpt, 7, &sockproto.SetSockOptReq{Handle: 1, Opt: sockproto.OptRecvQueue, Value: 4}),
		seedRequest(f, sockproto.OpGetSockOpt, 8, &sockproto.GetSockOptReq{Handle: 1, Opt: sockproto.OptRecvDrops}),
		seedRequest(f, sockproto.OpClose, 9, &sockproto.HandleReq{Handle: 1}),
		seedRequest(f, sockproto.OpCancel, 10, &sockproto.CancelReq{Handle: 1, Tag: 3}),
		seedRequest(f, 99, 11, &sockproto.Empty{}),
		seedRequest(f, sockproto.OpBind, 12, map[string]any{"h": "one", "addr": []byte{1, 2, 3}}),
		{0x94, 0x01, 0x01, 0x02, 0x05, 0x82, 0xa1, 0x68, 0x01},                                        // truncated body
		{0x94, 0x07, 0x01, 0x02, 0x05, 0x80},                                                          // bad version
		{0x94, 0x01, 0x04, 0x01, 0x00, 0x80},                                                          // one-way socket
		{0x93, 0x01, 0x01, 0x01},                                                                      // short envelope
		{0x94, 0x01, 0x01, 0x02, 0x05, 0x81, 0xa4, 0x61, 0x64, 0x64, 0x72, 0xc4, 0x05, 1, 2, 3, 4, 5}, // bad address length
		{},
	} {
		f.Add(s)
	}
	h := sockettest.New(f)
	svc := h.Service()
	f.Fuzz(func(t *testing.T, msg []byte) {
		ep, err := h.Broker.Connect(context.Background(), sockproto.ServiceName)
		require.NoError(t, err)
		defer ep.Close()
		if err := ep.TrySend(libipc.Message{Data: msg}); err != nil {
			return // over the message bound: the transport refuses it
		}
		hdr, _, herr := libipc.ParseHeader(msg)
		wantAnswer := herr != nil || hdr.Kind == libipc.KindRequest
		probeID := uint32(0xfffffff0)
		if herr == nil && hdr.ID == probeID {
			probeID++
		}
		probe := seedRequest(t, sockproto.OpGetSockName, probeID, &sockproto.HandleReq{Handle: 0})
		require.NoError(t, ep.TrySend(libipc.Message{Data: probe}))

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		answers := 0
		for {
			m, err := ep.Recv(ctx)
			require.NoError(t, err, "the service must answer the probe")
			rh, body, err := libipc.ParseHeader(m.Data)
			require.NoError(t, err, "the service sends well-formed envelopes")
			require.Contains(t, []libipc.Kind{libipc.KindReply, libipc.KindError}, rh.Kind)
			if rh.Kind == libipc.KindError {
				var eb libipc.ErrorBody
				require.NoError(t, libipc.DecodeBody(body, &eb))
				require.NotZero(t, eb.Code)
			}
			if rh.ID == probeID {
				require.Equal(t, libipc.KindError, rh.Kind)
				break
			}
			answers++
		}
		if wantAnswer {
			require.Equal(t, 1, answers, "one answer per request")
		} else {
			require.Zero(t, answers, "no answer to a one-way message or a stray reply")
		}
		require.Zero(t, svc.Server().Stats().Panics)
	})
}
