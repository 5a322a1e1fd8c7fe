package stack_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

func TestUDPReceive(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:7")
	notified := 0
	ep.SetNotify(func() { notified++ })

	_, _, err := ep.Dequeue(make([]byte, 10))
	require.ErrorIs(t, err, stack.ErrWouldBlock)

	f.inject(peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 7), []byte("hello")))
	f.inject(peer2.UDPFrame(ourMAC, 4001, ap(ourAddr, 7), []byte("world!")))
	assert.Equal(t, 2, notified)
	assert.Equal(t, 2, ep.Len())
	assert.Equal(t, 5, ep.NextLen())

	buf := make([]byte, 64)
	n, meta, err := ep.Dequeue(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))
	assert.Equal(t, stack.RecvMeta{From: ap(peer.Addr, 4000), To: ourAddr, Len: 5}, meta)

	// Truncation: the rest of the datagram is discarded, Len tells.
	n, meta, err = ep.Dequeue(buf[:3])
	require.NoError(t, err)
	assert.Equal(t, "wor", string(buf[:n]))
	assert.True(t, meta.Truncated(n))
	assert.Equal(t, ap(peer2.Addr, 4001), meta.From)
	assert.Equal(t, -1, ep.NextLen())
	f.quiet()

	st := ep.Stats()
	assert.EqualValues(t, 2, st.RxDatagrams)
	assert.EqualValues(t, 11, st.RxBytes)
	assert.EqualValues(t, 2, f.counter("udp.RxDelivered"))
}

func TestUDPEchoLoopThroughEndpoint(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	ep := f.bind("0.0.0.0:7")
	buf := make([]byte, 2048)
	ep.SetNotify(func() {
		n, meta, err := ep.Dequeue(buf)
		require.NoError(t, err)
		require.NoError(t, ep.SendTo(buf[:n], meta.From))
	})
	for i := range 10 {
		payload := []byte{'e', 'c', 'h', 'o', byte(i)}
		f.inject(peer.UDPFrame(ourMAC, 40000+uint16(i), ap(ourAddr, 7), payload))
		stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC), stacktest.SrcMAC(ourMAC),
			stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolUDP, stacktest.HasUDP(7, 40000+uint16(i), payload)))
	}
	f.quiet()
	assert.EqualValues(t, 10, ep.Stats().TxDatagrams)
	assert.EqualValues(t, 10, f.counter("udp.TxDatagrams"))
}

func TestUDPSendViaGateway(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:0")
	require.NoError(t, ep.SendTo([]byte("far"), ap(remote, 53)))
	// The gateway is resolved, not the remote host.
	stacktest.Frame(t, f.next(), stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, wire.MAC{}, gwAddr))
	f.inject(gateway.ARPReply(ourMAC, ourAddr))
	stacktest.Frame(t, f.next(), stacktest.DstMAC(gateway.MAC),
		stacktest.HasIPv4(ourAddr, remote, wire.IPProtocolUDP, stacktest.HasUDP(ep.LocalAddr().Port(), 53, []byte("far"))))
}

func TestUDPNoRouteWithoutGateway(t *testing.T) {
	link := &stacktest.Link{}
	s, err := stack.New(stack.Config{MAC: ourMAC, Addr: subnet}, link, stacktest.NewFakeClock())
	require.NoError(t, err)
	ep, err := s.BindUDP(netip.AddrPort{})
	require.NoError(t, err)
	err = ep.SendTo([]byte("x"), ap(remote, 53))
	require.ErrorIs(t, err, stack.ErrNoRoute)
	var op *stack.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "sendto", op.Op)
	assert.Equal(t, ap(remote, 53), op.Addr)
	assert.EqualValues(t, 1, ep.Stats().TxErrors)
	assert.EqualValues(t, 1, s.Counters().IPv4.TxNoRoute)
}

