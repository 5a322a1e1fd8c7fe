package client

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/dhcpc/dhcp"
)

func opt(code byte, data []byte) dhcp.Option { return dhcp.Option{Code: code, Data: data} }

func has(m *dhcp.Message, code byte) bool { _, ok := m.Options.Get(code); return ok }

func addrOpt(m *dhcp.Message, code byte) netip.Addr { a, _ := m.Options.Addr(code); return a }

func TestDORA(t *testing.T) {
	h := newHarness(t, Config{StartDelay: 10 * time.Second, Hostname: "armos"}, false)
	assert.Equal(t, Stopped, h.c.State())
	h.c.Start()
	assert.Equal(t, Init, h.c.State())
	dl, ok := h.c.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, 5*time.Second, dl.Sub(t0), "a random start delay in [0, StartDelay)")
	h.advance(5 * time.Second)
	require.Len(t, h.sent, 1)

	// DISCOVER (RFC 2131 table 5): broadcast from 0.0.0.0, ciaddr 0,
	// BROADCAST flag, client id, parameter list, max size, no server id.
	d := h.last()
	assert.Equal(t, Selecting, h.c.State())
	assert.Equal(t, Broadcast, d.Dst)
	assert.Equal(t, netip.IPv4Unspecified(), d.Src)
	assert.Equal(t, dhcp.Discover, d.Msg.Type())
	assert.Equal(t, uint8(dhcp.BootRequest), d.Msg.Op)
	assert.Equal(t, mac[:], d.Msg.HardwareAddr())
	assert.Equal(t, netip.IPv4Unspecified(), d.Msg.CIAddr)
	assert.Equal(t, uint16(dhcp.FlagBroadcast), d.Msg.Flags)
	cid, _ := d.Msg.Options.Get(dhcp.OptClientID)
	assert.Equal(t, append([]byte{1}, mac[:]...), cid)
	prl, _ := d.Msg.Options.Get(dhcp.OptParamRequest)
	assert.Subset(t, prl, []byte{dhcp.OptSubnetMask, dhcp.OptRouter, dhcp.OptDNS, dhcp.OptMTU})
	size, _ := d.Msg.Options.Uint16(dhcp.OptMaxMessageSize)
	assert.Equal(t, uint16(dhcp.MaxMessageLen), size)
	hn, _ := d.Msg.Options.Get(dhcp.OptHostname)
	assert.Equal(t, "armos", string(hn))
	assert.False(t, has(d.Msg, dhcp.OptServerID))
	assert.False(t, has(d.Msg, dhcp.OptRequestedIP))

	// Two offers: the first is taken, the second comes too late.
	h.clock.now = h.clock.now.Add(time.Second)
	offer2 := h.reply(dhcp.Offer, srv2Addr, ip("10.99.0.60"))
	h.c.Input(h.reply(dhcp.Offer, srvAddr, yiaddr), fromSrv)
	r := h.last()
	assert.Equal(t, Requesting, h.c.State())
	assert.Equal(t, dhcp.Request, r.Msg.Type())
	assert.Equal(t, d.Msg.XID, r.Msg.XID, "the REQUEST keeps the DISCOVER's xid")
	assert.Equal(t, Broadcast, r.Dst)
	assert.Equal(t, netip.IPv4Unspecified(), r.Src)
	assert.Equal(t, netip.IPv4Unspecified(), r.Msg.CIAddr)
	assert.Equal(t, yiaddr, addrOpt(r.Msg, dhcp.OptRequestedIP))
	assert.Equal(t, srvAddr, addrOpt(r.Msg, dhcp.OptServerID))
	assert.Equal(t, d.Msg.Secs, r.Msg.Secs)
	h.c.Input(offer2, fromSrv2)
	assert.Equal(t, uint64(1), h.c.Counters().Rx.WrongState)

	h.clock.now = h.clock.now.Add(time.Second)
	h.c.Input(h.reply(dhcp.Ack, srvAddr, yiaddr), fromSrv)
	assert.Equal(t, Bound, h.c.State())
	require.Len(t, h.bound, 1)
	l := h.bound[0]
	assert.Equal(t, netip.MustParsePrefix("10.99.0.50/24"), l.Addr)
	assert.Equal(t, srvAddr, l.Router)
	assert.Equal(t, []netip.Addr{srvAddr, ip("10.99.0.2")}, l.DNS)
	assert.Equal(t, 1400, l.MTU)
	assert.Equal(t, srvAddr, l.Server)
	assert.Equal(t, 1000*time.Second, l.Duration)
	assert.Equal(t, 500*time.Second, l.T1, "RFC 2131 4.4.5: T1 = 0.5 lease")
	assert.Equal(t, 875*time.Second, l.T2, "T2 = 0.875 lease")
	assert.Equal(t, r.At, l.Start, "the lease counts from the REQUEST")
	assert.Equal(t, l.Start.Add(1000*time.Second), l.Expiry())
	dl, _ = h.c.NextDeadline()
	assert.Equal(t, l.Start.Add(500*time.Second), dl)
	got, ok := h.c.Lease()
	assert.True(t, ok)
	assert.Equal(t, l, got)

	c := h.c.Counters()
	assert.Equal(t, uint64(1), c.Offers)
	assert.Equal(t, uint64(1), c.Acks)
	assert.Equal(t, uint64(1), c.Leases)
	assert.Equal(t, uint64(1), c.Tx.Discover)
	assert.Equal(t, uint64(1), c.Tx.Request)
	h.checkRx()
}

