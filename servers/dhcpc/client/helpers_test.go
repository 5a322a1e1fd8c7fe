package client

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/dhcpc/dhcp"
)

var (
	ip       = netip.MustParseAddr
	mac      = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	srvAddr  = ip("10.99.0.1")
	srv2Addr = ip("10.99.0.3")
	yiaddr   = ip("10.99.0.50")
	t0       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fromSrv  = netip.AddrPortFrom(srvAddr, ServerPort)
	fromSrv2 = netip.AddrPortFrom(srv2Addr, ServerPort)
)

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// midRand makes every jitter its midpoint (retransmissions exactly 4, 8,
// ... s) and transaction IDs 1, 2, 3...
type midRand struct{ n uint32 }

func (r *midRand) Int64N(n int64) int64 { return n / 2 }
func (r *midRand) Uint32() uint32       { r.n++; return r.n }

type sent struct {
	Packet
	At  time.Time
	Msg *dhcp.Message
}

type harness struct {
	t       testing.TB
	c       *Client
	clock   *fakeClock
	sent    []sent
	bound   []Lease
	unbound []Reason
	probes  []netip.Addr
	sendErr error

	released Lease // the lease given back by replayGolden's Release
}

func (h *harness) Send(p Packet) error {
	m, err := dhcp.Parse(p.Data)
	require.NoError(h.t, err, "the client sent a message it cannot parse")
	h.sent = append(h.sent, sent{Packet: p, At: h.clock.now, Msg: m})
	return h.sendErr
}
func (h *harness) Bound(l Lease)               { h.bound = append(h.bound, l) }
func (h *harness) Unbound(l Lease, why Reason) { h.unbound = append(h.unbound, why) }
func (h *harness) Probe(a netip.Addr)          { h.probes = append(h.probes, a) }

func newHarness(t testing.TB, cfg Config, probe bool) *harness {
	h := &harness{t: t, clock: &fakeClock{now: t0}}
	if cfg.MAC == [6]byte{} {
		cfg.MAC = mac
	}
	var p Prober
	if probe {
		p = h
	}
	c, err := New(cfg, h, h.clock, &midRand{}, h, p)
	require.NoError(t, err)
	h.c = c
	return h
}

// advance moves the clock to now+d, calling Tick at every deadline on the
// way.
func (h *harness) advance(d time.Duration) {
	end := h.clock.now.Add(d)
	for range 10000 {
		dl, ok := h.c.NextDeadline()
		if !ok || dl.After(end) {
			break
		}
		if dl.After(h.clock.now) {
			h.clock.now = dl
		}
		h.c.Tick()
	}
	h.clock.now = end
	h.c.Tick()
}

func (h *harness) last() sent {
	require.NotEmpty(h.t, h.sent)
	return h.sent[len(h.sent)-1]
}

// reply builds a server message answering the last one sent.
func (h *harness) reply(t dhcp.MessageType, server netip.Addr, yi netip.Addr, opts ...dhcp.Option) []byte {
	req := h.last().Msg
	m := &dhcp.Message{Op: dhcp.BootReply, HType: 1, HLen: 6, XID: req.XID, Flags: req.Flags,
		CIAddr: req.CIAddr, YIAddr: yi, SIAddr: server, GIAddr: netip.IPv4Unspecified(), CHAddr: req.CHAddr}
	m.Options.Set(dhcp.OptMessageType, []byte{byte(t)})
	if server.IsValid() {
		m.Options.Set(dhcp.OptServerID, dhcp.AddrData(server))
	}
	if t != dhcp.Nak {
		m.Options.Set(dhcp.OptLeaseTime, dhcp.DurationData(1000*time.Second))
		m.Options.Set(dhcp.OptSubnetMask, dhcp.MaskData(24))
		m.Options.Set(dhcp.OptRouter, dhcp.AddrData(srvAddr))
		m.Options.Set(dhcp.OptDNS, dhcp.AddrData(srvAddr, ip("10.99.0.2")))
		m.Options.Set(dhcp.OptMTU, dhcp.Uint16Data(1400))
	}
	for _, o := range opts {
		m.Options.Set(o.Code, o.Data)
	}
	b, err := m.Marshal()
	require.NoError(h.t, err)
	return b
}

// dora starts the client and answers its DISCOVER and REQUEST (the ACK
// with ackOpts) at t0 (no start delay).
func (h *harness) dora(ackOpts ...dhcp.Option) {
	h.c.Start()
	h.advance(0)
	h.c.Input(h.reply(dhcp.Offer, srvAddr, yiaddr), fromSrv)
	h.c.Input(h.reply(dhcp.Ack, srvAddr, yiaddr, ackOpts...), fromSrv)
}

// bind runs DORA to BOUND.
func (h *harness) bind() {
	h.dora()
	if h.c.State() == Probing {
		h.c.ProbeResult(yiaddr, false)
	}
	require.Equal(h.t, Bound, h.c.State())
}

// checkRx asserts that every datagram was accepted or dropped.
func (h *harness) checkRx() {
	rx := h.c.Counters().Rx
	require.Equal(h.t, rx.Datagrams, rx.Accepted+rx.Dropped(), "%+v", rx)
}

func netipPrefix(a netip.Addr, n int) netip.Prefix { return netip.PrefixFrom(a, n) }

func netipAddrPort(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }
