package guesttest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/microkernel/guesttest"
	"armos/microkernel/guesttest/insnprof"
	"armos/microkernel/guesttest/linuxref"
	"armos/servers/netd/link/peertest"
)

// BenchmarkTCPGuestInsnProfile boots armos as BenchmarkTCPGuestProfile
// does, under -icount shift=0, with the insnprof QEMU plugin counting the
// guest instructions of every translated block, and writes where the
// instructions go, by process and by function, per KiB of a 16 MiB
// download from httpd and per GET /health, to
// out/netbench/tcp-insnprof.txt (every function, with its entries, in
// tcp-insnprof-full.txt); then the same for the Linux reference
// guest running the same httpd (its kernel one entry: Debian's has no
// symbols). One boot each per iteration (the counts are
// instructions, not time: another boot gives the same figures within a
// few percent).
// It needs root (the namespace) and a C compiler for the plugin.
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
	// Debian ships its kernel's symbols only in a -dbg package: the
	// kernel is one entry.
	lsyms.AddRegion("linux", "(the kernel)", 0xffff_0000_0000_0000, 1<<64-1)

	var report, full strings.Builder
	for i := 0; i < b.N; i++ {
		for _, guest := range []string{"armos", "linux"} {
			s := insnprof.NewSession(b.TempDir())
			ns := peertest.NewNS(b)
			ns.AddTap(b, "tap0", "10.99.0.1/24")
			tap := []string{"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "virtio-net-device,netdev=n0"}
			var args []string
			sy := &syms
			if guest == "armos" {
				m := guesttest.Machine{MemoryMiB: 512, Image: img,
					Extra: append(append(tap, guesttest.IcountArgs...), s.QEMUArgs(plugin)...),
					Append: "-- init -conf /etc/none service,virtionetd,device=net,/bin/virtionetd " +
						"service,netd,/bin/netd,-link,nic:net0,-ip," + netbenchGuest + "/24,-noprobe service,tcpd,/bin/tcpd service,httpd,/bin/httpd"}
				args = m.Args(kernel)
			} else {
				m := linuxref.Machine{MemoryMiB: 512, Icount: true, Extra: append(tap, s.QEMUArgs(plugin)...),
					Options: linuxref.Options{Net: netip.MustParsePrefix(netbenchGuest + "/24"), Run: [][]string{{"/bin/httpd", "-addr", ":80"}}}}
				args = m.Args(lg)
				sy = &lsyms
			}
			l, err := guesttest.StartLive(ns.Command(context.Background(), "qemu-system-aarch64", args...))
			require.NoError(b, err)
			_, _, err = l.WaitFor(regexp.MustCompile(`httpd: listening on`), 0, 3*time.Minute)
			require.NoError(b, err, l.Output())
			var c *httpConn
			require.NoError(b, ns.Do(func() error {
				nc, err := net.DialTimeout("tcp", netbenchGuest+":80", 30*time.Second)
				c = &httpConn{c: nc, r: bufio.NewReaderSize(nc, 64<<10)}
				return err
			}))
			get := func(path string) int64 {
				n, err := c.get(path, io.Discard)
				require.NoError(b, err, l.Output())
				return n
			}
			for range 20 { // warm up
				get("/health")
			}
			get("/bytes?n=1000000")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
			cancel()
			c.c.Close()
			l.Kill()
			fmt.Fprintf(&full, "== %s: download, per KiB ==\n%s\n== %s: GET /health, per request ==\n%s\n", guest,
				sy.Full(s1.Sub(s0), tcpBenchBytes>>10), guest, sy.Full(s2.Sub(s1), tcpProfileRequests))
			fmt.Fprintf(&report, "== %s ==\n%s\n%s\n", guest,
				sy.Report("download 16 MiB from httpd, per KiB", s1.Sub(s0), tcpBenchBytes>>10, 60),
				sy.Report(fmt.Sprintf("GET /health (%d on one connection), per request", tcpProfileRequests), s2.Sub(s1), tcpProfileRequests, 60))
		}
	}
	outDir := filepath.Join(root, "out", "netbench")
	require.NoError(b, os.MkdirAll(outDir, 0o755))
	require.NoError(b, os.WriteFile(filepath.Join(outDir, "tcp-insnprof.txt"), []byte(report.String()), 0o644))
	require.NoError(b, os.WriteFile(filepath.Join(outDir, "tcp-insnprof-full.txt"), []byte(full.String()), 0o644))
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
