package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libproto"
	"armos/libproto/protoproto"
	"armos/libsocket"
	"armos/servers/netd/link"
	"armos/servers/netd/link/peertest"
	"armos/servers/netd/stack"
	"armos/servers/tcpd/server"
	"armos/servers/tcpd/tcp"
)

// tcpBytes is what the test servers' /bytes?n=N serve: byte i is i mod 256.
func tcpBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// testHTTPHandler serves /bytes?n=N and /echo, as apps/httpd does.
func testHTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Write(tcpBytes(n))
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		// Reading the body while writing the reply: without full duplex,
		// Go's HTTP/1 server discards the unread body at the first write.
		http.NewResponseController(w).EnableFullDuplex()
		io.Copy(w, r.Body)
	})
	return mux
}

// TestRealPeerTCP: hosted netd on a TAP with tcpd on its protocol
// service and applications on libsocket, against Linux's own TCP in the
// namespace: socat sends 1 MiB to an echo service and half-closes, curl
// downloads and uploads through Go's net/http server on armos TCP, and
// Go's net/http client on armos TCP fetches from and posts to a Go server
// on Linux; each byte-exact, then with faults injected on armos's
// side of the tap (loss, duplication, reordering-by-delay) in both
// directions.
func TestRealPeerTCP(t *testing.T) {
	peertest.Require(t)
	_, err := exec.LookPath("curl")
	require.NoError(t, err, "curl is needed (./build.sh test installs it)")
	ns := peertest.NewNS(t)
	ns.AddTap(t, peerDev, linuxSide)
	var tap *link.TAP
	require.NoError(t, ns.Do(func() (err error) {
		tap, err = link.OpenTAP(peerDev)
		return err
	}))
	faulty := link.NewFaulty(tap)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := stack.Config{MAC: stack.MAC{0x02, 0, 10, 99, 0, 2}, Addr: netip.MustParsePrefix(netdCIDR), Dev: 1}
	n, err := start(ctx, cfg, stack.SystemClock{}, faulty, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cancel(); n.wait(ctx); n.stop() })

	wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer wcancel()
	pc, err := libproto.Dial(wctx, n.broker)
	require.NoError(t, err)
	defer pc.Close()
	p, err := pc.Register(wctx, protoproto.ProtoTCP)
	require.NoError(t, err)
	tcpd, err := server.New(p, server.Config{TCP: tcp.Config{MinRTO: 50 * time.Millisecond}})
	require.NoError(t, err)
	go tcpd.Run(ctx)
	app, err := libsocket.Dial(wctx, n.broker)
	require.NoError(t, err)
	defer app.Close()

	ln, err := app.Listen(wctx, "tcp", ":80")
	require.NoError(t, err)
	srv := &http.Server{Handler: testHTTPHandler()}
	go srv.Serve(ln)
	defer srv.Close()

	// A TCP echo service for socat (Linux's TCP client with a half-close).
	echoLn, err := app.ListenTCP(wctx, netip.MustParseAddrPort("0.0.0.0:7"), 8)
	require.NoError(t, err)
	go func() {
		for {
			c, err := echoLn.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.Copy(c, c); err == nil {
					c.CloseWrite() // the peer's FIN, echoed
				}
			}()
		}
	}()
	defer echoLn.Close()

	// Go's HTTP server on Linux: this test binary, re-run in the namespace.
	exe, err := os.Executable()
	require.NoError(t, err)
	linuxSrv := ns.Command(ctx, exe)
	linuxSrv.Env = append(os.Environ(), "ARMOS_HELPER_HTTP=10.99.0.1:8081")
	var srvOut lockedBuffer // written by exec's copier while Eventually reads it
	linuxSrv.Stdout, linuxSrv.Stderr = &srvOut, &srvOut
	require.NoError(t, linuxSrv.Start())
	defer func() { cancel(); linuxSrv.Wait() }()
	require.Eventually(t, func() bool { return strings.Contains(srvOut.String(), "serving") }, time.Minute, 10*time.Millisecond)
	client := &http.Client{Transport: &http.Transport{DialContext: app.DialContext}, Timeout: 2 * time.Minute}

	curl := func(t *testing.T, args ...string) []byte {
		cmd := ns.Command(wctx, "curl", append([]string{"-sS", "--fail", "--max-time", "120"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "curl %v: %s", args, stderr.String())
		return out
	}
	body := make([]byte, 2<<20)
	_, err = rand.Read(body)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "body")
	require.NoError(t, os.WriteFile(file, body, 0o644))

	for _, f := range []struct {
		name   string
		faults link.FaultyFaults
	}{
		{"clean", link.FaultyFaults{}},
		{"loss 2%", link.FaultyFaults{DropPct: 2, Seed: 1}},
		{"duplication 2%", link.FaultyFaults{DuplicatePct: 2, Seed: 2}},
		{"delay and reordering", link.FaultyFaults{DelayPct: 5, Delay: 3 * time.Millisecond, Seed: 3}},
		{"everything", link.FaultyFaults{DropPct: 1, DuplicatePct: 1, CorruptPct: 1, DelayPct: 2, Delay: 2 * time.Millisecond, Seed: 4}},
	} {
		t.Run(f.name, func(t *testing.T) {
			faulty.SetFaults(f.faults)
			defer faulty.SetFaults(link.FaultyFaults{})
			// socat sends 1 MiB and shuts its side (FIN); the echo comes
			// back whole, then armos's FIN ends socat.
			cmd := ns.Command(wctx, "socat", "-t", "30", "-", "TCP:"+netdIP+":7,shut-down")
			cmd.Stdin = bytes.NewReader(body[:1<<20])
			var serr bytes.Buffer
			cmd.Stderr = &serr
			echoed, err := cmd.Output()
			require.NoError(t, err, serr.String())
			assert.True(t, bytes.Equal(body[:1<<20], echoed), "socat got %d bytes back", len(echoed))
			got := curl(t, "http://"+netdIP+"/bytes?n=4000000")
			assert.True(t, bytes.Equal(tcpBytes(4000000), got), "curl downloaded %d bytes", len(got))
			got = curl(t, "--data-binary", "@"+file, "-H", "Content-Type: application/octet-stream", "http://"+netdIP+"/echo")
			assert.True(t, bytes.Equal(body, got), "curl posted 2 MiB and got %d bytes back", len(got))
			resp, err := client.Get("http://10.99.0.1:8081/bytes?n=3000000")
			require.NoError(t, err)
			got, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.True(t, bytes.Equal(tcpBytes(3000000), got), "armos's Go client fetched %d bytes", len(got))
			resp, err = client.Post("http://10.99.0.1:8081/echo", "application/octet-stream", bytes.NewReader(body))
			require.NoError(t, err)
			got, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.True(t, bytes.Equal(body, got), "armos's Go client posted 2 MiB and got %d back", len(got))
		})
	}
	var rep bytes.Buffer
	require.NoError(t, tcpd.Report(wctx, &rep))
	t.Logf("tcpd:\n%s\nlink faults: %+v", rep.String(), faulty.Counters())
	assert.Zero(t, tcpd.Stats().Stream.Violations)
}

// TestMain runs the Linux side's Go HTTP server of TestRealPeerTCP when
// this test binary is re-run in the namespace with ARMOS_HELPER_HTTP set
// to its address; otherwise the tests.
func TestMain(m *testing.M) {
	addr := os.Getenv("ARMOS_HELPER_HTTP")
	if addr == "" {
		os.Exit(m.Run())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("helper:", err)
		os.Exit(1)
	}
	fmt.Println("serving")
	fmt.Println((&http.Server{Handler: testHTTPHandler()}).Serve(ln))
	os.Exit(1)
}

// lockedBuffer is a bytes.Buffer safe for one writer and readers at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