func sentTimes(h *harness, from int) []time.Duration {
	var out []time.Duration
	for _, s := range h.sent[from:] {
		out = append(out, s.At.Sub(t0))
	}
	return out
}

func TestDiscoverRetransmission(t *testing.T) {
	h := newHarness(t, Config{}, false)
	h.c.Start()
	h.advance(300 * time.Second)
	s := time.Second
	assert.Equal(t, []time.Duration{0, 4 * s, 12 * s, 28 * s, 60 * s, 124 * s, 188 * s, 252 * s}, sentTimes(h, 0),
		"4, 8, 16, 32, 64, then 64 s (RFC 2131 section 4.1)")
	for _, x := range h.sent {
		assert.Equal(t, h.sent[0].Msg.XID, x.Msg.XID)
		assert.Equal(t, dhcp.Discover, x.Msg.Type())
	}
	assert.Equal(t, uint16(252), h.last().Msg.Secs, "secs since the first DISCOVER")
	assert.Equal(t, uint64(7), h.c.Counters().Retransmits)

	// With a real random source, each delay is within ±1 s.
	c, err := New(Config{MAC: mac}, h, h.clock, rand.New(rand.NewPCG(1, 2)), nil, nil)
	require.NoError(t, err)
	h.c, h.sent, h.clock.now = c, nil, t0
	c.Start()
	h.advance(500 * time.Second)
	want := []time.Duration{4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 64 * s, 64 * s}
	for i, w := range want {
		gap := h.sent[i+1].At.Sub(h.sent[i].At)
		assert.True(t, gap >= w-s && gap <= w+s, "retransmission %d after %v", i+1, gap)
	}
}

func TestRequestUnansweredRestarts(t *testing.T) {
	h := newHarness(t, Config{}, false)
	h.c.Start()
	h.advance(0)
	xid := h.last().Msg.XID
	h.c.Input(h.reply(dhcp.Offer, srvAddr, yiaddr), fromSrv)
	h.advance(63 * time.Second)
	s := time.Second
	// REQUESTs after 4, 8, 16 s; 32 s after the fourth, INIT.
	assert.Equal(t, []time.Duration{0, 0, 4 * s, 12 * s, 28 * s, 62 * s}, sentTimes(h, 0))
	for _, x := range h.sent[1:5] {
		assert.Equal(t, dhcp.Request, x.Msg.Type())
	}
	// Four REQUESTs, no answer: INIT, a new DISCOVER NakWait (2 s) later.
	d := h.last()
	assert.Equal(t, dhcp.Discover, d.Msg.Type())
	assert.NotEqual(t, xid, d.Msg.XID)
	assert.Equal(t, uint64(1), h.c.Counters().GaveUp)
}

