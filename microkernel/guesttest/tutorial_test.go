package guesttest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/link/peertest"
)

// tutorialDoc is the tutorial TestTutorial follows, and the directories
// its files go to (the repository keeps a copy of them).
const tutorialDoc = "docs/protocol-server.md"

var tutorialDirs = []string{"servers/toyd", "apps/toy"}

// Bounds of TestTutorial's steps.
const (
	tutorialRunWait    = 10 * time.Minute // one run block (go test, go build)
	tutorialOutputWait = 5 * time.Minute  // an output block of the started command (build.sh run: building, booting)
)

// tutorialSteps parses the tutorial.
func tutorialSteps(t *testing.T) (root string, steps []TutorialStep) {
	root, err := ModuleRoot()
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(root, tutorialDoc))
	require.NoError(t, err)
	steps, err = ParseTutorial(string(b))
	require.NoError(t, err)
	return root, steps
}

// TestTutorialFilesMatchRepo: the tutorial's files are in the repository
// as they are in the tutorial (so go vet, the host tests and build.sh's
// fuzzing cover them), and the repository has no other file in their
// directories.
func TestTutorialFilesMatchRepo(t *testing.T) {
	root, steps := tutorialSteps(t)
	var inDoc []string
	for _, s := range steps {
		if s.Kind != StepFile {
			continue
		}
		inDoc = append(inDoc, s.Path)
		b, err := os.ReadFile(filepath.Join(root, s.Path))
		require.NoError(t, err, "%s line %d", tutorialDoc, s.Line)
		assert.Equal(t, s.Text, string(b), "%s differs from its block at %s line %d", s.Path, tutorialDoc, s.Line)
	}
	var inRepo []string
	for _, dir := range tutorialDirs {
		require.NoError(t, filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !strings.Contains(p, "/testdata/") {
				rel, _ := filepath.Rel(root, p)
				inRepo = append(inRepo, filepath.ToSlash(rel))
			}
			return err
		}))
	}
	assert.ElementsMatch(t, inDoc, inRepo, "the files of %v are the tutorial's", tutorialDirs)
	kinds := map[string]int{}
	for _, s := range steps {
		kinds[s.Kind]++
	}
	for _, k := range []string{StepFile, StepRun, StepStart, StepType, StepOutput} {
		assert.Positive(t, kinds[k], "the tutorial has %s steps", k)
	}
}

// TestTutorial follows docs/protocol-server.md's tutorial as written, in a
// fresh copy of the repository without the tutorial's files, in a network
// namespace of its own (the tutorial's TAP device is made there): it
// writes the files, runs the commands, starts armos in QEMU, types on its
// console, and checks every output the tutorial shows. It needs root (the
// namespace, the TAP, Linux's raw socket), QEMU and iproute2, and fails
// without them.
func TestTutorial(t *testing.T) {
	kernel(t) // fails without QEMU
	ns := peertest.NewNS(t)
	root, steps := tutorialSteps(t)
	dir := copyRepo(t, root, tutorialDirs)

	// The commands run as the tutorial's reader's would, as root: sudo
	// is what follows it.
	const preamble = "set -euo pipefail\nsudo() { \"$@\"; }\n"
	env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "ARMOS_OUT=") })
	var (
		live     *Live
		liveAt   int    // the console's offset checked so far
		lastRun  string // the last run block's output
		fromLive bool   // output blocks check the console (after start or type), not lastRun
	)
	for _, s := range steps {
		where := fmt.Sprintf("%s line %d", tutorialDoc, s.Line)
		switch s.Kind {
		case StepFile:
			p := filepath.Join(dir, filepath.FromSlash(s.Path))
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, []byte(s.Text), 0o644))
		case StepRun:
			ctx, cancel := context.WithTimeout(context.Background(), tutorialRunWait)
			cmd := ns.Command(ctx, "bash", "-c", preamble+s.Text)
			cmd.Dir, cmd.Env = dir, env
			start := time.Now()
			out, err := cmd.CombinedOutput()
			cancel()
			require.NoError(t, err, "%s:\n%s\n%s", where, s.Text, out)
			t.Logf("%s: ran in %v", where, time.Since(start).Round(time.Millisecond))
			lastRun, fromLive = string(out), false
		case StepStart:
			require.Nil(t, live, "%s: one started command at a time", where)
			cmd := ns.Command(context.Background(), "bash", "-c", preamble+s.Text)
			cmd.Dir, cmd.Env = dir, env
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // build.sh runs QEMU: stop them all
			l, err := StartLive(cmd)
			require.NoError(t, err, where)
			live, liveAt, fromLive = l, 0, true
			t.Cleanup(func() {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				l.Kill()
				saveLog(t, "tutorial-console.txt", []byte(l.Output()))
				if t.Failed() {
					t.Logf("console:\n%s", tail(l.Output(), 80))
				}
			})
		case StepType:
			require.NotNil(t, live, "%s: nothing started to type on", where)
			require.NoError(t, live.Type(s.Text), where)
			fromLive = true
		case StepOutput:
			pats, err := OutputPatterns(s.Text)
			require.NoError(t, err, where)
			if !fromLive {
				_, ok := matchAll(lastRun, 0, pats)
				require.True(t, ok, "%s: the output does not show\n%s\nit is:\n%s", where, s.Text, lastRun)
				continue
			}
			start := time.Now()
			end, err := waitAll(live, liveAt, pats, tutorialOutputWait)
			require.NoError(t, err, "%s:\n%s\nconsole:\n%s", where, s.Text, tail(live.Output(), 60))
			t.Logf("%s: seen after %v", where, time.Since(start).Round(time.Millisecond))
			liveAt = end
		}
	}
	if live != nil { // the tutorial ends by powering armos off
		require.NoError(t, live.Wait(time.Minute), tail(live.Output(), 40))
		require.NotContains(t, live.Output(), FailMarker)
	}
}

