package main

import (
	"bufio"
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libipc/skbuff"
	"armos/libproto"
	"armos/libsocket"
	"armos/libsocket/adminproto"
	"armos/servers/dhcpc/agent"
	"armos/servers/netd/link"
	"armos/servers/netd/link/peertest"
	"armos/servers/netd/stack"
)

// adminClient serves n's admin service on a broker of its own and
// returns a Netd for dhcpc's agent over it.
func adminClient(t *testing.T, n *instance, where string, dev device) *agent.AdminNetd {
	srv := adminServer(n, where, dev)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = srv.Serve(ctx) }()
	b := libipc.NewBroker()
	b.Register(adminproto.NetdService, srv.Accept)
	nd := agent.NewAdminNetd(func(ctx context.Context) (*adminproto.Client, error) {
		ep, err := b.Connect(ctx, adminproto.NetdService)
		if err != nil {
			return nil, err
		}
		return adminproto.NewClient(ep), nil
	})
	t.Cleanup(nd.Close)
	return nd
}

// unconfiguredInstance starts a netd without an address on dev, with the
// echo app, accepting OpConfigure when dhcp is set.
func unconfiguredInstance(t *testing.T, dev device, mtu int, dhcp bool) *instance {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := stack.Config{MAC: stack.MAC{0x02, 0, 0, 0, 0xd5, 0x01}, MTU: mtu, Dev: 1, Probe: true}
	n, err := start(ctx, cfg, stack.SystemClock{}, dev, []string{"echo"})
	require.NoError(t, err)
	n.cfgState.allowed, n.cfgState.linkMTU = dhcp, mtu
	t.Cleanup(func() {
		cancel()
		n.wait(ctx)
		n.stop()
	})
	return n
}

// TestConfigureOp: OpConfigure's rules on an in-memory link: refused
// without -dhcp; strict bodies; MTU clamped to the link's; clear.
func TestConfigureOp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), hostedWait)
	defer cancel()
	a, _ := link.NewMemPair(nil)
	static := unconfiguredInstance(t, a, 1500, false)
	_, err := adminClient(t, static, "mem", a).Configure(ctx, &adminproto.Configure{Addr: "10.99.0.2/24"})
	require.ErrorIs(t, err, libipc.ErrPermission)

	c, _ := link.NewMemPair(nil)
	n := unconfiguredInstance(t, c, 1500, true)
	nd := adminClient(t, n, "mem", c)
	// A protocol server registered before the lease learns the address
	// (OpInfo): tcpd connects from it.
	pc, err := libproto.Dial(ctx, n.broker)
	require.NoError(t, err)
	defer pc.Close()
	owned, err := pc.Register(ctx, 253)
	require.NoError(t, err)
	leased := netip.MustParseAddr("10.99.0.2")
	assert.NotEqual(t, leased, owned.Info().Addr)
	i, err := nd.Interface(ctx)
	require.NoError(t, err)
	assert.Empty(t, i.Addr)
	assert.False(t, i.Ready)
	for _, bad := range []adminproto.Configure{
		{},
		{Addr: "10.99.0.2"},
		{Addr: "0.0.0.0/24"},
		{Addr: "224.0.0.1/4"},
		{Addr: "10.99.0.2/24", Gateway: "10.98.0.1"},
		{Addr: "10.99.0.2/24", Gateway: "10.99.0.2"},
		{Addr: "10.99.0.2/24", MTU: 67},
		{Addr: "10.99.0.2/24", Lease: &adminproto.Lease{Server: "x"}},
		{Addr: "10.99.0.2/24", Lease: &adminproto.Lease{Server: "10.99.0.1", DNS: []string{"1", "2"}}},
		{Clear: true, Addr: "10.99.0.2/24"},
		{Clear: true, Probe: true},
	} {
		_, err := nd.Configure(ctx, &bad)
		require.ErrorIs(t, err, libipc.ErrInvalid, "%+v", bad)
	}
	r, err := nd.Configure(ctx, &adminproto.Configure{Addr: "10.99.0.2/24", Gateway: "10.99.0.1", MTU: 9000,
		Lease: &adminproto.Lease{Server: "10.99.0.1", Seconds: 120, Expiry: time.Now().Add(2 * time.Minute).Unix(), DNS: []string{"10.99.0.1"}}})
	require.NoError(t, err)
	assert.False(t, r.Conflict)
	assert.Equal(t, "10.99.0.2/24", r.Interface.Addr)
	assert.Equal(t, "10.99.0.1", r.Interface.Gateway)
	assert.Equal(t, 1500, r.Interface.MTU, "clamped to the link's")
	assert.True(t, r.Interface.Ready)
	require.NotNil(t, r.Interface.Lease)
	assert.Equal(t, "10.99.0.1", r.Interface.Lease.Server)
	require.Eventually(t, func() bool { return owned.Info().Addr == leased }, hostedWait, 5*time.Millisecond)
	assert.Equal(t, 1500, owned.Info().MTU)
	r, err = nd.Configure(ctx, &adminproto.Configure{Clear: true})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return owned.Info().Addr != leased }, hostedWait, 5*time.Millisecond)
	assert.Empty(t, r.Interface.Addr)
	assert.Nil(t, r.Interface.Lease)
	assert.Equal(t, uint64(2), n.cfgState.changes)
}

