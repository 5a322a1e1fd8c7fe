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
