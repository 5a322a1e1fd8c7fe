package protosvc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libproto/protoproto"
	"armos/libsocket/sockproto"
	"armos/servers/netd/protosvc"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

// TestRegisterRefuseUnregister: one owner per number; netd's own and the
// reserved numbers are refused; Unregister and the end of the connection
// free a number; MaxProtosPerConn bounds a connection.
func TestRegisterRefuseUnregister(t *testing.T) {
	h := newHost(t)
	a, b := h.conn(), h.conn()
	var resp protoproto.RegisterResp
	require.NoError(t, call(t, a, protoproto.OpRegister, &protoproto.RegisterReq{Proto: 253}, &resp))
	ip, ok := protoproto.IPv4Of(resp.Addr)
	require.True(t, ok)
	assert.Equal(t, ourNet.Addr(), ip)
	assert.Equal(t, uint32(1500), resp.MTU)
	assert.Equal(t, uint32(1), resp.Dev)

	err := call(t, b, protoproto.OpRegister, &protoproto.RegisterReq{Proto: 253}, &resp)
	require.ErrorIs(t, err, sockproto.EADDRINUSE)
	require.ErrorIs(t, call(t, a, protoproto.OpRegister, &protoproto.RegisterReq{Proto: 253}, &resp), sockproto.EADDRINUSE)
	for _, n := range []uint8{1, 17} {
		require.ErrorIs(t, call(t, b, protoproto.OpRegister, &protoproto.RegisterReq{Proto: n}, &resp), sockproto.EADDRINUSE)
	}
	for _, n := range []uint8{0, 255} {
		require.ErrorIs(t, call(t, b, protoproto.OpRegister, &protoproto.RegisterReq{Proto: n}, &resp), sockproto.EINVAL)
	}
	require.ErrorIs(t, call(t, b, protoproto.OpUnregister, &protoproto.ProtoReq{Proto: 253}, &protoproto.Empty{}), sockproto.EINVAL, "not b's")
	require.NoError(t, call(t, a, protoproto.OpUnregister, &protoproto.ProtoReq{Proto: 253}, &protoproto.Empty{}))
	require.NoError(t, call(t, b, protoproto.OpRegister, &protoproto.RegisterReq{Proto: 253}, &resp))

	// b goes away: its numbers are free at once.
	require.NoError(t, b.Close())
	require.Eventually(t, func() bool {
		return call(t, a, protoproto.OpRegister, &protoproto.RegisterReq{Proto: 253}, &resp) == nil
	}, 5*time.Second, time.Millisecond)
	var reg bool
	h.do(func() { reg = h.st.ProtocolRegistered(253) })
	assert.True(t, reg)

	// The per-connection bound.
	c := h.conn()
	for n := range uint8(protoproto.MaxProtosPerConn) {
		require.NoError(t, call(t, c, protoproto.OpRegister, &protoproto.RegisterReq{Proto: 140 + n}, &resp))
	}
	require.ErrorIs(t, call(t, c, protoproto.OpRegister, &protoproto.RegisterReq{Proto: 200}, &resp), sockproto.EMFILE)
	require.NoError(t, c.Close())
	require.Eventually(t, func() bool {
		free := true
		h.do(func() {
			for n := range uint8(protoproto.MaxProtosPerConn) {
				free = free && !h.st.ProtocolRegistered(140+n)
			}
		})
		return free
	}, 5*time.Second, time.Millisecond)
}

