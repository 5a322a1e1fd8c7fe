package gostd

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// required are the packages that the acceptance criterion names: they must
// be in the CI subset.
var required = []string{"runtime", "time", "sync", "sync/atomic", "context", "reflect", "math", "strconv"}

var testName = regexp.MustCompile(`^(Test|Example|Benchmark|Fuzz)[\p{L}\p{N}_]*$`)

func TestTableWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Packages {
		require.NotEmpty(t, p.Path)
		require.False(t, seen[p.Path], "%s listed twice", p.Path)
		seen[p.Path] = true
		require.Positive(t, p.Timeout, "%s: no timeout", p.Path)
		require.NotContains(t, p.Note, "\n", "%s: note must be one line", p.Path)

		names := map[string]bool{}
		for _, sk := range p.Skips {
			where := p.Path + " " + sk.Test
			require.Regexp(t, testName, sk.Test, "%s: not a top-level test name", where)
			require.False(t, names[sk.Test], "%s skipped twice", where)
			names[sk.Test] = true
			require.Contains(t, Reasons, sk.Reason, "%s: unknown reason", where)
			require.NotEmpty(t, sk.Detail, "%s: no detail", where)
			require.NotContains(t, sk.Detail, "\n", "%s: detail must be one line", where)
			// Slow tests are skipped in CI only; everything else everywhere.
			require.Equal(t, sk.Reason == TooSlow, sk.CIOnly, "%s: CIOnly is for %q", where, TooSlow)
			if sk.CIOnly {
				require.True(t, p.CI, "%s: CIOnly skip in a package outside CI", where)
			}
		}
	}
	for _, path := range required {
		p, ok := Lookup(path)
		require.True(t, ok, "%s missing", path)
		require.True(t, p.CI, "%s must be in the CI subset", path)
	}
	// The CI subset comes first, so a harness that stops early still covers it.
	firstFull := slices.IndexFunc(Packages, func(p Package) bool { return !p.CI })
	require.False(t, slices.ContainsFunc(Packages[firstFull:], func(p Package) bool { return p.CI }))
}

// Every skip pattern compiles and matches exactly its names: not a prefix,
// an extension, or a subtest-only name.
func TestSkipPatterns(t *testing.T) {
	for _, p := range Packages {
		for _, ci := range []bool{false, true} {
			pat := p.SkipPattern(ci)
			skipped := p.Skipped(ci)
			if len(skipped) == 0 {
				require.Empty(t, pat)
				continue
			}
			re, err := regexp.Compile(pat)
			require.NoError(t, err, "%s: %s", p.Path, pat)
			for _, sk := range skipped {
				require.True(t, re.MatchString(sk.Test), "%s: %s does not match %s", p.Path, pat, sk.Test)
				require.False(t, re.MatchString(sk.Test+"X"), "%s: %s matches %sX", p.Path, pat, sk.Test)
				require.False(t, re.MatchString(sk.Test[:len(sk.Test)-1]), "%s: %s matches a prefix of %s", p.Path, pat, sk.Test)
			}
			// -test.skip splits its pattern at slashes into levels.
			require.NotContains(t, pat, "/")
		}
		// The full run skips no slow test; CI skips a superset.
		for _, sk := range p.Skipped(false) {
			require.False(t, sk.CIOnly)
		}
		require.GreaterOrEqual(t, len(p.Skipped(true)), len(p.Skipped(false)))
	}
}

