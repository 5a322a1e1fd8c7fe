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

// TestCategorize sorts functions by name into the report's categories,
// the first rule that matches deciding, and sums them per program.
func TestCategorize(t *testing.T) {
	var syms Symbols
	for i, name := range []string{"runtime.memmove", "runtime.selectgo", "runtime.mallocgc", "runtime.findRunnable",
		"github.com/vmihailenco/msgpack/v5.(*Decoder).readCode", "armos/servers/netd/stack.(*Stack).Input",
		"armos/microkernel/internal/rt.trapCommon.abi0", "armos/microkernel/internal/rt.sysChanRecvFn",
		"armos/microkernel/internal/rt.schedule", "runtime.unlock2"} {
		syms.AddRegion("p", name, uint64(i+1)<<12, uint64(i+2)<<12)
	}
	c := Counts{}
	for i := range 10 {
		c[uint64(i+1)<<12] = Count{Insns: uint64(i + 1), Runs: 1}
	}
	got := syms.Categorize(c)["p"]
	require.Equal(t, map[string]uint64{
		"copying": 1, "channels and select": 2, "allocation and GC": 3, "Go scheduler, poller, timers": 4,
		"msgpack encoding": 5, "other": 6, "kernel: trap entry and exit": 7, "kernel: IPC": 8,
		"kernel: scheduling, epoll, futex, time": 9, "locks and atomics": 10,
	}, got)
	report := syms.CategoryReport("test", c, 1, []string{"p"})
	require.Contains(t, report, "copying")
	require.Regexp(t, `other +6 +6\n`, report)
}