func TestUDPBindConflictsAndEphemeralPorts(t *testing.T) {
	f := newFixture(t, 0)
	a := f.bind("0.0.0.0:7")
	_, err := f.s.BindUDP(netip.MustParseAddrPort("0.0.0.0:7"))
	require.ErrorIs(t, err, stack.ErrAddrInUse)
	assert.EqualError(t, err, "bind 0.0.0.0:7: address already in use")
	_, err = f.s.BindUDP(ap(ourAddr, 7))
	require.ErrorIs(t, err, stack.ErrAddrInUse, "wildcard and specific conflict")
	_, err = f.s.BindUDP(netip.MustParseAddrPort("10.0.2.99:8"))
	require.ErrorIs(t, err, stack.ErrAddrNotAvailable)

	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "closing twice is harmless")
	b := f.bind("10.0.2.15:7")
	assert.Equal(t, ap(ourAddr, 7), b.LocalAddr())

	seen := map[uint16]bool{}
	for range 100 {
		ep := f.bind("0.0.0.0:0")
		p := ep.LocalAddr().Port()
		assert.GreaterOrEqual(t, p, uint16(stack.EphemeralFirst))
		assert.LessOrEqual(t, p, uint16(stack.EphemeralLast))
		assert.False(t, seen[p], "port %d handed out twice", p)
		seen[p] = true
	}
	assert.Len(t, f.s.UDPEndpoints(), 101)
}

func TestUDPEphemeralExhaustion(t *testing.T) {
	f := newFixture(t, 0)
	for range stack.EphemeralLast - stack.EphemeralFirst + 1 {
		f.bind("0.0.0.0:0")
	}
	_, err := f.s.BindUDP(netip.AddrPort{})
	require.ErrorIs(t, err, stack.ErrNoEphemeralPorts)
}

func TestUDPSpecificBindIgnoresBroadcast(t *testing.T) {
	f := newFixture(t, 0)
	spec := f.bind("10.0.2.15:67")
	f.inject(peer.UDPFrame(wire.BroadcastMAC, 68, ap(allOnes, 67), []byte("discover")))
	assert.Zero(t, spec.Len())
	require.NoError(t, spec.Close())
	any := f.bind("0.0.0.0:67")
	f.inject(peer.UDPFrame(wire.BroadcastMAC, 68, ap(allOnes, 67), []byte("discover")))
	f.inject(peer.UDPFrame(wire.BroadcastMAC, 68, ap(bcast, 67), []byte("directed")))
	assert.Equal(t, 2, any.Len())
	_, meta, err := any.Dequeue(nil)
	require.NoError(t, err)
	assert.Equal(t, allOnes, meta.To)
}

func TestUDPReceiveQueueIsBounded(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:7")
	require.NoError(t, ep.SetQueueLen(4))
	assert.Equal(t, 4, ep.QueueLen())
	for i := range 6 {
		f.inject(peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 7), []byte{byte(i)}))
	}
	assert.Equal(t, 4, ep.Len())
	assert.EqualValues(t, 2, ep.Stats().RxDropped)
	assert.EqualValues(t, 2, f.counter("udp.RxQueueFull"))
	// The queued ones are the oldest four, in order.
	for i := range 4 {
		var b [1]byte
		_, _, err := ep.Dequeue(b[:])
		require.NoError(t, err)
		assert.Equal(t, byte(i), b[0])
	}
	// Growing the queue keeps its contents.
	f.inject(peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 7), []byte{9}))
	require.NoError(t, ep.SetQueueLen(100))
	assert.Equal(t, 1, ep.Len())
	assert.Equal(t, 1, ep.NextLen())

	require.NoError(t, ep.Close())
	_, _, err := ep.Dequeue(nil)
	assert.ErrorIs(t, err, stack.ErrClosed)
	assert.ErrorIs(t, ep.SendTo(nil, ap(peer.Addr, 1)), stack.ErrClosed)
	assert.ErrorIs(t, ep.SetQueueLen(1), stack.ErrClosed)
	// Closed: the port is free and unreachable again.
	f.learn(peer)
	f.inject(peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 7), nil))
	stacktest.Frame(t, f.next(), stacktest.HasICMP(wire.ICMPv4DstUnreachable, wire.ICMPv4PortUnreachable))
}

