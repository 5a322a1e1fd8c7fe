package guesttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/link/peertest"
)

// The real-peer guest network: armos in QEMU on a TAP device whose other
// side is the Linux kernel, in a private network namespace.
const (
	guestIP    = "10.99.0.2"
	linuxIP    = "10.99.0.1"
	linuxCIDR  = "10.99.0.1/24"
	guestTap   = "tap0"
	ctlPort    = 4000
	arpLife    = 3 * time.Second // netd -arplifetime: entries expire while the test watches
	netTimeout = 3 * time.Minute // boot to echo ready, on a loaded CI machine
)

// netGuest is armos running virtionetd, netd and echo on a tap.
type netGuest struct {
	ns   *peertest.NS
	l    *Live
	mac  net.HardwareAddr // the NIC's, as virtionetd reported it
	pcap string           // the host file the guest's console port hvc0 writes (netd's captures)
}

// startNetGuest boots armos in ns on guestTap: init starts virtionetd
// (granted the virtio-net device), netd on it, echo, then the apps, and
// netctl, which ends the run when the host asks; virtioconsd offers the
// virtio console port hvc0, written by QEMU to a file (g.pcap) for
// netd's packet captures. modern selects the
// virtio-mmio version 2 transport (QEMU 7.2's default is legacy).
func startNetGuest(t testing.TB, modern bool, apps ...string) *netGuest {
	t.Helper()
	ns := peertest.NewNS(t)
	ns.AddTap(t, guestTap, linuxCIDR)
	return startNetGuestIn(t, ns, modern, apps...)
}

// startNetGuestIn is startNetGuest in ns, which has guestTap already (a
// test starts its Linux-side servers there before armos boots).
func startNetGuestIn(t testing.TB, ns *peertest.NS, modern bool, apps ...string) *netGuest {
	t.Helper()
	return startNetGuestWith(t, ns, netGuestOptions{modern: modern}, apps...)
}

// netGuestOptions vary the guest startNetGuestWith boots.
type netGuestOptions struct {
	modern bool // virtio-mmio version 2
	// dhcp: netd starts without an address (-dhcp), for a dhcpc among
	// the apps to configure; the guest is returned once netd is ready
	// (without an address) and echo has bound its socket.
	dhcp bool
}

