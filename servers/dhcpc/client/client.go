package client

import (
	"net/netip"
	"time"

	"armos/servers/dhcpc/dhcp"
)

// Ports (RFC 2131 section 4.1).
const (
	ServerPort = 67
	ClientPort = 68
)

// Broadcast is the limited broadcast address, the destination of
// broadcast messages.
var Broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// Packet is a message to send from port 68 to port 67. Src is 0.0.0.0
// while the client has no address, else the leased address.
type Packet struct {
	Data     []byte
	Src, Dst netip.Addr
}

// Output sends packets. It may keep Data.
type Output interface {
	Send(p Packet) error
}

// Clock is the time source (netd's stack.SystemClock in production).
type Clock interface {
	Now() time.Time
}

// Rand is the randomness source (*math/rand/v2.Rand satisfies it).
type Rand interface {
	Int64N(n int64) int64
	Uint32() uint32
}

// Handler hears of leases. Bound runs for a new lease and for each
// renewal; Unbound when a bound lease must no longer be used. Both run
// synchronously inside the Client's calls.
type Handler interface {
	Bound(l Lease)
	Unbound(l Lease, why Reason)
}

// Prober checks an address before use (RFC 5227 probes): Probe starts the
// check; the owner answers with Client.ProbeResult.
type Prober interface {
	Probe(addr netip.Addr)
}

// State is the client's RFC 2131 state (figure 5), with Probing (the
// ACKed address being checked) and Stopped (before Start, after Release).
type State uint8

const (
	Stopped State = iota
	Init
	Selecting
	Requesting
	Probing
	Bound
	Renewing
	Rebinding
	Rebooting
)

var stateNames = [...]string{"STOPPED", "INIT", "SELECTING", "REQUESTING", "PROBING", "BOUND", "RENEWING", "REBINDING", "REBOOTING"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "?"
}

// Client is the engine. Create it with New.
type Client struct {
	cfg    Config
	out    Output
	clock  Clock
	rnd    Rand
	h      Handler
	prober Prober

	state    State
	deadline time.Time // zero: none
	xid      uint32
	began    time.Time // when this exchange's first message was sent
	secs     uint16    // the DISCOVER's secs, reused by the REQUEST
	tries    int       // messages sent in this state

	offerAddr   netip.Addr // SELECTING → REQUESTING: the chosen offer
	offerServer netip.Addr
	reqStart    time.Time // first REQUEST of the exchange (lease start)

	lease     Lease // bound, being probed, or remembered
	haveLease bool
	pending   Lease // ACKed, being probed

	c Counters
}

// New returns a stopped client. h and prober may be nil (no probing).
func New(cfg Config, out Output, clock Clock, rnd Rand, h Handler, prober Prober) (*Client, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, out: out, clock: clock, rnd: rnd, h: h, prober: prober}
	if cfg.Remember != nil && cfg.Remember.Addr.Addr().Is4() {
		c.lease, c.haveLease = *cfg.Remember, true
	}
	return c, nil
}

// State returns the current state.
func (c *Client) State() State { return c.state }

// Lease returns the lease in use (BOUND, RENEWING, REBINDING) or, in other
// states, the one remembered for INIT-REBOOT.
func (c *Client) Lease() (Lease, bool) { return c.lease, c.haveLease }

// Counters returns a snapshot of the counters.
func (c *Client) Counters() Counters { return c.c }

// NextDeadline returns when Tick must next be called.
func (c *Client) NextDeadline() (time.Time, bool) {
	return c.deadline, !c.deadline.IsZero()
}

// Start begins acquiring an address: INIT-REBOOT if a remembered lease
// has not expired, else INIT. It does nothing unless stopped.
func (c *Client) Start() {
	if c.state != Stopped {
		return
	}
	now := c.clock.Now()
	if c.haveLease && (c.lease.Infinite() || now.Before(c.lease.Expiry())) {
		c.c.Reboots++
		c.newExchange(now)
		c.state = Rebooting
		c.tries = 0
		c.sendRequest(now)
		return
	}
	c.haveLease = false
	c.toInit(now, c.jitter(c.cfg.StartDelay))
}