func TestRenewRebindExpire(t *testing.T) {
	h := newHarness(t, Config{}, false)
	h.bind()
	n := len(h.sent)
	l := h.bound[0]
	h.advance(2000 * time.Second)
	s := time.Second
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{
		500 * s, 687*s + 500*ms, 781*s + 250*ms, 841*s + 250*ms, // RENEWING: half of what is left to T2, ≥ 60 s
		875 * s, 937*s + 500*ms, 997*s + 500*ms, // REBINDING at T2: half of what is left of the lease, ≥ 60 s
	}, sentTimes(h, n)[:7])
	renew := h.sent[n]
	assert.Equal(t, dhcp.Request, renew.Msg.Type())
	assert.Equal(t, srvAddr, renew.Dst, "RENEWING unicasts to the server")
	assert.Equal(t, yiaddr, renew.Src)
	assert.Equal(t, yiaddr, renew.Msg.CIAddr)
	assert.Equal(t, uint16(0), renew.Msg.Flags)
	assert.False(t, has(renew.Msg, dhcp.OptServerID))
	assert.False(t, has(renew.Msg, dhcp.OptRequestedIP))
	rebind := h.sent[n+4]
	assert.Equal(t, Broadcast, rebind.Dst, "REBINDING broadcasts")
	assert.Equal(t, yiaddr, rebind.Src)
	assert.Equal(t, yiaddr, rebind.Msg.CIAddr)
	assert.False(t, has(rebind.Msg, dhcp.OptServerID))
	assert.NotEqual(t, renew.Msg.XID, rebind.Msg.XID)

	// At expiry: Unbound, INIT, DISCOVER.
	require.Equal(t, []Reason{Expired}, h.unbound)
	exp := h.sent[n+7]
	assert.Equal(t, l.Expiry(), exp.At)
	assert.Equal(t, dhcp.Discover, exp.Msg.Type())
	c := h.c.Counters()
	assert.Equal(t, uint64(1), c.Renewals)
	assert.Equal(t, uint64(1), c.Rebinds)
	assert.Equal(t, uint64(1), c.Expired)
	_, ok := h.c.Lease()
	assert.False(t, ok)
}

func TestRenewAndRebindAcks(t *testing.T) {
	h := newHarness(t, Config{}, false)
	h.bind()
	h.advance(500 * time.Second)
	require.Equal(t, Renewing, h.c.State())
	reqAt := h.last().At
	h.advance(10 * time.Second)
	h.c.Input(h.reply(dhcp.Ack, srvAddr, yiaddr, opt(dhcp.OptMTU, dhcp.Uint16Data(1300))), fromSrv)
	assert.Equal(t, Bound, h.c.State())
	require.Len(t, h.bound, 2)
	assert.Equal(t, reqAt, h.bound[1].Start)
	assert.Equal(t, 1300, h.bound[1].MTU)
	dl, _ := h.c.NextDeadline()
	assert.Equal(t, reqAt.Add(500*time.Second), dl)
	assert.Equal(t, uint64(1), h.c.Counters().Extended)

	// In RENEWING only the lease's server may answer; in REBINDING any.
	h.advance(500 * time.Second)
	require.Equal(t, Renewing, h.c.State())
	h.c.Input(h.reply(dhcp.Ack, srv2Addr, yiaddr), fromSrv2)
	assert.Equal(t, uint64(1), h.c.Counters().Rx.WrongServer)
	h.advance(375 * time.Second)
	require.Equal(t, Rebinding, h.c.State())
	h.c.Input(h.reply(dhcp.Ack, srv2Addr, ip("10.99.0.51")), fromSrv2)
	assert.Equal(t, uint64(1), h.c.Counters().Rx.BadAddress, "another address is not a renewal")
	h.c.Input(h.reply(dhcp.Ack, srv2Addr, yiaddr), fromSrv2)
	assert.Equal(t, Bound, h.c.State())
	l, _ := h.c.Lease()
	assert.Equal(t, srv2Addr, l.Server, "the lease moves to the server that answered")
	assert.Empty(t, h.unbound)
	h.checkRx()
}