func TestArgs(t *testing.T) {
	p, ok := Lookup("sync")
	require.True(t, ok)
	require.Equal(t, []string{
		"-test.v", "-test.short", "-test.count=1", "-test.paniconexit0", "-test.timeout=5m0s",
		"-test.skip=^(TestMutexMisuse|TestIssue76126|ExampleOnceValues)$",
	}, p.Args(true))

	p, ok = Lookup("math")
	require.True(t, ok)
	require.Equal(t, []string{"-test.v", "-test.short", "-test.count=1", "-test.paniconexit0", "-test.timeout=5m0s"}, p.Args(true))

	// time skips its slow tests in CI only.
	p, ok = Lookup("time")
	require.True(t, ok)
	require.Contains(t, p.SkipPattern(true), "TestResetResult")
	require.NotContains(t, p.SkipPattern(false), "TestResetResult")
	require.Contains(t, p.SkipPattern(false), "TestLoadLocationFromTZData")
}

func TestBinaryName(t *testing.T) {
	require.Equal(t, "runtime.test", BinaryName("runtime"))
	require.Equal(t, "sync_atomic.test", BinaryName("sync/atomic"))
	require.Equal(t, "math_rand_v2.test", BinaryName("math/rand/v2"))
	names := map[string]string{}
	for _, p := range Packages {
		n := BinaryName(p.Path)
		require.NotContains(t, names, n, "%s and %s share a binary name", p.Path, names[n])
		names[n] = p.Path
	}
}

func TestCI(t *testing.T) {
	ci := CI()
	require.NotEmpty(t, ci)
	for _, p := range ci {
		require.True(t, p.CI)
	}
	require.Subset(t, Paths(ci), required)
}

// Build really builds: a small package and a tagged one (time, whose init
// needs the embedded tzdata), both as static linux/arm64 executables with
// the table's build settings.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds test binaries with the go command")
	}
	dir := filepath.Join(t.TempDir(), "bin")
	bins, err := Build(dir, "errors", "time")
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"errors": filepath.Join(dir, "errors.test"),
		"time":   filepath.Join(dir, "time.test"),
	}, bins)
	for _, bin := range bins {
		f, err := elf.Open(bin)
		require.NoError(t, err)
		require.Equal(t, elf.EM_AARCH64, f.Machine)
		require.Equal(t, elf.ET_EXEC, f.Type, "%s: not a static executable", bin)
		require.Nil(t, f.Section(".interp"), "%s: dynamically linked", bin)
		require.NoError(t, f.Close())

		// The build settings recorded in the binary: the table's tags,
		// linux/arm64 without cgo.
		info, err := buildinfo.ReadFile(bin)
		require.NoError(t, err)
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		require.Equal(t, "linux", settings["GOOS"])
		require.Equal(t, "arm64", settings["GOARCH"])
		require.Equal(t, "0", settings["CGO_ENABLED"])
		if strings.HasSuffix(bin, "time.test") {
			require.Equal(t, "timetzdata", settings["-tags"], "time.test built without -tags=timetzdata")
		} else {
			require.NotContains(t, settings, "-tags")
		}
	}

	_, err = Build(dir, "no/such/package")
	require.ErrorContains(t, err, "no/such/package")
}

// SKIPS.md lists exactly the table's skips, with the same reasons, details
// and scope: its rows are "| package | test | reason | detail | scope |".
func TestSkipsDocumented(t *testing.T) {
	md, err := os.ReadFile("SKIPS.md")
	require.NoError(t, err)
	want := map[string]string{}
	for _, p := range Packages {
		for _, sk := range p.Skips {
			scope := "all runs"
			if sk.CIOnly {
				scope = "CI only"
			}
			want[p.Path+" "+sk.Test] = strings.Join([]string{sk.Reason, sk.Detail, scope}, " | ")
		}
	}
	got := map[string]string{}
	for line := range strings.Lines(string(md)) {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), " | ")
		if len(cells) != 5 || strings.TrimSpace(cells[0]) == "Package" || !testName.MatchString(strings.TrimSpace(cells[1])) {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		key := cells[0] + " " + cells[1]
		require.NotContains(t, got, key, "SKIPS.md lists %s twice", key)
		got[key] = strings.Join(cells[2:], " | ")
	}
	require.Equal(t, want, got, "SKIPS.md is out of date with the table in gostd.go")
}
