package stack_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libipc/skbuff"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

// checkCounterInvariants asserts that every received frame is accounted for
// exactly once at each layer it reached.
func checkCounterInvariants(t testing.TB, c stack.Counters, frames uint64) {
	t.Helper()
	l, a, ip, icmp, udp := c.Link, c.ARP, c.IPv4, c.ICMP, c.UDP
	require.Equal(t, frames, l.RxFrames)
	require.Equal(t, l.RxFrames, l.RxTruncated+l.RxNotForUs+l.RxOwnSource+l.RxUnknownType+a.RxPackets+ip.RxPackets-ip.TxLoopback, "link layer:\n%s", c)
	require.Equal(t, a.RxPackets, a.RxMalformed+a.RxBadOpcode+a.RxRequests+a.RxReplies, "arp:\n%s", c)
	ipDrops := ip.RxTruncated + ip.RxBadVersion + ip.RxBadHeaderLen + ip.RxBadTotalLen + ip.RxBadChecksum + ip.RxBadSource + ip.RxNotForUs
	require.Equal(t, ip.RxPackets+ip.Reassembled, ipDrops+ip.RxFragments+ip.RxDelivered+ip.RxUnknownProtocol, "ipv4:\n%s", c)
	require.Equal(t, ip.RxDelivered, icmp.RxMessages+udp.RxDatagrams, "delivery:\n%s", c)
	require.Equal(t, udp.RxDatagrams, udp.RxTruncated+udp.RxBadLength+udp.RxBadChecksum+udp.RxNoPort+udp.RxNoPortBcast+udp.RxFiltered+udp.RxQueueFull+udp.RxDelivered, "udp:\n%s", c)
	require.LessOrEqual(t, icmp.TxDestUnreachable+icmp.TxTimeExceeded+icmp.TxEchoReplies, frames, "at most one ICMP answer per frame")
}

func FuzzInput(f *testing.F) {
	f.Add(peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 7), []byte("hello")))
	f.Add(peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 9), []byte("closed port")))
	f.Add(peer.UDPFrame(wire.BroadcastMAC, 68, ap(allOnes, 67), []byte("dhcp")))
	f.Add(peer.ARPRequest(ourAddr))
	f.Add(peer.ARPReply(ourMAC, ourAddr))
	f.Add(stacktest.ARP(wire.ARPRequest, peer2.MAC, peer2.Addr, wire.MAC{}, peer2.Addr))
	f.Add(peer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4Echo, 1, 2, []byte("ping")))
	f.Add(peer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4EchoReply, 1, 2, []byte("pong")))
	f.Add(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolTCP, []byte("tcp")))
	for _, fr := range udpFragments(pattern(2000), 576, 3) {
		f.Add(fr)
	}
	orig := stacktest.IPv4(wire.IPv4Repr{Src: ourAddr, Dst: peer.Addr, Protocol: wire.IPProtocolUDP},
		stacktest.UDP(ap(ourAddr, 7), ap(peer.Addr, 2000), []byte("data")))
	f.Add(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP,
		stacktest.ICMP(wire.ICMPv4Repr{Type: wire.ICMPv4DstUnreachable, Code: wire.ICMPv4PortUnreachable}, orig)))
	f.Add(goodUDP()[:30])
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, frame []byte) {
		fx := newFixture(t, 576)
		ep := fx.bind("0.0.0.0:7")
		require.NoError(t, ep.Connect(ap(peer.Addr, 2000)))
		fx.learn(peer)
		fx.link.Discard = true
		before := skbuff.Default.Stats()
		// The frame twice (duplicates, repeated fragments), then timers.
		fx.inject(frame)
		fx.inject(frame)
		fx.clock.Advance(stack.ReasmTimeout + time.Second)
		fx.s.Tick()
		checkCounterInvariants(t, fx.s.Counters(), 3) // learn + 2

		// No buffer leaks: everything taken from the pool was freed,
		// except datagrams still queued on the endpoint or awaiting ARP.
		queued := uint64(ep.Len())
		for _, e := range fx.s.ARPTable() {
			queued += uint64(e.Queued)
		}
		after := skbuff.Default.Stats()
		require.Equal(t, after.Gets-before.Gets, after.Frees-before.Frees+queued, "buffers leaked")
		require.Equal(t, before.DoubleFrees, after.DoubleFrees)
		require.NoError(t, ep.Close())
	})
}