// TestSendErrorsAndOneway: a send is checked (owner, addresses, size) and
// its stack error comes back as a code; a one-way send is answered by
// nothing and its failures are counted.
func TestSendErrorsAndOneway(t *testing.T) {
	h := newHost(t)
	c := h.conn()
	var resp protoproto.RegisterResp
	require.NoError(t, call(t, c, protoproto.OpRegister, &protoproto.RegisterReq{Proto: 253}, &resp))
	dst := protoproto.IP(ourNet.Addr().Next())
	send := func(req *protoproto.SendReq) error { return call(t, c, protoproto.OpSend, req, &protoproto.Empty{}) }
	require.NoError(t, send(&protoproto.SendReq{Proto: 253, Dst: dst, Data: []byte("x")}))
	require.ErrorIs(t, send(&protoproto.SendReq{Proto: 252, Dst: dst}), sockproto.EACCES)
	require.ErrorIs(t, send(&protoproto.SendReq{Proto: 253}), sockproto.EINVAL)
	require.ErrorIs(t, send(&protoproto.SendReq{Proto: 253, Dst: dst, Src: dst}), sockproto.EINVAL)
	require.ErrorIs(t, send(&protoproto.SendReq{Proto: 253, Dst: dst, DF: true, Data: make([]byte, 2000)}), sockproto.EMSGSIZE)
	require.ErrorIs(t, send(&protoproto.SendReq{Proto: 253, Dst: dst, Data: make([]byte, protoproto.MaxPayload+1)}), sockproto.EMSGSIZE)
	offNet := protoproto.IP(ourNet.Addr().Prev().Prev().Prev().Prev().Prev().Prev().Prev().Prev().Prev().Prev().Prev().Prev().Prev().Prev().Prev().Prev())
	require.ErrorIs(t, send(&protoproto.SendReq{Proto: 253, Dst: offNet}), sockproto.ENETUNREACH, "no gateway")

	ctx := context.Background()
	require.NoError(t, c.Send(ctx, libipc.Op(protoproto.OpSend), &protoproto.SendReq{Proto: 253, Dst: dst, Data: []byte("y")}))
	require.NoError(t, c.Send(ctx, libipc.Op(protoproto.OpSend), &protoproto.SendReq{Proto: 252, Dst: dst}))
	require.Eventually(t, func() bool {
		var sent, refused uint64
		for _, p := range h.proto.Protocols() {
			if p.Proto == 253 {
				sent = p.Sent
			}
			if p.Proto == 252 {
				refused = p.SendRefused
			}
		}
		return sent == 2 && refused == 2
	}, 5*time.Second, time.Millisecond)
}

// TestDeliveryDropsWhenTheServerDoesNotRead: netd never waits for a
// protocol server; deliveries beyond its channel's queue are dropped and
// counted per protocol, and those that fit arrive intact.
func TestDeliveryDropsWhenTheServerDoesNotRead(t *testing.T) {
	h := newHost(t)
	ep := h.raw()
	require.NoError(t, ep.TrySend(libipc.Message{Data: encode(t, libipc.KindRequest, protoproto.OpRegister, 1, &protoproto.RegisterReq{Proto: 253})}))
	hdr, _ := recvReply(t, ep, 1)
	require.Equal(t, libipc.KindReply, hdr.Kind)

	const n = libipc.BrokerQueueLen + 40
	h.do(func() {
		for i := range n {
			// To ourselves: looped back and delivered during the call.
			require.NoError(t, h.st.SendDatagram(&stack.Datagram{Dst: ourNet.Addr(), Protocol: 253, Payload: []byte{byte(i)}}))
		}
	})
	var ps = h.proto.Protocols()
	require.Len(t, ps, 1)
	assert.Equal(t, uint64(libipc.BrokerQueueLen), ps[0].Delivered)
	assert.Equal(t, uint64(40), ps[0].DroppedFull)
	for i := range libipc.BrokerQueueLen {
		m, err := ep.TryRecv()
		require.NoError(t, err)
		var d protoproto.Datagram
		mh, err := libipc.DecodeMessage(m.Data, &d)
		require.NoError(t, err)
		assert.Equal(t, libipc.KindOneway, mh.Kind)
		assert.Equal(t, libipc.Op(protoproto.OpDeliver), mh.Op)
		assert.Equal(t, []byte{byte(i)}, d.Data)
		assert.Equal(t, uint8(253), d.Proto)
		assert.Len(t, d.Hdr, 20)
		assert.Equal(t, uint32(1500), d.MTU)
	}
}

