package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
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

	"armos/servers/netd/link/peertest"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

// Timeouts of the real-peer test; every wait is bounded by one of them.
const (
	buildTimeout = 3 * time.Minute  // go build of netd
	readyTimeout = 15 * time.Second // netd start to its ready line
	toolTimeout  = 15 * time.Second // one ping/arping/socat run
	exitTimeout  = 10 * time.Second // SIGTERM to exit
)

// The test's private subnet, inside its own network namespace.
const (
	peerDev   = "tap0"
	linuxSide = "10.99.0.1/24"
	netdCIDR  = "10.99.0.2/24"
	netdIP    = "10.99.0.2"
)

// buildNetd compiles this package into a temporary binary.
func buildNetd(t testing.TB, tags ...string) string {
	t.Helper()
	return buildCommand(t, ".", tags...)
}

// buildCommand compiles the command in pkg into a temporary binary, static
// (CGO_ENABLED=0) as every armos program is: a netd linked against the C
// library would carry its pages too, and ./build.sh builds without cgo.
func buildCommand(t testing.TB, pkg string, tags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(filepath.Clean(pkg)))
	if pkg == "." {
		bin = filepath.Join(filepath.Dir(bin), "netd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	return bin
}

// netdProc is a running hosted netd.
type netdProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer // everything netd printed
	done chan struct{}
	mac  net.HardwareAddr
}

func (p *netdProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startNetd runs netd inside ns and waits for its ready line.
func startNetd(t testing.TB, ns *peertest.NS, bin string, args ...string) *netdProc {
	t.Helper()
	p := &netdProc{done: make(chan struct{})}
	p.cmd = ns.Command(context.Background(), bin, args...)
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	p.cmd.Stderr = pw
	require.NoError(t, p.cmd.Start())
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if strings.HasPrefix(line, readyPrefix) {
				select {
				case ready <- line:
				default:
				}
			}
		}
	}()
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })

	select {
	case line := <-ready:
		mac, err := peertest.ReadyMAC(line)
		require.NoError(t, err, "ready line %q", line)
		p.mac = mac
	case <-p.done:
		t.Fatalf("netd exited before it was ready: %v\n%s", p.cmd.ProcessState, p.output())
	case <-time.After(readyTimeout):
		t.Fatalf("netd not ready within %v:\n%s", readyTimeout, p.output())
	}
	return p
}

// stop sends SIGTERM and waits for netd to exit; it reports the exit.
func (p *netdProc) stop(t testing.TB) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
		if !p.cmd.ProcessState.Success() {
			return fmt.Errorf("netd exited with %v", p.cmd.ProcessState)
		}
		return nil
	case <-time.After(exitTimeout):
		return fmt.Errorf("netd still running %v after SIGTERM", exitTimeout)
	}
}

// kill makes sure netd is gone (the test's cleanup).
func (p *netdProc) kill(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(exitTimeout):
		t.Errorf("netd pid %d did not die", p.cmd.Process.Pid)
	}
}