// TestDHCPConfiguresNetd: a hosted netd on a TAP device in a network
// namespace starts without an address; dnsmasq serves the TAP's Linux
// side. dhcpc's agent, in-process on a libsocket socket of that netd
// (0.0.0.0:68, broadcast), gets a lease, has netd probe the address and
// configures netd through OpConfigure; the namespace then reaches the
// echo app at the leased address. On shutdown the lease is released and
// netd has no address again. Needs root and dnsmasq (fails without).
func TestDHCPConfiguresNetd(t *testing.T) {
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		t.Fatal("dnsmasq is not installed: apt-get install dnsmasq-base (./build.sh test installs it)")
	}
	ns := peertest.NewNS(t)
	const dev, server = "dhc0", "10.99.9.1"
	ns.AddTap(t, dev, server+"/24")
	var tap *link.TAP
	require.NoError(t, ns.Do(func() (err error) { tap, err = link.OpenTAP(dev); return err }))
	n := unconfiguredInstance(t, tap, tap.MTU(), true)

	var mu sync.Mutex
	var dlog strings.Builder
	cmd := ns.Command(context.Background(), "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface="+dev, "--bind-interfaces", "--dhcp-authoritative", "--no-ping", "--log-dhcp",
		"--dhcp-range=10.99.9.50,10.99.9.59,255.255.255.0,2m",
		"--dhcp-option=option:router,"+server, "--dhcp-option=option:dns-server,"+server,
		"--dhcp-option=option:mtu,1400", "--dhcp-leasefile="+filepath.Join(t.TempDir(), "leases"))
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			mu.Lock()
			dlog.WriteString(s.Text() + "\n")
			mu.Unlock()
		}
	}()
	dnsmasqSaid := func() string { mu.Lock(); defer mu.Unlock(); return dlog.String() }
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq said:\n%s", dnsmasqSaid())
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc, err := libsocket.Dial(ctx, n.broker)
	require.NoError(t, err)
	defer sc.Close()
	pc, err := sc.ListenPacket(ctx, netip.AddrPortFrom(netip.IPv4Unspecified(), agent.ClientPort))
	require.NoError(t, err)
	defer pc.Close()
	require.NoError(t, pc.Socket().SetBroadcast(ctx, true))
	nd := adminClient(t, n, dev, tap)
	var console strings.Builder
	var cmu sync.Mutex
	a, err := agent.New(ctx, agent.Config{Probe: true, Watch: 200 * time.Millisecond, Log: lockedWriter{&cmu, &console}}, pc, nd)
	require.NoError(t, err)
	assert.Equal(t, "02:00:00:00:d5:01", a.MAC().String(), "netd's MAC")
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	var l netip.Prefix
	require.Eventually(t, func() bool {
		lease, ok := a.Lease()
		l = lease.Addr
		return ok
	}, 30*time.Second, 50*time.Millisecond, "no lease")
	assert.True(t, netip.MustParsePrefix("10.99.9.48/28").Contains(l.Addr()), "%v", l)
	assert.Equal(t, 24, l.Bits())

	ictx, icancel := context.WithTimeout(ctx, hostedWait)
	defer icancel()
	i, err := nd.Interface(ictx)
	require.NoError(t, err)
	assert.Equal(t, l.String(), i.Addr)
	assert.Equal(t, server, i.Gateway)
	assert.Equal(t, 1400, i.MTU, "dnsmasq's MTU option")
	assert.True(t, i.Ready)
	require.NotNil(t, i.Lease)
	assert.Equal(t, server, i.Lease.Server)
	assert.Equal(t, []string{server}, i.Lease.DNS)
	assert.Equal(t, int64(120), i.Lease.Seconds)
	c, err := n.counters(ictx)
	require.NoError(t, err)
	assert.NotZero(t, c.UDP.TxUnconfigured, "DISCOVER and REQUEST left from 0.0.0.0")
	assert.NotZero(t, c.ARP.Probes, "netd probed the address")

	// The namespace reaches the echo app at the leased address.
	msg := []byte("hello over a leased address")
	out, serr, err := ns.SocatEcho(ctx, t.TempDir(), l.Addr().String(), 7, msg)
	require.NoError(t, err, serr)
	assert.Equal(t, msg, out)

	// netd loses the address (as a restarted netd -dhcp would): the
	// agent sets it again from the lease, without asking the server.
	_, err = nd.Configure(ictx, &adminproto.Configure{Clear: true})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.Counters().Reapplied == 1 }, 5*time.Second, 20*time.Millisecond)
	i, err = nd.Interface(ictx)
	require.NoError(t, err)
	assert.Equal(t, l.String(), i.Addr)
	assert.NotNil(t, i.Lease)
	out, serr, err = ns.SocatEcho(ctx, t.TempDir(), l.Addr().String(), 7, msg)
	require.NoError(t, err, serr)
	assert.Equal(t, msg, out)

	// Shutdown: RELEASE, and netd has no address again.
	cancel()
	require.NoError(t, <-done)
	i, err = nd.Interface(context.Background())
	require.NoError(t, err)
	assert.Empty(t, i.Addr)
	assert.Nil(t, i.Lease)
	require.Eventually(t, func() bool { return strings.Contains(dnsmasqSaid(), "DHCPRELEASE") }, 5*time.Second, 50*time.Millisecond)
	ac := a.Counters()
	assert.Equal(t, uint64(1), ac.Configures)
	assert.Equal(t, uint64(1), ac.Clears)
	assert.Zero(t, ac.ConfigureErrors)
	cmu.Lock()
	t.Logf("console:\n%s", console.String())
	assert.Contains(t, console.String(), "dhcpc: lease "+l.String()+" gw "+server+" dns "+server+" mtu 1400 server "+server+" time 2m0s")
	cmu.Unlock()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// FuzzParseConfigure: any OpConfigure body either is refused with