func TestTimesFromOptionsAndConfig(t *testing.T) {
	h := newHarness(t, Config{}, false)
	h.dora(opt(dhcp.OptRenewalTime, dhcp.DurationData(100*time.Second)),
		opt(dhcp.OptRebindingTime, dhcp.DurationData(200*time.Second)))
	l := h.bound[0]
	assert.Equal(t, 100*time.Second, l.T1)
	assert.Equal(t, 200*time.Second, l.T2)

	// Nonsense times (T2 past the lease, T1 past T2) fall back to the defaults.
	h = newHarness(t, Config{}, false)
	h.dora(opt(dhcp.OptRenewalTime, dhcp.DurationData(950*time.Second)),
		opt(dhcp.OptRebindingTime, dhcp.DurationData(2000*time.Second)))
	l = h.bound[0]
	assert.Equal(t, 500*time.Second, l.T1)
	assert.Equal(t, 875*time.Second, l.T2)

	// The config overrides (short renewals for tests).
	h = newHarness(t, Config{T1: 5 * time.Second, T2: 8 * time.Second}, false)
	h.bind()
	l = h.bound[0]
	assert.Equal(t, 5*time.Second, l.T1)
	assert.Equal(t, 8*time.Second, l.T2)

	// An infinite lease has no timers.
	h = newHarness(t, Config{}, false)
	h.dora(opt(dhcp.OptLeaseTime, dhcp.DurationData(dhcp.Infinite)))
	require.Equal(t, Bound, h.c.State())
	assert.True(t, h.bound[0].Infinite())
	assert.True(t, h.bound[0].Expiry().IsZero())
	_, ok := h.c.NextDeadline()
	assert.False(t, ok)

	// No mask: the classful prefix.
	h = newHarness(t, Config{}, false)
	h.dora(opt(dhcp.OptSubnetMask, dhcp.MaskData(0)))
	assert.Equal(t, netip.MustParsePrefix("10.99.0.50/8"), h.bound[0].Addr)
	assert.Equal(t, uint64(1), h.c.Counters().NoMask)
}

func TestNak(t *testing.T) {
	h := newHarness(t, Config{}, false)
	h.c.Start()
	h.advance(0)
	h.c.Input(h.reply(dhcp.Offer, srvAddr, yiaddr), fromSrv)
	// A NAK from a server not asked is ignored.
	h.c.Input(h.reply(dhcp.Nak, srv2Addr, netip.IPv4Unspecified()), fromSrv2)
	assert.Equal(t, Requesting, h.c.State())
	h.c.Input(h.reply(dhcp.Nak, srvAddr, netip.IPv4Unspecified()), fromSrv)
	assert.Equal(t, Init, h.c.State())
	assert.Empty(t, h.unbound, "nothing was bound")
	n := len(h.sent)
	h.advance(DefaultNakWait)
	require.Len(t, h.sent, n+1)
	assert.Equal(t, dhcp.Discover, h.last().Msg.Type())

	// A NAK to a renewal loses the lease.
	h = newHarness(t, Config{}, false)
	h.bind()
	h.advance(500 * time.Second)
	h.c.Input(h.reply(dhcp.Nak, srvAddr, netip.IPv4Unspecified()), fromSrv)
	assert.Equal(t, Init, h.c.State())
	assert.Equal(t, []Reason{Nakked}, h.unbound)
	assert.Equal(t, uint64(1), h.c.Counters().Naks)
	h.checkRx()
}