// TestRealPeer runs hosted netd on a TAP device whose other side is the
// Linux kernel, in a private network namespace, and checks what Linux's own
// tools see: ping replies, ARP replies with netd's MAC, the neighbour entry,
// UDP echo (also of datagrams bigger than the MTU) and ICMP port unreachable.
func TestRealPeer(t *testing.T) {
	peertest.Require(t)
	bin := buildNetd(t)
	ns := peertest.NewNS(t)
	ns.AddTap(t, peerDev, linuxSide)
	netd := startNetd(t, ns, bin, "-tap", peerDev, "-ip", netdCIDR, "-gw", "10.99.0.1", "-apps", "echo")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("netd output:\n%s", netd.output())
		}
	})
	ctx := context.Background()

	t.Run("ping", func(t *testing.T) {
		out, err := ns.Run(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "2", netdIP)
		r, perr := peertest.ParsePing(out)
		require.NoError(t, perr, out)
		assert.NoError(t, err, out)
		assert.Equal(t, 3, r.Transmitted)
		assert.Equal(t, 3, r.Received, out)
		for _, rep := range r.Replies {
			assert.Equal(t, netip.MustParseAddr(netdIP), rep.From)
		}
	})

	t.Run("arping", func(t *testing.T) {
		out, err := ns.Run(ctx, "arping", "-c", "2", "-w", "5", "-I", peerDev, netdIP)
		r, perr := peertest.ParseArping(out)
		require.NoError(t, perr, out)
		assert.NoError(t, err, out)
		assert.Equal(t, 2, r.Received, out)
		for _, rep := range r.Replies {
			assert.Equal(t, netip.MustParseAddr(netdIP), rep.IP)
			assert.Equal(t, netd.mac.String(), rep.MAC.String(), "ARP reply carries netd's MAC")
		}
	})

	t.Run("neighbour table", func(t *testing.T) {
		out, err := ns.Run(ctx, "ip", "-j", "neigh", "show", "dev", peerDev)
		require.NoError(t, err, out)
		neigh, err := peertest.ParseNeigh(out)
		require.NoError(t, err, out)
		var found bool
		for _, n := range neigh {
			if n.IP == netip.MustParseAddr(netdIP) {
				found = true
				assert.Equal(t, netd.mac.String(), n.MAC.String(), "state %v", n.State)
			}
		}
		assert.True(t, found, "no neighbour entry for %s: %s", netdIP, out)
	})

	t.Run("udp echo", func(t *testing.T) {
		dir := t.TempDir()
		// 1472 is the largest payload of an unfragmented datagram at MTU
		// 1500; the bigger ones are fragmented by Linux on the way in and
		// must be fragmented by netd on the way back.
		sizes := []int{1, 64, 512, 1472, 1473, 3000, 8000, 65507} // 65507: the largest, whole
		type result struct {
			size      int
			sent, got []byte
			stderr    string
			err       error
		}
		results := make(chan result, len(sizes))
		for _, size := range sizes {
			go func() {
				payload := make([]byte, size)
				_, _ = rand.Read(payload)
				got, stderr, err := ns.SocatEcho(ctx, dir, netdIP, 7, payload)
				results <- result{size, payload, got, stderr, err}
			}()
		}
		for range sizes {
			r := <-results
			assert.NoError(t, r.err, "size %d: %s", r.size, r.stderr)
			assert.True(t, bytes.Equal(r.sent, r.got), "size %d: sent %d bytes, got %d back", r.size, len(r.sent), len(r.got))
		}
	})

	t.Run("closed port is unreachable", func(t *testing.T) {
		got, stderr, err := ns.SocatEcho(ctx, t.TempDir(), netdIP, 9, []byte("anyone there?"))
		assert.Error(t, err, "socat must fail")
		assert.Empty(t, got)
		assert.Contains(t, stderr, "Connection refused", "ICMP port unreachable surfaces as ECONNREFUSED")
	})

	t.Run("hostile peer", func(t *testing.T) {
		// A raw AF_PACKET sender on the Linux side of the tap replays the
		// attacks of TestHostilePeer at netd, while Linux's ping -s 3000
		// and socat keep getting correct answers.
		fd, err := ns.RawSocket(peerDev, syscall.ETH_P_ALL)
		require.NoError(t, err)
		defer syscall.Close(fd)
		dst := wire.MAC(netd.mac)
		attacker := stacktest.Host{MAC: wire.MAC{0x02, 0x66, 0, 0, 0, 1}, Addr: netip.MustParseAddr("10.99.0.66")}
		target := netip.MustParseAddr(netdIP)
		send := func(frame []byte) {
			_, err := syscall.Write(fd, frame)
			require.NoError(t, err)
		}
		stop := make(chan struct{})
		attacking := make(chan struct{})
		go func() {
			defer close(attacking)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Spoofed ARP requests from the subnet.
				a := netip.AddrFrom4([4]byte{10, 99, 0, byte(100 + i%100)})
				send(stacktest.ARP(wire.ARPRequest, wire.MAC{0x02, 0x66, 1, 0, byte(i >> 8), byte(i)}, a, wire.MAC{}, target))
				// Bogus fragments that never complete.
				frag := stacktest.IPv4(wire.IPv4Repr{Src: attacker.Addr, Dst: target, Protocol: wire.IPProtocolUDP,
					ID: uint16(i), MoreFragments: true, FragmentOffset: 8 * (1 + i%1000)}, make([]byte, 512))
				send(stacktest.Ethernet(dst, attacker.MAC, wire.EtherTypeIPv4, frag))
				// A martian.
				m := stacktest.Host{MAC: attacker.MAC, Addr: netip.MustParseAddr("240.0.0.1")}
				send(m.UDPFrame(dst, 9, netip.AddrPortFrom(target, 7), []byte("martian")))
				time.Sleep(200 * time.Microsecond)
			}
		}()
		defer func() { close(stop); <-attacking }()

		out, err := ns.Run(ctx, "ping", "-c", "5", "-i", "0.2", "-W", "2", "-s", "3000", netdIP)
		r, perr := peertest.ParsePing(out)
		require.NoError(t, perr, out)
		assert.NoError(t, err, out)
		assert.Equal(t, 5, r.Received, "fragmented pings answered during the attack: %s", out)
		dir := t.TempDir()
		for _, size := range []int{64, 3000} {
			payload := make([]byte, size)
			_, _ = rand.Read(payload)
			got, stderr, err := ns.SocatEcho(ctx, dir, netdIP, 7, payload)
			assert.NoError(t, err, "size %d: %s", size, stderr)
			assert.True(t, bytes.Equal(payload, got), "size %d echoed during the attack", size)
		}
	})

	t.Run("bad flags exit 2", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, toolTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-tap", peerDev, "-ip", "10.99.0.2").CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", out)
		assert.Equal(t, 2, exit.ExitCode())
		assert.Contains(t, string(out), "-ip")
	})

	t.Run("clean exit with counters", func(t *testing.T) {
		require.NoError(t, netd.stop(t), netd.output())
		out := netd.output()
		c := peertest.ParseReport(out)
		assert.GreaterOrEqual(t, c["icmp.TxEchoReplies"], uint64(3), "netstat-like counters printed at exit:\n%s", out)
		assert.GreaterOrEqual(t, c["arp.TxReplies"], uint64(2))
		assert.GreaterOrEqual(t, c["icmp.TxDestUnreachable"], uint64(1))
		assert.GreaterOrEqual(t, c["echo.Echoed"], uint64(7))
		assert.NotZero(t, c["ipv4.Reassembled"], "Linux fragmented the big datagrams")
		assert.NotZero(t, c["ipv4.TxFragmented"], "netd fragmented the big echoes")
		assert.NotZero(t, c["ipv4.RxBadSource"], "the hostile peer's martians were counted")
		assert.NotZero(t, c["ipv4.ReasmNoMemory"]+c["ipv4.ReasmEvicted"]+c["ipv4.RxFragments"], "its fragments met reassembly")
	})
}