// TestStreamHandOff: StreamSocket needs an owner and never waits: a full
// channel loses the socket (counted); and a socket service with no
// hand-off function answers SOCK_STREAM with EOPNOTSUPP.
func TestStreamHandOff(t *testing.T) {
	h := newHost(t)
	var err error
	h.do(func() { _, err = h.proto.StreamSocket(protoproto.ProtoTCP) })
	require.ErrorIs(t, err, protosvc.ErrNoOwner)

	ep := h.raw() // never reads
	require.NoError(t, ep.TrySend(libipc.Message{Data: encode(t, libipc.KindRequest, protoproto.OpRegister, 1, &protoproto.RegisterReq{Proto: protoproto.ProtoTCP})}))
	hdr, _ := recvReply(t, ep, 1)
	require.Equal(t, libipc.KindReply, hdr.Kind)
	var mine libipc.Endpoint
	h.do(func() {
		for i := range libipc.BrokerQueueLen {
			e, err := h.proto.StreamSocket(protoproto.ProtoTCP)
			require.NoError(t, err)
			if i == 0 {
				mine = e
			} else {
				e.Close()
			}
		}
		_, err = h.proto.StreamSocket(protoproto.ProtoTCP)
	})
	require.ErrorIs(t, err, libipc.ErrWouldBlock)
	ps := h.proto.Protocols()
	require.Len(t, ps, 1)
	assert.Equal(t, uint64(libipc.BrokerQueueLen), ps[0].Streams)
	assert.Equal(t, uint64(1), ps[0].StreamsLost)
	m, err := ep.TryRecv()
	require.NoError(t, err)
	require.Len(t, m.Caps, 1)
	var sc protoproto.StreamConn
	mh, err := libipc.DecodeMessage(m.Data, &sc)
	require.NoError(t, err)
	assert.Equal(t, libipc.Op(protoproto.OpStream), mh.Op)
	assert.Equal(t, uint8(protoproto.ProtoTCP), sc.Proto)
	theirs := m.Caps[0].(libipc.Endpoint)
	require.NoError(t, mine.TrySend(libipc.Message{Data: []byte("hi")}))
	got, err := theirs.TryRecv()
	require.NoError(t, err)
	assert.Equal(t, "hi", string(got.Data), "the two ends are a pair")

	// This host's socket service has no hand-off function.
	h.broker.Register(sockproto.ServiceName, h.svc.Accept)
	sep, err := h.broker.Connect(context.Background(), sockproto.ServiceName)
	require.NoError(t, err)
	sc2 := libipc.NewConn(sep)
	defer sc2.Close()
	err = call(t, sc2, protoproto.Op(sockproto.OpSocket), &sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockStream}, &sockproto.SocketResp{})
	require.ErrorIs(t, err, sockproto.EOPNOTSUPP)
}

// TestSegmentationOffload: the owner of TCP is told how large an
// offloaded segment netd takes (others are told nothing); an offloaded
// segment is cut (this link has no device offload), and requests netd
// cannot cut come back as EINVAL, oversize ones as EMSGSIZE.
func TestSegmentationOffload(t *testing.T) {
	h := newHost(t)
	c := h.conn()
	var resp protoproto.RegisterResp
	require.NoError(t, call(t, c, protoproto.OpRegister, &protoproto.RegisterReq{Proto: 253}, &resp))
	assert.Zero(t, resp.TSOMax)
	require.NoError(t, call(t, c, protoproto.OpRegister, &protoproto.RegisterReq{Proto: protoproto.ProtoTCP}, &resp))
	assert.EqualValues(t, stack.MaxTSOSegment, resp.TSOMax)

	dst := protoproto.IP(ourNet.Addr().Next())
	seg := make([]byte, 20+3000)
	seg[12] = 5 << 4
	send := func(req *protoproto.SendReq) error { return call(t, c, protoproto.OpSend, req, &protoproto.Empty{}) }
	require.NoError(t, send(&protoproto.SendReq{Proto: 6, Dst: dst, Data: seg, TSO: 1000}))
	require.ErrorIs(t, send(&protoproto.SendReq{Proto: 6, Dst: dst, Data: seg[:10], TSO: 1000}), sockproto.EINVAL)
	require.ErrorIs(t, send(&protoproto.SendReq{Proto: 6, Dst: dst, Data: seg, TSO: 1481}), sockproto.EINVAL)
	require.ErrorIs(t, send(&protoproto.SendReq{Proto: 6, Dst: dst, Data: make([]byte, stack.MaxTSOSegment+1), TSO: 1000}), sockproto.EMSGSIZE)
	var cut, pieces, bad uint64
	h.do(func() {
		cs := h.st.Counters()
		cut, pieces, bad = cs.IPv4.TxTSOSoftware, cs.IPv4.TxTSOPieces, cs.IPv4.TxTSOBad
	})
	assert.EqualValues(t, 1, cut)
	assert.EqualValues(t, 3, pieces)
	assert.EqualValues(t, 2, bad)
}