// startNetGuestWith is startNetGuestIn with options.
func startNetGuestWith(t testing.TB, ns *peertest.NS, o netGuestOptions, apps ...string) *netGuest {
	t.Helper()
	modern := o.modern
	netd := "service,netd,standby,/bin/netd,-link,nic:net0,-ip," + guestIP + "/24,-gw," + linuxIP + ",-arplifetime," + arpLife.String()
	ready := `ip 10\.99\.0\.2/24`
	if o.dhcp {
		netd = "service,netd,standby,/bin/netd,-link,nic:net0,-dhcp,-arplifetime," + arpLife.String()
		ready = `ip - dhcp`
	}
	entries := []string{
		"service,virtionetd,device=net,standby,/bin/virtionetd",
		netd,
		"service,echo,/bin/echo",
		"service,sh,console,/bin/sh",
		"service,virtioconsd,device=console,/bin/virtioconsd",
	}
	for _, a := range apps {
		if strings.HasPrefix(a, "service,echo,") { // the caller's echo replaces the default
			entries = slices.DeleteFunc(entries, func(e string) bool { return e == "service,echo,/bin/echo" })
		}
	}
	entries = append(entries, apps...)
	entries = append(entries, fmt.Sprintf("app,netctl,/bin/netctl,-port,%d", ctlPort))
	pcap := filepath.Join(t.TempDir(), "capture.pcap")
	m := Machine{MemoryMiB: 512, Image: testImage(t),
		Append: "-- init -conf /etc/none -exit " + strings.Join(entries, " "),
		Extra: []string{"-netdev", "tap,id=n0,ifname=" + guestTap + ",script=no,downscript=no",
			"-device", "virtio-net-device,netdev=n0",
			"-device", "virtio-serial-device", "-chardev", "file,id=hvc0,path=" + pcap, "-device", "virtconsole,chardev=hvc0"}}
	if modern {
		m.Extra = append(m.Extra, "-global", "virtio-mmio.force-legacy=false")
	}
	if os.Getenv("ARMOS_GUEST_ICOUNT") == "1" { // guest time counts instructions (the soak's guest-time figures)
		m.Extra = append(m.Extra, IcountArgs...)
	}
	cmd := ns.Command(context.Background(), "qemu-system-aarch64", m.Args(kernel(t))...)
	l, err := StartLive(cmd)
	require.NoError(t, err)
	t.Cleanup(func() {
		l.Kill()
		if t.Failed() {
			t.Logf("console:\n%s", tail(l.Output(), 150))
		}
		saveLog(t, "console.txt", []byte(l.Output()))
	})
	g := &netGuest{ns: ns, l: l, pcap: pcap}
	m1, _, err := l.WaitFor(regexp.MustCompile(`virtionetd: ready net0 mac (\S+) virtio-mmio v(\d)`), 0, netTimeout)
	require.NoError(t, err, tail(l.Output(), 80))
	g.mac, err = net.ParseMAC(m1[1])
	require.NoError(t, err)
	want := "1"
	if modern {
		want = "2"
	}
	require.Equal(t, want, m1[2], "the transport version in use")
	_, _, err = l.WaitFor(regexp.MustCompile(`netd: ready on nic:net0 \(virtio-net, virtio-mmio v\d, link up\) `+ready+` mac `+regexp.QuoteMeta(g.mac.String())), 0, netTimeout)
	if err != nil {
		// Where it stands: the shell's process list (states, CPU,
		// descriptors) goes into the failure's console tail.
		at := len(l.Output())
		if l.Type("ps\n") == nil {
			_, _, _ = l.WaitFor(regexp.MustCompile(`armos> `), at, 10*time.Second)
		}
	}
	require.NoError(t, err, tail(l.Output(), 80))
	_, _, err = l.WaitFor(regexp.MustCompile(`echo: ready on udp`), 0, netTimeout)
	require.NoError(t, err, tail(l.Output(), 80))
	return g
}

// echo sends payload to the guest's echo port and returns what came back.
func (g *netGuest) echo(t *testing.T, payload []byte) []byte {
	t.Helper()
	got, stderr, err := g.ns.SocatEcho(context.Background(), t.TempDir(), guestIP, 7, payload)
	require.NoError(t, err, stderr)
	return got
}

// stop asks netctl to end the run and waits for the guest to power off;
// it returns the console.
func (g *netGuest) stop(t testing.TB) string {
	t.Helper()
	got, stderr, err := g.ns.SocatEcho(context.Background(), t.TempDir(), guestIP, ctlPort, []byte("exit"))
	require.NoError(t, err, stderr)
	require.Equal(t, "bye", string(got))
	require.NoError(t, g.l.Wait(time.Minute), tail(g.l.Output(), 60))
	out := g.l.Output()
	require.Contains(t, out, PowerOffLine)
	require.NotContains(t, out, FailMarker)
	before := regexp.MustCompile(`armos: census before (.*)\n`).FindStringSubmatch(out)
	after := regexp.MustCompile(`armos: census after  (.*)\n`).FindStringSubmatch(out)
	require.NotNil(t, before)
	require.NotNil(t, after)
	require.Equal(t, before[1], after[1], "everything the processes held came back")
	return out
}

// TestNetworkRealPeer boots the system on a tap (legacy and modern
// virtio-mmio, in parallel) and checks, with Linux's own tools on the
// other side: ping (fragmented too) and arping answered, UDP echo of 1 to
// 8000 bytes byte-exact (fragmented both ways), ICMP port unreachable for
// a closed port, armos's ping reaching Linux, an ARP entry expiring and
// being re-resolved, a burst of malformed and random frames leaving every
// process alive with the drops counted, and the echo service answering
// again at once after a flood; then the services stop with their counters
// printed and everything they held comes back.
func TestNetworkRealPeer(t *testing.T) {
	for _, modern := range []bool{false, true} {
		name := "legacy"
		if modern {
			name = "modern"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			peertest.Require(t)
			realPeerChecks(t, modern)
		})
	}
}

