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

func TestARPAnswersRequestForOurAddress(t *testing.T) {
	f := newFixture(t, 0)
	f.inject(peer.ARPRequest(ourAddr))
	stacktest.Frame(t, f.next(),
		stacktest.DstMAC(peer.MAC), stacktest.SrcMAC(ourMAC),
		stacktest.HasARP(wire.ARPReply, ourMAC, ourAddr, peer.MAC, peer.Addr))
	f.quiet()
	// The requester was learnt: a datagram to it goes out without ARP.
	ep := f.bind("0.0.0.0:5000")
	require.NoError(t, ep.SendTo([]byte("hi"), ap(peer.Addr, 9)))
	stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC),
		stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolUDP, stacktest.TTL(stack.DefaultTTL), stacktest.HasUDP(5000, 9, []byte("hi"))))
	c := f.s.Counters().ARP
	assert.EqualValues(t, 1, c.RxRequests)
	assert.EqualValues(t, 1, c.TxReplies)
	assert.Zero(t, c.TxRequests)
}

func TestARPIgnoresRequestsForOthers(t *testing.T) {
	f := newFixture(t, 0)
	f.inject(peer.ARPRequest(peer2.Addr))
	f.quiet()
	assert.EqualValues(t, 1, f.counter("arp.RxNotForUs"))
	assert.Empty(t, f.s.ARPTable(), "a request between others teaches nothing new")
}

func TestARPResolvesAndSendsQueued(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:5000")
	for i := range 3 {
		require.NoError(t, ep.SendTo([]byte{byte(i)}, ap(peer.Addr, 7)))
	}
	// One request, however many packets wait.
	stacktest.Frame(t, f.next(), stacktest.DstMAC(wire.BroadcastMAC),
		stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, wire.MAC{}, peer.Addr))
	f.quiet()
	tab := f.s.ARPTable()
	require.Len(t, tab, 1)
	assert.Equal(t, "incomplete", tab[0].State)
	assert.Equal(t, 3, tab[0].Queued)
	assert.Equal(t, "10.0.2.20 at (incomplete) incomplete 1s queued 3", tab[0].String())

	f.inject(peer.ARPReply(ourMAC, ourAddr))
	for i := range 3 {
		stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC),
			stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolUDP, stacktest.HasUDP(5000, 7, []byte{byte(i)})))
	}
	f.quiet()
	tab = f.s.ARPTable()
	require.Len(t, tab, 1)
	assert.Equal(t, stack.ARPEntry{Addr: peer.Addr, MAC: peer.MAC, State: "reachable", Expires: stack.ARPEntryLifetime}, tab[0])
	assert.Equal(t, "10.0.2.20 at 02:00:00:00:00:20 reachable 1m0s", tab[0].String())
	c := f.s.Counters().ARP
	assert.EqualValues(t, 1, c.Resolved)
	assert.EqualValues(t, 3, c.QueuedPackets)
}

func TestARPEntryExpiresAt60sAndIsReRequested(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	ep := f.bind("0.0.0.0:5000")
	require.NoError(t, ep.SendTo([]byte("a"), ap(peer.Addr, 7)))
	f.next()

	dl, ok := f.s.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, stacktest.FakeEpoch.Add(stack.ARPEntryLifetime), dl)
	f.tick(stack.ARPEntryLifetime - time.Millisecond)
	f.quiet()
	f.tick(time.Millisecond)
	// Expired while in use: re-requested (unicast probe to the known MAC).
	stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC),
		stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, peer.MAC, peer.Addr))
	assert.EqualValues(t, 1, f.counter("arp.Expired"))
	assert.Equal(t, "probe", f.s.ARPTable()[0].State)

	// The old mapping still carries traffic during the probe.
	require.NoError(t, ep.SendTo([]byte("b"), ap(peer.Addr, 7)))
	stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC))

	f.inject(peer.ARPReply(ourMAC, ourAddr))
	tab := f.s.ARPTable()
	require.Len(t, tab, 1)
	assert.Equal(t, "reachable", tab[0].State)
	assert.Equal(t, stack.ARPEntryLifetime, tab[0].Expires)
	assert.EqualValues(t, 1, f.counter("arp.Refreshed"))
}

