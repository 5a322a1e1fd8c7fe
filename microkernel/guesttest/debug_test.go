package guesttest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGDBSession replays the debugging session of docs/debugging.md
// (testdata/gdb-session.gdb): QEMU halted with its gdbstub, gdb-multiarch
// loads the kernel's symbols and a program's, breaks in the kernel's
// system-call dispatcher, reads the system-call number from x8, then
// breaks in hello's main (a user process, at its load address) and lists
// its source, and quits. gdb-multiarch is installed by ./build.sh test.
func TestGDBSession(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("gdb-multiarch")
	require.NoError(t, err, "gdb-multiarch is missing: ./build.sh test installs it (apt-get install gdb-multiarch)")
	k := kernel(t)
	img := testImage(t)
	hello := filepath.Join(filepath.Dir(img), "bin", "hello")
	root, err := ModuleRoot()
	require.NoError(t, err)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m := Machine{Image: img, Append: "-- hello", Extra: []string{"-S", "-gdb", "tcp:127.0.0.1:" + strconv.Itoa(port)}}
	qemu := exec.CommandContext(ctx, "qemu-system-aarch64", m.Args(k)...)
	var console strings.Builder
	qemu.Stdout, qemu.Stderr = &console, &console
	require.NoError(t, qemu.Start())
	defer func() { _ = qemu.Process.Kill(); _ = qemu.Wait() }()

	script, err := os.ReadFile(filepath.Join("testdata", "gdb-session.gdb"))
	require.NoError(t, err)
	s := strings.NewReplacer("ROOT", root, "KERNEL", k, "HELLO", hello, "PORT", strconv.Itoa(port)).Replace(string(script))
	scriptFile := filepath.Join(t.TempDir(), "session.gdb")
	require.NoError(t, os.WriteFile(scriptFile, []byte(s), 0o644))

	var out []byte
	for try := 0; try < 50; try++ { // the stub listens a moment after QEMU starts
		out, err = exec.CommandContext(ctx, "gdb-multiarch", "-q", "-batch", "-x", scriptFile).CombinedOutput()
		if !strings.Contains(string(out), "Connection refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := string(out)
	require.NoError(t, err, got)
	require.Regexp(t, `Breakpoint 1, armos/microkernel/internal/rt\.syscall \(tf=0x8000`, got, "the kernel's dispatcher was hit")
	mx := regexp.MustCompile(`(?m)^x8\s+0x[0-9a-f]+\s+(\d+)`).FindStringSubmatch(got)
	require.NotNil(t, mx, got)
	nr, _ := strconv.Atoi(mx[1])
	require.Less(t, nr, 512, "x8 holds a system-call number")
	require.Regexp(t, `main\.main \(\) at armos/apps/hello/main\.go:12`, got, "a user process's breakpoint, with its symbols")
	require.Contains(t, got, `os.Stdout.WriteString("hello from EL0\n")`, "its source listed through substitute-path")
}
