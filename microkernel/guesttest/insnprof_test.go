package guesttest_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/microkernel/guesttest"
	"armos/microkernel/guesttest/insnprof"
	"armos/microkernel/guesttest/linuxref"
	"armos/servers/netd/link/peertest"
)

// TestInsnProfile runs a program under the insnprof QEMU plugin to the
// guest's power-off and checks the profile a user of
// BenchmarkTCPGuestInsnProfile relies on: the instructions are counted
// (as many as -icount's clock says ran, within what the boot before the
// program adds), they fall in the functions of the kernel and of the
// program (linked apart: hardly any address is unknown), and a function's
// entries are counted (the program's system calls pass the kernel's
// syscall entry at least as often as it writes its lines).
func TestInsnProfile(t *testing.T) {
	t.Parallel()
	root, err := guesttest.ModuleRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	plugin, err := insnprof.BuildPlugin(root, dir)
	require.NoError(t, err)
	kernel := guesttest.KernelForTest(t)
	img, err := guesttest.BuildImageApart(filepath.Join(dir, "img"), []string{"microkernel/guesttest/progs/pingpong"}, nil)
	require.NoError(t, err)
	var syms insnprof.Symbols
	require.NoError(t, syms.AddELF("kernel", kernel))
	require.NoError(t, syms.AddELF("pingpong", filepath.Join(dir, "img", "bin", "pingpong")))

	s := insnprof.NewSession(dir)
	m := guesttest.Machine{MemoryMiB: 256, Image: img, Append: "-- pingpong -n 200",
		Extra: append(append([]string{}, guesttest.IcountArgs...), s.QEMUArgs(plugin)...)}
	res, err := guesttest.Run(kernel, m, guesttest.DefaultTimeout)
	require.NoError(t, err)
	require.False(t, res.TimedOut, res.Output)
	require.Contains(t, res.Output, "pingpong: ", res.Output)
	require.NotContains(t, res.Output, guesttest.FailMarker, res.Output)
	c, err := s.Final()
	require.NoError(t, err, "the plugin writes its counts as QEMU exits")

	funcs, progs := syms.Attribute(c)
	total := c.Total()
	require.Greater(t, total, uint64(10_000_000), "a boot and 200 round trips run tens of millions of instructions")
	share := map[string]uint64{}
	for _, p := range progs {
		share[p.Prog] = p.Insns
	}
	require.Greater(t, share["kernel"], total/10, "the kernel's part: %v", progs)
	require.Greater(t, share["pingpong"], total/100, "the program's part: %v", progs)
	require.Less(t, share["?"], total/20, "addresses of no known function (the vDSO): %v", progs)
	calls := map[string]uint64{}
	for _, f := range funcs {
		calls[f.Prog+" "+f.Func] += f.Calls
	}
	require.Greater(t, calls["kernel armos/microkernel/internal/rt.syscall"], uint64(400), "system calls counted by their entries")
	require.Greater(t, calls["pingpong main.main"], uint64(0), "the program's main was entered")
	report := syms.Report("pingpong -n 200", c, 1, 10)
	require.Contains(t, report, "kernel")
	t.Log("\n" + report)
}

