// Package agent is the dhcpc process's event loop (docs/dhcp.md): the
// DHCP engine (servers/dhcpc/client) on a UDP socket bound to 0.0.0.0:68
// with SO_BROADCAST, its leases applied to netd through the admin
// service's OpConfigure, RFC 5227 probing done by netd. It is a package of
// its own so that tests run it in-process against a hosted netd.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"armos/libsocket/adminproto"
	"armos/servers/dhcpc/client"
)

// Ports (RFC 2131 section 4.1).
const (
	ClientPort = 68
	ServerPort = 67
)

// DefaultWatch is how often a bound agent checks that netd still has the
// leased address (a restarted netd comes back without it: the agent sets
// it again from the lease it holds, without a packet on the wire).
const DefaultWatch = 5 * time.Second

// callTimeout bounds one admin call; a probing configure takes longer
// (RFC 5227: up to 9 s) and is bounded by probeTimeout.
const (
	callTimeout  = 5 * time.Second
	probeTimeout = 20 * time.Second
)

// Conn is the socket on port 68 (*libsocket.PacketConn; *net.UDPConn in
// tests).
type Conn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// Netd is netd's admin service (AdminNetd).
type Netd interface {
	Interface(ctx context.Context) (*adminproto.Interface, error)
	Configure(ctx context.Context, req *adminproto.Configure) (*adminproto.Configured, error)
}

// Resolved is the DNS resolver's admin service (AdminResolved).
type Resolved interface {
	// SetUpstream is OpSetUpstream. gone is closed when the resolved
	// that accepted the list is no more (its connection ended: it exited
	// or init restarted it), so that its successor, which starts with
	// its -upstream defaults, is given the list again; nil if that
	// cannot be told.
	SetUpstream(ctx context.Context, u *adminproto.Upstream) (gone <-chan struct{}, err error)
}

// Config configures an Agent.
type Config struct {
	// Client is the engine's configuration; a zero MAC is netd's.
	Client client.Config
	// Probe checks an ACKed address with RFC 5227 probes through netd
	// (OpConfigure with Probe) before using it.
	Probe bool
	// Watch: how often netd's address is compared with the lease (0:
	// DefaultWatch).
	Watch time.Duration
	// Log receives the console lines (nil: none).
	Log io.Writer
	// Resolved, if not nil, is given a bound lease's DNS servers
	// (OpSetUpstream, source "dhcp") whenever they differ from what it
	// last accepted; a failed call is retried at the next watch.
	Resolved Resolved
}

// Counters are the agent's own counters (the engine has its own).
type Counters struct {
	RxDatagrams     uint64 // datagrams read from the socket
	RxErrors        uint64 // socket read errors (retried)
	Configures      uint64 // leases applied to netd
	Clears          uint64 // addresses removed from netd (lease lost or released)
	ConfigureErrors uint64 // admin calls that failed (retried by the watch)
	Reapplied       uint64 // leases applied again: netd had lost the address (restarted)
	ProbeConflicts  uint64 // netd's probe found the address in use
	ProbeErrors     uint64 // probes that failed (the engine's timeout takes the address)
	DNSUpdates      uint64 // lease DNS servers resolved accepted
	DNSErrors       uint64 // calls to resolved that failed (not running: retried at the next watch)
	ResolvedGone    uint64 // the resolved that had the lease's servers went away (restarted): they are sent again
}

// Agent runs the DHCP client for netd.
type Agent struct {
	cfg  Config
	conn Conn
	netd Netd
	c    *client.Client

	in     chan []byte // datagrams from the reader, with the source prefixed
	probes chan probeResult
	ctx    context.Context // the calls' context while running

	mu   sync.Mutex // guards cnt and lease for Counters/Lease from other goroutines
	cnt  Counters
	want *client.Lease // the lease netd should have; nil for none

	started    time.Time // when Run began (the first DISCOVER's clock)
	configured bool      // netd took a lease once (the first is timed)

	dnsSent    []string        // the DNS servers resolved last accepted (the loop's)
	dnsGone    <-chan struct{} // closed when the resolved that accepted dnsSent is gone
	dnsFailing bool            // the last call to resolved failed (logged once)
}

