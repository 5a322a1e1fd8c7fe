package insnprof

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCountsAttributed reads two snapshots as the plugin writes them,
// subtracts them and attributes the difference: instructions to the
// function holding each block, entries only from a block at a function's
// first address, programs summed, unknown addresses kept as "?".
func TestCountsAttributed(t *testing.T) {
	dir := t.TempDir()
	s := NewSession(dir)
	require.NoError(t, os.WriteFile(s.Out+".0", []byte("1000 4 10\n1010 2 5\n"), 0o644))
	require.NoError(t, os.WriteFile(s.Out+".1", []byte("1000 4 30\n1010 2 5\n2000 3 7\n1000 4 1\n9000 1 1\n"), 0o644))
	c0, err := readCounts(s.Out + ".0")
	require.NoError(t, err)
	c1, err := readCounts(s.Out + ".1")
	require.NoError(t, err)
	// Two records at one address (a block translated again) add up.
	require.Equal(t, Count{Insns: 4*30 + 4*1, Runs: 31}, c1[0x1000])
	d := c1.Sub(c0)
	require.Equal(t, Count{Insns: 4 * 21, Runs: 21}, d[0x1000])
	require.NotContains(t, d, uint64(0x1010), "a block that did not run since the first snapshot")
	require.Equal(t, uint64(84+21+1), d.Total())

	var syms Symbols
	syms.AddRegion("prog", "f", 0x1000, 0x1100)
	syms.AddRegion("prog", "g", 0x1ff0, 0x2100)
	funcs, progs := syms.Attribute(d)
	require.Equal(t, []Row{{Prog: "prog", Func: "f", Insns: 84, Calls: 21}, {Prog: "prog", Func: "g", Insns: 21}, {Prog: "?", Func: "0x9000", Insns: 1}}, funcs)
	require.Equal(t, []Row{{Prog: "prog", Insns: 105}, {Prog: "?", Insns: 1}}, progs)
	report := syms.Report("test", d, 1, 10)
	require.Contains(t, report, "test: 106 guest instructions per unit")
	require.Contains(t, syms.Full(d, 1), "prog       f\n")
}

// TestCountsRefuseBadLines: a line that is not three numbers is an error
// naming the file, not a silent zero.
func TestCountsRefuseBadLines(t *testing.T) {
	for _, bad := range []string{"1000 4\n", "zz 1 1\n", "1000 x 1\n", "1000 1 -1\n"} {
		p := filepath.Join(t.TempDir(), "prof.0")
		require.NoError(t, os.WriteFile(p, []byte(bad), 0o644))
		_, err := readCounts(p)
		require.ErrorContains(t, err, p, "%q", bad)
	}
}

// TestSymbolsFromELF finds a program's own functions by address: a Go
// program built for linux/arm64 as the guest's are (not stripped: the
// test binary itself is built without symbols).
func TestSymbolsFromELF(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "exitcode")
	cmd := exec.Command("go", "build", "-trimpath", "-o", prog, "armos/microkernel/guesttest/progs/exitcode")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var syms Symbols
	require.NoError(t, syms.AddELF("exitcode", prog))
	var found bool
	for _, f := range syms.funcs {
		if f.name == "main.main" {
			p, name, entry := syms.lookup(f.start)
			require.Equal(t, "exitcode", p)
			require.Equal(t, "main.main", name)
			require.True(t, entry)
			_, name, entry = syms.lookup(f.start + 4)
			require.Equal(t, "main.main", name)
			require.False(t, entry)
			found = true
		}
	}
	require.True(t, found, "main.main among the symbols")
}