func TestProbeAndDecline(t *testing.T) {
	h := newHarness(t, Config{}, true)
	h.dora()
	assert.Equal(t, Probing, h.c.State())
	assert.Equal(t, []netip.Addr{yiaddr}, h.probes)
	assert.Empty(t, h.bound, "not bound before the probe")
	h.c.ProbeResult(ip("10.99.0.99"), true)
	assert.Equal(t, uint64(1), h.c.Counters().ProbeStale)

	h.advance(3 * time.Second)
	h.c.ProbeResult(yiaddr, true)
	dec := h.last()
	assert.Equal(t, dhcp.Decline, dec.Msg.Type())
	assert.Equal(t, Broadcast, dec.Dst)
	assert.Equal(t, netip.IPv4Unspecified(), dec.Src)
	assert.Equal(t, netip.IPv4Unspecified(), dec.Msg.CIAddr)
	assert.Equal(t, yiaddr, addrOpt(dec.Msg, dhcp.OptRequestedIP))
	assert.Equal(t, srvAddr, addrOpt(dec.Msg, dhcp.OptServerID))
	assert.False(t, has(dec.Msg, dhcp.OptParamRequest))
	assert.Equal(t, Init, h.c.State())
	assert.Empty(t, h.bound)
	n := len(h.sent)
	h.advance(10*time.Second - time.Millisecond)
	assert.Len(t, h.sent, n, "RFC 2131 3.1: wait ten seconds after a DECLINE")
	h.advance(time.Millisecond)
	assert.Equal(t, dhcp.Discover, h.last().Msg.Type())
	c := h.c.Counters()
	assert.Equal(t, uint64(1), c.Conflicts)
	assert.Equal(t, uint64(1), c.Tx.Decline)

	// No conflict: bound.
	h.c.Input(h.reply(dhcp.Offer, srvAddr, ip("10.99.0.51")), fromSrv)
	h.c.Input(h.reply(dhcp.Ack, srvAddr, ip("10.99.0.51")), fromSrv)
	h.c.ProbeResult(ip("10.99.0.51"), false)
	assert.Equal(t, Bound, h.c.State())
	require.Len(t, h.bound, 1)

	// No answer in ProbeTimeout: bound, counted.
	h = newHarness(t, Config{}, true)
	h.dora()
	h.advance(DefaultProbeTimeout)
	assert.Equal(t, Bound, h.c.State())
	assert.Equal(t, uint64(1), h.c.Counters().ProbeTimeouts)

	// A renewal is not probed.
	h.advance(500 * time.Second)
	h.c.Input(h.reply(dhcp.Ack, srvAddr, yiaddr), fromSrv)
	assert.Equal(t, Bound, h.c.State())
	assert.Len(t, h.probes, 1)
}