// Release gives the lease back (a RELEASE unicast to its server) and
// stops the client; Handler.Unbound runs. Without a lease it only stops.
func (c *Client) Release() error {
	var err error
	if c.state == Bound || c.state == Renewing || c.state == Rebinding {
		l := c.lease
		m := c.message(dhcp.Release, l.Addr.Addr(), false)
		m.Options.Set(dhcp.OptServerID, dhcp.AddrData(l.Server))
		err = c.send(m, l.Addr.Addr(), l.Server)
		c.c.Tx.Release++
		c.haveLease = false
		c.state, c.deadline = Stopped, time.Time{}
		if c.h != nil {
			c.h.Unbound(l, Released)
		}
		return err
	}
	c.state, c.deadline = Stopped, time.Time{}
	return err
}

// jitter returns a random duration in [0, d).
func (c *Client) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(c.rnd.Int64N(int64(d)))
}

// backoff returns the delay after the tries-th transmission (1-based):
// 4, 8, 16, 32, 64, 64... s, each ±1 s.
func (c *Client) backoff(tries int) time.Duration {
	d := RetransmitMax
	if tries <= 5 {
		d = RetransmitBase << (tries - 1)
	}
	return d - RetransmitJitter + time.Duration(c.rnd.Int64N(int64(2*RetransmitJitter)+1))
}

func (c *Client) newExchange(now time.Time) {
	c.xid = c.rnd.Uint32()
	c.began = now
	c.reqStart = time.Time{}
}

// toInit waits wait, then sends a DISCOVER.
func (c *Client) toInit(now time.Time, wait time.Duration) {
	c.state = Init
	c.tries = 0
	c.deadline = now.Add(wait)
}

// Tick does what is due: (re)transmissions, lease timers, probe timeout.
func (c *Client) Tick() {
	now := c.clock.Now()
	for range 8 { // each step moves the deadline on; bounded anyway
		if c.deadline.IsZero() || now.Before(c.deadline) {
			return
		}
		c.expire(now)
	}
}

func (c *Client) expire(now time.Time) {
	switch c.state {
	case Init:
		c.newExchange(now)
		c.state = Selecting
		c.sendDiscover(now)
	case Selecting:
		c.c.Retransmits++
		c.sendDiscover(now)
	case Requesting, Rebooting:
		if c.tries >= c.cfg.RequestTries {
			c.c.GaveUp++
			c.haveLease = false
			c.toInit(now, c.cfg.NakWait)
			return
		}
		c.c.Retransmits++
		c.sendRequest(now)
	case Probing:
		c.c.ProbeTimeouts++
		c.bind(c.pending)
	case Bound, Renewing, Rebinding:
		c.leaseTimer(now)
	default:
		c.deadline = time.Time{}
	}
}

func (c *Client) sendDiscover(now time.Time) {
	c.secs = secsSince(c.began, now)
	m := c.message(dhcp.Discover, netip.Addr{}, !c.cfg.NoBroadcastFlag)
	m.Secs = c.secs
	c.requestOptions(m)
	c.c.Tx.Discover++
	c.send(m, netip.IPv4Unspecified(), Broadcast)
	c.tries++
	c.deadline = now.Add(c.backoff(c.tries))
}

// sendRequest sends the REQUEST of REQUESTING, REBOOTING, RENEWING or
// REBINDING (RFC 2131 table 5).
func (c *Client) sendRequest(now time.Time) {
	if c.reqStart.IsZero() {
		c.reqStart = now
	}
	var m *dhcp.Message
	src, dst := netip.IPv4Unspecified(), Broadcast
	switch c.state {
	case Requesting:
		m = c.message(dhcp.Request, netip.Addr{}, !c.cfg.NoBroadcastFlag)
		m.Secs = c.secs
		m.Options.Set(dhcp.OptRequestedIP, dhcp.AddrData(c.offerAddr))
		m.Options.Set(dhcp.OptServerID, dhcp.AddrData(c.offerServer))
	case Rebooting:
		m = c.message(dhcp.Request, netip.Addr{}, !c.cfg.NoBroadcastFlag)
		m.Secs = secsSince(c.began, now)
		m.Options.Set(dhcp.OptRequestedIP, dhcp.AddrData(c.lease.Addr.Addr()))
	case Renewing, Rebinding:
		src = c.lease.Addr.Addr()
		if c.state == Renewing {
			dst = c.lease.Server
		}
		m = c.message(dhcp.Request, src, false)
		m.Secs = secsSince(c.began, now)
	}
	c.requestOptions(m)
	c.c.Tx.Request++
	c.send(m, src, dst)
	c.tries++
	switch c.state {
	case Requesting, Rebooting:
		c.deadline = now.Add(c.backoff(c.tries))
	case Renewing:
		c.deadline = renewWait(now, c.lease.Start.Add(c.lease.T2))
	case Rebinding:
		c.deadline = renewWait(now, c.lease.Expiry())
	}
}