func TestARPExpiredEntryWithoutReplyIsRemoved(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	ep := f.bind("0.0.0.0:5000")
	require.NoError(t, ep.SendTo([]byte("a"), ap(peer.Addr, 7)))
	f.next()
	f.tick(stack.ARPEntryLifetime)
	for i := range stack.ARPMaxRetries {
		stacktest.Frame(t, f.next(), stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, peer.MAC, peer.Addr))
		f.quiet()
		if i < stack.ARPMaxRetries-1 {
			f.tick(stack.ARPRetransmit)
		}
	}
	f.tick(stack.ARPRetransmit)
	f.quiet()
	assert.Empty(t, f.s.ARPTable())
	assert.EqualValues(t, 1, f.counter("arp.ProbeFailed"))

	// The next packet starts a fresh broadcast resolution.
	require.NoError(t, ep.SendTo([]byte("b"), ap(peer.Addr, 7)))
	stacktest.Frame(t, f.next(), stacktest.DstMAC(wire.BroadcastMAC), stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, wire.MAC{}, peer.Addr))
}

func TestARPUnusedEntryIsForgottenAtExpiry(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	f.tick(stack.ARPEntryLifetime)
	f.quiet()
	assert.Empty(t, f.s.ARPTable())
	assert.EqualValues(t, 1, f.counter("arp.Expired"))
	_, ok := f.s.NextDeadline()
	assert.False(t, ok, "no timers left")
}

func TestARPResolutionTimeoutDropsQueuedPackets(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:5000")
	for range 5 {
		require.NoError(t, ep.SendTo([]byte("x"), ap(peer.Addr, 7)))
	}
	for i := range stack.ARPMaxRetries {
		stacktest.Frame(t, f.next(), stacktest.DstMAC(wire.BroadcastMAC), stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, wire.MAC{}, peer.Addr))
		f.quiet()
		dl, ok := f.s.NextDeadline()
		require.True(t, ok)
		assert.Equal(t, stacktest.FakeEpoch.Add(time.Duration(i+1)*stack.ARPRetransmit), dl)
		f.tick(stack.ARPRetransmit)
	}
	f.quiet()
	assert.Empty(t, f.s.ARPTable())
	c := f.s.Counters().ARP
	assert.EqualValues(t, stack.ARPMaxRetries, c.TxRequests)
	assert.EqualValues(t, 1, c.ResolveFailed)
	assert.EqualValues(t, 5, c.PendingTimeout)
	// A late reply teaches nothing (the entry is gone) and sends nothing.
	f.inject(peer.ARPReply(ourMAC, ourAddr))
	f.quiet()
	assert.Empty(t, f.s.ARPTable())
}

func TestARPPendingQueueIsBounded(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:5000")
	extra := 5
	for i := range stack.ARPPendingPerAddr + extra {
		require.NoError(t, ep.SendTo([]byte{byte(i)}, ap(peer.Addr, 7)))
	}
	f.next() // the request
	assert.EqualValues(t, extra, f.counter("arp.PendingOverflow"))
	f.inject(peer.ARPReply(ourMAC, ourAddr))
	// The oldest were dropped, as Linux does: the first out is number extra.
	stacktest.Frame(t, f.next(), stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolUDP, stacktest.HasUDP(5000, 7, []byte{byte(extra)})))
	assert.Equal(t, stack.ARPPendingPerAddr-1, f.link.Len())
}

func TestARPRequestsAreRateLimited(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:5000")
	// More unresolved neighbours than the burst allows.
	n := stack.ARPRequestBurst + 4
	for i := range n {
		dst := netip.AddrFrom4([4]byte{10, 0, 2, byte(100 + i)})
		require.NoError(t, ep.SendTo([]byte("x"), ap(dst, 7)))
	}
	assert.Equal(t, stack.ARPRequestBurst, f.link.Len())
	assert.EqualValues(t, 4, f.counter("arp.RateLimited"))
	f.link.Drain()
	// The limited ones are sent as tokens come back, without losing a retry.
	dl, ok := f.s.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, stacktest.FakeEpoch.Add(time.Second/stack.ARPRequestsPerSecond), dl)
	f.tick(time.Second / stack.ARPRequestsPerSecond)
	assert.Equal(t, 1, f.link.Len())
}

func TestARPGratuitousUpdatesExistingEntryOnly(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	moved := stacktest.Host{MAC: wire.MAC{0x02, 0, 0, 0, 0, 0x99}, Addr: peer.Addr}
	f.inject(stacktest.ARP(wire.ARPRequest, moved.MAC, moved.Addr, wire.MAC{}, moved.Addr))
	f.quiet()
	tab := f.s.ARPTable()
	require.Len(t, tab, 1)
	assert.Equal(t, moved.MAC, tab[0].MAC)
	assert.EqualValues(t, 1, f.counter("arp.GratuitousUpdate"))

	// A gratuitous ARP from a stranger does not fill the cache.
	f.inject(stacktest.ARP(wire.ARPReply, peer2.MAC, peer2.Addr, wire.BroadcastMAC, peer2.Addr))
	assert.Len(t, f.s.ARPTable(), 1)
}