type probeResult struct {
	addr     netip.Addr
	conflict bool
}

// New returns an agent on conn for netd. It asks netd for its MAC when
// cfg.Client.MAC is zero.
func New(ctx context.Context, cfg Config, conn Conn, netd Netd) (*Agent, error) {
	if cfg.Watch <= 0 {
		cfg.Watch = DefaultWatch
	}
	a := &Agent{cfg: cfg, conn: conn, netd: netd, in: make(chan []byte, 16), probes: make(chan probeResult, 1), ctx: ctx}
	if cfg.Client.MAC == ([6]byte{}) {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		i, err := netd.Interface(cctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("netd's interface: %w", err)
		}
		mac, err := net.ParseMAC(i.MAC)
		if err != nil || len(mac) != 6 {
			return nil, fmt.Errorf("netd's MAC %q: %v", i.MAC, err)
		}
		a.cfg.Client.MAC = [6]byte(mac)
	}
	var prober client.Prober
	if cfg.Probe {
		prober = a
	}
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	c, err := client.New(a.cfg.Client, output{a}, wallClock{}, rnd, a, prober)
	if err != nil {
		return nil, err
	}
	a.c = c
	return a, nil
}

// MAC is the hardware address the agent uses.
func (a *Agent) MAC() net.HardwareAddr { return net.HardwareAddr(a.cfg.Client.MAC[:]) }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

type output struct{ a *Agent }

// Send sends from port 68 to the packet's destination's port 67; netd
// chooses the source address (0.0.0.0 while it has none, else its own:
// they differ from p.Src only after a dhcpc restart while netd kept the
// address, where INIT-REBOOT's REQUEST then leaves from it).
func (o output) Send(p client.Packet) error {
	_, err := o.a.conn.WriteToUDPAddrPort(p.Data, netip.AddrPortFrom(p.Dst, ServerPort))
	return err
}

func (a *Agent) logf(format string, args ...any) {
	if a.cfg.Log != nil {
		fmt.Fprintf(a.cfg.Log, "dhcpc: "+format+"\n", args...)
	}
}

func (a *Agent) count(fn func(c *Counters)) {
	a.mu.Lock()
	fn(&a.cnt)
	a.mu.Unlock()
}

// Counters returns the agent's counters.
func (a *Agent) Counters() Counters {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cnt
}

// Lease returns the lease netd was given, if any.
func (a *Agent) Lease() (client.Lease, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.want == nil {
		return client.Lease{}, false
	}
	return *a.want, true
}

// Engine returns the engine, for its state and counters; only after Run
// returned (it is not safe for concurrent use).
func (a *Agent) Engine() *client.Client { return a.c }

// configureRequest is what netd is told for lease l.
func configureRequest(l client.Lease) *adminproto.Configure {
	req := &adminproto.Configure{Addr: l.Addr.String(), MTU: int(l.MTU)}
	if l.Router.IsValid() && l.Addr.Contains(l.Router) && l.Router != l.Addr.Addr() {
		req.Gateway = l.Router.String()
	}
	dl := &adminproto.Lease{Server: l.Server.String(), Seconds: int64(l.Duration / time.Second)}
	if !l.Infinite() {
		dl.Expiry = l.Expiry().Unix()
	}
	for _, d := range l.DNS {
		dl.DNS = append(dl.DNS, d.String())
	}
	req.Lease = dl
	return req
}

