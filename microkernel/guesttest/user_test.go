package guesttest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUserHello boots with `userhello`: the kernel loads the embedded
// apps/hello (a static Go linux/arm64 program) into its own address space,
// runs it at EL0 and relays its system calls; its output and exit status
// reach the console, then the kernel powers off cleanly.
func TestUserHello(t *testing.T) {
	out := boot(t, Machine{Append: "userhello"})
	require.Regexp(t, `\nhello from EL0\nprocess hello: .*\nprocess hello exited 0\n`, out)
	require.Contains(t, out, PowerOffLine)
	require.NotContains(t, out, FailMarker)
	require.NotContains(t, out, "process hello: syscall", "every call the Go runtime makes is served")
	require.NotContains(t, out, "process hello killed")
	require.Less(t, strings.Index(out, "armos: ready"), strings.Index(out, "hello from EL0"))
	// The Go runtime in the process started threads (clone: sysmon and
	// more) and touched demand-zero memory (mmap'ed heap and stacks).
	m := regexp.MustCompile(`process hello: (\d+) threads, (\d+) system calls, (\d+) demand-zero pages\n`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	threads, _ := strconv.Atoi(m[1])
	pages, _ := strconv.Atoi(m[3])
	require.GreaterOrEqual(t, threads, 2)
	require.Greater(t, pages, 100)
}

// TestUserFaultKillsOnlyTheProcess boots with `usercrash`: apps/hello
// dereferences nil at EL0. The kernel kills that process with a one-line
// reason (SIGSEGV, exit status 128+11) and keeps running: it powers off
// cleanly afterwards.
func TestUserFaultKillsOnlyTheProcess(t *testing.T) {
	out := boot(t, Machine{Append: "usercrash"})
	require.Contains(t, out, "hello from EL0\n")
	require.Regexp(t, `process hello killed: SIGSEGV at pc 0x1[0-9a-f]{8} addr 0x0 \(ESR 0x92000005\)\nprocess hello: .*\nprocess hello exited 139\n`, out)
	require.Contains(t, out, PowerOffLine)
	require.NotContains(t, out, FailMarker)
}