func TestARPCacheIsBoundedAndEvictsOldest(t *testing.T) {
	f := newFixture(t, 0)
	for i, n := 1, 0; n < stack.ARPCacheSize+1; i++ {
		h := stacktest.Host{MAC: wire.MAC{0x02, 1, 0, 0, byte(i >> 8), byte(i)}, Addr: netip.AddrFrom4([4]byte{10, 0, 2, byte(i)})}
		if h.Addr == ourAddr {
			continue
		}
		f.clock.Advance(time.Millisecond)
		f.learn(h)
		n++
	}
	assert.Len(t, f.s.ARPTable(), stack.ARPCacheSize)
	assert.EqualValues(t, 1, f.counter("arp.Evictions"))
	for _, e := range f.s.ARPTable() {
		assert.NotEqual(t, netip.AddrFrom4([4]byte{10, 0, 2, 1}), e.Addr, "the oldest entry was evicted")
	}
}

func TestARPMalformedDropped(t *testing.T) {
	f := newFixture(t, 0)
	good := peer.ARPRequest(ourAddr)
	f.inject(good[:wire.EthernetHeaderLen+wire.ARPLen-1])
	bad := append([]byte(nil), good...)
	bad[wire.EthernetHeaderLen+1] = 0x99 // hardware type
	f.inject(bad)
	op := append([]byte(nil), good...)
	op[wire.EthernetHeaderLen+7] = 9 // opcode
	f.inject(op)
	multicast := stacktest.ARP(wire.ARPRequest, wire.MAC{0x01, 0, 0x5e, 0, 0, 1}, peer.Addr, wire.MAC{}, ourAddr)
	f.inject(multicast)
	f.quiet()
	c := f.s.Counters().ARP
	assert.EqualValues(t, 2, c.RxMalformed)
	assert.EqualValues(t, 1, c.RxBadOpcode)
	assert.EqualValues(t, 1, c.RxBadSender)
	assert.Empty(t, f.s.ARPTable())
}

// TestARPAddressConflictIsDefendedOncePer10s: another host claiming our
// address (RFC 5227) is counted and remembered; the first claim is
// answered with an announcement, a second within ARPDefendInterval is
// only reported, one after it defended again; nothing is cached.
func TestARPAddressConflictIsDefendedOncePer10s(t *testing.T) {
	f := newFixture(t, 0)
	var seen []stack.AddressConflict
	f.s.SetConflictHandler(func(c stack.AddressConflict) { seen = append(seen, c) })
	claim := stacktest.ARP(wire.ARPRequest, peer.MAC, ourAddr, wire.MAC{}, ourAddr) // a gratuitous ARP for our address
	f.inject(claim)
	stacktest.Frame(t, f.next(), stacktest.DstMAC(wire.BroadcastMAC),
		stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, wire.MAC{}, ourAddr))
	f.quiet()
	f.clock.Advance(stack.ARPDefendInterval - time.Second)
	f.inject(stacktest.ARP(wire.ARPReply, peer2.MAC, ourAddr, ourMAC, ourAddr))
	f.quiet()
	f.clock.Advance(time.Second)
	f.inject(claim)
	stacktest.Frame(t, f.next(), stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, wire.MAC{}, ourAddr))
	c := f.s.Counters().ARP
	assert.EqualValues(t, 3, c.Conflicts)
	assert.EqualValues(t, 2, c.Defended)
	assert.Equal(t, []stack.AddressConflict{{MAC: peer.MAC, Defended: true}, {MAC: peer2.MAC}, {MAC: peer.MAC, Defended: true}}, seen)
	assert.Equal(t, peer.MAC, f.s.ConflictMAC())
	assert.Empty(t, f.s.ARPTable())
	// Our own frames echoed back (a looped link) are no conflict.
	f.inject(stacktest.ARP(wire.ARPRequest, ourMAC, ourAddr, wire.MAC{}, ourAddr))
	assert.EqualValues(t, 3, f.s.Counters().ARP.Conflicts)
}

func TestAnnounceSendsGratuitousARP(t *testing.T) {
	f := newFixture(t, 0)
	f.s.Announce()
	stacktest.Frame(t, f.next(), stacktest.DstMAC(wire.BroadcastMAC), stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, wire.MAC{}, ourAddr))
}