func TestUDPBroadcastNeedsFlag(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:68")
	for _, dst := range []netip.Addr{allOnes, bcast} {
		err := ep.SendTo([]byte("x"), ap(dst, 67))
		require.ErrorIs(t, err, stack.ErrBroadcastForbidden)
	}
	f.quiet()
	ep.SetBroadcast(true)
	assert.True(t, ep.Broadcast())
	for _, dst := range []netip.Addr{allOnes, bcast} {
		require.NoError(t, ep.SendTo([]byte("x"), ap(dst, 67)))
		stacktest.Frame(t, f.next(), stacktest.DstMAC(wire.BroadcastMAC),
			stacktest.HasIPv4(ourAddr, dst, wire.IPProtocolUDP, stacktest.HasUDP(68, 67, []byte("x"))))
	}
	assert.Empty(t, f.s.ARPTable(), "broadcast needs no resolution")
}

func TestUDPSendErrors(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:1000")
	assert.ErrorIs(t, ep.SendTo(nil, ap(peer.Addr, 0)), stack.ErrInvalidAddr)
	assert.ErrorIs(t, ep.SendTo(nil, netip.AddrPortFrom(netip.IPv6Loopback(), 5)), stack.ErrInvalidAddr)
	assert.ErrorIs(t, ep.SendTo(make([]byte, stack.MaxUDPPayload+1), ap(peer.Addr, 5)), stack.ErrMessageTooLong)
	assert.ErrorIs(t, ep.Send(nil), stack.ErrNotConnected)
	f.quiet()
}

func TestUDPConnectFiltersAndSends(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	ep := f.bind("0.0.0.0:1000")
	require.NoError(t, ep.Connect(ap(peer.Addr, 2000)))
	assert.Equal(t, ap(peer.Addr, 2000), ep.RemoteAddr())
	require.NoError(t, ep.Send([]byte("to peer")))
	stacktest.Frame(t, f.next(), stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolUDP, stacktest.HasUDP(1000, 2000, []byte("to peer"))))

	f.inject(peer.UDPFrame(ourMAC, 2000, ap(ourAddr, 1000), []byte("ok")))
	f.inject(peer.UDPFrame(ourMAC, 2001, ap(ourAddr, 1000), []byte("other port")))
	f.inject(peer2.UDPFrame(ourMAC, 2000, ap(ourAddr, 1000), []byte("other host")))
	assert.Equal(t, 1, ep.Len())
	assert.EqualValues(t, 2, ep.Stats().RxFiltered)
	require.NoError(t, ep.Connect(netip.AddrPort{}))
	f.inject(peer2.UDPFrame(ourMAC, 2000, ap(ourAddr, 1000), []byte("other host")))
	assert.Equal(t, 2, ep.Len())
	assert.ErrorIs(t, ep.Connect(ap(peer.Addr, 0)), stack.ErrInvalidAddr)
}

func TestUDPToSelfLoopsBack(t *testing.T) {
	f := newFixture(t, 0)
	a := f.bind("0.0.0.0:1000")
	b := f.bind("0.0.0.0:2000")
	require.NoError(t, a.SendTo([]byte("self"), ap(ourAddr, 2000)))
	f.quiet()
	buf := make([]byte, 10)
	n, meta, err := b.Dequeue(buf)
	require.NoError(t, err)
	assert.Equal(t, "self", string(buf[:n]))
	assert.Equal(t, ap(ourAddr, 1000), meta.From)
}

func TestUDPMalformedDropped(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:7")
	good := stacktest.UDP(ap(peer.Addr, 4000), ap(ourAddr, 7), []byte("payload"))

	short := good[:7]
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolUDP, short))

	long := append([]byte(nil), good...)
	long[5] += 10 // length beyond the IP payload
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolUDP, long))

	tiny := append([]byte(nil), good...)
	tiny[4], tiny[5] = 0, 7 // length below the header
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolUDP, tiny))

	sum := append([]byte(nil), good...)
	sum[len(sum)-1] ^= 0x55
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolUDP, sum))

	zero := append([]byte(nil), good...)
	zero[len(zero)-1] ^= 0x55
	zero[6], zero[7] = 0, 0 // no checksum: accepted
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolUDP, zero))

	c := f.s.Counters().UDP
	assert.EqualValues(t, 1, c.RxTruncated)
	assert.EqualValues(t, 2, c.RxBadLength)
	assert.EqualValues(t, 1, c.RxBadChecksum)
	assert.Equal(t, 1, ep.Len())
	f.quiet()
}

