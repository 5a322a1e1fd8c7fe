package protosvc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libproto/protoproto"
)

// FuzzServiceRequest sends arbitrary bytes to the protocol service as one
// message on a fresh connection. Invariants: the service never panics;
// every request (a readable envelope of kind request) gets exactly one
// answer, a reply or a well-formed error reply, with its ID; an unreadable
// envelope gets an error reply; and the service still answers a valid
// request afterwards.
func FuzzServiceRequest(f *testing.F) {
	dst := protoproto.IP(ourNet.Addr().Next())
	self := protoproto.IP(ourNet.Addr())
	req, ow := libipc.KindRequest, libipc.KindOneway
	for _, s := range [][]byte{
		encode(f, req, protoproto.OpRegister, 1, &protoproto.RegisterReq{Proto: 253}),
		encode(f, req, protoproto.OpRegister, 1, &protoproto.RegisterReq{Proto: 17}),
		encode(f, req, protoproto.OpUnregister, 2, &protoproto.ProtoReq{Proto: 253}),
		encode(f, req, protoproto.OpSend, 3, &protoproto.SendReq{Proto: 253, Dst: dst, Data: []byte("hello")}),
		encode(f, req, protoproto.OpSend, 3, &protoproto.SendReq{Proto: 253, Dst: self, Src: self, TTL: 1, TOS: 4, DF: true, Data: []byte("me")}),
		encode(f, ow, protoproto.OpSend, 0, &protoproto.SendReq{Proto: 253, Dst: dst, Data: []byte("hello")}),
		encode(f, ow, protoproto.OpRegister, 0, &protoproto.RegisterReq{Proto: 253}),
		encode(f, req, protoproto.OpDeliver, 4, &protoproto.Datagram{Proto: 253}),
		encode(f, req, 99, 5, &protoproto.Empty{}),
		encode(f, req, protoproto.OpSend, 6, map[string]any{"proto": "tcp", "dst": []byte{1, 2, 3}}),
		encode(f, req, protoproto.OpRegister, 7, map[string]any{"proto": 6, "extra": 1}),
		{0x94, 0x01, 0x01, 0x02, 0x01, 0x81, 0xa5, 0x70, 0x72, 0x6f}, // truncated body
		{0x94, 0x07, 0x01, 0x02, 0x01, 0x80},                         // bad version
		{0x93, 0x01, 0x01, 0x01},                                     // short envelope
		{},
	} {
		f.Add(s)
	}
	h := newHost(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		ep, err := h.broker.Connect(context.Background(), protoproto.ServiceName)
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
		probe := encode(t, libipc.KindRequest, protoproto.OpUnregister, probeID, &protoproto.ProtoReq{Proto: 77})
		require.NoError(t, ep.TrySend(libipc.Message{Data: probe}))

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		answers := 0
		for {
			m, err := ep.Recv(ctx)
			require.NoError(t, err, "the service must answer the probe")
			rh, body, err := libipc.ParseHeader(m.Data)
			require.NoError(t, err, "the service sends well-formed envelopes")
			if rh.Kind == libipc.KindOneway {
				continue // a delivery (a datagram looped to ourselves)
			}
			require.Contains(t, []libipc.Kind{libipc.KindReply, libipc.KindError}, rh.Kind)
			if rh.Kind == libipc.KindError {
				var eb libipc.ErrorBody
				require.NoError(t, libipc.DecodeBody(body, &eb))
				require.NotZero(t, eb.Code)
			}
			if rh.ID == probeID {
				require.Equal(t, libipc.KindError, rh.Kind, "77 is not ours")
				break
			}
			answers++
		}
		if wantAnswer {
			require.Equal(t, 1, answers, "one answer per request")
		} else {
			require.Zero(t, answers, "no answer to a one-way message or a stray reply")
		}
		require.Zero(t, h.proto.Server().Stats().Panics)
	})
}