func TestDrops(t *testing.T) {
	h := newHarness(t, Config{}, false)
	h.c.Start()
	h.advance(0)
	offer := h.reply(dhcp.Offer, srvAddr, yiaddr)
	mutate := func(f func(m *dhcp.Message)) []byte {
		m, err := dhcp.Parse(offer)
		require.NoError(t, err)
		f(m)
		b, err := m.Marshal()
		require.NoError(t, err)
		return b
	}
	rx := func() RxCounters { return h.c.Counters().Rx }
	for _, tc := range []struct {
		name    string
		b       []byte
		from    netip.AddrPort
		counter func(RxCounters) uint64
	}{
		{"truncated", offer[:200], fromSrv, func(r RxCounters) uint64 { return r.Short }},
		{"oversize", append(append([]byte{}, offer...), make([]byte, 1400)...), fromSrv, func(r RxCounters) uint64 { return r.TooLong }},
		{"no end", offer[:len(offer)-60], fromSrv, func(r RxCounters) uint64 { return r.NoEnd + r.TruncatedOption }},
		{"wrong port", offer, netip.AddrPortFrom(srvAddr, 1067), func(r RxCounters) uint64 { return r.WrongPort }},
		{"request", mutate(func(m *dhcp.Message) { m.Op = dhcp.BootRequest }), fromSrv, func(r RxCounters) uint64 { return r.NotReply }},
		{"wrong chaddr", mutate(func(m *dhcp.Message) { m.CHAddr[5]++ }), fromSrv, func(r RxCounters) uint64 { return r.WrongCHAddr }},
		{"wrong hlen", mutate(func(m *dhcp.Message) { m.HLen = 8 }), fromSrv, func(r RxCounters) uint64 { return r.WrongCHAddr }},
		{"wrong xid", mutate(func(m *dhcp.Message) { m.XID++ }), fromSrv, func(r RxCounters) uint64 { return r.WrongXID }},
		{"bootp", mutate(func(m *dhcp.Message) { m.Options = m.Options[1:] }), fromSrv, func(r RxCounters) uint64 { return r.NoMessageType }},
		{"inform", mutate(func(m *dhcp.Message) { m.Options.Set(dhcp.OptMessageType, []byte{8}) }), fromSrv, func(r RxCounters) uint64 { return r.WrongType }},
		{"ack in selecting", mutate(func(m *dhcp.Message) { m.Options.Set(dhcp.OptMessageType, []byte{5}) }), fromSrv, func(r RxCounters) uint64 { return r.WrongState }},
		{"no server id", mutate(func(m *dhcp.Message) { m.Options = append(m.Options[:1], m.Options[2:]...) }), fromSrv, func(r RxCounters) uint64 { return r.NoServerID }},
		{"yiaddr 0", mutate(func(m *dhcp.Message) { m.YIAddr = netip.IPv4Unspecified() }), fromSrv, func(r RxCounters) uint64 { return r.BadAddress }},
		{"yiaddr broadcast", mutate(func(m *dhcp.Message) { m.YIAddr = Broadcast }), fromSrv, func(r RxCounters) uint64 { return r.BadAddress }},
		{"lease 5 s", mutate(func(m *dhcp.Message) { m.Options.Set(dhcp.OptLeaseTime, dhcp.DurationData(5*time.Second)) }), fromSrv, func(r RxCounters) uint64 { return r.BadLeaseTime }},
		{"overload loop", func() []byte {
			b := append([]byte{}, offer[:240]...)
			b = append(b, dhcp.OptOverload, 1, 1, dhcp.OptEnd)
			copy(b[108:], []byte{dhcp.OptOverload, 1, 1, dhcp.OptEnd})
			return b
		}(), fromSrv, func(r RxCounters) uint64 { return r.OverloadLoop }},
	} {
		before := tc.counter(rx())
		h.c.Input(tc.b, tc.from)
		assert.Equal(t, before+1, tc.counter(rx()), tc.name)
		assert.Equal(t, Selecting, h.c.State(), tc.name)
	}
	assert.Equal(t, uint64(0), rx().Accepted)
	h.checkRx()
	h.c.Input(offer, fromSrv)
	assert.Equal(t, Requesting, h.c.State())
	h.checkRx()
}

