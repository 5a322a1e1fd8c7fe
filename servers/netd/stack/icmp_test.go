package stack_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

func TestEchoRequestIsAnswered(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	data := []byte("abcdefghijklmnopqrstuvwabcdefghi")
	f.inject(peer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4Echo, 0x1234, 7, data))
	stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC),
		stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolICMP, stacktest.TTL(stack.DefaultTTL),
			stacktest.HasEcho(wire.ICMPv4EchoReply, 0x1234, 7, data)))
	c := f.s.Counters().ICMP
	assert.EqualValues(t, 1, c.RxEchoRequests)
	assert.EqualValues(t, 1, c.TxEchoReplies)
}

func TestEchoRequestFromUnknownPeerResolvesFirst(t *testing.T) {
	f := newFixture(t, 0)
	f.inject(peer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4Echo, 1, 1, []byte("x")))
	stacktest.Frame(t, f.next(), stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, wire.MAC{}, peer.Addr))
	f.inject(peer.ARPReply(ourMAC, ourAddr))
	stacktest.Frame(t, f.next(), stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolICMP, stacktest.HasEcho(wire.ICMPv4EchoReply, 1, 1, []byte("x"))))
}

func TestEchoToBroadcastIgnored(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	f.inject(peer.EchoFrame(wire.BroadcastMAC, bcast, wire.ICMPv4Echo, 1, 1, nil))
	f.inject(peer.EchoFrame(wire.BroadcastMAC, allOnes, wire.ICMPv4Echo, 1, 2, nil))
	f.quiet()
	assert.EqualValues(t, 2, f.counter("icmp.RxEchoBroadcast"))
}

func TestPingReportsRoundTripTime(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	var got []stack.EchoReply
	f.s.SetEchoHandler(func(r stack.EchoReply) { got = append(got, r) })
	data := []byte("0123456789")
	require.NoError(t, f.s.Ping(peer.Addr, 42, 1, data))
	req := stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC),
		stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolICMP, stacktest.HasEcho(wire.ICMPv4Echo, 42, 1, data)))
	require.NotNil(t, req.ICMP)

	f.clock.Advance(3 * time.Millisecond)
	f.inject(peer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4EchoReply, 42, 1, data))
	require.Len(t, got, 1)
	assert.Equal(t, stack.EchoReply{From: peer.Addr, ID: 42, Seq: 1, RTT: 3 * time.Millisecond, Len: len(data), TTL: 64}, got[0])

	// A duplicate reply, or one for a ping never sent, is unmatched.
	f.inject(peer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4EchoReply, 42, 1, data))
	f.inject(peer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4EchoReply, 42, 99, data))
	assert.Len(t, got, 1)
	assert.EqualValues(t, 2, f.counter("icmp.RxEchoUnmatched"))
}

func TestPingThroughGatewayAndTableBound(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(gateway)
	for seq := range stack.PingOutstanding + 1 {
		require.NoError(t, f.s.Ping(remote, 1, uint16(seq), nil))
		stacktest.Frame(t, f.next(), stacktest.DstMAC(gateway.MAC), stacktest.HasIPv4(ourAddr, remote, wire.IPProtocolICMP))
	}
	assert.EqualValues(t, 1, f.counter("icmp.PingTableFull"))
	var got []stack.EchoReply
	f.s.SetEchoHandler(func(r stack.EchoReply) { got = append(got, r) })
	far := stacktest.Host{MAC: gateway.MAC, Addr: remote}
	f.inject(far.EchoFrame(ourMAC, ourAddr, wire.ICMPv4EchoReply, 1, 0, nil))
	assert.Empty(t, got, "the oldest ping was forgotten")
	f.inject(far.EchoFrame(ourMAC, ourAddr, wire.ICMPv4EchoReply, 1, stack.PingOutstanding, nil))
	assert.Len(t, got, 1)
}

func TestPingErrors(t *testing.T) {
	f := newFixture(t, 0)
	err := f.s.Ping(netipUnspecified(), 1, 1, nil)
	assert.ErrorIs(t, err, stack.ErrInvalidAddr)
	err = f.s.Ping(peer.Addr, 1, 1, make([]byte, 70000))
	assert.ErrorIs(t, err, stack.ErrMessageTooLong)
}

func TestPingSelfLoopsBack(t *testing.T) {
	f := newFixture(t, 0)
	var got []stack.EchoReply
	f.s.SetEchoHandler(func(r stack.EchoReply) { got = append(got, r) })
	require.NoError(t, f.s.Ping(ourAddr, 5, 6, []byte("me")))
	// The request was delivered on the way out of Ping; the reply it caused
	// waits for the next call into the stack, which is due at once.
	dl, ok := f.s.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, f.clock.Now(), dl)
	f.s.Tick()
	f.quiet()
	require.Len(t, got, 1)
	assert.Equal(t, ourAddr, got[0].From)
	assert.EqualValues(t, 2, f.counter("ipv4.TxLoopback"), "request and reply")
}

func TestPortUnreachable(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	frame := peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 9999), []byte("anyone?"))
	f.inject(frame)
	stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC),
		stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolICMP,
			stacktest.HasICMP(wire.ICMPv4DstUnreachable, wire.ICMPv4PortUnreachable),
			stacktest.Quotes(frame[wire.EthernetHeaderLen:])))
	assert.EqualValues(t, 1, f.counter("udp.RxNoPort"))
	assert.EqualValues(t, 1, f.counter("icmp.TxDestUnreachable"))
}