// renewWait: half the time until end, at least RenewRetransmitMin, but
// not past end (RFC 2131 section 4.4.5).
func renewWait(now, end time.Time) time.Time {
	next := now.Add(max(end.Sub(now)/2, RenewRetransmitMin))
	if next.After(end) {
		return end
	}
	return next
}

func secsSince(began, now time.Time) uint16 {
	s := now.Sub(began) / time.Second
	if s < 0 {
		return 0
	}
	return uint16(min(s, 0xffff))
}

// leaseTimer handles T1, T2 and the expiry.
func (c *Client) leaseTimer(now time.Time) {
	l := c.lease
	if l.Infinite() {
		c.deadline = time.Time{}
		return
	}
	switch {
	case !now.Before(l.Expiry()):
		c.c.Expired++
		c.haveLease = false
		if c.h != nil {
			c.h.Unbound(l, Expired)
		}
		c.toInit(now, c.jitter(c.cfg.StartDelay))
	case !now.Before(l.Start.Add(l.T2)):
		c.extend(now, Rebinding, &c.c.Rebinds)
	case !now.Before(l.Start.Add(l.T1)):
		c.extend(now, Renewing, &c.c.Renewals)
	default:
		c.deadline = l.Start.Add(l.T1)
	}
}

// extend sends the REQUEST of RENEWING or REBINDING: the first of the
// state (counted in *entered, with a fresh xid) or a retransmission.
func (c *Client) extend(now time.Time, st State, entered *uint64) {
	if c.state != st {
		*entered++
		c.state = st
		c.newExchange(now)
		c.tries = 0
	} else {
		c.c.Retransmits++
	}
	c.sendRequest(now)
}

// message starts a client message with the options every one carries.
func (c *Client) message(t dhcp.MessageType, ciaddr netip.Addr, bcast bool) *dhcp.Message {
	m := &dhcp.Message{
		Op: dhcp.BootRequest, HType: dhcp.HTypeEthernet, HLen: 6, XID: c.xid,
		CIAddr: ciaddr,
	}
	if !ciaddr.IsValid() {
		m.CIAddr = netip.IPv4Unspecified()
	}
	m.YIAddr, m.SIAddr, m.GIAddr = netip.IPv4Unspecified(), netip.IPv4Unspecified(), netip.IPv4Unspecified()
	if bcast {
		m.Flags = dhcp.FlagBroadcast
	}
	copy(m.CHAddr[:], c.cfg.MAC[:])
	m.Options.Set(dhcp.OptMessageType, []byte{byte(t)})
	m.Options.Set(dhcp.OptClientID, c.cfg.ClientID)
	return m
}

// paramRequest is option 55: what a Lease is made of.
var paramRequest = []byte{dhcp.OptSubnetMask, dhcp.OptRouter, dhcp.OptDNS, dhcp.OptMTU,
	dhcp.OptLeaseTime, dhcp.OptRenewalTime, dhcp.OptRebindingTime}

func (c *Client) requestOptions(m *dhcp.Message) {
	m.Options.Set(dhcp.OptParamRequest, paramRequest)
	m.Options.Set(dhcp.OptMaxMessageSize, dhcp.Uint16Data(c.cfg.MaxMessageSize))
	if c.cfg.Hostname != "" {
		m.Options.Set(dhcp.OptHostname, []byte(c.cfg.Hostname))
	}
}

