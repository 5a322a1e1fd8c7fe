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

// Drop reasons not reached by TestMalformedFramesAreDroppedAndCounted: each
// test provokes one and checks that it lands in its own counter (and, where
// it matters, that nothing leaks past it).

// fragFrame returns a frame with one IPv4 fragment from peer to us.
func fragFrame(id uint16, offset int, more bool, payload []byte) []byte {
	pkt := stacktest.IPv4(wire.IPv4Repr{Src: peer.Addr, Dst: ourAddr, Protocol: wire.IPProtocolUDP,
		ID: id, FragmentOffset: offset, MoreFragments: more}, payload)
	return stacktest.Ethernet(ourMAC, peer.MAC, wire.EtherTypeIPv4, pkt)
}

func TestReassemblyEmptyFragmentIsCounted(t *testing.T) {
	f := newFixture(t, 0)
	// A non-last fragment carries whole 8-byte units: 7 bytes trim to none.
	f.inject(fragFrame(1, 0, true, make([]byte, 7)))
	assert.EqualValues(t, 1, f.counter("ipv4.RxFragments"))
	assert.EqualValues(t, 1, f.counter("ipv4.ReasmBadFragment"))
	// Nothing is held for it: no reassembly to time out.
	_, pending := f.s.NextDeadline()
	assert.False(t, pending)
	f.quiet()
}

func TestReassemblyConflictingLastFragmentsDiscardDatagram(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:7")
	f.inject(fragFrame(2, 16, false, make([]byte, 8))) // ends at 24
	f.inject(fragFrame(2, 32, false, make([]byte, 8))) // claims to end at 40
	assert.EqualValues(t, 1, f.counter("ipv4.ReasmInconsistent"))
	assert.EqualValues(t, 1, f.counter("ipv4.ReasmFragsDropped"), "the held fragment goes with the datagram")
	// The datagram is gone: the first fragment completes nothing.
	f.inject(fragFrame(2, 0, true, make([]byte, 16)))
	assert.Zero(t, ep.Len())
	assert.Zero(t, f.counter("ipv4.Reassembled"))
	f.tick(stack.ReasmTimeout)
	assert.EqualValues(t, 1, f.counter("ipv4.ReasmTimeout"))
}

func TestARPEvictionDropsQueuedPacketsAndCountsThem(t *testing.T) {
	f := newFixture(t, 0)
	f.link.Discard = true
	ep := f.bind("0.0.0.0:5000")
	// One queued datagram for each of ARPCacheSize unresolved neighbours.
	hosts := stack.ARPCacheSize + 1
	require.Less(t, hosts, 250, "the test subnet is a /24")
	for i := range hosts {
		dst := subnet.Addr().As4()
		dst[3] = byte(i + 1)
		if dst[3] == ourAddr.As4()[3] {
			dst[3] = 254
		}
		require.NoError(t, ep.SendTo([]byte("x"), ap(netip.AddrFrom4(dst), 9)))
	}
	c := f.s.Counters()
	assert.EqualValues(t, hosts, c.ARP.QueuedPackets)
	assert.EqualValues(t, 1, c.ARP.Evictions)
	assert.EqualValues(t, 1, c.ARP.PendingEvicted, "the evicted entry's packet is dropped and counted")
	assert.Len(t, f.s.ARPTable(), stack.ARPCacheSize)
}

