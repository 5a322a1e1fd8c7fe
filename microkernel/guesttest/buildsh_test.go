package guesttest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/netd/capture"
)

// TestBuildShRunAdd runs the README's command for a user's own program:
// `./build.sh run --add path/to/prog -- prog args` puts any static
// linux/arm64 binary into the boot image (no kernel rebuild needed for
// that) and runs it with that argv. Here the program is a copy of
// exitcode under another name.
func TestBuildShRunAdd(t *testing.T) {
	t.Parallel()
	kernel(t)
	root, err := ModuleRoot()
	require.NoError(t, err)
	prog := filepath.Join(t.TempDir(), "myprog")
	cmd := exec.Command("go", "build", "-o", prog, "./microkernel/guesttest/progs/exitcode")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))

	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	run := exec.CommandContext(ctx, "./build.sh", "run", "--add", prog, "--", "myprog", "7")
	run.Dir = root
	run.Env = append(os.Environ(), "ARMOS_ECHO_PORT=0", "ARMOS_OUT="+filepath.Join(t.TempDir(), "out"))
	out, err := run.CombinedOutput()
	require.NoError(t, ctx.Err(), "build.sh run did not finish:\n%s", out)
	require.NoError(t, err, string(out))
	s := string(out)
	require.Contains(t, s, "armos: started /bin/myprog as pid")
	require.Contains(t, s, "\nmyprog: exitcode: exiting with status 7\n")
	require.Contains(t, s, "armos: process myprog (pid ")
	require.True(t, strings.Contains(s, ") exited with status 7\n"), s)
	require.Contains(t, s, PowerOffLine)
	require.NotContains(t, s, FailMarker)
}

// TestBuildShRunEcho runs `./build.sh run` as a user does on a fresh
// machine: it boots the system (virtionetd, netd configured by dhcpc from
// QEMU's DHCP server, echo on QEMU's user network), prints the socat line
// to reach the echo service through the forwarded port, and the echo
// service answers it from the host; httpd's status page answers through
// the forwarded TCP port; a packet capture lands in out/capture.pcap.
func TestBuildShRunEcho(t *testing.T) {
	t.Parallel()
	kernel(t)
	root, err := ModuleRoot()
	require.NoError(t, err)
	port, err := freeUDPPort()
	require.NoError(t, err)
	run := exec.Command("./build.sh", "run")
	run.Dir = root
	out := filepath.Join(t.TempDir(), "out")
	hport := freeTCPPort(t)
	run.Env = append(os.Environ(), fmt.Sprintf("ARMOS_ECHO_PORT=%d", port), fmt.Sprintf("ARMOS_HTTP_PORT=%d", hport), "ARMOS_OUT="+out)
	l, err := StartLive(run)
	require.NoError(t, err)
	defer l.Kill()
	hint := fmt.Sprintf("socat - UDP:127.0.0.1:%d", port)
	_, _, err = l.WaitFor(regexp.MustCompile(regexp.QuoteMeta(hint)), 0, 5*time.Minute)
	require.NoError(t, err, "build.sh run prints how to reach the echo service:\n%s", l.Output())
	_, _, err = l.WaitFor(regexp.MustCompile(`netd: ready on nic:net0 \(virtio-net, virtio-mmio v1, link up\) ip - dhcp`), 0, 3*time.Minute)
	require.NoError(t, err, tail(l.Output(), 40))
	// The address comes from QEMU's DHCP server by way of dhcpc.
	_, _, err = l.WaitFor(regexp.MustCompile(`dhcpc: lease 10\.0\.2\.15/24 gw 10\.0\.2\.2 dns 10\.0\.2\.3 `), 0, 3*time.Minute)
	require.NoError(t, err, tail(l.Output(), 40))
	_, _, err = l.WaitFor(regexp.MustCompile(`netd: configured ip 10\.0\.2\.15/24 gw 10\.0\.2\.2 mtu 1500 dhcp server 10\.0\.2\.2`), 0, time.Minute)
	require.NoError(t, err, tail(l.Output(), 40))
	_, _, err = l.WaitFor(regexp.MustCompile(`echo: ready on udp`), 0, time.Minute)
	require.NoError(t, err, tail(l.Output(), 40))
	took, err := probeEcho(fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond, time.Minute)
	require.NoError(t, err, tail(l.Output(), 40))
	t.Logf("echo ready, answered through QEMU's forwarded port after %v", took)

	// httpd's status page through the forwarded TCP port: Go's net/http
	// over tcpd, reached from a host browser or curl.
	statusURL := fmt.Sprintf("http://127.0.0.1:%d/", hport)
	require.Contains(t, l.Output(), "curl "+statusURL)
	var page string
	require.Eventually(t, func() bool {
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Get(statusURL)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		page = string(b)
		return err == nil && resp.StatusCode == http.StatusOK
	}, 3*time.Minute, time.Second, "the status page through host port %d:\n%s", hport, tail(l.Output(), 40))
	for _, want := range []string{"armos status", "processes:", "httpd", "tcpd", "netd.admin:", "tcpd.admin:", "ESTABLISHED"} {
		require.Contains(t, page, want)
	}

	// The operator's capture: pcap in the shell, the file on the host.
	pcap := filepath.Join(out, "capture.pcap")
	require.Contains(t, l.Output(), "packet captures ('pcap start [FILTER]' in the shell) go to "+pcap)
	at := len(l.Output())
	require.NoError(t, l.Type("pcap start udp port 7\n"))
	_, at, err = l.WaitFor(regexp.MustCompile(`sh: pcap: capturing frames matching 'udp port 7'`), at, time.Minute)
	require.NoError(t, err, tail(l.Output(), 20))
	c, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	defer c.Close()
	for i := range 3 {
		msg := fmt.Sprintf("captured %d", i)
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		require.NoError(t, err)
		require.Equal(t, msg, string(buf[:n]))
	}
	require.NoError(t, l.Type("pcap stop\n"))
	_, _, err = l.WaitFor(regexp.MustCompile(`sh: pcap: stopped: 6 frames captured, 0 dropped`), at, time.Minute)
	require.NoError(t, err, tail(l.Output(), 20))
	var frames []tsharkFrame
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pcap)
		if err != nil {
			return false
		}
		recs, err := capture.ReadPcap(b)
		return err == nil && len(recs) == 6
	}, 30*time.Second, 100*time.Millisecond, "the capture reaches %s", pcap)
	frames = tsharkRead(t, pcap)
	require.Len(t, frames, 6)
	for i, f := range frames {
		require.Equal(t, "eth:ethertype:ip:udp:echo", f.Protocols, "frame %d", i+1)
		require.Contains(t, string(f.Raw), fmt.Sprintf("captured %d", i/2))
	}
	require.NotContains(t, l.Output(), FailMarker)
}

// freeTCPPort returns a TCP port free on the loopback interface now.
func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeUDPPort returns a UDP port free on the loopback interface now.
func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
