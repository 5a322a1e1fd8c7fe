package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCPUProfileOnlyInAProfilingBuild: a default netd refuses -cpuprofile
// with a message saying how to get one (it carries no profiler: docs/netd.md,
// resident memory), and a netd built with -tags netdprof writes the profile,
// here for a run that ends early on a link it cannot open.
func TestCPUProfileOnlyInAProfilingBuild(t *testing.T) {
	args := func(prof string) []string {
		return []string{"-link", "nic:nosuchnic", "-ip", "10.99.0.2/24", "-cpuprofile", prof}
	}
	dir := t.TempDir()

	plain := buildNetd(t)
	prof := filepath.Join(dir, "plain.prof")
	out, err := exec.Command(plain, args(prof)...).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "rebuild it with -tags netdprof")
	assert.NoFileExists(t, prof)

	profiling := buildNetd(t, "netdprof")
	prof = filepath.Join(dir, "netdprof.prof")
	out, err = exec.Command(profiling, args(prof)...).CombinedOutput()
	require.Error(t, err, "no such link: %s", out)
	assert.NotContains(t, string(out), "netdprof")
	st, err := os.Stat(prof)
	require.NoError(t, err, "the profile was written: %s", out)
	assert.Positive(t, st.Size())
}
