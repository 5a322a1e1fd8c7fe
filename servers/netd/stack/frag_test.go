package stack_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31 + i>>8)
	}
	return p
}

// udpFragments returns the frames of a UDP datagram from peer to our port 7
// split at mtu, with IP identification id.
func udpFragments(payload []byte, mtu int, id uint16) [][]byte {
	pkt := stacktest.IPv4(wire.IPv4Repr{Src: peer.Addr, Dst: ourAddr, Protocol: wire.IPProtocolUDP, ID: id},
		stacktest.UDP(ap(peer.Addr, 4000), ap(ourAddr, 7), payload))
	var frames [][]byte
	for _, fr := range stacktest.Fragments(pkt, mtu) {
		frames = append(frames, stacktest.Ethernet(ourMAC, peer.MAC, wire.EtherTypeIPv4, fr))
	}
	return frames
}

func recvAll(t *testing.T, ep *stack.UDPEndpoint) [][]byte {
	var out [][]byte
	for {
		buf := make([]byte, 70000)
		n, _, err := ep.Dequeue(buf)
		if err != nil {
			require.ErrorIs(t, err, stack.ErrWouldBlock)
			return out
		}
		out = append(out, buf[:n])
	}
}

func TestReassemblyOrders(t *testing.T) {
	payload := pattern(4000)
	for name, order := range map[string][]int{
		"in order":     {0, 1, 2},
		"reversed":     {2, 1, 0},
		"last first":   {2, 0, 1},
		"first last":   {1, 2, 0},
		"with dup":     {0, 1, 1, 2},
		"dup complete": {0, 2, 0, 1},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, 0)
			ep := f.bind("0.0.0.0:7")
			frames := udpFragments(payload, 1500, 99)
			require.Len(t, frames, 3)
			for _, i := range order {
				f.inject(frames[i])
			}
			got := recvAll(t, ep)
			require.Len(t, got, 1)
			assert.True(t, bytes.Equal(payload, got[0]))
			assert.EqualValues(t, 1, f.counter("ipv4.Reassembled"))
			assert.EqualValues(t, len(order), f.counter("ipv4.RxFragments"))
			assert.EqualValues(t, len(order)-3, f.counter("ipv4.ReasmDuplicate"))
			_, pending := f.s.NextDeadline()
			assert.False(t, pending, "nothing left to time out")
		})
	}
}

func TestReassemblyInterleavedDatagrams(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:7")
	a, b := pattern(3000), bytes.Repeat([]byte{0xab}, 2500)
	fa, fb := udpFragments(a, 1000, 1), udpFragments(b, 1000, 2)
	for i := range max(len(fa), len(fb)) {
		if i < len(fb) {
			f.inject(fb[len(fb)-1-i])
		}
		if i < len(fa) {
			f.inject(fa[i])
		}
	}
	got := recvAll(t, ep)
	require.Len(t, got, 2)
	assert.True(t, bytes.Equal(b, got[0]))
	assert.True(t, bytes.Equal(a, got[1]))
}

func TestReassemblyOverlapDiscardsDatagram(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:7")
	payload := pattern(3000)
	frames := udpFragments(payload, 1500, 5)
	f.inject(frames[0])
	// A fragment that overlaps the first one's end with different data
	// (the teardrop shape).
	pkt := stacktest.IPv4(wire.IPv4Repr{Src: peer.Addr, Dst: ourAddr, Protocol: wire.IPProtocolUDP, ID: 5, FragmentOffset: 1472, MoreFragments: true}, make([]byte, 800))
	f.inject(stacktest.Ethernet(ourMAC, peer.MAC, wire.EtherTypeIPv4, pkt))
	assert.EqualValues(t, 1, f.counter("ipv4.ReasmOverlap"))
	assert.EqualValues(t, 1, f.counter("ipv4.ReasmFragsDropped"))
	// The rest of the datagram starts a new reassembly that never completes.
	f.inject(frames[1])
	f.inject(frames[2])
	assert.Zero(t, ep.Len())
	f.tick(stack.ReasmTimeout)
	assert.EqualValues(t, 1, f.counter("ipv4.ReasmTimeout"))
	assert.EqualValues(t, 3, f.counter("ipv4.ReasmFragsDropped"))
}

func TestReassemblyTimeout(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	ep := f.bind("0.0.0.0:7")
	frames := udpFragments(pattern(3000), 1500, 6)
	f.inject(frames[0])
	f.inject(frames[2])
	dl, ok := f.s.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, stacktest.FakeEpoch.Add(stack.ReasmTimeout), dl)
	f.tick(stack.ReasmTimeout - time.Millisecond)
	f.quiet()
	f.tick(time.Millisecond)
	// Like Linux: the first fragment arrived, so the sender hears of it.
	stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC),
		stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolICMP,
			stacktest.HasICMP(wire.ICMPv4TimeExceeded, wire.ICMPv4ReassemblyExceeded)))
	assert.EqualValues(t, 1, f.counter("ipv4.ReasmTimeout"))
	assert.EqualValues(t, 2, f.counter("ipv4.ReasmFragsDropped"))
	// The late fragment starts over and expires silently (no first fragment).
	f.inject(frames[1])
	assert.Zero(t, ep.Len())
	f.tick(stack.ReasmTimeout)
	assert.EqualValues(t, 1, f.counter("icmp.TxTimeExceeded"))
	assert.EqualValues(t, 2, f.counter("ipv4.ReasmTimeout"))
}

