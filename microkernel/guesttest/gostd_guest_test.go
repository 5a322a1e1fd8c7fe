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

// TestGoStdTests runs test binaries of Go's own standard library, built
// with the stock `go test -c` for linux/arm64 and not modified, as armos
// processes, with the arguments under which they pass under Linux
// (package gostd: the CI subset; tests that need files, exec or network are
// skipped with -test.skip, each listed with its reason in gostd/SKIPS.md).
// runlist runs them one after another from a list in the boot image.
func TestGoStdTests(t *testing.T) {
	t.Parallel()
	kernel(t)
	dir := t.TempDir()
	pkgs := gostd.CI()
	bins, err := gostd.Build(filepath.Join(dir, "bin"), gostd.Paths(pkgs)...)
	require.NoError(t, err)
	var list strings.Builder
	extra := map[string]string{}
	for _, p := range pkgs {
		name := gostd.BinaryName(p.Path)
		extra["/bin/"+name] = bins[p.Path]
		fmt.Fprintf(&list, "/bin/%s %s\n", name, strings.Join(p.Args(true), " "))
	}
	listFile := filepath.Join(dir, "gostd.txt")
	require.NoError(t, os.WriteFile(listFile, []byte(list.String()), 0o644))
	extra["/etc/gostd.txt"] = listFile
	img, err := BuildImage(filepath.Join(dir, "img"), []string{"microkernel/guesttest/progs/runlist"}, extra)
	require.NoError(t, err)

	res, err := Run(kernel(t), Machine{MemoryMiB: 1024, Image: img, Append: "-- runlist /etc/gostd.txt"}, 20*time.Minute)
	require.NoError(t, err)
	require.False(t, res.TimedOut, "QEMU did not finish:\n%s", tail(res.Output, 200))
	out := res.Output
	require.NotContains(t, out, FailMarker, tail(out, 200))

	runs := splitRunlist(out)
	var total gostd.Counts
	for _, p := range pkgs {
		name := gostd.BinaryName(p.Path)
		r, ok := runs["/bin/"+name]
		require.True(t, ok, "%s did not run:\n%s", p.Path, tail(out, 100))
		c := gostd.ParseTestOutput(r.output)
		t.Logf("%-24s %s", p.Path, c)
		require.True(t, c.OK(), "%s: %s\nfailures: %v\n%s", p.Path, c, c.Failures, tail(r.output, 80))
		require.Equal(t, "0", r.status, "%s exit status", p.Path)
		total.Add(c)
	}
	t.Logf("all %d packages: %s", len(pkgs), total)
	require.Contains(t, out, fmt.Sprintf("runlist: %d commands, 0 failed", len(pkgs)))
}

// runlistRun is one command's part of runlist's output.
type runlistRun struct {
	output string // its lines, without the console's process-name prefix
	status string
}

var (
	runlistStart = regexp.MustCompile(`^runlist: runlist: start \d+ (\S+)$`)
	runlistEnd   = regexp.MustCompile(`^runlist: runlist: end \d+ (\S+) status (-?\d+) in `)
	namePrefix   = regexp.MustCompile(`^[^ :]{1,15}: `)
)

// splitRunlist cuts console output into each command's lines.
func splitRunlist(out string) map[string]runlistRun {
	runs := map[string]runlistRun{}
	var cur string
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := runlistStart.FindStringSubmatch(line); m != nil {
			cur = m[1]
			b.Reset()
			continue
		}
		if m := runlistEnd.FindStringSubmatch(line); m != nil && m[1] == cur {
			runs[cur] = runlistRun{output: b.String(), status: m[2]}
			cur = ""
			continue
		}
		if cur != "" {
			b.WriteString(namePrefix.ReplaceAllString(line, ""))
			b.WriteByte('\n')
		}
	}
	return runs
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// saveLog writes data as name under $ARMOS_GUEST_LOGDIR/<test name>/ when
// that variable is set (to read a long run's console or timeline after
// it); otherwise it does nothing.
func saveLog(t testing.TB, name string, data []byte) {
	dir := os.Getenv("ARMOS_GUEST_LOGDIR")
	if dir == "" {
		return
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("saveLog: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Logf("saveLog: %v", err)
	}
}
