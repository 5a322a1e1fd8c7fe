package stack_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc/skbuff"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

// owner records what a registered protocol receives.
type owner struct {
	pkts []stack.IPPacket
	errs []stack.ICMPError
}

func (o *owner) HandleIP(p *stack.IPPacket) {
	c := *p
	c.Header = append([]byte(nil), p.Header...)
	c.Payload = append([]byte(nil), p.Payload...)
	o.pkts = append(o.pkts, c)
}

func (o *owner) HandleICMPError(e *stack.ICMPError) {
	c := *e
	c.Quote = append([]byte(nil), e.Quote...)
	o.errs = append(o.errs, c)
}

// TestProtocolICMPErrorsReachTheOwner: destination unreachable (with the
// next-hop MTU of "fragmentation needed"), time exceeded and parameter
// problem quoting a datagram of a registered protocol that we sent are
// handed to its owner with the quote; errors quoting someone else's
// datagram, or an unregistered protocol's, are not.
func TestProtocolICMPErrorsReachTheOwner(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	o := &owner{}
	require.NoError(t, f.s.RegisterProtocol(253, o))
	require.True(t, f.s.ProtocolRegistered(253))
	assert.False(t, f.s.ProtocolRegistered(254))

	sent := stacktest.IPv4(wire.IPv4Repr{Src: ourAddr, Dst: peer.Addr, Protocol: 253, TTL: 64, DontFragment: true}, []byte("toy segment"))
	cases := []struct {
		r       wire.ICMPv4Repr
		mtu     int
		pointer uint8
	}{
		{r: wire.ICMPv4Repr{Type: wire.ICMPv4DstUnreachable, Code: wire.ICMPv4ProtoUnreachable}},
		{r: wire.ICMPv4Repr{Type: wire.ICMPv4DstUnreachable, Code: wire.ICMPv4FragmentationNeeded, MTU: 1400}, mtu: 1400},
		{r: wire.ICMPv4Repr{Type: wire.ICMPv4TimeExceeded, Code: wire.ICMPv4TTLExceeded}},
		{r: wire.ICMPv4Repr{Type: wire.ICMPv4ParamProblem, Pointer: 9}, pointer: 9},
	}
	for i, c := range cases {
		f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP, stacktest.ICMP(c.r, sent)))
		require.Len(t, o.errs, i+1, "case %d", i)
		e := o.errs[i]
		assert.Equal(t, peer.Addr, e.From)
		assert.Equal(t, uint8(c.r.Type), e.Type)
		assert.Equal(t, uint8(c.r.Code), e.Code)
		assert.Equal(t, c.mtu, e.MTU)
		assert.Equal(t, c.pointer, e.Pointer)
		assert.Equal(t, uint8(253), e.Protocol)
		assert.Equal(t, ourAddr, e.Src)
		assert.Equal(t, peer.Addr, e.Dst)
		assert.Equal(t, sent, e.Quote)
	}
	assert.EqualValues(t, 4, f.counter("icmp.RxProtoErrors"))
	assert.EqualValues(t, 1, f.counter("icmp.RxParamProblem"))

	// Not ours: quoted source is another host; unregistered protocol.
	other := stacktest.IPv4(wire.IPv4Repr{Src: peer.Addr, Dst: ourAddr, Protocol: 253, TTL: 64}, []byte("toy segment"))
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP, stacktest.ICMP(cases[0].r, other)))
	unreg := stacktest.IPv4(wire.IPv4Repr{Src: ourAddr, Dst: peer.Addr, Protocol: 252, TTL: 64}, []byte("toy segment"))
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP, stacktest.ICMP(cases[0].r, unreg)))
	assert.Len(t, o.errs, 4)
	assert.EqualValues(t, 4, f.counter("icmp.RxProtoErrors"))

	// A handler without HandleICMPError does not get them.
	require.True(t, f.s.UnregisterProtocol(253))
	require.NoError(t, f.s.RegisterProtocol(253, stack.ProtocolFunc(func(*stack.IPPacket) {})))
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP, stacktest.ICMP(cases[0].r, sent)))
	assert.EqualValues(t, 4, f.counter("icmp.RxProtoErrors"))
}

