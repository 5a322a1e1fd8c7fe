package guesttest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBuildShRunAdd runs the README's command for a user's own program:
// `./build.sh run --add path/to/prog -- prog args` puts any static
// linux/arm64 binary into the boot image (no kernel rebuild needed for
// that) and runs it with that argv. Here the program is a copy of
// exitcode under another name.
func TestBuildShRunAdd(t *testing.T) {
	t.Parallel()
	kernel(t)
	root, err := ModuleRoot()
	require.NoError(t, err)
	prog := filepath.Join(t.TempDir(), "myprog")
	cmd := exec.Command("go", "build", "-o", prog, "./microkernel/guesttest/progs/exitcode")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))

	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	run := exec.CommandContext(ctx, "./build.sh", "run", "--add", prog, "--", "myprog", "7")
	run.Dir = root
	run.Env = append(os.Environ(), "ARMOS_ECHO_PORT=0", "ARMOS_OUT="+filepath.Join(t.TempDir(), "out"))
	out, err := run.CombinedOutput()
	require.NoError(t, ctx.Err(), "build.sh run did not finish:\n%s", out)
	require.NoError(t, err, string(out))
	s := string(out)
	require.Contains(t, s, "armos: started /bin/myprog as pid")
	require.Contains(t, s, "\nmyprog: exitcode: exiting with status 7\n")
	require.Contains(t, s, "armos: process myprog (pid ")
	require.True(t, strings.Contains(s, ") exited with status 7\n"), s)
	require.Contains(t, s, PowerOffLine)
	require.NotContains(t, s, FailMarker)
}