func realPeerChecks(t *testing.T, modern bool) {
	g := startNetGuest(t, modern, "app,ping,/bin/ping,-c,3,-i,0.2,-s,2000,"+linuxIP)
	ctx := context.Background()

	t.Run("linux ping", func(t *testing.T) {
		for _, size := range []string{"56", "3000"} {
			out, err := g.ns.Run(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "3", "-s", size, guestIP)
			r, perr := peertest.ParsePing(out)
			require.NoError(t, perr, out)
			assert.NoError(t, err, out)
			assert.Equal(t, 3, r.Received, "size %s: %s", size, out)
		}
	})
	t.Run("arping", func(t *testing.T) {
		out, err := g.ns.Run(ctx, "arping", "-c", "2", "-w", "5", "-I", guestTap, guestIP)
		r, perr := peertest.ParseArping(out)
		require.NoError(t, perr, out)
		assert.NoError(t, err, out)
		require.Equal(t, 2, r.Received, out)
		for _, rep := range r.Replies {
			assert.Equal(t, g.mac.String(), rep.MAC.String(), "answered with the NIC's address")
		}
	})
	t.Run("udp echo", func(t *testing.T) {
		sizes := []int{1, 100, 1472, 1473, 2000, 4000, 8000}
		var wg sync.WaitGroup
		for _, size := range sizes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				payload := make([]byte, size)
				_, _ = rand.Read(payload)
				got, stderr, err := g.ns.SocatEcho(ctx, t.TempDir(), guestIP, 7, payload)
				assert.NoError(t, err, "size %d: %s", size, stderr)
				assert.True(t, bytes.Equal(payload, got), "size %d: sent %d bytes, got %d back", size, len(payload), len(got))
			}()
		}
		wg.Wait()
	})
	t.Run("closed port unreachable", func(t *testing.T) {
		got, stderr, err := g.ns.SocatEcho(ctx, t.TempDir(), guestIP, 9, []byte("anyone there?"))
		assert.Error(t, err)
		assert.Empty(t, got)
		assert.Contains(t, stderr, "Connection refused", "ICMP port unreachable surfaces as ECONNREFUSED")
	})
	t.Run("armos ping", func(t *testing.T) {
		m, _, err := g.l.WaitFor(regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`), 0, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, []string{m[0], "3", "3"}, m, "armos's ping reached Linux (2000 bytes: fragmented both ways)")
		assert.Regexp(t, `2008 bytes from 10\.99\.0\.1: icmp_seq=1 `, g.l.Output())
	})
	t.Run("shell sees the driver", func(t *testing.T) {
		require.NoError(t, g.l.Type("ifconfig\nnetstat\n"))
		_, _, err := g.l.WaitFor(regexp.MustCompile(`sh: eth0: nic:net0 \(virtio-net, virtio-mmio v\d, link up\)\nsh:     inet 10\.99\.0\.2/24  gateway 10\.99\.0\.1  mtu 1500\nsh:     ether `+regexp.QuoteMeta(g.mac.String())), 0, time.Minute)
		require.NoError(t, err)
		_, _, err = g.l.WaitFor(regexp.MustCompile(`sh: net0 \(driver\):\nsh: virtionetd: rx \d+ frames \d+ bytes, tx \d+ frames`), 0, time.Minute)
		require.NoError(t, err, "netstat shows the driver's counters")
	})
	t.Run("packet capture", func(t *testing.T) { captureChecks(t, g) })
	t.Run("arp expiry", func(t *testing.T) {
		fd, err := g.ns.RawSocket(guestTap, syscall.ETH_P_ARP)
		require.NoError(t, err)
		defer syscall.Close(fd)
		// Let netd's entry for Linux expire, then make it answer Linux:
		// it must resolve Linux's address again.
		time.Sleep(arpLife + time.Second)
		payload := []byte("after the entry expired")
		require.Equal(t, payload, g.echo(t, payload))
		tv := syscall.NsecToTimeval(int64(3 * time.Second))
		require.NoError(t, syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv))
		buf := make([]byte, 1600)
		seen := false
		for !seen {
			n, err := syscall.Read(fd, buf)
			if err != nil {
				break
			}
			// Ethernet(14) + ARP: op at 20, sender MAC at 22, target IP at 38.
			f := buf[:n]
			seen = n >= 42 && binary.BigEndian.Uint16(f[20:]) == 1 && bytes.Equal(f[22:28], g.mac) &&
				net.IP(f[38:42]).String() == linuxIP
		}
		assert.True(t, seen, "an ARP request from armos for %s after the entry's lifetime", linuxIP)
	})
	t.Run("malformed burst", func(t *testing.T) {
		fd, err := g.ns.RawSocket(guestTap, syscall.ETH_P_ALL)
		require.NoError(t, err)
		defer syscall.Close(fd)
		r := mrand.New(mrand.NewPCG(1, 2))
		for i := 0; i < 3000; i++ {
			f := junkFrame(r, g.mac, i)
			_, err := syscall.Write(fd, f)
			require.NoError(t, err)
			if i%200 == 0 {
				time.Sleep(5 * time.Millisecond) // a burst, not a flood: the flood is next
			}
		}
		// The last frames may still fill the queues: the service answers
		// again within moments, and so does ping.
		var took time.Duration
		require.NoError(t, g.ns.Do(func() (err error) {
			took, err = probeEcho(guestIP+":7", 50*time.Millisecond, 10*time.Second)
			return err
		}))
		t.Logf("first echo after the burst: %v", took)
		payload := []byte("still here")
		assert.Equal(t, payload, g.echo(t, payload))
		out, err := g.ns.Run(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "3", guestIP)
		assert.NoError(t, err, out)
	})
	t.Run("flood recovers", func(t *testing.T) {
		// Linux sends 20,000 datagrams of 1,000 bytes as fast as it can
		// without reading the answers (most are dropped on the way, and
		// counted); then a probe every 50 ms until one is answered.
		var took time.Duration
		require.NoError(t, g.ns.Do(func() error {
			c, err := net.Dial("udp4", guestIP+":7")
			if err != nil {
				return err
			}
			p := make([]byte, 1000)
			for i := 0; i < 20000; i++ {
				_, _ = c.Write(p) // a full queue on the way is the flood's point
			}
			c.Close()
			took, err = probeEcho(guestIP+":7", 50*time.Millisecond, 10*time.Second)
			return err
		}))
		t.Logf("first echo after the flood: %v after it ended", took)
	})
	out := g.stop(t)
	for _, s := range []string{"virtionetd", "netd", "echo"} {
		assert.NotRegexp(t, `init: restarting `+s+` `, out, "%s ran through the whole test", s)
	}
	c := peertest.ParseReport(processOutput(out, "netd"))
	var malformed uint64
	for k, v := range c {
		layer, name, _ := strings.Cut(k, ".")
		if strings.Contains("ethernet arp ipv4 icmp udp", layer) && (strings.Contains(name, "Bad") || strings.Contains(name, "Truncated") ||
			strings.Contains(name, "Malformed") || strings.Contains(name, "Unknown") || strings.Contains(name, "NotForUs")) {
			malformed += v
		}
	}
	assert.NotZero(t, malformed, "the junk frames were counted as drops:\n%s", out)
	assert.NotZero(t, c["ipv4.Reassembled"], "Linux's fragments were reassembled")
	assert.NotZero(t, c["ipv4.TxFragmented"], "armos fragmented the big echoes")
	assert.NotZero(t, c["icmp.TxDestUnreachable"], "the closed port was reported")
	assert.Regexp(t, `virtionetd: rx \d+ frames`, out, "virtionetd printed its counters")
	// Bounded memory: after the flood (20 MB sent at it), netd's Go
	// runtime has taken a few MiB from the system, not the flood's size:
	// every queue on the way is bounded and its drops counted.
	t.Logf("netd memory after the flood: %d KiB from the system, %d KiB heap in use; udp queue-full drops %d",
		c["memory.SysKiB"], c["memory.HeapInuseKiB"], c["udp.RxQueueFull"])
	assert.Less(t, c["memory.SysKiB"], uint64(16<<10), "netd's memory stays bounded")
	assert.NotZero(t, c["memory.SysKiB"])
	assert.NotZero(t, c["udp.RxQueueFull"], "the flood met the echo socket's bounded queue")
	vm := regexp.MustCompile(`virtionetd: memory: sys (\d+) KiB, heap in use (\d+) KiB, DMA (\d+) KiB`).FindStringSubmatch(out)
	require.NotNil(t, vm, "virtionetd reports its memory")
	t.Logf("virtionetd memory after the flood: %s KiB from the system, %s KiB heap, %s KiB DMA", vm[1], vm[2], vm[3])
	sys, err := strconv.Atoi(vm[1])
	require.NoError(t, err)
	assert.Less(t, sys, 24<<10, "virtionetd's memory stays bounded")
	assert.Regexp(t, `virtionetd: device: .* resets 0 `, out, "the device never had to be reset")
}

// junkFrame makes frame i of the malformed burst: random bytes, truncated
// or inconsistent IPv4 and ARP headers, to the guest's MAC or broadcast.
func junkFrame(r *mrand.Rand, mac net.HardwareAddr, i int) []byte {
	dst := []byte(mac)
	if i%5 == 0 {
		dst = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	src := []byte{0x02, 0x66, 0, 0, byte(i >> 8), byte(i)}
	n := 14 + r.IntN(1500)
	f := make([]byte, n)
	for k := range f {
		f[k] = byte(r.Uint32())
	}
	copy(f, dst)
	copy(f[6:], src)
	switch i % 4 {
	case 0: // random EtherType and payload
	case 1: // IPv4 with a random header
		binary.BigEndian.PutUint16(f[12:], 0x0800)
	case 2: // ARP with random fields
		binary.BigEndian.PutUint16(f[12:], 0x0806)
	case 3: // IPv4 that looks right but lies about its lengths
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		if n >= 34 {
			f[14] = 0x45
			binary.BigEndian.PutUint16(f[16:], uint16(r.IntN(65536)))
			f[23] = []byte{1, 6, 17}[r.IntN(3)]
			copy(f[30:34], net.ParseIP(guestIP).To4())
		}
	}
	return f
}

// processOutput returns what process name printed on the console, without
// the "name: " prefix the kernel puts on each of its lines.
func processOutput(console, name string) string {
	var b strings.Builder
	for _, line := range strings.Split(console, "\n") {
		if rest, ok := strings.CutPrefix(line, name+": "); ok {
			b.WriteString(rest + "\n")
		}
	}
	return b.String()
}

// probeEcho sends a numbered probe to an echo service every interval
// until one comes back, and returns how long that took (an error after
// limit).
func probeEcho(addr string, interval, limit time.Duration) (time.Duration, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	p := []byte("probe 0000")
	buf := make([]byte, 64)
	for i := 0; time.Since(start) < limit; i++ {
		copy(p[6:], fmt.Sprintf("%04d", i%10000))
		if _, err := c.Write(p); err != nil {
			return 0, err
		}
		_ = c.SetReadDeadline(time.Now().Add(interval))
		for {
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			if n == len(p) && bytes.HasPrefix(buf[:n], []byte("probe ")) {
				return time.Since(start), nil
			}
		}
	}
	return 0, fmt.Errorf("no echo from %s within %v", addr, limit)
}
