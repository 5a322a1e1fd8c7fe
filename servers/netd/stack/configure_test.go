package stack_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc/skbuff"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

var dhcpServer = stacktest.Host{MAC: wire.MAC{0x02, 0, 0, 0, 0, 0x67}, Addr: netip.MustParseAddr("10.0.2.2")}

// unconfiguredFixture is a stack without an address (netd -dhcp).
func unconfiguredFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, link: &stacktest.Link{}, clock: stacktest.NewFakeClock()}
	s, err := stack.New(stack.Config{MAC: ourMAC, Probe: true}, f.link, f.clock)
	require.NoError(t, err)
	f.s = s
	return f
}

func recv(t *testing.T, ep *stack.UDPEndpoint) (string, stack.RecvMeta) {
	t.Helper()
	buf := make([]byte, 1500)
	n, m, err := ep.Dequeue(buf)
	require.NoError(t, err)
	return string(buf[:n]), m
}

// TestUnconfiguredDHCP: without an address the stack lets a DHCP client
// broadcast from 0.0.0.0 and receive broadcasts and unicasts to port 68,
// and nothing else: no unicast send, no ARP answer, no other unicast.
func TestUnconfiguredDHCP(t *testing.T) {
	f := unconfiguredFixture(t)
	assert.False(t, f.s.Configured())
	assert.True(t, f.s.Ready())
	f.tick(10 * time.Second)
	f.quiet() // no probe of a missing address
	ep := f.bind("0.0.0.0:68")
	require.ErrorIs(t, ep.SendTo([]byte("d"), ap(allOnes, 67)), stack.ErrBroadcastForbidden)
	ep.SetBroadcast(true)
	require.NoError(t, ep.SendTo([]byte("discover"), ap(allOnes, 67)))
	stacktest.Frame(t, f.next(), stacktest.DstMAC(wire.BroadcastMAC),
		stacktest.HasIPv4(netip.IPv4Unspecified(), allOnes, wire.IPProtocolUDP, stacktest.HasUDP(68, 67, []byte("discover"))))
	assert.EqualValues(t, 1, f.counter("udp.TxUnconfigured"))
	require.ErrorIs(t, ep.SendTo([]byte("x"), ap(dhcpServer.Addr, 67)), stack.ErrNoRoute)
	_, err := f.s.BindUDP(netip.MustParseAddrPort("10.0.2.15:69"))
	require.ErrorIs(t, err, stack.ErrAddrNotAvailable)

	// A broadcast OFFER and a unicast one (to the offered address).
	f.inject(stacktest.Ethernet(wire.BroadcastMAC, dhcpServer.MAC, wire.EtherTypeIPv4,
		stacktest.IPv4(wire.IPv4Repr{Src: dhcpServer.Addr, Dst: allOnes, Protocol: wire.IPProtocolUDP, TTL: 64},
			stacktest.UDP(ap(dhcpServer.Addr, 67), ap(allOnes, 68), []byte("offer-b")))))
	f.inject(dhcpServer.UDPFrame(ourMAC, 67, ap(ourAddr, 68), []byte("offer-u")))
	got, m := recv(t, ep)
	assert.Equal(t, "offer-b", got)
	assert.Equal(t, allOnes, m.To)
	got, m = recv(t, ep)
	assert.Equal(t, "offer-u", got)
	assert.Equal(t, ourAddr, m.To)
	assert.EqualValues(t, 1, f.counter("ipv4.RxDHCPUnconfigured"))

	// Anything else unicast is not for us; ARP for the address unanswered.
	other := f.bind("0.0.0.0:7")
	f.inject(peer.UDPFrame(ourMAC, 9, ap(ourAddr, 7), []byte("no")))
	assert.Equal(t, 0, other.Len())
	assert.EqualValues(t, 1, f.counter("ipv4.RxNotForUs"))
	f.inject(peer.ARPRequest(ourAddr))
	f.quiet()
}

