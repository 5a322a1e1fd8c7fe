package client

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/dhcpc/dhcp"
	"armos/servers/netd/link/peertest"
)

// The real-peer test: the engine, on a Linux UDP socket (0.0.0.0:68,
// SO_BROADCAST, SO_BINDTODEVICE) in one network namespace, against
// dnsmasq (Debian's dnsmasq-base) in another, across a veth pair. It
// needs root and dnsmasq and fails loudly without them (./build.sh test
// runs as root and installs dnsmasq-base).
//
//	go test ./servers/dhcpc/client -run TestDnsmasq -record-dnsmasq
//
// also rewrites testdata/dnsmasq.txt, the golden packets that
// TestDnsmasqGolden (and the dhcp package's tests) replay without root.
var recordDnsmasq = flag.Bool("record-dnsmasq", false, "rewrite testdata/dnsmasq.txt from the real exchange")

const (
	dnsmasqServer = "10.99.7.1"
	dnsmasqRange  = "10.99.7.50,10.99.7.59"
)

// goldenMAC is the client's MAC in the real-peer test and in the golden
// packets.
var goldenMAC = [6]byte{0x02, 0x00, 0x00, 0x00, 0xd4, 0x01}

// dnsmasqArgs: a 2-minute lease (dnsmasq's minimum) with T1 4 s and T2
// 8 s, so that renewing and rebinding happen within the test; the server
// as router and DNS server; MTU 1400; authoritative, so that it NAKs
// requests for addresses it cannot give.
func dnsmasqArgs(leases string) []string {
	return []string{"--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=dh0",
		"--bind-interfaces", "--dhcp-authoritative", "--no-ping", "--log-dhcp",
		"--dhcp-range=" + dnsmasqRange + ",255.255.255.0,2m",
		"--dhcp-option=option:T1,4", "--dhcp-option=option:T2,8",
		"--dhcp-option=option:dns-server," + dnsmasqServer,
		"--dhcp-option=option:mtu,1400",
		"--dhcp-leasefile=" + leases}
}

type dnsmasqPeer struct {
	t      *testing.T
	srv    *peertest.NS // dnsmasq's namespace (dh0, 10.99.7.1/24)
	cli    *peertest.NS // the client's (dh1, no address until bound)
	leases string
	cmd    *exec.Cmd
	log    *strings.Builder
	mu     sync.Mutex
}

