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

// probingFixture is a fixture whose stack probes its address first.
func probingFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, link: &stacktest.Link{}, clock: stacktest.NewFakeClock()}
	s, err := stack.New(stack.Config{MAC: ourMAC, Addr: subnet, Gateway: gwAddr, Probe: true}, f.link, f.clock)
	require.NoError(t, err)
	f.s = s
	return f
}

// runUntil ticks the clock in 100ms steps until d has passed, collecting
// what the stack sends.
func (f *fixture) runUntil(d time.Duration) [][]byte {
	var out [][]byte
	for elapsed := time.Duration(0); elapsed <= d; elapsed += 100 * time.Millisecond {
		f.tick(100 * time.Millisecond)
		for fr := f.link.Read(); fr != nil; fr = f.link.Read() {
			out = append(out, fr)
		}
	}
	return out
}

// TestProbeThenAnnounce: with Config.Probe the address is tentative: three
// probes (sender 0.0.0.0) 1-2 s apart, then two announcements, and only
// then is it used; meanwhile requests for it go unanswered, datagrams to
// it are dropped and sends are refused.
func TestProbeThenAnnounce(t *testing.T) {
	f := probingFixture(t)
	ready := false
	f.s.SetReadyHandler(func() { ready = true })
	assert.False(t, f.s.Ready())
	f.inject(peer.ARPRequest(ourAddr))
	f.quiet() // not ours yet: no answer
	f.inject(peer.UDPFrame(ourMAC, 9, netip.AddrPortFrom(ourAddr, 7), []byte("early")))
	assert.EqualValues(t, 1, f.counter("ipv4.RxTentative"))
	ep := f.bind("0.0.0.0:5000")
	require.ErrorIs(t, ep.SendTo([]byte("x"), ap(peer.Addr, 7)), stack.ErrTentative)

	sent := f.runUntil(10 * time.Second)
	var probes, announces int
	for _, fr := range sent {
		e, err := wire.ParseEthernet(fr)
		require.NoError(t, err)
		a, err := wire.ParseARP(e.Payload())
		require.NoError(t, err)
		require.Equal(t, wire.ARPRequest, a.Op())
		require.Equal(t, ourAddr, a.TargetIP())
		switch a.SenderIP() {
		case netip.IPv4Unspecified():
			require.Zero(t, announces, "probes come first")
			probes++
		case ourAddr:
			announces++
		}
	}
	assert.Equal(t, stack.ProbeNum, probes)
	assert.Equal(t, stack.AnnounceNum, announces)
	assert.True(t, ready)
	assert.True(t, f.s.Ready())
	// In use now: requests answered, sends go out.
	f.inject(peer.ARPRequest(ourAddr))
	stacktest.Frame(t, f.next(), stacktest.HasARP(wire.ARPReply, ourMAC, ourAddr, peer.MAC, peer.Addr))
	require.NoError(t, ep.SendTo([]byte("x"), ap(peer.Addr, 7)))
}

// TestProbeConflict: a host answering for the address while we probe (or
// probing for it at the same time) ends probing: the address is never
// used, and the conflict is reported.
func TestProbeConflict(t *testing.T) {
	for _, other := range []string{"in use", "probing too"} {
		t.Run(other, func(t *testing.T) {
			f := probingFixture(t)
			var seen []stack.AddressConflict
			f.s.SetConflictHandler(func(c stack.AddressConflict) { seen = append(seen, c) })
			f.runUntil(1500 * time.Millisecond) // a probe or two out
			if other == "in use" {
				f.inject(stacktest.ARP(wire.ARPReply, peer.MAC, ourAddr, ourMAC, netip.IPv4Unspecified()))
			} else {
				f.inject(stacktest.ARP(wire.ARPRequest, peer.MAC, netip.IPv4Unspecified(), wire.MAC{}, ourAddr))
			}
			require.Equal(t, []stack.AddressConflict{{MAC: peer.MAC, Probing: true}}, seen)
			for _, fr := range f.runUntil(10 * time.Second) {
				t.Errorf("sent after the conflict: % x", fr)
			}
			assert.False(t, f.s.Ready())
			assert.EqualValues(t, 1, f.counter("arp.ProbeConflicts"))
			f.inject(peer2.ARPRequest(ourAddr))
			f.quiet()
		})
	}
}