func (c *Client) send(m *dhcp.Message, src, dst netip.Addr) error {
	b, err := m.Marshal()
	if err == nil {
		err = c.out.Send(Packet{Data: b, Src: src, Dst: dst})
	}
	if err != nil {
		c.c.Tx.Errors++
	}
	return err
}

// Input takes a UDP datagram received on port 68.
func (c *Client) Input(b []byte, from netip.AddrPort) {
	c.c.Rx.Datagrams++
	m, err := dhcp.Parse(b)
	if err != nil {
		c.c.Rx.countParse(err)
		return
	}
	rx := &c.c.Rx
	switch {
	case from.Port() != ServerPort:
		rx.WrongPort++
		return
	case m.Op != dhcp.BootReply:
		rx.NotReply++
		return
	case m.HType != dhcp.HTypeEthernet || m.HLen != 6 || [6]byte(m.CHAddr[:6]) != c.cfg.MAC:
		rx.WrongCHAddr++
		return
	}
	t := m.Type()
	switch t {
	case 0:
		rx.NoMessageType++
		return
	case dhcp.Offer, dhcp.Ack, dhcp.Nak:
	default:
		rx.WrongType++
		return
	}
	want := false
	switch c.state {
	case Selecting:
		want = t == dhcp.Offer
	case Requesting, Rebooting, Renewing, Rebinding:
		want = t == dhcp.Ack || t == dhcp.Nak
	}
	if !want {
		rx.WrongState++
		return
	}
	if m.XID != c.xid {
		rx.WrongXID++
		return
	}
	server, hasServer := m.Options.Addr(dhcp.OptServerID)
	now := c.clock.Now()
	switch t {
	case dhcp.Offer:
		c.offer(now, m, server, hasServer)
	case dhcp.Ack:
		c.ack(now, m, server, hasServer)
	case dhcp.Nak:
		c.nak(now, server, hasServer)
	}
}

// usable reports whether a is an address a host may take.
func usable(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() &&
		a != Broadcast && a.As4()[0] != 0 && a.As4()[0] < 240
}

func (c *Client) offer(now time.Time, m *dhcp.Message, server netip.Addr, hasServer bool) {
	rx := &c.c.Rx
	if !hasServer || !usable(server) {
		rx.NoServerID++
		return
	}
	if !usable(m.YIAddr) {
		rx.BadAddress++
		return
	}
	if d, ok := m.Options.Duration(dhcp.OptLeaseTime); !ok || d < MinLeaseTime {
		rx.BadLeaseTime++
		return
	}
	rx.Accepted++
	c.c.Offers++
	c.offerAddr, c.offerServer = m.YIAddr, server
	c.state = Requesting
	c.tries = 0
	c.sendRequest(now)
}

func (c *Client) ack(now time.Time, m *dhcp.Message, server netip.Addr, hasServer bool) {
	rx := &c.c.Rx
	var wantAddr, wantServer netip.Addr
	switch c.state {
	case Requesting:
		wantAddr, wantServer = c.offerAddr, c.offerServer
	case Renewing:
		wantAddr, wantServer = c.lease.Addr.Addr(), c.lease.Server
	default: // REBOOTING, REBINDING: any server may answer
		wantAddr = c.lease.Addr.Addr()
	}
	if !hasServer || !usable(server) || (wantServer.IsValid() && server != wantServer) {
		rx.WrongServer++
		return
	}
	if m.YIAddr != wantAddr {
		rx.BadAddress++
		return
	}
	l, ok := c.leaseFrom(m, server)
	if !ok {
		rx.BadLeaseTime++
		return
	}
	rx.Accepted++
	c.c.Acks++
	if c.state == Requesting && c.prober != nil {
		c.state = Probing
		c.pending = l
		c.deadline = now.Add(c.cfg.ProbeTimeout)
		c.c.Probes++
		c.prober.Probe(l.Addr.Addr())
		return
	}
	c.bind(l)
}

