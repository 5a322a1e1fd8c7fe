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

// twoStacks is two stacks on one simulated Ethernet segment, sharing a
// fake clock: what a transmits, pump delivers to b, and the reverse.
type twoStacks struct {
	t          *testing.T
	a, b       *stack.Stack
	la, lb     *stacktest.Link
	clock      *stacktest.FakeClock
	bAddr      netip.Addr
	delivered  int
	maxFrameSz int
}

func newNet(t *testing.T, mtu int) *twoStacks {
	n := &twoStacks{t: t, la: &stacktest.Link{}, lb: &stacktest.Link{}, clock: stacktest.NewFakeClock(), bAddr: peer.Addr}
	var err error
	n.a, err = stack.New(stack.Config{MAC: ourMAC, Addr: subnet, MTU: mtu}, n.la, n.clock)
	require.NoError(t, err)
	n.b, err = stack.New(stack.Config{MAC: peer.MAC, Addr: netip.PrefixFrom(peer.Addr, 24), MTU: mtu}, n.lb, n.clock)
	require.NoError(t, err)
	return n
}

// pump moves frames between the stacks until both are quiet.
func (n *twoStacks) pump() {
	for n.la.Len()+n.lb.Len() > 0 {
		for _, fr := range n.la.Drain() {
			n.maxFrameSz = max(n.maxFrameSz, len(fr))
			n.b.Input(stacktest.Buf(fr))
			n.delivered++
		}
		for _, fr := range n.lb.Drain() {
			n.maxFrameSz = max(n.maxFrameSz, len(fr))
			n.a.Input(stacktest.Buf(fr))
			n.delivered++
		}
	}
}

func TestPingBothWaysBetweenStacks(t *testing.T) {
	n := newNet(t, 0)
	var atA, atB []stack.EchoReply
	n.a.SetEchoHandler(func(r stack.EchoReply) { atA = append(atA, r) })
	n.b.SetEchoHandler(func(r stack.EchoReply) { atB = append(atB, r) })

	require.NoError(t, n.a.Ping(n.bAddr, 1, 1, []byte("a->b")))
	n.pump() // ARP both ways, request, reply
	require.Len(t, atA, 1)
	assert.Equal(t, n.bAddr, atA[0].From)
	assert.Zero(t, atA[0].RTT, "nothing advanced the clock")

	require.NoError(t, n.b.Ping(ourAddr, 2, 1, []byte("b->a")))
	n.clock.Advance(250 * time.Microsecond)
	n.pump()
	require.Len(t, atB, 1)
	assert.Equal(t, stack.EchoReply{From: ourAddr, ID: 2, Seq: 1, RTT: 250 * time.Microsecond, Len: 4, TTL: 64}, atB[0])
	// b learnt a from a's request: it needed no ARP of its own.
	assert.Zero(t, n.b.Counters().ARP.TxRequests)
	assert.EqualValues(t, 1, n.a.Counters().ARP.TxRequests)
	assert.LessOrEqual(t, n.maxFrameSz, wire.EthernetMaxFrameLen)
}

func TestLostARPRequestIsRetransmitted(t *testing.T) {
	n := newNet(t, 0)
	lost := 0
	n.la.Fault = func(frame []byte) bool {
		if frame[12] == 0x08 && frame[13] == 0x06 && lost == 0 { // first ARP frame
			lost++
			return true
		}
		return false
	}
	var replies []stack.EchoReply
	n.a.SetEchoHandler(func(r stack.EchoReply) { replies = append(replies, r) })
	require.NoError(t, n.a.Ping(n.bAddr, 1, 1, nil))
	n.pump()
	assert.Empty(t, replies, "the request was lost")
	assert.Equal(t, 1, n.la.Dropped)

	n.clock.Advance(stack.ARPRetransmit)
	n.a.Tick()
	n.pump()
	require.Len(t, replies, 1, "the queued ping went out after the retry")
	assert.Equal(t, stack.ARPRetransmit, replies[0].RTT)
	assert.EqualValues(t, 2, n.a.Counters().ARP.TxRequests)
}

func TestCorruptedFramesAreCountedNotDelivered(t *testing.T) {
	n := newNet(t, 0)
	ea, err := n.a.BindUDP(netip.MustParseAddrPort("0.0.0.0:1"))
	require.NoError(t, err)
	eb, err := n.b.BindUDP(netip.MustParseAddrPort("0.0.0.0:2"))
	require.NoError(t, err)
	require.NoError(t, ea.SendTo([]byte("resolve first"), ap(n.bAddr, 2)))
	n.pump()
	require.Equal(t, 1, eb.Len())

	// Flip a payload bit in every IPv4 frame: the UDP checksum catches it.
	n.la.Fault = func(frame []byte) bool {
		if frame[12] == 0x08 && frame[13] == 0x00 {
			frame[wire.EthernetHeaderLen+wire.IPv4MinHeaderLen+wire.UDPHeaderLen] ^= 0x80 // first payload byte
		}
		return false
	}
	for range 5 {
		require.NoError(t, ea.SendTo([]byte("fragile"), ap(n.bAddr, 2)))
	}
	n.pump()
	assert.Equal(t, 1, eb.Len())
	assert.EqualValues(t, 5, n.b.Counters().UDP.RxBadChecksum)
}
