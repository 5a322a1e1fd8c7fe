package guesttest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/microkernel/guesttest/gostd"
)

// TestIPC runs the IPC checks (progs/ipctest: kernel channels through
// libipc's kernel transport and the raw calls, within a process and
// between processes, peer-closed on exit and kill, back-pressure,
// descriptors in messages, rights, calls with deferred replies, a libipc
// server in a child) beside two IPC fuzzers making random calls with
// random arguments. The kernel stays up, and the census after equals the
// one before: every channel, message page, reply and descriptor in
// transit came back.
func TestIPC(t *testing.T) {
	t.Parallel()
	out := runPrograms(t, Machine{MemoryMiB: 512},
		"ipctest", "ipctest -fuzz 20000 -seed 1", "ipctest -fuzz 20000 -seed 2")
	summary(t, out, "ipctest")
	fuzzed := regexp.MustCompile(`ipctest: ipcfuzz: 20000 calls, seed \d`).FindAllString(out, -1)
	require.Len(t, fuzzed, 2, out)
	require.Regexp(t, `ipcfuzz: call ok \d+`, out, "some random calls were answered")
	require.Regexp(t, `ipcfuzz: send ok \d+`, out)
	require.NotContains(t, out, "not implemented")
}

// TestInitAndNetwork boots armos's services without a NIC: init
// (servers/init) reads /etc/init-peer.conf (servers/init/peer.conf) and
// starts netd, the echo app and a second netd playing the peer host,
// linked by a kernel channel; the test adds, on init's
// command line, a service that crashes every 300ms and two apps. Shown:
//   - netd, echo and the peer run as processes over kernel IPC, reaching
//     each other by name through init;
//   - nettest, a libsocket client of the peer netd, passes netd's hosted
//     integration scenarios in the guest: UDP echo of 4 to 8000 bytes
//     (fragmented and reassembled both ways, ARP resolved on the way),
//     blocking, timed and non-blocking receives, eight sockets at once,
//     ICMP echo (small and fragmented) and a silent host timing out, and
//     garbage sent to the socket service answered with errors;
//   - init's name service (unknown names, one owner per name, the list)
//     and its restarts: the crashy service is restarted with growing
//     delays, and every exit is reported with its status;
//   - with -exit, init stops the services once the apps are done, and
//     everything the processes held comes back (the census).
func TestInitAndNetwork(t *testing.T) {
	t.Parallel()
	out := runPrograms(t, Machine{MemoryMiB: 512},
		"init -conf /etc/init-peer.conf -exit service,crashy,/bin/ipctest,-role,crashy app,ipctest,/bin/ipctest,-run,init app,nettest,/bin/nettest,-service,peer.sockets")
	summary(t, out, "nettest")
	summary(t, out, "ipctest")
	require.Contains(t, out, "ipctest: ok init-names")
	require.Contains(t, out, "ipctest: ok init-restart")
	for _, name := range []string{"netd", "echo", "peer", "crashy", "ipctest", "nettest"} {
		require.Regexp(t, `init: started `+name+` \(pid \d+\)`, out)
	}
	require.Regexp(t, `netd: ready on serve:lan0 ip 10\.99\.0\.2/24 .* service netd\.sockets`, out)
	require.Regexp(t, `netd: ready on connect:lan0 ip 10\.99\.0\.1/24 .* service peer\.sockets`, out)
	require.Contains(t, out, "echo: ready on udp 0.0.0.0:7")
	require.Regexp(t, `init: crashy \(pid \d+\) exited with status 3\n`, out)
	require.Regexp(t, `init: restarting crashy in 0s \(restart 1\)\n`, out)
	require.Regexp(t, `init: restarting crashy in 50ms \(restart 2\)\n`, out)
	require.Regexp(t, `init: restarting crashy in 100ms \(restart 3\)\n`, out, "a crash loop is backed off")
	require.Regexp(t, `init: nettest \(pid \d+\) exited with status 0\n`, out)
	require.Regexp(t, `init: ipctest \(pid \d+\) exited with status 0\n`, out)
	require.Regexp(t, `echo: \d+ datagrams \(\d+ bytes\) echoed, 0 replies lost`, out)
	require.Equal(t, 0, exitStatus(t, out, "init"))
}

// TestLibipcSuitesOverKernelChannels runs the test binaries of libipc,
// libsocket, libproto, netd's protocol service and tcpd's stream protocol, built unchanged with `go test -c` for linux/arm64, as armos
// processes with LIBIPC_TRANSPORT=kernel: every pair their tests make
// through libipc.TransportPair — the Broker's connections (every Conn,
// Server, libsocket and libproto test; the protocol service's stream
// hand-over) and the Conn tests' own pairs — is then a
// kernel channel, so the suites written against the in-memory transport
// check the kernel transport. (The in-memory transport's own tests,
// mem_test.go, still test it.)
func TestLibipcSuitesOverKernelChannels(t *testing.T) {
	t.Parallel()
	kernel(t)
	dir := t.TempDir()
	pkgs := []string{"armos/libipc", "armos/libsocket", "armos/libproto", "armos/servers/netd/protosvc", "armos/servers/tcpd/server"}
	// tcpd's stream tests only: its transfer tests are long under TCG.
	args := map[string]string{"armos/servers/tcpd/server": " -test.run Stream|HTTP"}
	bins, err := gostd.Build(filepath.Join(dir, "bin"), pkgs...)
	require.NoError(t, err)
	var list strings.Builder
	extra := map[string]string{}
	for _, p := range pkgs {
		name := gostd.BinaryName(p)
		extra["/bin/"+name] = bins[p]
		fmt.Fprintf(&list, "/bin/%s -test.v -test.short%s\n", name, args[p])
	}
	listFile := filepath.Join(dir, "suites.txt")
	require.NoError(t, os.WriteFile(listFile, []byte(list.String()), 0o644))
	extra["/etc/suites.txt"] = listFile
	img, err := BuildImage(filepath.Join(dir, "img"), []string{"microkernel/guesttest/progs/runlist"}, extra)
	require.NoError(t, err)
	res, err := Run(kernel(t), Machine{MemoryMiB: 512, Image: img,
		Append: "-- LIBIPC_TRANSPORT=kernel runlist /etc/suites.txt"}, 10*time.Minute)
	require.NoError(t, err)
	require.False(t, res.TimedOut, "QEMU did not finish:\n%s", tail(res.Output, 200))
	out := res.Output
	require.NotContains(t, out, FailMarker, tail(out, 200))
	runs := splitRunlist(out)
	for _, p := range pkgs {
		r, ok := runs["/bin/"+gostd.BinaryName(p)]
		require.True(t, ok, "%s did not run:\n%s", p, tail(out, 100))
		c := gostd.ParseTestOutput(r.output)
		t.Logf("%-16s %s", p, c)
		require.True(t, c.OK(), "%s: %s\nfailures: %v\n%s", p, c, c.Failures, tail(r.output, 80))
		require.Equal(t, "0", r.status, "%s exit status", p)
	}
}