// TestReconfigure: an address given at run time is probed, then used by
// endpoints bound to 0.0.0.0; one bound to it loses it when it changes;
// clearing it goes back to unconfigured.
func TestReconfigure(t *testing.T) {
	f := unconfiguredFixture(t)
	any7 := f.bind("0.0.0.0:7")
	require.ErrorIs(t, f.s.Reconfigure(stack.Config{Addr: subnet, Gateway: netip.MustParseAddr("10.0.3.1")}), stack.ErrInvalidConfig)
	require.ErrorIs(t, f.s.Reconfigure(stack.Config{Gateway: gwAddr}), stack.ErrInvalidConfig)
	assert.False(t, f.s.Configured())

	require.NoError(t, f.s.Reconfigure(stack.Config{Addr: subnet, Gateway: gwAddr, MTU: 1400, Probe: true}))
	ready := false
	f.s.SetReadyHandler(func() { ready = true })
	assert.False(t, f.s.Ready())
	sent := f.runUntil(10 * time.Second)
	assert.True(t, ready)
	assert.GreaterOrEqual(t, len(sent), stack.ProbeNum+stack.AnnounceNum)
	assert.Equal(t, 1400, f.s.Config().MTU)
	assert.Equal(t, ourMAC, wire.MAC(f.s.Config().MAC))

	bound := f.bind("10.0.2.15:8")
	f.learn(peer)
	f.inject(peer.UDPFrame(ourMAC, 9, ap(ourAddr, 7), []byte("hi")))
	got, _ := recv(t, any7)
	assert.Equal(t, "hi", got)
	require.NoError(t, any7.SendTo([]byte("back"), ap(peer.Addr, 9)))
	stacktest.Frame(t, f.next(), stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolUDP, stacktest.HasUDP(7, 9, []byte("back"))))

	// Same address, another gateway: no probing, kept in use.
	require.NoError(t, f.s.Reconfigure(stack.Config{Addr: subnet, Probe: true}))
	assert.True(t, f.s.Ready())
	assert.False(t, f.s.Config().Gateway.IsValid())

	// Another address, no probing: used at once (announced).
	next := netip.MustParsePrefix("10.0.5.9/16")
	require.NoError(t, f.s.Reconfigure(stack.Config{Addr: next}))
	stacktest.Frame(t, f.next(), stacktest.HasARP(wire.ARPRequest, ourMAC, next.Addr(), wire.MAC{}, next.Addr()))
	assert.True(t, f.s.Ready())
	assert.Empty(t, f.s.ARPTable(), "the old subnet's neighbours are flushed")
	require.ErrorIs(t, bound.SendTo([]byte("x"), ap(netip.MustParseAddr("10.0.5.1"), 9)), stack.ErrAddrNotAvailable)
	f.inject(peer.UDPFrame(ourMAC, 9, ap(ourAddr, 8), []byte("old")))
	assert.Equal(t, 0, bound.Len())

	// Cleared: unconfigured again.
	require.NoError(t, f.s.Reconfigure(stack.Config{}))
	assert.False(t, f.s.Configured())
	require.ErrorIs(t, any7.SendTo([]byte("x"), ap(netip.MustParseAddr("10.0.5.1"), 9)), stack.ErrNoRoute)
	assert.EqualValues(t, 4, f.counter("ipv4.Reconfigured"))
}

// FuzzInputUnconfigured: arbitrary frames to a stack without an address
// (netd -dhcp before its lease), a DHCP client's endpoint on 0.0.0.0:68
// with broadcast: no panic, every frame accounted for, no buffer leaked,
// nothing sent but from 0.0.0.0.
func FuzzInputUnconfigured(f *testing.F) {
	f.Add(dhcpServer.UDPFrame(ourMAC, 67, ap(ourAddr, 68), []byte("offer")))
	f.Add(dhcpServer.UDPFrame(wire.BroadcastMAC, 67, ap(allOnes, 68), []byte("offer")))
	f.Add(dhcpServer.UDPFrame(ourMAC, 67, ap(ourAddr, 7), []byte("not dhcp")))
	f.Add(dhcpServer.ARPRequest(ourAddr))
	f.Add(dhcpServer.EchoFrame(ourMAC, ourAddr, wire.ICMPv4Echo, 1, 2, []byte("ping")))
	for _, fr := range stacktest.Fragments(stacktest.IPv4(wire.IPv4Repr{Src: dhcpServer.Addr, Dst: ourAddr, Protocol: wire.IPProtocolUDP, ID: 9},
		stacktest.UDP(ap(dhcpServer.Addr, 67), ap(ourAddr, 68), make([]byte, 1200))), 576) {
		f.Add(stacktest.Ethernet(ourMAC, dhcpServer.MAC, wire.EtherTypeIPv4, fr))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		fx := unconfiguredFixture(t)
		ep := fx.bind("0.0.0.0:68")
		ep.SetBroadcast(true)
		before := skbuff.Default.Stats()
		fx.inject(frame)
		fx.inject(frame)
		fx.clock.Advance(stack.ReasmTimeout + time.Second)
		fx.s.Tick()
		checkCounterInvariants(t, fx.s.Counters(), 2)
		for _, out := range fx.link.Drain() {
			if l := stacktest.Parse(t, out); l.IP != nil {
				require.True(t, l.IP.Src().IsUnspecified(), "unconfigured: sent from %v", l.IP.Src())
			}
		}
		queued := uint64(ep.Len())
		after := skbuff.Default.Stats()
		require.Equal(t, after.Gets-before.Gets, after.Frees-before.Frees+queued, "buffers leaked")
		require.NoError(t, ep.Close())
	})
}