// apply sets lease l (nil: no address) in netd.
func (a *Agent) apply(ctx context.Context, l *client.Lease) error {
	req := &adminproto.Configure{Clear: true}
	if l != nil {
		req = configureRequest(*l)
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := a.netd.Configure(cctx, req)
	if err != nil {
		a.count(func(c *Counters) { c.ConfigureErrors++ })
		a.logf("configuring netd: %v", err)
	}
	return err
}

// Bound applies a new or renewed lease (client.Handler).
func (a *Agent) Bound(l client.Lease) {
	a.mu.Lock()
	a.want = &l
	a.mu.Unlock()
	if a.apply(a.ctx, &l) == nil {
		a.count(func(c *Counters) { c.Configures++ })
		if !a.configured && !a.started.IsZero() {
			// The figure of ./build.sh bench (BenchmarkDHCPDNS): from the
			// start (netd up on a link that is up) to an address in use.
			a.logf("address %v configured %.3fms after start", l.Addr, float64(time.Since(a.started).Microseconds())/1000)
		}
		a.configured = true
	}
	dns := make([]string, len(l.DNS))
	for i, d := range l.DNS {
		dns[i] = d.String()
	}
	gw := "-"
	if l.Router.IsValid() {
		gw = l.Router.String()
	}
	lt := l.Duration.String()
	if l.Infinite() {
		lt = "infinite"
	}
	mtu := "-" // the lease names none: the link's stays
	if l.MTU > 0 {
		mtu = strconv.Itoa(int(l.MTU))
	}
	a.logf("lease %v gw %s dns %s mtu %s server %v time %s", l.Addr, gw, orDash(strings.Join(dns, ",")), mtu, l.Server, lt)
	a.pushDNS(a.ctx, dns)
}

// pushDNS gives resolved the lease's DNS servers unless it has them
// already. A lease without any leaves resolved's list alone, as does
// losing the lease (its servers may still answer; -upstream's are gone).
// A resolved that went away since it accepted them (restarted: it is
// back with its -upstream defaults) does not have them: they go again.
func (a *Agent) pushDNS(ctx context.Context, dns []string) {
	a.checkResolved()
	var list []string // without duplicates, at most MaxUpstream
	for _, d := range dns {
		if !slices.Contains(list, d) && len(list) < adminproto.MaxUpstream {
			list = append(list, d)
		}
	}
	dns = list
	if a.cfg.Resolved == nil || len(dns) == 0 || slices.Equal(dns, a.dnsSent) {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	gone, err := a.cfg.Resolved.SetUpstream(cctx, &adminproto.Upstream{Servers: dns, Source: "dhcp"})
	if err != nil {
		a.count(func(c *Counters) { c.DNSErrors++ })
		if !a.dnsFailing {
			a.logf("giving resolved the DNS servers %s: %v (retried)", strings.Join(dns, ","), err)
		}
		a.dnsFailing = true
		return
	}
	a.dnsSent, a.dnsGone, a.dnsFailing = slices.Clone(dns), gone, false
	a.count(func(c *Counters) { c.DNSUpdates++ })
	a.logf("resolved now asks %s", strings.Join(dns, ","))
}

// checkResolved forgets what resolved was given if the resolved that
// accepted it is gone.
func (a *Agent) checkResolved() {
	if a.dnsGone == nil {
		return
	}
	select {
	case <-a.dnsGone:
	default:
		return
	}
	a.dnsSent, a.dnsGone = nil, nil
	a.count(func(c *Counters) { c.ResolvedGone++ })
	a.logf("resolved went away (restarted?): the lease's DNS servers go to the next one")
}

// leaseDNS is the current lease's DNS servers as text (nil without a
// lease).
func (a *Agent) leaseDNS() ([]string, bool) {
	l, ok := a.Lease()
	if !ok {
		return nil, false
	}
	dns := make([]string, len(l.DNS))
	for i, d := range l.DNS {
		dns[i] = d.String()
	}
	return dns, true
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Unbound removes the address from netd (client.Handler).
func (a *Agent) Unbound(l client.Lease, why client.Reason) {
	a.mu.Lock()
	a.want = nil
	a.mu.Unlock()
	ctx := a.ctx
	if why == client.Released { // at shutdown: a.ctx has ended
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
	}
	if a.apply(ctx, nil) == nil {
		a.count(func(c *Counters) { c.Clears++ })
	}
	a.logf("lease %v lost (%v): address removed", l.Addr, why)
}

// Probe asks netd to probe addr (client.Prober): netd configures it
// tentatively (as addr/32; the lease's prefix follows with Bound) and
// answers once RFC 5227's probes found it free, or in use (netd then has
// no address again). A failed call leaves the engine's ProbeTimeout to
// take the address.
func (a *Agent) Probe(addr netip.Addr) {
	ctx := a.ctx
	go func() {
		cctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		r, err := a.netd.Configure(cctx, &adminproto.Configure{Addr: netip.PrefixFrom(addr, 32).String(), Probe: true})
		if err != nil {
			a.count(func(c *Counters) { c.ProbeErrors++ })
			a.logf("probing %v through netd: %v", addr, err)
			return
		}
		if r.Conflict {
			a.count(func(c *Counters) { c.ProbeConflicts++ })
			a.logf("%v is in use by %s: declined", addr, r.ConflictMAC)
		}
		select {
		case a.probes <- probeResult{addr, r.Conflict}:
		case <-ctx.Done():
		}
	}()
}

// Run runs the agent until ctx ends, then releases the lease (RELEASE,
// and the address removed from netd). It returns nil then, or the
// socket's error if reading fails for good.
func (a *Agent) Run(ctx context.Context) error {
	a.ctx, a.started = ctx, time.Now()
	readErr := make(chan error, 1)
	go a.read(ctx, readErr)
	a.c.Start()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	nextWatch := time.Now().Add(a.cfg.Watch)
	for {
		wake := nextWatch
		if t, ok := a.c.NextDeadline(); ok && t.Before(wake) {
			wake = t
		}
		timer.Reset(max(time.Until(wake), 0))
		select {
		case <-ctx.Done():
			_ = a.c.Release()
			return nil
		case err := <-readErr:
			_ = a.c.Release()
			return err
		case b := <-a.in:
			ap, _ := netip.AddrFromSlice(b[:4])
			port := uint16(b[4])<<8 | uint16(b[5])
			a.c.Input(b[6:], netip.AddrPortFrom(ap, port))
		case p := <-a.probes:
			a.c.ProbeResult(p.addr, p.conflict)
		case <-a.dnsGone: // resolved restarted: its successor gets the list at once (or at the watches that follow, once it is up)
			if dns, ok := a.leaseDNS(); ok {
				a.pushDNS(ctx, dns)
			} else {
				a.checkResolved()
			}
		case <-timer.C:
		}
		if t, ok := a.c.NextDeadline(); ok && !time.Now().Before(t) {
			a.c.Tick()
		}
		if now := time.Now(); !now.Before(nextWatch) {
			nextWatch = now.Add(a.cfg.Watch)
			a.watch(ctx)
		}
	}
}

// watch sets the lease again if netd lost it (a restarted netd), and
// retries giving resolved the lease's DNS servers.
func (a *Agent) watch(ctx context.Context) {
	l, ok := a.Lease()
	if !ok {
		return
	}
	dns, _ := a.leaseDNS()
	a.pushDNS(ctx, dns)
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	i, err := a.netd.Interface(cctx)
	cancel()
	if err != nil {
		a.count(func(c *Counters) { c.ConfigureErrors++ })
		return
	}
	if i.Addr == l.Addr.String() && i.Lease != nil {
		return
	}
	if a.apply(ctx, &l) == nil {
		a.count(func(c *Counters) { c.Reapplied++ })
		a.logf("netd had lost the lease's address (restarted?): %v set again", l.Addr)
	}
}

// read feeds datagrams to the loop (source address and port first).
func (a *Agent) read(ctx context.Context, fail chan<- error) {
	buf := make([]byte, 2048)
	errs := 0
	for {
		n, from, err := a.conn.ReadFromUDPAddrPort(buf)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.count(func(c *Counters) { c.RxErrors++ })
			if errs++; errs > 100 || errors.Is(err, net.ErrClosed) {
				fail <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		errs = 0
		a.count(func(c *Counters) { c.RxDatagrams++ })
		ip := from.Addr().Unmap().As4()
		b := make([]byte, 6+n)
		copy(b, ip[:])
		b[4], b[5] = byte(from.Port()>>8), byte(from.Port())
		copy(b[6:], buf[:n])
		select {
		case a.in <- b:
		case <-ctx.Done():
			return
		}
	}
}