func TestUDPConnectedEndpointLearnsPortUnreachable(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	conn := f.bind("0.0.0.0:1000")
	free := f.bind("0.0.0.0:1001")
	require.NoError(t, conn.Connect(ap(peer.Addr, 2000)))
	notified := 0
	conn.SetNotify(func() { notified++ })

	// What peer's stack would answer to our datagram from port p.
	unreachable := func(sport uint16) []byte {
		orig := stacktest.IPv4(wire.IPv4Repr{Src: ourAddr, Dst: peer.Addr, Protocol: wire.IPProtocolUDP},
			stacktest.UDP(ap(ourAddr, sport), ap(peer.Addr, 2000), []byte("data")))
		return peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP,
			stacktest.ICMP(wire.ICMPv4Repr{Type: wire.ICMPv4DstUnreachable, Code: wire.ICMPv4PortUnreachable}, orig))
	}
	f.inject(unreachable(1000))
	assert.Equal(t, 1, notified)
	assert.ErrorIs(t, conn.TakeError(), stack.ErrConnRefused)
	assert.NoError(t, conn.TakeError(), "the error is reported once")

	f.inject(unreachable(1001))
	assert.NoError(t, free.TakeError(), "unconnected endpoints are not told")
	assert.EqualValues(t, 1, f.counter("udp.RxICMPErrors"))
	f.quiet()
}

func TestUDPSelfEchoDoesNotMonopolise(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:7")
	buf := make([]byte, 64)
	echoes := 0
	ep.SetNotify(func() {
		n, meta, err := ep.Dequeue(buf)
		require.NoError(t, err)
		echoes++
		require.NoError(t, ep.SendTo(buf[:n], meta.From)) // to itself
	})
	require.NoError(t, ep.SendTo([]byte("loop"), ap(ourAddr, 7)))
	// Each call into the stack moves the loop one step; the owner learns
	// through NextDeadline that more is due now.
	assert.Equal(t, 1, echoes)
	dl, ok := f.s.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, f.clock.Now(), dl)
	f.s.Tick()
	assert.Equal(t, 2, echoes)
}

func TestUDPToLocalhost(t *testing.T) {
	f := newFixture(t, 0)
	a := f.bind("0.0.0.0:1000")
	b := f.bind("0.0.0.0:2000")
	localhost := netip.MustParseAddr("127.0.0.1")
	require.NoError(t, a.SendTo([]byte("lo"), ap(localhost, 2000)))
	f.quiet()
	buf := make([]byte, 10)
	n, meta, err := b.Dequeue(buf)
	require.NoError(t, err)
	assert.Equal(t, "lo", string(buf[:n]))
	assert.Equal(t, ap(localhost, 1000), meta.From)
	assert.Equal(t, localhost, meta.To)

	// A closed port on localhost refuses a connected sender, as on Linux.
	require.NoError(t, a.Connect(ap(localhost, 3000)))
	require.NoError(t, a.Send([]byte("anyone?")))
	f.s.Tick() // the ICMP error was looped back after the send
	assert.ErrorIs(t, a.TakeError(), stack.ErrConnRefused)
	f.quiet()

	// From the wire, loopback addresses are martians.
	lo := stacktest.Host{MAC: peer.MAC, Addr: localhost}
	f.inject(lo.UDPFrame(ourMAC, 1, ap(ourAddr, 2000), nil))
	f.inject(peer.UDPFrame(ourMAC, 1, ap(localhost, 2000), nil))
	assert.EqualValues(t, 1, f.counter("ipv4.RxBadSource"))
	assert.EqualValues(t, 1, f.counter("ipv4.RxNotForUs"))
	assert.Zero(t, b.Len())
}