// leaseFrom makes the Lease an ACK grants.
func (c *Client) leaseFrom(m *dhcp.Message, server netip.Addr) (Lease, bool) {
	d, ok := m.Options.Duration(dhcp.OptLeaseTime)
	if !ok || d < MinLeaseTime {
		return Lease{}, false
	}
	bitsLen, ok := m.Options.PrefixLen()
	if !ok || bitsLen == 0 || bitsLen > 30 {
		bitsLen = classful(m.YIAddr)
		c.c.NoMask++
	}
	l := Lease{Addr: netip.PrefixFrom(m.YIAddr, bitsLen), Server: server, Duration: d, Start: c.reqStart}
	for _, r := range m.Options.Addrs(dhcp.OptRouter) {
		if usable(r) {
			l.Router = r
			break
		}
	}
	for _, a := range m.Options.Addrs(dhcp.OptDNS) {
		if usable(a) && len(l.DNS) < MaxDNS {
			l.DNS = append(l.DNS, a)
		}
	}
	if v, ok := m.Options.Uint16(dhcp.OptMTU); ok {
		l.MTU = int(v)
	}
	if l.Infinite() {
		return l, true
	}
	l.T1 = d * t1Num / t1Den
	l.T2 = d * t2Num / t2Den
	t1, ok1 := m.Options.Duration(dhcp.OptRenewalTime)
	t2, ok2 := m.Options.Duration(dhcp.OptRebindingTime)
	if ok2 && t2 > 0 && t2 < d {
		l.T2 = t2
	}
	if ok1 && t1 > 0 && t1 < l.T2 {
		l.T1 = t1
	}
	if c.cfg.T2 > 0 && c.cfg.T2 < d {
		l.T2 = c.cfg.T2
	}
	if c.cfg.T1 > 0 && c.cfg.T1 < l.T2 {
		l.T1 = c.cfg.T1
	}
	if l.T1 >= l.T2 { // a server T2 below the defaults' T1
		l.T1 = l.T2 * t1Num * t2Den / (t1Den * t2Num)
	}
	return l, true
}

// classful is the prefix length of a's class (RFC 791), for ACKs without
// a subnet mask.
func classful(a netip.Addr) int {
	switch b := a.As4()[0]; {
	case b < 128:
		return 8
	case b < 192:
		return 16
	}
	return 24
}

func (c *Client) bind(l Lease) {
	renewed := c.state == Renewing || c.state == Rebinding
	c.lease, c.haveLease = l, true
	c.state = Bound
	c.tries = 0
	if renewed {
		c.c.Extended++
	} else {
		c.c.Leases++
	}
	if l.Infinite() {
		c.deadline = time.Time{}
	} else {
		c.deadline = l.Start.Add(l.T1)
	}
	// T1 may already have passed (a slow probe, a lease shorter than the
	// exchange took): the next Tick renews.
	if c.h != nil {
		c.h.Bound(l)
	}
}

func (c *Client) nak(now time.Time, server netip.Addr, hasServer bool) {
	rx := &c.c.Rx
	var wantServer netip.Addr
	switch c.state {
	case Requesting:
		wantServer = c.offerServer
	case Renewing:
		wantServer = c.lease.Server
	}
	if wantServer.IsValid() && (!hasServer || server != wantServer) {
		rx.WrongServer++
		return
	}
	rx.Accepted++
	c.c.Naks++
	lost := c.state == Renewing || c.state == Rebinding
	l := c.lease
	c.haveLease = false
	c.toInit(now, c.cfg.NakWait)
	if lost && c.h != nil {
		c.h.Unbound(l, Nakked)
	}
}

// ProbeResult is the owner's answer to Prober.Probe. A conflict declines
// the address (a DECLINE broadcast) and starts again after DeclineWait.
func (c *Client) ProbeResult(addr netip.Addr, conflict bool) {
	if c.state != Probing || addr != c.pending.Addr.Addr() {
		c.c.ProbeStale++
		return
	}
	now := c.clock.Now()
	if !conflict {
		c.bind(c.pending)
		return
	}
	c.c.Conflicts++
	m := c.message(dhcp.Decline, netip.Addr{}, false)
	m.Options.Set(dhcp.OptRequestedIP, dhcp.AddrData(addr))
	m.Options.Set(dhcp.OptServerID, dhcp.AddrData(c.pending.Server))
	c.c.Tx.Decline++
	c.send(m, netip.IPv4Unspecified(), Broadcast)
	c.toInit(now, c.cfg.DeclineWait)
}