// TestSendDatagramOptions: TTL, TOS and DF are honoured; DF with a datagram
// over the MTU fails instead of fragmenting; without DF it is fragmented;
// a foreign source and netd's own protocols are refused.
func TestSendDatagramOptions(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	require.NoError(t, f.s.SendDatagram(&stack.Datagram{Dst: peer.Addr, Protocol: 253, TTL: 9, TOS: 0x10, DontFragment: true, Payload: []byte("x")}))
	l := stacktest.Frame(t, f.next(), stacktest.HasIPv4(ourAddr, peer.Addr, 253, stacktest.TTL(9)))
	assert.True(t, l.IP.DontFragment())
	assert.Equal(t, uint8(0x10), l.IP.TOS())

	big := make([]byte, 3000)
	err := f.s.SendDatagram(&stack.Datagram{Dst: peer.Addr, Protocol: 253, DontFragment: true, Payload: big})
	require.ErrorIs(t, err, stack.ErrMessageTooLong)
	require.NoError(t, f.s.SendDatagram(&stack.Datagram{Src: ourAddr, Dst: peer.Addr, Protocol: 253, Payload: big}))
	assert.Len(t, f.link.Drain(), 3)

	require.ErrorIs(t, f.s.SendDatagram(&stack.Datagram{Src: peer.Addr, Dst: peer.Addr, Protocol: 253}), stack.ErrInvalidAddr)
	require.ErrorIs(t, f.s.SendDatagram(&stack.Datagram{Dst: peer.Addr, Protocol: 17}), stack.ErrProtocolInUse)
	require.ErrorIs(t, f.s.SendDatagram(&stack.Datagram{Dst: peer.Addr, Protocol: 1}), stack.ErrProtocolInUse)

	// To ourselves: looped back to the owner, with the interface's MTU.
	o := &owner{}
	require.NoError(t, f.s.RegisterProtocol(253, o))
	require.NoError(t, f.s.SendDatagram(&stack.Datagram{Dst: ourAddr, Protocol: 253, Payload: []byte("me")}))
	require.Len(t, o.pkts, 1)
	assert.Equal(t, "me", string(o.pkts[0].Payload))
	assert.Equal(t, 1500, o.pkts[0].MTU)
}

// FuzzRegisteredProtocol feeds arbitrary frames to a stack where protocol
// 253 has an owner. Invariants: what the owner gets is well formed (our
// address or a broadcast as destination, a 20+ byte header naming 253, the
// interface's MTU); ICMP errors handed to it quote a datagram of 253 that
// we sent, with an MTU only for "fragmentation needed"; every delivered
// datagram reaches exactly one of ICMP, UDP and the owner; no buffer leaks.
func FuzzRegisteredProtocol(f *testing.F) {
	f.Add(peer.IPFrame(ourMAC, ourAddr, 253, []byte("toy")))
	pkt := stacktest.IPv4(wire.IPv4Repr{Src: peer.Addr, Dst: ourAddr, Protocol: 253, ID: 9}, pattern(1500))
	for _, fr := range stacktest.Fragments(pkt, 576) {
		f.Add(stacktest.Ethernet(ourMAC, peer.MAC, wire.EtherTypeIPv4, fr))
	}
	sent := stacktest.IPv4(wire.IPv4Repr{Src: ourAddr, Dst: peer.Addr, Protocol: 253, TTL: 64}, pattern(100))
	for _, r := range []wire.ICMPv4Repr{
		{Type: wire.ICMPv4DstUnreachable, Code: wire.ICMPv4FragmentationNeeded, MTU: 1280},
		{Type: wire.ICMPv4TimeExceeded},
		{Type: wire.ICMPv4ParamProblem, Pointer: 3},
	} {
		f.Add(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP, stacktest.ICMP(r, sent)))
	}
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, frame []byte) {
		fx := newFixture(t, 576)
		fx.learn(peer)
		fx.link.Discard = true
		var handled, errs uint64
		o := &checkingOwner{t: t, handled: &handled, errs: &errs}
		require.NoError(t, fx.s.RegisterProtocol(253, o))
		before := skbuff.Default.Stats()
		fx.inject(frame)
		fx.inject(frame)
		fx.clock.Advance(stack.ReasmTimeout + time.Second)
		fx.s.Tick()
		c := fx.s.Counters()
		require.Equal(t, c.IPv4.RxDelivered, c.ICMP.RxMessages+c.UDP.RxDatagrams+handled, "delivery:\n%s", c)
		require.Equal(t, errs, c.ICMP.RxProtoErrors)
		queued := uint64(0)
		for _, e := range fx.s.ARPTable() {
			queued += uint64(e.Queued)
		}
		after := skbuff.Default.Stats()
		require.Equal(t, after.Gets-before.Gets, after.Frees-before.Frees+queued, "buffers leaked")
	})
}

// checkingOwner checks what a registered protocol is handed.
type checkingOwner struct {
	t             *testing.T
	handled, errs *uint64
}

func (o *checkingOwner) HandleIP(p *stack.IPPacket) {
	*o.handled++
	require.Equal(o.t, uint8(253), p.Protocol)
	require.True(o.t, p.Dst == ourAddr || p.Broadcast, "dst %v", p.Dst)
	require.GreaterOrEqual(o.t, len(p.Header), 20)
	require.Equal(o.t, uint8(253), p.Header[9])
	require.Equal(o.t, 576, p.MTU)
}

func (o *checkingOwner) HandleICMPError(e *stack.ICMPError) {
	*o.errs++
	require.Equal(o.t, uint8(253), e.Protocol)
	require.Equal(o.t, ourAddr, e.Src)
	ip, err := wire.ParseIPv4Header(e.Quote)
	require.NoError(o.t, err)
	require.Equal(o.t, wire.IPProtocol(253), ip.Protocol())
	if e.MTU != 0 {
		require.Equal(o.t, uint8(wire.ICMPv4DstUnreachable), e.Type)
		require.Equal(o.t, uint8(wire.ICMPv4FragmentationNeeded), e.Code)
	}
}
