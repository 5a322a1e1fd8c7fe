package guesttest

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
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

// TestInitAndNetwork boots armos the way it runs: init (servers/init) reads
// /etc/init.conf and starts netd, the echo app and a second netd playing
// the peer host, linked by a kernel channel; the test adds, on init's
// command line, a service that crashes every 300ms and two apps. Shown:
//   - netd, echo and the peer run as processes over kernel IPC, reaching
//     each other by name through init;
//   - nettest, a libsocket client of the peer netd, passes netd's hosted
//     integration scenarios in the guest: UDP echo of 4 to 8000 bytes
//     (fragmented and reassembled both ways, ARP resolved on the way),
//     blocking, timed and non-blocking receives, eight sockets at once;
//   - init's name service (unknown names, one owner per name, the list)
//     and its restarts: the crashy service is restarted with growing
//     delays, and every exit is reported with its status;
//   - with -exit, init stops the services once the apps are done, and
//     everything the processes held comes back (the census).
func TestInitAndNetwork(t *testing.T) {
	t.Parallel()
	out := runPrograms(t, Machine{MemoryMiB: 512},
		"init -exit service,crashy,/bin/ipctest,-role,crashy app,ipctest,/bin/ipctest,-run,init app,nettest,/bin/nettest,-service,peer.sockets")
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
	require.Regexp(t, `init: restarting crashy in 100ms \(restart 1\)\n`, out)
	require.Regexp(t, `init: restarting crashy in 200ms \(restart 2\)\n`, out)
	require.Regexp(t, `init: nettest \(pid \d+\) exited with status 0\n`, out)
	require.Regexp(t, `init: ipctest \(pid \d+\) exited with status 0\n`, out)
	require.Regexp(t, `echo: \d+ datagrams \(\d+ bytes\) echoed, 0 replies lost`, out)
	require.Equal(t, 0, exitStatus(t, out, "init"))
}