func TestReboot(t *testing.T) {
	// A lease from a previous run, not expired: INIT-REBOOT.
	h := newHarness(t, Config{}, false)
	h.bind()
	old, _ := h.c.Lease()
	h = newHarness(t, Config{Remember: &old}, true)
	h.clock.now = t0.Add(100 * time.Second)
	h.c.Start()
	assert.Equal(t, Rebooting, h.c.State())
	r := h.last()
	assert.Equal(t, dhcp.Request, r.Msg.Type())
	assert.Equal(t, Broadcast, r.Dst)
	assert.Equal(t, netip.IPv4Unspecified(), r.Src)
	assert.Equal(t, netip.IPv4Unspecified(), r.Msg.CIAddr)
	assert.Equal(t, yiaddr, addrOpt(r.Msg, dhcp.OptRequestedIP))
	assert.False(t, has(r.Msg, dhcp.OptServerID), "RFC 2131 table 5: no server id in INIT-REBOOT")
	h.c.Input(h.reply(dhcp.Ack, srvAddr, yiaddr), fromSrv)
	assert.Equal(t, Bound, h.c.State(), "no probe after INIT-REBOOT (figure 5)")
	assert.Empty(t, h.probes)
	assert.Equal(t, uint64(1), h.c.Counters().Reboots)

	// NAK: INIT.
	h = newHarness(t, Config{Remember: &old}, false)
	h.c.Start()
	h.c.Input(h.reply(dhcp.Nak, srv2Addr, netip.IPv4Unspecified()), fromSrv2)
	assert.Equal(t, Init, h.c.State())
	_, ok := h.c.Lease()
	assert.False(t, ok)
	assert.Empty(t, h.unbound)

	// Unanswered: INIT after RequestTries.
	h = newHarness(t, Config{Remember: &old}, false)
	h.c.Start()
	h.advance(59 * time.Second) // REQUESTs at 0, 4, 12, 28 s
	assert.Equal(t, Rebooting, h.c.State())
	h.advance(time.Second)
	assert.Equal(t, Init, h.c.State())

	// Expired: straight to INIT.
	h = newHarness(t, Config{Remember: &old}, false)
	h.clock.now = t0.Add(1001 * time.Second)
	h.c.Start()
	assert.Equal(t, Init, h.c.State())
	h.advance(0)
	assert.Equal(t, dhcp.Discover, h.last().Msg.Type())
}

func TestRelease(t *testing.T) {
	h := newHarness(t, Config{}, false)
	h.bind()
	require.NoError(t, h.c.Release())
	r := h.last()
	assert.Equal(t, dhcp.Release, r.Msg.Type())
	assert.Equal(t, srvAddr, r.Dst, "RELEASE is unicast to the server")
	assert.Equal(t, yiaddr, r.Src)
	assert.Equal(t, yiaddr, r.Msg.CIAddr)
	assert.Equal(t, srvAddr, addrOpt(r.Msg, dhcp.OptServerID))
	assert.Equal(t, []Reason{Released}, h.unbound)
	assert.Equal(t, Stopped, h.c.State())
	_, ok := h.c.NextDeadline()
	assert.False(t, ok)
	_, ok = h.c.Lease()
	assert.False(t, ok)

	// Start again: a fresh DISCOVER.
	h.c.Start()
	h.advance(0)
	assert.Equal(t, dhcp.Discover, h.last().Msg.Type())
	n := len(h.sent)
	require.NoError(t, h.c.Release())
	assert.Len(t, h.sent, n, "nothing to release")
	assert.Equal(t, Stopped, h.c.State())
	h.c.Input(h.reply(dhcp.Offer, srvAddr, yiaddr), fromSrv)
	assert.Equal(t, uint64(1), h.c.Counters().Rx.WrongState)
}

func TestSendErrorsCounted(t *testing.T) {
	h := newHarness(t, Config{}, false)
	h.sendErr = assert.AnError
	h.c.Start()
	h.advance(5 * time.Second)
	assert.Equal(t, uint64(2), h.c.Counters().Tx.Errors)
	assert.Equal(t, Selecting, h.c.State(), "retransmission goes on")
}

func TestConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},                                   // no MAC
		{MAC: [6]byte{1, 2, 3, 4, 5, 6}},     // multicast MAC
		{MAC: mac, ClientID: []byte{1}},      // too short
		{MAC: mac, MaxMessageSize: 500},      // under 576
		{MAC: mac, StartDelay: -time.Second}, // negative
	} {
		_, err := New(cfg, nil, nil, nil, nil, nil)
		assert.ErrorIs(t, err, ErrConfig, "%+v", cfg)
	}
	assert.Equal(t, "REBOOTING", Rebooting.String())
	assert.Equal(t, "expired", Expired.String())
}