// BenchmarkTCPGuestInsnProfile boots armos as BenchmarkTCPGuest does
// (virtionetd, netd, tcpd and httpd on the same TAP, from the same
// namespace), under -icount shift=0 with the insnprof QEMU plugin counting
// the guest instructions of every translated block, then the Linux
// reference guest running the same httpd the same way. For each it
// measures the guest instructions per KiB of a 16 MiB download from httpd
// and per GET /health on one keep-alive connection, all processes and
// the kernel together ("armos-insns/KiB", "linux-insns/KiB",
// "armos-insns/req", "linux-insns/req": medians over b.N boots of each),
// and armos's by process ("armos-insns/KiB-tcpd"...). Instruction counts
// are not time: host load does not move them, and another boot gives the
// same within a few percent. The last boots' profiles, by process and by
// function, go to out/netbench/tcp-insnprof.txt (every function, with its
// entries, in tcp-insnprof-full.txt). Linux's kernel is one entry:
// Debian's has no symbols. It needs root (the namespace), the Linux
// reference guest and a C compiler for the plugin.
func BenchmarkTCPGuestInsnProfile(b *testing.B) {
	peertest.Require(b)
	root, err := guesttest.ModuleRoot()
	require.NoError(b, err)
	dir := b.TempDir()
	plugin, err := insnprof.BuildPlugin(root, dir)
	require.NoError(b, err)
	kernel := guesttest.KernelForTest(b)
	pkgs := []string{"servers/init", "servers/netd", "servers/virtionetd", "servers/tcpd", "apps/httpd"}
	img, err := guesttest.BuildImageApart(filepath.Join(dir, "img"), pkgs, nil)
	require.NoError(b, err)
	var syms insnprof.Symbols
	require.NoError(b, syms.AddELF("kernel", kernel))
	for _, p := range pkgs {
		require.NoError(b, syms.AddELF(filepath.Base(p), filepath.Join(dir, "img", "bin", filepath.Base(p))))
	}
	httpd := filepath.Join(dir, "httpd-linux")
	require.NoError(b, buildArm64At(httpd, "./apps/httpd", guesttest.ProgramText(len(pkgs))))
	lg := linuxGuestWith(b, filepath.Join(dir, "linux"), linuxref.GuestFile{Path: "/bin/httpd", Host: httpd})
	var lsyms insnprof.Symbols
	require.NoError(b, lsyms.AddELF("httpd", httpd))
	lsyms.AddRegion("linux", "(the kernel)", 0xffff_0000_0000_0000, 1<<64-1)

	metrics := map[string][]float64{}
	var report, full strings.Builder
	for i := 0; i < b.N; i++ {
		report.Reset()
		full.Reset()
		for _, guest := range []string{"armos", "linux"} {
			sy := &syms
			if guest == "linux" {
				sy = &lsyms
			}
			dl, req := tcpInsnProfile(b, guest, kernel, img, lg, plugin)
			kib, reqs := float64(tcpBenchBytes>>10), float64(tcpProfileRequests)
			metrics[guest+"-insns/KiB"] = append(metrics[guest+"-insns/KiB"], float64(dl.Total())/kib)
			metrics[guest+"-insns/req"] = append(metrics[guest+"-insns/req"], float64(req.Total())/reqs)
			if guest == "armos" {
				_, byProg := sy.Attribute(dl)
				for _, p := range byProg {
					metrics["armos-insns/KiB-"+progMetric(p.Prog)] = append(metrics["armos-insns/KiB-"+progMetric(p.Prog)], float64(p.Insns)/kib)
				}
				_, byProg = sy.Attribute(req)
				for _, p := range byProg {
					metrics["armos-insns/req-"+progMetric(p.Prog)] = append(metrics["armos-insns/req-"+progMetric(p.Prog)], float64(p.Insns)/reqs)
				}
			}
			progs := []string{"kernel", "virtionetd", "netd", "tcpd", "httpd", "?"}
			if guest == "linux" {
				progs = []string{"linux", "httpd", "?"}
			}
			dlTitle := fmt.Sprintf("download %d MiB from httpd, per KiB", tcpBenchBytes>>20)
			reqTitle := fmt.Sprintf("GET /health (%d on one connection), per request", tcpProfileRequests)
			fmt.Fprintf(&report, "== %s ==\n%s\n%s\n%s\n%s\n", guest,
				sy.CategoryReport(dlTitle, dl, kib, progs), sy.CategoryReport(reqTitle, req, reqs, progs),
				sy.Report(dlTitle, dl, kib, 60), sy.Report(reqTitle, req, reqs, 60))
			fmt.Fprintf(&full, "== %s: download, per KiB ==\n%s\n== %s: GET /health, per request ==\n%s\n", guest,
				sy.Full(dl, kib), guest, sy.Full(req, reqs))
		}
	}
	for name, vs := range metrics {
		b.ReportMetric(medianOf(vs), name)
	}
	// Each boot's totals, for the spread the medians hide (a download
	// that loses a frame retransmits, and costs more per KiB).
	for _, guest := range []string{"armos", "linux"} {
		b.Logf("%s, each boot: instructions per KiB %.0f, per request %.0f", guest, metrics[guest+"-insns/KiB"], metrics[guest+"-insns/req"])
	}
	outDir := filepath.Join(root, "out", "netbench")
	require.NoError(b, os.MkdirAll(outDir, 0o755))
	require.NoError(b, os.WriteFile(filepath.Join(outDir, "tcp-insnprof.txt"), []byte(report.String()), 0o644))
	require.NoError(b, os.WriteFile(filepath.Join(outDir, "tcp-insnprof-full.txt"), []byte(full.String()), 0o644))
	// Not printed: output during a benchmark would split its result line.
}

const tcpProfileRequests = 200

// tcpInsnProfile boots guest with httpd on a fresh tap under icount and
// the plugin, warms it up, and returns what ran during a 16 MiB download
// and during tcpProfileRequests requests on one connection.
func tcpInsnProfile(b *testing.B, guest, kernel, img string, lg linuxref.Guest, plugin string) (download, requests insnprof.Counts) {
	s := insnprof.NewSession(b.TempDir())
	l, _, dial := startHTTPGuest(b, guest, kernel, img, lg, true, s.QEMUArgs(plugin))
	defer l.Kill()
	c := dial()
	defer c.c.Close()
	get := func(path string) int64 {
		n, err := c.get(path, io.Discard)
		require.NoError(b, err, "%s:\n%s", guest, l.Output())
		return n
	}
	for range 20 { // warm up: ARP, the programs' first-use paths
		get("/health")
	}
	get("/bytes?n=1000000")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s0, err := s.Snapshot(ctx)
	require.NoError(b, err)
	require.Equal(b, int64(tcpBenchBytes), get(fmt.Sprintf("/bytes?n=%d", tcpBenchBytes)))
	s1, err := s.Snapshot(ctx)
	require.NoError(b, err)
	for range tcpProfileRequests {
		get("/health")
	}
	s2, err := s.Snapshot(ctx)
	require.NoError(b, err)
	return s1.Sub(s0), s2.Sub(s1)
}

// buildArm64At builds pkg for linux/arm64 with its text at text.
func buildArm64At(out, pkg string, text uint64) error {
	root, err := guesttest.ModuleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", fmt.Sprintf("-ldflags=-T %#x", text), "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// progMetric names a program in a metric: "unknown" for addresses of no
// known function (the vDSO).
func progMetric(prog string) string {
	if prog == "?" {
		return "unknown"
	}
	return prog
}