func TestPortUnreachableNeverForBroadcast(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	f.inject(peer.UDPFrame(wire.BroadcastMAC, 4000, ap(allOnes, 9999), nil))
	f.inject(peer.UDPFrame(wire.BroadcastMAC, 4000, ap(bcast, 9999), nil))
	f.inject(peer.UDPFrame(wire.BroadcastMAC, 4000, ap(ourAddr, 9999), nil)) // L2 broadcast
	f.quiet()
	assert.EqualValues(t, 3, f.counter("udp.RxNoPortBcast"))
	assert.Zero(t, f.counter("icmp.TxDestUnreachable"))
}

func TestPortUnreachableIsRateLimitedPerDestination(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	for range stack.ICMPPeerBurst + 4 {
		f.inject(peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 9999), nil))
	}
	assert.Equal(t, stack.ICMPPeerBurst, f.link.Len())
	assert.EqualValues(t, 4, f.counter("icmp.ErrPeerRateLimited"))
	f.link.Drain()
	// Another host still gets its errors.
	f.learn(peer2)
	f.inject(peer2.UDPFrame(ourMAC, 4000, ap(ourAddr, 9999), nil))
	stacktest.Frame(t, f.next(), stacktest.DstMAC(peer2.MAC), stacktest.HasICMP(wire.ICMPv4DstUnreachable, wire.ICMPv4PortUnreachable))
	// And the first one again after a second.
	f.clock.Advance(time.Second / stack.ICMPPeerPerSecond)
	f.inject(peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 9999), nil))
	f.inject(peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 9999), nil))
	assert.Equal(t, 1, f.link.Len(), "one token back after one interval")
}

func TestPortUnreachableIsRateLimitedGlobally(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(gateway)
	// Many sources beyond the gateway, one datagram each.
	n := stack.ICMPErrorBurst + 10
	for i := range n {
		h := stacktest.Host{MAC: gateway.MAC, Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})}
		f.inject(h.UDPFrame(ourMAC, 4000, ap(ourAddr, 9999), nil))
	}
	assert.Equal(t, stack.ICMPErrorBurst, f.link.Len())
	assert.EqualValues(t, stack.ICMPErrorBurst, f.counter("icmp.TxDestUnreachable"))
	assert.EqualValues(t, 10, f.counter("icmp.ErrRateLimited"))
	assert.Zero(t, f.counter("icmp.ErrPeerRateLimited"))
	f.link.Drain()
	f.clock.Advance(time.Second / stack.ICMPErrorsPerSecond)
	f.inject(stacktest.Host{MAC: gateway.MAC, Addr: remote}.UDPFrame(ourMAC, 4000, ap(ourAddr, 9999), nil))
	assert.Equal(t, 1, f.link.Len(), "one token back after one interval")
}

func TestNoICMPErrorAboutICMPError(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	// An ICMP error sent to us is counted, never answered; an unknown
	// protocol gets protocol unreachable, unless the datagram was broadcast.
	quote := stacktest.IPv4(wire.IPv4Repr{Src: ourAddr, Dst: peer.Addr, Protocol: wire.IPProtocolUDP}, make([]byte, 8))
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP, stacktest.ICMP(wire.ICMPv4Repr{Type: wire.ICMPv4DstUnreachable, Code: wire.ICMPv4PortUnreachable}, quote)))
	f.quiet()
	assert.EqualValues(t, 1, f.counter("icmp.RxDestUnreachable"))

	f.inject(peer.IPFrame(ourMAC, ourAddr, 253, []byte("experimental")))
	stacktest.Frame(t, f.next(), stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolICMP,
		stacktest.HasICMP(wire.ICMPv4DstUnreachable, wire.ICMPv4ProtoUnreachable)))
	f.inject(peer.IPFrame(wire.BroadcastMAC, bcast, 253, []byte("experimental")))
	f.quiet()
	assert.EqualValues(t, 2, f.counter("ipv4.RxUnknownProtocol"))
}

func TestICMPMalformedDropped(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP, []byte{8, 0, 0}))
	m := stacktest.ICMP(wire.ICMPv4Repr{Type: wire.ICMPv4Echo, Ident: 1, Seq: 1}, []byte("data"))
	m[9] ^= 0xff
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP, m))
	f.quiet()
	c := f.s.Counters().ICMP
	assert.EqualValues(t, 1, c.RxTruncated)
	assert.EqualValues(t, 1, c.RxBadChecksum)
	assert.Zero(t, c.TxEchoReplies)
}

func TestEchoInEthernetBroadcastToOurAddressIsAnswered(t *testing.T) {
	// RFC 1122 lets a host ignore echo requests to an IP broadcast
	// address; one to our unicast address is answered even if the frame
	// was an Ethernet broadcast (as Linux does).
	f := newFixture(t, 0)
	f.learn(peer)
	f.inject(peer.EchoFrame(wire.BroadcastMAC, ourAddr, wire.ICMPv4Echo, 3, 3, nil))
	stacktest.Frame(t, f.next(), stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolICMP, stacktest.HasEcho(wire.ICMPv4EchoReply, 3, 3, nil)))
}