// matchAll finds each pattern in text after from, each on a line of its
// own (in any order: a bipartite matching of patterns to lines); it
// returns the end of the last line used.
func matchAll(text string, from int, pats []*regexp.Regexp) (int, bool) {
	lines := strings.SplitAfter(text[from:], "\n")
	cands := make([][]int, len(pats)) // the lines each pattern matches
	for i, re := range pats {
		for j, l := range lines {
			if re.MatchString(l) {
				cands[i] = append(cands[i], j)
			}
		}
	}
	owner := map[int]int{} // line -> pattern
	var assign func(i int, seen map[int]bool) bool
	assign = func(i int, seen map[int]bool) bool {
		for _, j := range cands[i] {
			if seen[j] {
				continue
			}
			seen[j] = true
			if o, taken := owner[j]; !taken || assign(o, seen) {
				owner[j] = i
				return true
			}
		}
		return false
	}
	for i := range pats {
		if !assign(i, map[int]bool{}) {
			return from, false
		}
	}
	end, last := from, -1
	for j := range owner {
		last = max(last, j)
	}
	for j := 0; j <= last; j++ {
		end += len(lines[j])
	}
	return end, true
}

// waitAll waits until matchAll finds every pattern on l's console.
func waitAll(l *Live, from int, pats []*regexp.Regexp, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		out, changed := l.out.String(), l.changed
		l.mu.Unlock()
		if end, ok := matchAll(out, from, pats); ok {
			return end, nil
		}
		select {
		case <-changed:
		case <-l.done:
			if end, ok := matchAll(l.Output(), from, pats); ok {
				return end, nil
			}
			return from, fmt.Errorf("QEMU exited (%v) first", l.exitErr())
		case <-time.After(time.Until(deadline)):
			return from, fmt.Errorf("not seen within %v", timeout)
		}
	}
}

// copyRepo copies the repository's files (tracked, and untracked ones git
// does not ignore) into a temporary directory, leaving out the
// directories skip; it returns the copy.
func copyRepo(t *testing.T, root string, skip []string) string {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	require.NoError(t, err, "git ls-files in %s", root)
	dir := t.TempDir()
	n := 0
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if slices.ContainsFunc(skip, func(s string) bool { return strings.HasPrefix(f, s+"/") }) {
			continue
		}
		src := filepath.Join(root, filepath.FromSlash(f))
		fi, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		require.NoError(t, err)
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		dst := filepath.Join(dir, filepath.FromSlash(f))
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		require.NoError(t, os.WriteFile(dst, b, fi.Mode().Perm()))
		n++
	}
	require.Greater(t, n, 100, "the repository's files")
	require.NoDirExists(t, filepath.Join(dir, skip[0]))
	return dir
}