func TestLoopbackQueueOverflowIsCounted(t *testing.T) {
	f := newFixture(t, 576)
	ep := f.bind("0.0.0.0:7")
	// The largest datagram to ourselves at MTU 576 is 119 fragments, more
	// than the loopback queue holds while one call runs.
	chunk := (576 - wire.IPv4MinHeaderLen) &^ 7
	frags := (wire.UDPHeaderLen + stack.MaxUDPPayload + chunk - 1) / chunk
	require.Greater(t, frags, stack.LoopbackQueueLen)
	err := ep.SendTo(make([]byte, stack.MaxUDPPayload), ap(ourAddr, 7))
	require.ErrorIs(t, err, stack.ErrNoBuffer)
	c := f.s.Counters()
	assert.EqualValues(t, stack.LoopbackQueueLen, c.IPv4.TxLoopback)
	assert.EqualValues(t, frags-stack.LoopbackQueueLen, c.IPv4.TxLoopbackDrop)
	assert.EqualValues(t, frags, c.IPv4.TxFragments)
	assert.Zero(t, ep.Len(), "an incomplete datagram is never delivered")
	f.quiet()
}

func TestSendIPTooBigIsCounted(t *testing.T) {
	f := newFixture(t, 0)
	err := f.s.SendIP(peer.Addr, 253, make([]byte, wire.IPv4MaxTotalLen-wire.IPv4MinHeaderLen+1))
	require.ErrorIs(t, err, stack.ErrMessageTooLong)
	assert.EqualValues(t, 1, f.counter("ipv4.TxTooBig"))
	f.quiet()
}

func TestICMPReceivedTypesAreCounted(t *testing.T) {
	f := newFixture(t, 0)
	orig := stacktest.IPv4(wire.IPv4Repr{Src: ourAddr, Dst: remote, Protocol: wire.IPProtocolUDP},
		stacktest.UDP(ap(ourAddr, 5000), ap(remote, 9), []byte("data")))
	f.inject(gateway.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP,
		stacktest.ICMP(wire.ICMPv4Repr{Type: wire.ICMPv4TimeExceeded, Code: wire.ICMPv4TTLExceeded}, orig)))
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP,
		stacktest.ICMP(wire.ICMPv4Repr{Type: wire.ICMPv4Timestamp}, make([]byte, 12))))
	f.inject(peer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4EchoReply, 9, 9, []byte("stray")))
	c := f.s.Counters()
	assert.EqualValues(t, 3, c.ICMP.RxMessages)
	assert.EqualValues(t, 1, c.ICMP.RxTimeExceeded)
	assert.EqualValues(t, 1, c.ICMP.RxOtherTypes)
	assert.EqualValues(t, 1, c.ICMP.RxEchoReplies)
	assert.EqualValues(t, 1, c.ICMP.RxEchoUnmatched)
	f.quiet()
}

func TestTransmitCountersMatchTheLink(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer) // one ARP reply, padded to the 60-byte minimum
	c := f.s.Counters()
	assert.EqualValues(t, 1, c.ARP.Learned)
	assert.EqualValues(t, 1, c.Link.TxFrames)
	assert.EqualValues(t, wire.EthernetMinFrameLen, c.Link.TxBytes)

	require.NoError(t, f.s.Ping(peer.Addr, 1, 1, make([]byte, 100)))
	fr := f.next()
	stacktest.Frame(t, fr, stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolICMP, stacktest.TTL(stack.DefaultTTL)))
	c = f.s.Counters()
	assert.EqualValues(t, 1, c.ICMP.TxEchoRequests)
	assert.EqualValues(t, 1, c.IPv4.TxPackets)
	assert.EqualValues(t, 2, c.Link.TxFrames)
	assert.EqualValues(t, wire.EthernetMinFrameLen+len(fr), c.Link.TxBytes)
}

func TestAnnounceIsRateLimited(t *testing.T) {
	f := newFixture(t, 0)
	for range stack.ARPRequestBurst + 2 {
		f.s.Announce()
	}
	assert.Equal(t, stack.ARPRequestBurst, f.link.Len())
	assert.EqualValues(t, 2, f.counter("arp.RateLimited"))
	assert.EqualValues(t, stack.ARPRequestBurst, f.counter("arp.TxRequests"))
	f.link.Drain()
	f.tick(time.Second / stack.ARPRequestsPerSecond)
	f.s.Announce()
	assert.Equal(t, 1, f.link.Len(), "a token came back")
}
