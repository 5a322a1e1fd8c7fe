package client

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/wire"
)

// The slirp test: QEMU's user-mode network (slirp, with its built-in DHCP
// server) without a guest OS (the CPU idles in a two-instruction loop); a hub
// joins the user netdev to a socket netdev that carries Ethernet frames in
// UDP datagrams to and from this test, which wraps the engine's messages
// in Ethernet, IPv4 and UDP headers. It needs qemu-system-aarch64 (Debian
// package qemu-system-arm; ./build.sh installs it) and fails loudly
// without it.
//
//	go test ./servers/dhcpc/client -run TestSlirp -record-slirp
//
// also rewrites testdata/slirp.txt, replayed by TestSlirpGolden.
var recordSlirp = flag.Bool("record-slirp", false, "rewrite testdata/slirp.txt from the real exchange")

var slirpMAC = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

// slirpConfig: slirp leases for a day; T1 and T2 are lowered so that the
// test renews and rebinds.
func slirpConfig() Config {
	return Config{MAC: slirpMAC, T1: 2 * time.Second, T2: 4 * time.Second}
}

func freeUDPPort(t *testing.T) int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// startSlirp starts QEMU and returns the socket that exchanges frames with
// slirp.
func startSlirp(t *testing.T) *net.UDPConn {
	bin, err := exec.LookPath("qemu-system-aarch64")
	if err != nil {
		t.Fatal("qemu-system-aarch64 is not installed: apt-get install qemu-system-arm (./build.sh installs it)")
	}
	qemuPort := freeUDPPort(t)
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: qemuPort})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	mine := conn.LocalAddr().(*net.UDPAddr).Port
	// QEMU delivers no frames while the VM is stopped (-S): the CPU runs
	// "wfi; b ." (loaded as a raw image at the start of RAM) and idles.
	idle := filepath.Join(t.TempDir(), "idle.bin")
	require.NoError(t, os.WriteFile(idle, []byte{0x7f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0x17}, 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-M", "virt", "-cpu", "cortex-a53", "-m", "64M", "-display", "none",
		"-nodefaults", "-monitor", "none", "-kernel", idle,
		"-netdev", "user,id=u,net=10.0.2.0/24",
		"-netdev", "socket,id=s,udp=127.0.0.1:"+strconv.Itoa(mine)+",localaddr=127.0.0.1:"+strconv.Itoa(qemuPort),
		"-netdev", "hubport,id=h1,hubid=0,netdev=u",
		"-netdev", "hubport,id=h2,hubid=0,netdev=s")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("qemu said: %s", out.String())
		}
	})
	time.Sleep(500 * time.Millisecond) // QEMU up
	return conn
}

// slirpDriver runs a Client over Ethernet frames.
type slirpDriver struct {
	t      *testing.T
	conn   *net.UDPConn
	c      *Client
	golden *[]string
	peer   [6]byte // slirp's MAC, from its frames
	bound  []Lease
}

func (d *slirpDriver) Send(p Packet) error {
	(&linuxDriver{golden: d.golden}).record("out", p.Data)
	dst := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if p.Dst != Broadcast {
		if d.peer == [6]byte{} {
			return errors.New("no MAC for the server yet")
		}
		dst = d.peer
	}
	_, err := d.conn.Write(udpFrame(dst, slirpMAC, p.Src, p.Dst, ClientPort, ServerPort, p.Data))
	return err
}

func (d *slirpDriver) Bound(l Lease)         { d.bound = append(d.bound, l) }
func (d *slirpDriver) Unbound(Lease, Reason) {}

// udpFrame builds an Ethernet frame with an IPv4 UDP datagram (UDP
// checksum 0: none, allowed over IPv4).
func udpFrame(dst, src [6]byte, from, to netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 14+20+8+len(payload))
	copy(b[0:], dst[:])
	copy(b[6:], src[:])
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	f, t := from.As4(), to.As4()
	copy(ip[12:], f[:])
	copy(ip[16:], t[:])
	binary.BigEndian.PutUint16(ip[10:], ^wire.Checksum(ip[:20], 0))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	return b
}

// dhcpFromFrame returns the UDP payload of a frame to port 68, its
// source and the frame's source MAC.
func dhcpFromFrame(b []byte) (payload []byte, from netip.AddrPort, srcMAC [6]byte, ok bool) {
	if len(b) < 14+20+8 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return nil, from, srcMAC, false
	}
	ip := b[14:]
	ihl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || total > len(ip) || total < ihl+8 || ip[9] != 17 {
		return nil, from, srcMAC, false
	}
	udp := ip[ihl:total]
	if binary.BigEndian.Uint16(udp[2:]) != ClientPort {
		return nil, from, srcMAC, false
	}
	from = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:]))
	return udp[8:], from, [6]byte(b[6:12]), true
}