func newDnsmasqPeer(t *testing.T) *dnsmasqPeer {
	if _, err := exec.LookPath("dnsmasq"); err != nil {
		t.Fatal("dnsmasq is not installed: apt-get install dnsmasq-base (./build.sh test installs it)")
	}
	p := &dnsmasqPeer{t: t, srv: peertest.NewNS(t), cli: peertest.NewNS(t),
		leases: filepath.Join(t.TempDir(), "leases"), log: &strings.Builder{}}
	ctx := context.Background()
	for _, step := range []struct {
		ns   *peertest.NS
		args []string
	}{
		{p.srv, []string{"ip", "link", "add", "dh0", "type", "veth", "peer", "name", "dh1", "netns", p.cli.Name}},
		{p.srv, []string{"ip", "addr", "add", dnsmasqServer + "/24", "dev", "dh0"}},
		{p.srv, []string{"ip", "link", "set", "dh0", "up"}},
		{p.cli, []string{"ip", "link", "set", "dh1", "address", net.HardwareAddr(goldenMAC[:]).String()}},
		{p.cli, []string{"ip", "link", "set", "dh1", "up"}},
	} {
		out, err := step.ns.Run(ctx, step.args[0], step.args[1:]...)
		require.NoError(t, err, "%v: %s", step.args, out)
	}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *dnsmasqPeer) start() {
	p.cmd = p.srv.Command(context.Background(), "dnsmasq", dnsmasqArgs(p.leases)...)
	out, err := p.cmd.StderrPipe()
	require.NoError(p.t, err)
	require.NoError(p.t, p.cmd.Start())
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			p.mu.Lock()
			p.log.WriteString(s.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	time.Sleep(300 * time.Millisecond) // listening
}

func (p *dnsmasqPeer) stop() {
	if p.cmd != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

func (p *dnsmasqPeer) dump() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// linuxSocket opens the client's socket inside the client namespace.
func linuxSocket(t *testing.T, ns *peertest.NS, dev string) *net.UDPConn {
	var fd int
	err := ns.Do(func() error {
		var err error
		fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		for _, o := range []int{syscall.SO_REUSEADDR, syscall.SO_BROADCAST} {
			if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, o, 1); err != nil {
				return err
			}
		}
		if err := syscall.BindToDevice(fd, dev); err != nil {
			return err
		}
		return syscall.Bind(fd, &syscall.SockaddrInet4{Port: ClientPort})
	})
	require.NoError(t, err)
	f := os.NewFile(uintptr(fd), "dhcp-client")
	defer f.Close()
	pc, err := net.FilePacketConn(f)
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	return pc.(*net.UDPConn)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// linuxDriver runs a Client on the socket: the owner's event loop.
type linuxDriver struct {
	t        *testing.T
	peer     *dnsmasqPeer
	conn     *net.UDPConn
	c        *Client
	golden   *[]string // label hex
	bound    []Lease
	unbound  []Reason
	probes   int
	conflict bool // the next probe finds a conflict

	pendingProbe *probeAnswer
}

func (d *linuxDriver) Send(p Packet) error {
	d.record("out", p.Data)
	_, err := d.conn.WriteToUDPAddrPort(p.Data, netip.AddrPortFrom(p.Dst, ServerPort))
	return err
}

func (d *linuxDriver) record(dir string, b []byte) {
	m, err := dhcp.Parse(b)
	label := "unparsed"
	if err == nil {
		label = m.Type().String()
	}
	*d.golden = append(*d.golden, fmt.Sprintf("%s %s %s", dir, label, hex.EncodeToString(b)))
}

// Bound and Unbound configure dh1 the way netd will be configured.
func (d *linuxDriver) Bound(l Lease) {
	d.bound = append(d.bound, l)
	out, err := d.peer.cli.Run(context.Background(), "ip", "addr", "replace", l.Addr.String(), "dev", "dh1")
	require.NoError(d.t, err, out)
}

func (d *linuxDriver) Unbound(l Lease, why Reason) {
	d.unbound = append(d.unbound, why)
	out, err := d.peer.cli.Run(context.Background(), "ip", "addr", "del", l.Addr.String(), "dev", "dh1")
	require.NoError(d.t, err, out)
}

func (d *linuxDriver) Probe(a netip.Addr) {
	d.probes++
	// The answer comes later, from the event loop, like netd's.
	conflict := d.conflict
	d.conflict = false
	d.pendingProbe = &probeAnswer{a, conflict}
}

type probeAnswer struct {
	addr     netip.Addr
	conflict bool
}

// run is the event loop until cond holds; limit bounds it.
func (d *linuxDriver) run(what string, limit time.Duration, cond func() bool) {
	end := time.Now().Add(limit)
	buf := make([]byte, 2048)
	for !cond() {
		now := time.Now()
		if now.After(end) {
			d.t.Fatalf("%s: not done in %v (state %v, counters %+v); dnsmasq said:\n%s", what, limit, d.c.State(), d.c.Counters(), d.peer.dump())
		}
		if p := d.pendingProbe; p != nil {
			d.pendingProbe = nil
			d.c.ProbeResult(p.addr, p.conflict)
			continue
		}
		wait := now.Add(100 * time.Millisecond)
		if end.Before(wait) {
			wait = end
		}
		if dl, ok := d.c.NextDeadline(); ok && dl.Before(wait) {
			wait = dl
		}
		d.conn.SetReadDeadline(wait)
		n, from, err := d.conn.ReadFromUDPAddrPort(buf)
		if err == nil {
			d.record("in", buf[:n])
			d.c.Input(buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
		}
		d.c.Tick()
	}
}

func newLinuxDriver(t *testing.T, p *dnsmasqPeer, conn *net.UDPConn, golden *[]string, cfg Config) *linuxDriver {
	d := &linuxDriver{t: t, peer: p, conn: conn, golden: golden}
	cfg.MAC = goldenMAC
	c, err := New(cfg, d, wallClock{}, &midRand{}, d, d)
	require.NoError(t, err)
	d.c = c
	return d
}

func TestDnsmasq(t *testing.T) {
	p := newDnsmasqPeer(t)
	conn := linuxSocket(t, p.cli, "dh1")
	var golden []string
	d := newLinuxDriver(t, p, conn, &golden, Config{DeclineWait: time.Second, Hostname: "armos"})

	// DORA; the first address "is in use": DECLINE, then another one.
	d.conflict = true
	d.c.Start()
	d.run("lease", 20*time.Second, func() bool { return d.c.State() == Bound })
	c := d.c.Counters()
	assert.Equal(t, uint64(1), c.Conflicts)
	assert.Equal(t, uint64(1), c.Tx.Decline)
	assert.Equal(t, uint64(2), c.Offers)
	require.Len(t, d.bound, 1)
	l := d.bound[0]
	t.Logf("lease %+v", l)
	assert.True(t, netip.MustParsePrefix("10.99.7.48/28").Contains(l.Addr.Addr()))
	assert.Equal(t, 24, l.Addr.Bits())
	assert.Equal(t, netip.MustParseAddr(dnsmasqServer), l.Server)
	assert.Equal(t, netip.MustParseAddr(dnsmasqServer), l.Router)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr(dnsmasqServer)}, l.DNS)
	assert.Equal(t, 1400, l.MTU)
	assert.Equal(t, 2*time.Minute, l.Duration)
	assert.Equal(t, 4*time.Second, l.T1, "dnsmasq's T1")
	assert.Equal(t, 8*time.Second, l.T2, "dnsmasq's T2")
	assert.Contains(t, p.dump(), "DHCPDECLINE(dh0)")

	// Renewed at T1, unicast from the leased address.
	d.run("renewal", 15*time.Second, func() bool { return d.c.Counters().Extended >= 1 })
	assert.Equal(t, uint64(1), d.c.Counters().Renewals)
	assert.Equal(t, l.Addr, d.bound[1].Addr)

	// dnsmasq restarts while the client renews: the unicast REQUEST is
	// lost, the client rebinds at T2 (broadcast) with the new dnsmasq.
	p.stop()
	d.run("renewing", 15*time.Second, func() bool { return d.c.State() == Renewing })
	p.start()
	d.run("rebinding", 15*time.Second, func() bool { return d.c.Counters().Extended >= 2 })
	assert.Equal(t, uint64(1), d.c.Counters().Rebinds)
	assert.Equal(t, l.Addr, d.bound[2].Addr)
	assert.Empty(t, d.unbound)

	// Release: dnsmasq forgets the lease.
	l, _ = d.c.Lease()
	require.NoError(t, d.c.Release())
	d.run("release", 5*time.Second, func() bool { return strings.Contains(p.dump(), "DHCPRELEASE(dh0)") })
	assert.Equal(t, []Reason{Released}, d.unbound)

	// A restarted client remembering its lease: INIT-REBOOT, the same
	// address.
	d2 := newLinuxDriver(t, p, conn, &golden, Config{Remember: &l})
	d2.c.Start()
	d2.run("reboot", 15*time.Second, func() bool { return d2.c.State() == Bound })
	assert.Equal(t, uint64(1), d2.c.Counters().Reboots)
	assert.Equal(t, uint64(0), d2.c.Counters().Naks)
	assert.Equal(t, l.Addr, d2.bound[0].Addr)
	require.NoError(t, d2.c.Release())

	// Remembering an address of another network: NAK, then DORA.
	other := Lease{Addr: netip.MustParsePrefix("10.99.8.7/24"), Server: netip.MustParseAddr("10.99.8.1"),
		Duration: time.Hour, Start: time.Now()}
	d3 := newLinuxDriver(t, p, conn, &golden, Config{Remember: &other})
	d3.c.Start()
	d3.run("NAK", 25*time.Second, func() bool { return d3.c.State() == Bound })
	assert.Equal(t, uint64(1), d3.c.Counters().Naks)
	require.NoError(t, d3.c.Release())

	for _, x := range []*linuxDriver{d, d2, d3} {
		rx := x.c.Counters().Rx
		assert.Equal(t, rx.Datagrams, rx.Accepted+rx.Dropped())
		assert.Equal(t, uint64(0), rx.Malformed(), "every dnsmasq message parses")
	}
	if *recordDnsmasq {
		writeGolden(t, golden)
	}
}

const goldenFile = "testdata/dnsmasq.txt"

func writeGolden(t *testing.T, lines []string) {
	head := []string{
		"# DHCP exchanges between dhcpc's engine (a Linux UDP socket on 0.0.0.0:68 in a network",
		"# namespace, MAC 02:00:00:00:d4:01, transaction IDs 1, 2, 3...) and dnsmasq 2.90 on a veth",
		"# pair, recorded by: go test ./servers/dhcpc/client -run TestDnsmasq -record-dnsmasq",
		"# dnsmasq " + strings.Join(dnsmasqArgs("LEASEFILE"), " "),
		"# Steps: DORA with a DECLINE of the first address; renewal at T1; dnsmasq restarted,",
		"# rebinding at T2; RELEASE; INIT-REBOOT; INIT-REBOOT for another network (NAK), DORA; RELEASE.",
		"# One message a line: direction (out: the engine's, in: dnsmasq's), type, bytes in hex.",
	}
	require.NoError(t, os.MkdirAll("testdata", 0o755))
	require.NoError(t, os.WriteFile(goldenFile, []byte(strings.Join(append(head, lines...), "\n")+"\n"), 0o644))
}
