package libsys

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"armos/abi"
)

func TestFromEntry(t *testing.T) {
	e := abi.ProcEntry{Pid: 4101, PPid: 4100, State: abi.ProcLive, Threads: 5, Pages: 160, CPUNS: 2_500_000,
		Syscalls: 42, StartNS: 1_000_000_000, Killed: 1, ExitStatus: 9, Handles: 12, Objects: 3}
	copy(e.Name[:], "netd")
	p := fromEntry(e)
	assert.Equal(t, Process{Pid: 4101, PPid: 4100, Name: "netd", State: "running", Threads: 5, MemoryKiB: 640,
		CPU: 2500000, Syscalls: 42, Started: 1000000000, ExitStatus: 9, Killed: true, Handles: 12, Objects: 3}, p)
	copy(e.Name[:], "a-very-long-name")
	assert.Equal(t, "a-very-long-name", fromEntry(e).Name, "16 bytes, no terminator")
}

func TestStartLine(t *testing.T) {
	s := &Start{main: 11 * time.Millisecond, ok: true,
		stages: []stage{{"link", 14 * time.Millisecond}, {"register", 20500 * time.Microsecond}}}
	assert.Equal(t, "netd: restart 3: exec to main 11.0 ms, to serving 27.0 ms (link +3.0, register +6.5, the rest +6.5 ms)\n",
		s.format("netd", "3", 27*time.Millisecond))
	s.tookOver = true
	assert.Equal(t, "netd: restart 4: a standby took over, serving 16.0 ms later (link +3.0, register +6.5, the rest +6.5 ms)\n",
		s.format("netd", "4", 27*time.Millisecond))
	s.tookOver = false
	s.stages = nil
	assert.Equal(t, "virtionetd: restart 1: exec to main 11.0 ms, to serving 12.0 ms\n", s.format("virtionetd", "1", 12*time.Millisecond))
}