func (d *slirpDriver) run(what string, limit time.Duration, cond func() bool) {
	end := time.Now().Add(limit)
	buf := make([]byte, 2048)
	for !cond() {
		now := time.Now()
		if now.After(end) {
			d.t.Fatalf("%s: not done in %v (state %v, counters %+v)", what, limit, d.c.State(), d.c.Counters())
		}
		wait := now.Add(100 * time.Millisecond)
		if dl, ok := d.c.NextDeadline(); ok && dl.Before(wait) {
			wait = dl
		}
		d.conn.SetReadDeadline(wait)
		n, err := d.conn.Read(buf)
		if err == nil {
			if p, from, mac, ok := dhcpFromFrame(buf[:n]); ok {
				d.peer = mac
				(&linuxDriver{golden: d.golden}).record("in", p)
				d.c.Input(p, from)
			}
		}
		d.c.Tick()
	}
}

func TestSlirp(t *testing.T) {
	conn := startSlirp(t)
	var golden []string
	d := &slirpDriver{t: t, conn: conn, golden: &golden}
	c, err := New(slirpConfig(), d, wallClock{}, &midRand{}, d, nil)
	require.NoError(t, err)
	d.c = c
	c.Start()
	d.run("lease", 20*time.Second, func() bool { return c.State() == Bound })
	l := d.bound[0]
	t.Logf("lease %+v", l)
	assert.Equal(t, netip.MustParsePrefix("10.0.2.15/24"), l.Addr)
	assert.Equal(t, netip.MustParseAddr("10.0.2.2"), l.Router)
	assert.Equal(t, netip.MustParseAddr("10.0.2.2"), l.Server)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.2.3")}, l.DNS)
	d.run("renewal", 10*time.Second, func() bool { return c.Counters().Extended >= 1 })
	assert.Equal(t, l.Addr, d.bound[1].Addr)
	require.NoError(t, c.Release())

	// A restarted client remembering its lease: INIT-REBOOT, the same
	// address.
	d2 := &slirpDriver{t: t, conn: conn, golden: &golden, peer: d.peer}
	cfg := slirpConfig()
	cfg.Remember = &l
	c2, err := New(cfg, d2, wallClock{}, &midRand{}, d2, nil)
	require.NoError(t, err)
	d2.c = c2
	c2.Start()
	d2.run("reboot", 10*time.Second, func() bool { return c2.State() == Bound })
	assert.Equal(t, l.Addr, d2.bound[0].Addr)
	assert.Equal(t, uint64(1), c2.Counters().Reboots)
	require.NoError(t, c2.Release())

	// Remembering an address of another network: NAK, then DORA.
	d3 := &slirpDriver{t: t, conn: conn, golden: &golden, peer: d.peer}
	other := Lease{Addr: netip.MustParsePrefix("10.0.3.7/24"), Server: netip.MustParseAddr("10.0.3.2"),
		Duration: time.Hour, Start: time.Now()}
	cfg.Remember = &other
	c3, err := New(cfg, d3, wallClock{}, &midRand{}, d3, nil)
	require.NoError(t, err)
	d3.c = c3
	c3.Start()
	d3.run("NAK", 10*time.Second, func() bool { return c3.State() == Bound })
	assert.Equal(t, uint64(1), c3.Counters().Naks)
	require.NoError(t, c3.Release())

	for _, x := range []*Client{c, c2, c3} {
		rx := x.Counters().Rx
		assert.Equal(t, rx.Datagrams, rx.Accepted+rx.Dropped())
		assert.Equal(t, uint64(0), rx.Malformed())
	}
	if *recordSlirp {
		head := []string{
			"# DHCP exchange between dhcpc's engine (MAC 52:54:00:12:34:56, transaction IDs 1, 2, ...,",
			"# T1 2 s and T2 4 s by config) and the DHCP server of QEMU 7.2's user network (slirp), with no",
			"# guest: a hub joins -netdev user to a -netdev socket (Ethernet frames in UDP) that the test",
			"# drives. Recorded by: go test ./servers/dhcpc/client -run TestSlirp -record-slirp",
			"# Steps: DORA, renewal at T1 (unicast), RELEASE (slirp does not answer it); INIT-REBOOT,",
			"# RELEASE; INIT-REBOOT for another network (NAK), DORA, RELEASE.",
			"# One message a line: direction (out: the engine's, in: slirp's), type, bytes in hex.",
		}
		require.NoError(t, os.WriteFile(slirpGoldenFile, []byte(strings.Join(append(head, golden...), "\n")+"\n"), 0o644))
	}
}

const slirpGoldenFile = "testdata/slirp.txt"