// TestSegmentBuiltInPlace: with a NIC that segments, netd asks TCP's
// owner for padding in front of large segments (RegisterResp.Room), and a
// segment that carries it goes out as the frame built around it in the
// message it came in (TxInPlace); one without goes out the same, copied.
// Either way the frame is the segment whole behind its IPv4 and Ethernet
// headers, its checksum field the pseudo-header's sum, for the device to
// cut into 1000-byte pieces.
func TestSegmentBuiltInPlace(t *testing.T) {
	h := newHost(t)
	h.st.SetTSOMax(65000)
	c := h.conn()
	var resp protoproto.RegisterResp
	require.NoError(t, call(t, c, protoproto.OpRegister, &protoproto.RegisterReq{Proto: 253}, &resp))
	assert.Zero(t, resp.Room, "no offload: nothing to build in place")
	require.NoError(t, call(t, c, protoproto.OpRegister, &protoproto.RegisterReq{Proto: protoproto.ProtoTCP}, &resp))
	assert.EqualValues(t, protosvc.SendRoom, resp.Room)

	peer := stacktest.Host{MAC: wire.MAC{2, 0, 0, 0, 0, 9}, Addr: ourNet.Addr().Next()}
	h.do(func() { h.link.Discard = false })
	seg := make([]byte, 20+30000)
	seg[12] = 5 << 4
	for i := 20; i < len(seg); i++ {
		seg[i] = byte(i * 7)
	}
	for i, room := range [][]byte{make([]byte, protosvc.SendRoom), nil} {
		req := &protoproto.SendReq{Proto: 6, Dst: protoproto.IP(peer.Addr), Room: room, Data: seg, TSO: 1000}
		require.NoError(t, call(t, c, protoproto.OpSend, req, &protoproto.Empty{}))
		var frames [][]byte
		var gso []uint16
		var cs stack.Counters
		h.do(func() {
			if i == 0 { // the first waited for ARP (holding its buffer)
				stacktest.Frame(t, h.link.Read(), stacktest.HasARP(wire.ARPRequest, wire.MAC{2, 0, 0, 0, 0, 1}, ourNet.Addr(), wire.MAC{}, peer.Addr))
				h.link.GSOSizes = nil
				h.st.Input(stacktest.Buf(peer.ARPReply(wire.MAC{2, 0, 0, 0, 0, 1}, ourNet.Addr())))
			}
			frames, gso, cs = h.link.Drain(), h.link.GSOSizes, h.st.Counters()
			h.link.GSOSizes = nil
		})
		require.Len(t, frames, 1)
		assert.Equal(t, []uint16{1000}, gso)
		assert.EqualValues(t, i+1, cs.IPv4.TxTSO)
		assert.EqualValues(t, 1, cs.IPv4.TxInPlace, "only the segment with room is built in place")
		l := stacktest.Frame(t, frames[0], stacktest.DstMAC(peer.MAC),
			stacktest.HasIPv4(ourNet.Addr(), peer.Addr, wire.IPProtocolTCP))
		got := l.IP.Payload()
		require.Len(t, got, len(seg))
		want := append([]byte(nil), seg...)
		binary.BigEndian.PutUint16(want[16:], wire.PseudoHeaderChecksum(wire.IPProtocolTCP, ourNet.Addr(), peer.Addr, uint16(len(seg))))
		assert.True(t, bytes.Equal(want, got), "the segment, its checksum field the pseudo-header sum")
	}
}
