package guesttest

import (
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestShell drives the serial shell as an operator would, expect-style
// over QEMU's serial console: init starts netd, echo and a peer netd
// (/etc/init-peer.conf) and sh on the console; every command's output is
// checked, a mistyped command gets its one line, line editing and history
// work, restart gives echo a new pid, and poweroff stops everything.
func TestShell(t *testing.T) {
	t.Parallel()
	m := Machine{MemoryMiB: 512, Image: testImage(t), Append: "-- init -conf /etc/init-peer.conf service,sh,console,/bin/sh"}
	l, err := StartLive(exec.Command("qemu-system-aarch64", m.Args(kernel(t))...))
	require.NoError(t, err)
	defer l.Kill()
	at := 0
	expect := func(re string) []string {
		t.Helper()
		m, next, err := l.WaitFor(regexp.MustCompile(re), at, 2*time.Minute)
		require.NoError(t, err, tail(l.Output(), 60))
		at = next
		return m
	}
	send := func(s string) { t.Helper(); require.NoError(t, l.Type(s)) }
	expect(`sh: armos serial shell; help lists the commands\nsh: armos> `)
	expect(`echo: ready on udp`) // the services are up (netd first)

	send("help\n")
	expect(`restart NAME\s+stop the service NAME; init starts it again at once`)
	expect(`armos> `)
	send("echo hello armos\n")
	expect(`\nsh: hello armos\n`)
	send("nosuch thing\n")
	expect(`sh: nosuch: unknown command \(help lists them\)\n`)
	send("kill\n")
	expect(`kill: usage: kill \[-SIGNAL\] PID\|NAME\.\.\.\n`)
	send("ps\n")
	expect(`PID\s+PPID STATE\s+THR\s+MEM\(KiB\)\s+FDS\s+MSGQ\s+CPU\(ms\)\s+NAME`)
	echoPid := expect(`sh:\s+(\d+)\s+\d+ running\s+\d+\s+\d+\s+\d+\s+\d+\s+[0-9.]+\s+echo\n`)[1]
	send("uptime\n")
	expect(`sh: up \d+s, \d+ processes\n`)
	send("free\n")
	expect(`sh:\s+total KiB\s+used KiB\s+free KiB\n`)
	// The peer (10.99.0.1) answers once its own address probing is over
	// (RFC 5227: 4 to 7 s after its link came up, independently of
	// netd's): its ready line may come after echo's, anywhere in the
	// console, so it is looked for from the start without moving at.
	_, _, err = l.WaitFor(regexp.MustCompile(`netd: ready on connect:lan0 ip 10\.99\.0\.1/24 `), 0, 2*time.Minute)
	require.NoError(t, err, tail(l.Output(), 60))
	send("ping -c 2 -i 0.2 10.99.0.1\n")
	expect(`sh: 2 packets transmitted, 2 received, 0% packet loss`)
	send("ifconfig\n")
	expect(`sh: eth0: serve:lan0\nsh:     inet 10\.99\.0\.2/24  mtu 1500\nsh:     ether 02:00:0a:63:00:02\nsh:     RX \d+ frames \d+ bytes  TX \d+ frames \d+ bytes\n`)
	send("arp\n")
	expect(`sh: 10\.99\.0\.1 at 02:00:0a:63:00:01 reachable`)
	send("arp flush\n")
	expect(`sh: flushed \d+ entries\n`)
	send("arp\n")
	expect(`sh: \(no entries\)\n`)
	send("netstat\n")
	expect(`sh: netd:\nsh: Proto Local\s+Peer\s+Recv-Q Parked Client\n(sh: .*\n)*sh: udp\s+0\.0\.0\.0:7\s+\*\s+\d+/\d+\s+\d\s+\d+\n`)
	expect(`sh:     TxEchoRequests\s+\d+\n(sh: .*\n)*sh: sockets:\n`)

	// Line editing: a typo erased with backspace, then the line again
	// from the history.
	send("echo typx\x7fo fixed\r")
	expect(`\nsh: typo fixed\n`)
	send("\x1b[A\r")
	expect(`\nsh: typo fixed\n`)

	restartAt := at
	send("restart echo\n")
	m2 := expect(`sh: restart: echo: pid (\d+) -> (\d+) in [0-9.]+ ms\n`)
	require.Equal(t, echoPid, m2[1])
	require.NotEqual(t, m2[1], m2[2])
	// init prints its lines once the new echo runs, and the shell may see
	// the new pid first: the two lines reach the console in either order.
	_, _, err = l.WaitFor(regexp.MustCompile(`init: restarting echo in 0s`), restartAt, 2*time.Minute)
	require.NoError(t, err, "a stable service is started again at once\n%s", tail(l.Output(), 40))

	send("poweroff\n")
	require.NoError(t, l.Wait(2*time.Minute), tail(l.Output(), 40))
	out := l.Output()
	require.Contains(t, out, PowerOffLine)
	require.NotContains(t, out, FailMarker)
	require.Regexp(t, `init: netd \(pid \d+\) exited with status 0`, out, "services stopped cleanly")
}
