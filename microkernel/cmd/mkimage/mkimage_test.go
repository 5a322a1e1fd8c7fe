package main

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"armos/microkernel/internal/bootimg"
	"armos/microkernel/internal/cpio"
	"github.com/stretchr/testify/require"
)

// hostTree writes host files for the tests and returns their directory.
func hostTree(t *testing.T, hello []byte) string {
	dir := t.TempDir()
	write := func(name string, data []byte, perm os.FileMode) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, perm))
		require.NoError(t, os.Chmod(p, perm))
	}
	write("apps/hello.elf", hello, 0o644) // not executable on the host: /bin makes it 0755
	write("motd", []byte("welcome to armos\n"), 0o600)
	write("tool.sh", []byte("#!/bin/sh\n"), 0o700)
	write("empty", nil, 0o644)
	return dir
}

var testArgs = []string{"bin/hello=apps/hello.elf", "/etc/motd=motd", "usr/share/tool=tool.sh", "var/log/", "etc/empty=empty"}

func TestParseArgs(t *testing.T) {
	items, err := ParseArgs([]string{"bin/hello=h", "/etc/x=a=b", "var/", "/tmp//", "/"})
	require.NoError(t, err)
	require.Equal(t, []Item{
		{Path: "/bin/hello", Host: "h", Arg: "bin/hello=h"},
		{Path: "/etc/x", Host: "a=b", Arg: "/etc/x=a=b"},
		{Path: "/var", Arg: "var/"},
		{Path: "/tmp", Arg: "/tmp//"},
		{Path: "/", Arg: "/"},
	}, items)
	for _, bad := range []string{"bin/hello", "bin/hello=", "=x", "/=x", "../x=y", "a/../b=y", "a//b=y", "./a=y",
		"a/=y", "TRAILER!!!=x", "/TRAILER!!!/", "..//", strings.Repeat("x", cpio.MaxNameSize) + "=y"} {
		_, err := ParseArgs([]string{bad})
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "argument", bad)
	}
	_, err = ParseArgs([]string{"a/TRAILER!!!=x"})
	require.NoError(t, err, "only a top-level name would clash with the trailer")
}

// TestBuildRoundTrip: mkimage's output parses with bootimg to exactly the
// files given, with the documented attributes, and GNU cpio reads it too.
func TestBuildRoundTrip(t *testing.T) {
	hello := goBinary(t)
	dir := hostTree(t, hello)
	items, err := ParseArgs(testArgs)
	require.NoError(t, err)
	img, err := Build(items, Options{Dir: dir})
	require.NoError(t, err)

	ix, err := bootimg.Parse(uint64(len(img)), bootimg.SliceReader(img))
	require.NoError(t, err)
	type file struct {
		mode uint32
		data string
	}
	got := map[string]file{}
	for _, e := range ix.Entries() {
		require.Zero(t, e.MTime, e.Path)
		require.Zero(t, e.UID, e.Path)
		require.Zero(t, e.GID, e.Path)
		require.Equal(t, e.Path == "/", e.Implied, "every directory but the root has its own entry: %s", e.Path)
		got[e.Path] = file{e.Mode, string(img[e.DataOff : e.DataOff+e.Size])}
	}
	dirMode := uint32(cpio.ModeDir | 0o755)
	require.Equal(t, map[string]file{
		"/":               {dirMode, ""},
		"/bin":            {dirMode, ""},
		"/bin/hello":      {cpio.ModeRegular | 0o755, string(hello)},
		"/etc":            {dirMode, ""},
		"/etc/empty":      {cpio.ModeRegular | 0o644, ""},
		"/etc/motd":       {cpio.ModeRegular | 0o644, "welcome to armos\n"},
		"/usr":            {dirMode, ""},
		"/usr/share":      {dirMode, ""},
		"/usr/share/tool": {cpio.ModeRegular | 0o755, "#!/bin/sh\n"},
		"/var":            {dirMode, ""},
		"/var/log":        {dirMode, ""},
	}, got)

	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("GNU cpio not installed (apt-get install cpio)")
	}
	out := filepath.Join(t.TempDir(), "armos.img")
	require.NoError(t, os.WriteFile(out, img, 0o644))
	list, err := exec.Command("cpio", "-t", "--quiet", "-F", out).CombinedOutput()
	require.NoError(t, err, "%s", list)
	require.Equal(t, "bin\nbin/hello\netc\netc/empty\netc/motd\nusr\nusr/share\nusr/share/tool\nvar\nvar/log\n", string(list))

	x := t.TempDir()
	cmd := exec.Command("cpio", "-i", "-d", "--quiet", "-F", out)
	cmd.Dir = x
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", msg)
	b, err := os.ReadFile(filepath.Join(x, "bin", "hello"))
	require.NoError(t, err)
	require.Equal(t, hello, b)
	_, err = elf.NewFile(bytes.NewReader(b))
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(x, "usr", "share", "tool"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), st.Mode().Perm())
}

// TestBuildDeterministic: argument order and host timestamps do not
// change a byte.
func TestBuildDeterministic(t *testing.T) {
	dir := hostTree(t, staticARM64().build())
	build := func(args []string) []byte {
		items, err := ParseArgs(args)
		require.NoError(t, err)
		img, err := Build(items, Options{Dir: dir})
		require.NoError(t, err)
		return img
	}
	first := build(testArgs)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "motd"), time.Now(), time.Unix(12345, 0)))
	reversed := append([]string{}, testArgs...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	require.Equal(t, first, build(reversed))
	require.Equal(t, first, build(append(append([]string{}, testArgs...), "bin/", "usr/share/", "/")), "directories named again change nothing")
}