// TestARPSpoofedRequestsKeepFriends: requests to us from 300 strangers on
// the subnet fill the cache but cannot evict the gateway's entry or one
// that carried traffic in the last ARPKeepRecent; a request from off the
// subnet is answered but cached not at all; once idle long enough, a
// friend is evictable again.
func TestARPSpoofedRequestsKeepFriends(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:5000")
	f.learn(gateway)
	f.learn(peer)
	send := func() {
		require.NoError(t, ep.SendTo([]byte("x"), ap(peer.Addr, 7)))
		stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC))
	}
	send()
	for i := 0; i < 300; i++ {
		h := stacktest.Host{MAC: wire.MAC{0x02, 9, 0, 0, byte(i >> 8), byte(i)}, Addr: netip.AddrFrom4([4]byte{10, 0, 2, byte(30 + i%200)})}
		if i%50 == 0 {
			f.clock.Advance(time.Second)
			send() // the peer keeps carrying traffic
		}
		f.learn(h)
	}
	has := func(a netip.Addr) bool {
		for _, e := range f.s.ARPTable() {
			if e.Addr == a {
				return true
			}
		}
		return false
	}
	require.Len(t, f.s.ARPTable(), stack.ARPCacheSize)
	assert.True(t, has(gwAddr), "the gateway stays")
	assert.True(t, has(peer.Addr), "a neighbour in use stays")
	assert.Positive(t, f.counter("arp.Evictions"))

	// Off the subnet: answered, not cached.
	stranger := stacktest.Host{MAC: wire.MAC{0x02, 8, 0, 0, 0, 1}, Addr: netip.MustParseAddr("192.0.2.9")}
	f.inject(stranger.ARPRequest(ourAddr))
	stacktest.Frame(t, f.next(), stacktest.HasARP(wire.ARPReply, ourMAC, ourAddr, stranger.MAC, stranger.Addr))
	assert.False(t, has(stranger.Addr))
	assert.EqualValues(t, 1, f.counter("arp.RxOffSubnet"))

	// Idle for longer than ARPKeepRecent, the peer may go; the gateway not.
	f.clock.Advance(stack.ARPKeepRecent + time.Second)
	for i := 0; i < 300; i++ {
		h := stacktest.Host{MAC: wire.MAC{0x02, 7, 0, 0, byte(i >> 8), byte(i)}, Addr: netip.AddrFrom4([4]byte{10, 0, 2, byte(30 + i%200)})}
		f.clock.Advance(time.Millisecond)
		if h.Addr != ourAddr && h.Addr != peer.Addr {
			f.learn(h)
		}
	}
	assert.False(t, has(peer.Addr), "an idle neighbour is evicted like any other")
	assert.True(t, has(gwAddr), "the gateway is never evicted by strangers")
}

// Config.ARPLifetime shortens the lifetime (netd -arplifetime, for tests
// that watch entries expire on a real peer without waiting a minute).
func TestARPLifetimeConfigured(t *testing.T) {
	f := &fixture{t: t, link: &stacktest.Link{}, clock: stacktest.NewFakeClock()}
	s, err := stack.New(stack.Config{MAC: ourMAC, Addr: subnet, Gateway: gwAddr, ARPLifetime: 2 * time.Second}, f.link, f.clock)
	require.NoError(t, err)
	f.s = s
	f.learn(peer)
	assert.Equal(t, 2*time.Second, f.s.ARPTable()[0].Expires)
	f.tick(2 * time.Second)
	assert.Empty(t, f.s.ARPTable(), "unused, it is gone at its lifetime")
	assert.EqualValues(t, 1, f.counter("arp.Expired"))
}

// FlushARP empties the cache; entries come back from traffic.
func TestFlushARP(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	ep := f.bind("0.0.0.0:5000")
	require.NoError(t, ep.SendTo([]byte("a"), ap(peer.Addr, 7)))
	f.next()
	require.Len(t, f.s.ARPTable(), 1)
	assert.Equal(t, 1, f.s.FlushARP())
	assert.Empty(t, f.s.ARPTable())
	require.NoError(t, ep.SendTo([]byte("b"), ap(peer.Addr, 7)))
	stacktest.Frame(t, f.next(), stacktest.DstMAC(wire.BroadcastMAC),
		stacktest.HasARP(wire.ARPRequest, ourMAC, ourAddr, wire.MAC{}, peer.Addr))
	assert.Equal(t, 1, f.s.FlushARP(), "the incomplete entry (its datagram waiting) is flushed too")
	assert.EqualValues(t, 1, f.s.Counters().ARP.PendingEvicted, "the waiting datagram dropped, counted")
}