func TestParseTutorial(t *testing.T) {
	md := "# T\n\n```go\nunmarked\n```\n\n````go file=a/b.go\npackage b\n```\n````\n\n```sh run\ngo test ./a\n```\n" +
		"```text output\nok   a  <time>\n```\n```sh start\nqemu\n```\n```text type\npoweroff\n```\n"
	steps, err := ParseTutorial(md)
	require.NoError(t, err)
	require.Equal(t, []TutorialStep{
		{Kind: StepFile, Path: "a/b.go", Text: "package b\n```\n", Line: 7},
		{Kind: StepRun, Text: "go test ./a\n", Line: 12},
		{Kind: StepOutput, Text: "ok   a  <time>\n", Line: 15},
		{Kind: StepStart, Text: "qemu\n", Line: 18},
		{Kind: StepType, Text: "poweroff\n", Line: 21},
	}, steps)
	pats, err := OutputPatterns(steps[2].Text)
	require.NoError(t, err)
	require.Len(t, pats, 1)
	assert.True(t, pats[0].MatchString("ok  \ta\t0.01s"))
	assert.True(t, pats[0].MatchString("ok a (cached)"))
	assert.False(t, pats[0].MatchString("ok b 0.01s"))
	assert.False(t, pats[0].MatchString("ok a\n0.01s"), "a placeholder stays on its line")

	for _, bad := range []string{
		"```sh run\nno end\n",
		"```go file=/etc/x\n```\n",
		"```go file=../x\n```\n",
		"```go file=a/../b\n```\n",
		"```sh run start\n```\n",
		"```sh runn\n```\n",
		"```sh file\n```\n",
		"```sh run\n\x80\n```\n",
	} {
		_, err := ParseTutorial(bad)
		assert.Error(t, err, "%q", bad)
	}
	steps, err = ParseTutorial("```go file=..go\n```\n")
	require.NoError(t, err, "a name that begins with two dots is a file in the root, not its parent")
	require.Len(t, steps, 1)
	assert.Equal(t, "..go", steps[0].Path)

	pats, err = OutputPatterns("ok <x>\nok a\nok a\n")
	require.NoError(t, err)
	end, ok := matchAll("ok a\nok b\nok a\n", 0, pats)
	assert.True(t, ok)
	assert.Equal(t, len("ok a\nok b\nok a\n"), end)
	pats, err = OutputPatterns("ok a\nok a\n")
	require.NoError(t, err)
	_, ok = matchAll("ok a\n", 0, pats)
	assert.False(t, ok, "one line of output matches one line of the block")
}

// FuzzParseTutorial: any document parses or fails without panicking;
// steps are in order, with clean paths, and their output patterns compile.
func FuzzParseTutorial(f *testing.F) {
	f.Add("```go file=a.go\npackage a\n```\n```sh run\ngo test\n```\n```text output\nok <x>\n```\n")
	f.Add("````\n```sh start\n````\n```text type\nx\n```")
	f.Fuzz(func(t *testing.T, md string) {
		steps, err := ParseTutorial(md)
		if err != nil {
			return
		}
		last := 0
		for _, s := range steps {
			require.Greater(t, s.Line, last)
			last = s.Line
			require.Contains(t, []string{StepFile, StepRun, StepStart, StepType, StepOutput}, s.Kind)
			require.Equal(t, s.Kind == StepFile, s.Path != "")
			if s.Kind == StepFile {
				require.False(t, filepath.IsAbs(s.Path) || s.Path == ".." || strings.HasPrefix(s.Path, "../") || filepath.Clean(s.Path) != filepath.FromSlash(s.Path), s.Path)
			}
			if s.Kind == StepOutput {
				_, err := OutputPatterns(s.Text)
				require.NoError(t, err, "ParseTutorial checks output blocks")
			}
		}
	})
}