func TestBuildRefuses(t *testing.T) {
	dir := hostTree(t, staticARM64().build())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "script"), []byte("#!/bin/sh\n"), 0o755))
	dyn := staticARM64()
	dyn.progs = append(dyn.progs, elf.PT_INTERP)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dynamic.elf"), dyn.build(), 0o755))
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"script in /bin":    {[]string{"bin/sh=script"}, "/bin/sh (from " + filepath.Join(dir, "script") + ") is not a static linux/arm64 executable: not an ELF file (use -allow-any"},
		"dynamic in /bin":   {[]string{"bin/x/y=dynamic.elf"}, "/bin/x/y (from " + filepath.Join(dir, "dynamic.elf") + ") is not a static linux/arm64 executable: dynamically linked"},
		"missing file":      {[]string{"etc/x=nope"}, `argument "etc/x=nope": stat ` + filepath.Join(dir, "nope") + ": no such file or directory"},
		"directory as file": {[]string{"etc/x=apps"}, "is not a regular file"},
		"same file twice":   {[]string{"etc/motd=motd", "/etc/motd=empty"}, `argument "/etc/motd=empty": /etc/motd is already given by "etc/motd=motd"`},
		"file and dir":      {[]string{"etc/motd=motd", "etc/motd/"}, `/etc/motd is already given by "etc/motd=motd"`},
		"dir and file":      {[]string{"etc/", "etc=motd"}, `/etc is already given by "etc/"`},
		"file as parent":    {[]string{"etc=motd", "etc/motd=motd"}, `argument "etc/motd=motd": /etc/motd is inside /etc, which is a file (from "etc=motd")`},
		"parent as file":    {[]string{"etc/motd=motd", "etc=motd"}, `argument "etc=motd": /etc must be a directory`},
	} {
		items, err := ParseArgs(c.args)
		require.NoError(t, err, name)
		_, err = Build(items, Options{Dir: dir})
		require.Error(t, err, name)
		require.Contains(t, err.Error(), c.want, name)
	}
	// -allow-any lets anything into /bin.
	items, _ := ParseArgs([]string{"bin/sh=script", "bin/dyn=dynamic.elf"})
	_, err := Build(items, Options{Dir: dir, AllowAny: true})
	require.NoError(t, err)
}

func TestBuildLimits(t *testing.T) {
	dir := hostTree(t, nil)
	var args []string
	for i := 0; i < bootimg.MaxEntries; i++ { // with the root and /d: too many
		args = append(args, fmt.Sprintf("d/f%04d=empty", i))
	}
	items, err := ParseArgs(args)
	require.NoError(t, err)
	_, err = Build(items, Options{Dir: dir})
	require.ErrorContains(t, err, "the kernel accepts 4096")
	_, err = Build(items[:bootimg.MaxEntries-2], Options{Dir: dir})
	require.NoError(t, err, "root + /d + 4094 files")
}

func TestRun(t *testing.T) {
	dir := hostTree(t, staticARM64().build())
	out := filepath.Join(t.TempDir(), "sub", "armos.img")
	var stderr bytes.Buffer
	require.NoError(t, run(append([]string{"-o", out, "-C", dir}, testArgs...), &stderr))
	img, err := os.ReadFile(out)
	require.NoError(t, err)
	ix, err := bootimg.Parse(uint64(len(img)), bootimg.SliceReader(img))
	require.NoError(t, err)
	_, ok := ix.Lookup("/bin/hello")
	require.True(t, ok)
	st, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	// Host paths relative to the current directory without -C.
	t.Chdir(dir)
	require.NoError(t, run([]string{"-o", out, "etc/motd=motd"}, &stderr))

	// Failures leave the old image in place and no temporary files.
	before, _ := os.ReadFile(out)
	require.ErrorContains(t, run([]string{"-o", out, "bin/x=motd"}, &stderr), "not a static linux/arm64 executable")
	after, _ := os.ReadFile(out)
	require.Equal(t, before, after)
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*.tmp*"))
	require.Empty(t, leftovers)
	require.NoError(t, run([]string{"-o", out, "-allow-any", "bin/x=motd"}, &stderr))

	require.ErrorContains(t, run([]string{"etc/motd=motd"}, &stderr), "-o is required")
	require.ErrorContains(t, run([]string{"-o", out, "bogus"}, &stderr), `argument "bogus"`)
	require.Error(t, run([]string{"-nope"}, &stderr))
	require.Contains(t, stderr.String(), "usage: mkimage")
}

// TestCommandLine runs the tool as build.sh will: go run.
func TestCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("go run")
	}
	dir := hostTree(t, staticARM64().build())
	out := filepath.Join(t.TempDir(), "armos.img")
	cmd := exec.Command("go", append([]string{"run", ".", "-o", out, "-C", dir}, testArgs...)...)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", msg)
	img, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, cpio.Magic, string(img[:6]))

	cmd = exec.Command("go", "run", ".", "-o", out, "-C", dir, "bin/sh=motd")
	msg, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(msg), "mkimage: /bin/sh (from "+filepath.Join(dir, "motd")+") is not a static linux/arm64 executable: not an ELF file")
}
