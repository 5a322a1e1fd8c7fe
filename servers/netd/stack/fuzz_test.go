package stack_test

import (
	"net/netip"
	"slices"
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

// seqFrame encodes one frame for FuzzSequence.
func seqFrame(frame []byte) []byte {
	return append([]byte{0, byte(len(frame) >> 8), byte(len(frame))}, frame...)
}

// FuzzSequence drives the stack with an arbitrary script of received
// frames, UDP sends, pings and clock advances, so that stateful paths (ARP
// resolution and its queues, probes, reassembly, ICMP rate limits) meet
// arbitrary input in arbitrary order. Script ops, by the low 2 bits of a
// byte: 0 a frame (2-byte length, then the bytes), 1 a UDP send of
// (op>>2)*200 bytes and 2 a ping, both to the host named by the next byte
// (0: beyond the gateway, 255: broadcast), 3 advance the clock by
// (op>>2)*250ms and Tick. Invariants: no panic, every received frame
// accounted for once, no buffer leaked, and once all timers have run no
// packet is left waiting for ARP.
func FuzzSequence(f *testing.F) {
	f.Add(slices.Concat(seqFrame(goodUDP()), []byte{1, 20, 3<<2 | 3}, seqFrame(peer2.ARPReply(ourMAC, ourAddr))))
	f.Add(slices.Concat([]byte{40<<2 | 1, 21, 2, 21}, seqFrame(peer2.ARPReply(ourMAC, ourAddr)), []byte{63<<2 | 3}))
	f.Add(slices.Concat(seqFrame(peer.ARPRequest(ourAddr)), []byte{2, 20, 63<<2 | 3, 63<<2 | 3, 2, 20}))
	frags := udpFragments(pattern(2000), 576, 3)
	f.Add(slices.Concat(seqFrame(frags[1]), []byte{10<<2 | 3}, seqFrame(frags[0]), seqFrame(frags[2]), seqFrame(frags[0])))
	f.Add(slices.Concat([]byte{5<<2 | 1, 0, 2, 255}, seqFrame(gateway.ARPReply(ourMAC, ourAddr))))
	f.Add(slices.Concat(seqFrame(peer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4Echo, 1, 2, []byte("ping"))), []byte{3}))

	f.Fuzz(func(t *testing.T, script []byte) {
		fx := newFixture(t, 576)
		ep := fx.bind("0.0.0.0:7")
		ep.SetBroadcast(true)
		fx.link.Discard = true
		before := skbuff.Default.Stats()
		frames := uint64(0)
		host := func(b byte) netip.Addr {
			switch b {
			case 0:
				return remote
			case 255:
				return bcast
			case ourAddr.As4()[3]:
				b++ // not ourselves: looped datagrams are not frames
			}
			return netip.AddrFrom4([4]byte{10, 0, 2, b})
		}
		for steps := 0; len(script) > 0 && steps < 64; steps++ {
			op := script[0]
			script = script[1:]
			switch op & 3 {
			case 0:
				if len(script) < 2 {
					return
				}
				n := min(int(script[0])<<8|int(script[1]), len(script)-2)
				fx.inject(script[2 : 2+n])
				script = script[2+n:]
				frames++
			case 1, 2:
				if len(script) < 1 {
					return
				}
				dst := host(script[0])
				script = script[1:]
				if op&3 == 1 {
					_ = ep.SendTo(make([]byte, int(op>>2)*200), ap(dst, 9))
				} else {
					_ = fx.s.Ping(dst, 7, uint16(steps), []byte("fuzz"))
				}
			case 3:
				fx.tick(time.Duration(op>>2) * 250 * time.Millisecond)
			}
			checkCounterInvariants(t, fx.s.Counters(), frames)
			checkARPDeadline(t, fx.s)
		}
		// Run every timer out: unanswered resolutions give up and free
		// what waited for them; reassemblies expire.
		for range 120 {
			if _, ok := fx.s.NextDeadline(); !ok {
				break
			}
			fx.tick(time.Second)
		}
		for _, e := range fx.s.ARPTable() {
			require.Zero(t, e.Queued, "packets still waiting for ARP after every timer ran: %v", e)
		}
		// Closing the endpoint frees its queue: then every buffer taken
		// from the pool has gone back.
		require.NoError(t, ep.Close())
		after := skbuff.Default.Stats()
		require.Equal(t, after.Gets-before.Gets, after.Frees-before.Frees, "buffers leaked")
		require.Equal(t, before.DoubleFrees, after.DoubleFrees)
	})
}

// checkARPDeadline requires the neighbour cache's remembered earliest
// deadline to be what a scan of every entry finds.
func checkARPDeadline(t *testing.T, s *stack.Stack) {
	t.Helper()
	got, gotOK, want := stack.ARPDeadlines(s)
	require.Equal(t, !want.IsZero(), gotOK, "ARP deadline pending")
	require.True(t, want.Equal(got), "ARP deadline remembered %v, entries say %v", got, want)
}
