package guesttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/link/peertest"
)

// linuxHTTPPort is where the Linux side's Go HTTP server (httpd built for
// the host) listens.
const linuxHTTPPort = 8081

// byteStream is what httpd's /bytes?n=N serves: byte i is i mod 256.
func byteStream(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// hostProgram builds one of the module's commands for this host.
func hostProgram(t *testing.T, pkg string) string {
	t.Helper()
	root, err := ModuleRoot()
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, "./"+pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	return bin
}

// TestTCPRealPeer boots armos on a tap with tcpd and httpd and checks TCP
// against Linux's own, both ways, through Go's net/http unchanged on the
// armos side:
//
//   - curl (Linux's TCP client) loads httpd's status page (the processes,
//     netd's and tcpd's counters), downloads 8 MB and posts 2 MB to /echo,
//     byte-exact;
//   - the same httpget binary that runs on armos, built for Linux, fetches
//     5 MB from armos's httpd (Go's net/http client on Linux);
//   - armos's httpget fetches 3 MB and 20 keep-alive requests from httpd
//     built for Linux (Go's net/http server on Linux);
//   - a download runs on across a restart of netd (sh: restart netd);
//
// then the services stop, tcpd printing its counters, and everything the
// processes held comes back.
func TestTCPRealPeer(t *testing.T) {
	t.Parallel()
	peertest.Require(t)
	_, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is needed (./build.sh test installs it)")
	httpd := hostProgram(t, "apps/httpd")
	httpget := hostProgram(t, "apps/httpget")

	ns := peertest.NewNS(t)
	ns.AddTap(t, guestTap, linuxCIDR)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := ns.Command(ctx, httpd, "-addr", fmt.Sprintf("%s:%d", linuxIP, linuxHTTPPort))
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	require.NoError(t, srv.Start())
	t.Cleanup(func() { cancel(); srv.Wait() })
	require.Eventually(t, func() bool { return strings.Contains(srvOut.String(), "httpd: listening on") }, time.Minute, 20*time.Millisecond)

	linuxURL := fmt.Sprintf("http://%s:%d", linuxIP, linuxHTTPPort)
	g := startNetGuestIn(t, ns, true, "service,tcpd,/bin/tcpd", "service,httpd,/bin/httpd",
		"app,httpget,/bin/httpget,-q,-timeout,3m,"+linuxURL+"/bytes?n=3000000",
		"app,httpget,/bin/httpget,-n,20,-timeout,3m,"+linuxURL+"/health")
	_, _, err = g.l.WaitFor(regexp.MustCompile(`httpd: listening on 0\.0\.0\.0:80`), 0, netTimeout)
	require.NoError(t, err, tail(g.l.Output(), 80))
	base := "http://" + guestIP
	curl := func(args ...string) []byte {
		t.Helper()
		cmd := ns.Command(ctx, "curl", append([]string{"-sS", "--fail", "--max-time", "120"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "curl %v: %s", args, stderr.String())
		return out
	}

	t.Run("curl status page", func(t *testing.T) {
		page := string(curl(base + "/"))
		for _, want := range []string{"armos status", "processes:", "tcpd", "netd.admin:", "tcpd.admin:", "sockets: ", "ESTABLISHED"} {
			assert.Contains(t, page, want)
		}
		assert.Equal(t, "ok\n", string(curl(base+"/health")))
	})
	t.Run("curl download", func(t *testing.T) {
		got := curl(base + "/bytes?n=8000000")
		require.Len(t, got, 8000000)
		assert.True(t, bytes.Equal(byteStream(8000000), got), "the 8 MB arrived intact")
		// It went the ways that copy no byte outside the kernel: tcpd
		// kept httpd's writes where they came (TxOwnedWrites) and netd
		// built the frames in the messages the segments came in
		// (TxInPlace); virtionetd's part is checked in its report below.
		page := string(curl(base + "/"))
		for _, c := range []string{"TxOwnedWrites", "TxInPlace"} {
			m := regexp.MustCompile(`(?m)^\s*` + c + `\s+(\d+)$`).FindStringSubmatch(page)
			require.NotNil(t, m, "%s on the status page:\n%s", c, page)
			assert.NotEqual(t, "0", m[1], c)
		}
	})
	t.Run("curl upload", func(t *testing.T) {
		body := make([]byte, 2<<20)
		_, err := rand.Read(body)
		require.NoError(t, err)
		file := filepath.Join(t.TempDir(), "body")
		require.NoError(t, os.WriteFile(file, body, 0o644))
		got := curl("--data-binary", "@"+file, "-H", "Content-Type: application/octet-stream", base+"/echo")
		assert.True(t, bytes.Equal(body, got), "2 MiB posted and echoed intact (got %d bytes)", len(got))
	})
	t.Run("go client on linux", func(t *testing.T) {
		out, err := ns.Run(ctx, httpget, "-q", base+"/bytes?n=5000000")
		require.NoError(t, err, out)
		assert.Equal(t, fmt.Sprintf("httpget: 5000000 bytes sha256 %x\n", sha256.Sum256(byteStream(5000000))), out)
	})
	t.Run("armos client to go server on linux", func(t *testing.T) {
		want := fmt.Sprintf("httpget: 3000000 bytes sha256 %x", sha256.Sum256(byteStream(3000000)))
		_, _, err := g.l.WaitFor(regexp.MustCompile(regexp.QuoteMeta(want)), 0, 3*time.Minute)
		require.NoError(t, err, "armos's httpget fetched 3 MB from Linux intact:\n%s", tail(g.l.Output(), 60))
		_, _, err = g.l.WaitFor(regexp.MustCompile(`httpget: 20 requests, 60 bytes in `), 0, 3*time.Minute)
		require.NoError(t, err, "20 keep-alive requests:\n%s", tail(g.l.Output(), 60))
	})
	t.Run("survives a netd restart", func(t *testing.T) {
		// A 6 MB download paced by curl to last about 4 s; netd is
		// restarted in its middle. tcpd holds the connection (netd only
		// routes): the download completes intact, with no error at either
		// end.
		cmd := ns.Command(ctx, "curl", "-sS", "--fail", "--max-time", "120", "--limit-rate", "1500k", base+"/bytes?n=6000000")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Start())
		time.Sleep(1500 * time.Millisecond)
		at := len(g.l.Output())
		require.NoError(t, g.l.Type("restart netd\n"))
		_, _, err := g.l.WaitFor(regexp.MustCompile(`restart: netd: pid \d+ -> \d+`), at, time.Minute)
		require.NoError(t, err, tail(g.l.Output(), 30))
		require.NoError(t, cmd.Wait(), stderr.String())
		assert.True(t, bytes.Equal(byteStream(6000000), stdout.Bytes()), "6 MB intact across the restart (got %d bytes)", stdout.Len())
	})
	out := g.stop(t)
	assert.Regexp(t, `sockets: \d+ \(open \d+\), connects \d+, listens 1, accepted \d+`, out, "tcpd printed its counters")
	assert.Regexp(t, `virtionetd: offload: tso max \d+, tso \d+ frames \d+ bytes \(in tx\), [1-9]\d* sent from the slot netd's message came in, [1-9]\d* built by netd in its shared slots \(0 refused, 0 peers not shared with\)`, out,
		"virtionetd sent offloaded frames from the slots the kernel copied them into, most built by netd in the slots it shares")
	assert.NotContains(t, out, "violations 1")
}