func TestReassemblyRejectsOversizeAndBounds(t *testing.T) {
	f := newFixture(t, 0)
	// Ping of death: a fragment reaching past 65535 bytes.
	pkt := stacktest.IPv4(wire.IPv4Repr{Src: peer.Addr, Dst: ourAddr, Protocol: wire.IPProtocolICMP, ID: 1, FragmentOffset: 65528}, make([]byte, 100))
	f.inject(stacktest.Ethernet(ourMAC, peer.MAC, wire.EtherTypeIPv4, pkt))
	assert.EqualValues(t, 1, f.counter("ipv4.ReasmTooBig"))
	// Too many datagrams in flight.
	for id := range stack.ReasmMaxDatagrams + 3 {
		pkt := stacktest.IPv4(wire.IPv4Repr{Src: peer.Addr, Dst: ourAddr, Protocol: wire.IPProtocolUDP, ID: uint16(id), MoreFragments: true}, make([]byte, 8))
		f.inject(stacktest.Ethernet(ourMAC, peer.MAC, wire.EtherTypeIPv4, pkt))
	}
	assert.EqualValues(t, 3, f.counter("ipv4.ReasmNoMemory"))
	f.tick(stack.ReasmTimeout)
	assert.EqualValues(t, stack.ReasmMaxDatagrams, f.counter("ipv4.ReasmTimeout"))
}

func TestFragmentationOnSend(t *testing.T) {
	for _, mtu := range []int{576, 1500, stack.MinMTU} {
		f := newFixture(t, mtu)
		f.learn(peer)
		ep := f.bind("0.0.0.0:5000")
		payload := pattern(3000)
		require.NoError(t, ep.SendTo(payload, ap(peer.Addr, 9)))
		chunk := (mtu - 20) &^ 7
		total := 8 + len(payload)
		var reassembled []byte
		var id uint16
		for off := 0; off < total; off += chunk {
			end := min(off+chunk, total)
			l := stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC),
				stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolUDP, stacktest.Fragment(off, end < total, end-off)))
			require.LessOrEqual(t, len(l.IP), mtu)
			if off == 0 {
				id = l.IP.ID()
			}
			require.Equal(t, id, l.IP.ID(), "one identification for all fragments")
			reassembled = append(reassembled, l.IP.Payload()...)
		}
		f.quiet()
		u, err := wire.ParseUDP(reassembled)
		require.NoError(t, err)
		require.NoError(t, u.VerifyChecksum(ourAddr, peer.Addr))
		assert.True(t, bytes.Equal(payload, u.Payload()))
		c := f.s.Counters().IPv4
		assert.EqualValues(t, 1, c.TxFragmented)
		assert.EqualValues(t, (total+chunk-1)/chunk, c.TxFragments)
	}
}

func TestMaxDatagramThroughTwoStacks(t *testing.T) {
	n := newNet(t, 1500)
	a, err := n.a.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 1111))
	require.NoError(t, err)
	b, err := n.b.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 2222))
	require.NoError(t, err)
	payload := pattern(stack.MaxUDPPayload)
	require.NoError(t, a.SendTo(payload, ap(n.bAddr, 2222)))
	n.pump()
	buf := make([]byte, 70000)
	got, meta, err := b.Dequeue(buf)
	require.NoError(t, err)
	assert.Equal(t, stack.MaxUDPPayload, got)
	assert.True(t, bytes.Equal(payload, buf[:got]))
	assert.Equal(t, ap(ourAddr, 1111), meta.From)

	// A big ping is answered in fragments too.
	var rtt []stack.EchoReply
	n.a.SetEchoHandler(func(r stack.EchoReply) { rtt = append(rtt, r) })
	require.NoError(t, n.a.Ping(n.bAddr, 9, 1, pattern(5000)))
	n.clock.Advance(time.Millisecond)
	n.pump()
	require.Len(t, rtt, 1)
	assert.Equal(t, 5000, rtt[0].Len)
	assert.Equal(t, time.Millisecond, rtt[0].RTT)
}

func TestNoTimeExceededAboutICMPError(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	// The first fragment of a (large) ICMP error never completes: RFC 1122
	// forbids an ICMP error about it.
	errMsg := stacktest.ICMP(wire.ICMPv4Repr{Type: wire.ICMPv4DstUnreachable, Code: wire.ICMPv4HostUnreachable}, pattern(1200))
	pkt := stacktest.IPv4(wire.IPv4Repr{Src: peer.Addr, Dst: ourAddr, Protocol: wire.IPProtocolICMP, ID: 77}, errMsg)
	f.inject(stacktest.Ethernet(ourMAC, peer.MAC, wire.EtherTypeIPv4, stacktest.Fragments(pkt, 576)[0]))
	f.tick(stack.ReasmTimeout)
	f.quiet()
	assert.EqualValues(t, 1, f.counter("ipv4.ReasmTimeout"))
	assert.EqualValues(t, 1, f.counter("icmp.ErrSuppressed"))
	assert.Zero(t, f.counter("icmp.TxTimeExceeded"))
}

func TestUDPQueueBoundsReassembledBytes(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:7")
	big := pattern(60000)
	for id := range 6 {
		for _, fr := range udpFragments(big, 1500, uint16(id)) {
			f.inject(fr)
		}
	}
	assert.EqualValues(t, 6, f.counter("ipv4.Reassembled"))
	assert.Equal(t, stack.UDPMaxQueueBytes/65536, ep.Len(), "held to the byte bound, not the count")
	assert.EqualValues(t, 6-ep.Len(), ep.Stats().RxDropped)
}