// ErrInvalid or gives a configuration the stack accepts (and, for
// Clear, the unconfigured one).
func FuzzParseConfigure(f *testing.F) {
	f.Add(false, "10.0.2.15/24", "10.0.2.2", 1400, true, "10.0.2.2", int64(86400), "10.0.2.3")
	f.Add(true, "", "", 0, false, "", int64(0), "")
	f.Add(false, "10.0.2.15/32", "", 0, true, "", int64(0), "")
	f.Add(false, "255.255.255.255/24", "10.0.2.2", 68, false, "x", int64(-1), "::1")
	f.Fuzz(func(t *testing.T, clear bool, addr, gw string, mtu int, probe bool, server string, secs int64, dns string) {
		req := &adminproto.Configure{Clear: clear, Addr: addr, Gateway: gw, MTU: mtu, Probe: probe}
		if server != "" || secs != 0 || dns != "" {
			req.Lease = &adminproto.Lease{Server: server, Seconds: secs, DNS: strings.Split(dns, ",")}
		}
		cfg, err := parseConfigure(req, 1500)
		if err != nil {
			require.ErrorIs(t, err, libipc.ErrInvalid)
			return
		}
		assert.Equal(t, clear, !cfg.Addr.IsValid())
		assert.LessOrEqual(t, cfg.MTU, 1500)
		s, err := stack.New(stack.Config{MAC: stack.MAC{2, 0, 0, 0, 0, 1}}, &discardLink{}, nil)
		require.NoError(t, err)
		require.NoError(t, s.Reconfigure(cfg), "%+v -> %+v", req, cfg)
	})
}

type discardLink struct{}

func (discardLink) Transmit(b *skbuff.Buf) error { return b.Free() }

// TestConfigureProbeConflict: a probed address another host has is not
// configured: the reply says Conflict (with the owner's MAC) and netd has
// no address again; a free one is answered once probing is over.
func TestConfigureProbeConflict(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := link.NewMemPair(nil)
	octx, ocancel := context.WithCancel(context.Background())
	owner, err := start(octx, hostedConfig(echoAddr), stack.SystemClock{}, b, nil)
	require.NoError(t, err)
	t.Cleanup(func() { ocancel(); owner.wait(octx); owner.stop() })
	n := unconfiguredInstance(t, a, 1500, true)
	nd := adminClient(t, n, "mem", a)

	r, err := nd.Configure(ctx, &adminproto.Configure{Addr: echoAddr.String(), Probe: true})
	require.NoError(t, err)
	assert.True(t, r.Conflict)
	assert.Equal(t, "02:00:0a:63:00:02", r.ConflictMAC)
	assert.Empty(t, r.Interface.Addr, "not configured")

	r, err = nd.Configure(ctx, &adminproto.Configure{Addr: "10.99.0.3/24", Probe: true})
	require.NoError(t, err)
	assert.False(t, r.Conflict)
	assert.Equal(t, "10.99.0.3/24", r.Interface.Addr)
	assert.True(t, r.Interface.Ready)
}
