package guesttest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/capture"
)

// tsharkFrame is one packet as tshark read it.
type tsharkFrame struct {
	Protocols string // frame.protocols, e.g. "eth:ethertype:ip:icmp:data"
	Raw       []byte // the frame's bytes
}

// tsharkRead runs tshark -r on a pcap file and returns its packets. tshark
// must read the file without a complaint: a non-zero exit, or anything on
// its standard error other than its warning about running as root, fails.
func tsharkRead(t *testing.T, path string) []tsharkFrame {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatalf("tshark is not installed (apt-get install tshark; ./build.sh test installs it)")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("tshark", "-r", path, "-T", "json", "-x")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	complaint := regexp.MustCompile(`(?m)^Running as user "root" and group "root"\. This could be dangerous\.\n?`).ReplaceAllString(stderr.String(), "")
	require.Empty(t, strings.TrimSpace(complaint), "tshark complained about the capture")
	var pkts []struct {
		Source struct {
			Layers map[string]json.RawMessage `json:"layers"`
		} `json:"_source"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &pkts))
	var out []tsharkFrame
	for i, p := range pkts {
		var raw []any
		require.NoError(t, json.Unmarshal(p.Source.Layers["frame_raw"], &raw), "packet %d", i)
		require.NotEmpty(t, raw)
		s, ok := raw[0].(string)
		require.True(t, ok, "packet %d: frame_raw %v", i, raw)
		b, err := hex.DecodeString(s)
		require.NoError(t, err)
		var frame struct {
			Protocols string `json:"frame.protocols"`
		}
		require.NoError(t, json.Unmarshal(p.Source.Layers["frame"], &frame))
		out = append(out, tsharkFrame{Protocols: frame.Protocols, Raw: b})
	}
	return out
}

// wireRecorder keeps every frame on the Linux side of the guest's tap
// (both directions) while it runs: the reference the guest's capture is
// checked against.
type wireRecorder struct {
	fd     int
	mu     sync.Mutex
	frames [][]byte
	done   chan struct{}
}

func recordWire(t *testing.T, g *netGuest) *wireRecorder {
	fd, err := g.ns.RawSocket(guestTap, syscall.ETH_P_ALL)
	require.NoError(t, err)
	tv := syscall.NsecToTimeval(int64(100 * time.Millisecond))
	require.NoError(t, syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv))
	w := &wireRecorder{fd: fd, done: make(chan struct{})}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, 65536)
		for {
			select {
			case <-w.done:
				return
			default:
			}
			n, err := syscall.Read(fd, buf)
			if err != nil {
				continue // the timeout: look at done again
			}
			w.mu.Lock()
			w.frames = append(w.frames, bytes.Clone(buf[:n]))
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		w.stop()
		<-stopped
		syscall.Close(fd)
	})
	return w
}

// stop ends the recording and returns the frames.
func (w *wireRecorder) stop() [][]byte {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames
}

// captureChecks captures a ping and a UDP echo exchange (fragmented too)
// with the shell's pcap command and checks, with tshark, that the pcap
// stream that left the guest through the virtio console holds exactly
// the frames Linux saw on the other side of the tap, in order, byte for
// byte; then a second capture appends to the same file.
func captureChecks(t *testing.T, g *netGuest) {
	ctx := context.Background()
	filter := "host " + linuxIP
	f, err := capture.ParseFilter(filter)
	require.NoError(t, err)
	at := len(g.l.Output())
	expect := func(re string) []string {
		t.Helper()
		m, next, err := g.l.WaitFor(regexp.MustCompile(re), at, time.Minute)
		require.NoError(t, err, tail(g.l.Output(), 40))
		at = next
		return m
	}

	wire := recordWire(t, g)
	require.NoError(t, g.l.Type("pcap start "+filter+"\n"))
	expect(`sh: pcap: capturing frames matching 'host 10\.99\.0\.1' \(snap 1518\) to hvc0, a new pcap stream; pcap stop ends it\n`)

	out, err := g.ns.Run(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "3", guestIP)
	require.NoError(t, err, out)
	small := []byte("captured echo")
	assert.Equal(t, small, g.echo(t, small))
	big := bytes.Repeat([]byte("0123456789abcdef"), 2000/16) // 2000 bytes: two fragments each way
	assert.Equal(t, big, g.echo(t, big))
	time.Sleep(200 * time.Millisecond) // the last reply's frame reaches the recorder

	require.NoError(t, g.l.Type("pcap stop\n"))
	m := expect(`sh: pcap: stopped: (\d+) frames captured, 0 dropped \(ring full\), \d+ filtered out; (\d+) written to hvc0 \((\d+) bytes\)\n`)
	var seen [][]byte
	for _, fr := range wire.stop() {
		if f.Match(fr) {
			seen = append(seen, fr)
		}
	}
	require.Equal(t, m[1], m[2], "every captured frame was written")
	require.Equal(t, fmt.Sprint(len(seen)), m[1], "the capture holds as many frames as Linux saw match")

	// The bytes reach the host file once the device has taken them.
	want := 0 // what netd wrote, the pcap header included
	_, err = fmt.Sscan(m[3], &want)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := os.Stat(g.pcap)
		return err == nil && st.Size() >= int64(want)
	}, 30*time.Second, 50*time.Millisecond, "the pcap stream reached %s", g.pcap)

	frames := tsharkRead(t, g.pcap)
	require.Len(t, frames, len(seen))
	var kinds []string
	for i, fr := range frames {
		assert.Equal(t, seen[i], fr.Raw, "frame %d (%s) byte-exact, in order", i+1, fr.Protocols)
		kinds = append(kinds, fr.Protocols)
	}
	// What the exchange is: two pings answered, then the small echo,
	// then the big one in two fragments each way.
	icmp, udp := "eth:ethertype:ip:icmp:data", "eth:ethertype:ip:udp:echo"
	wantKinds := []string{icmp, icmp, icmp, icmp, udp, udp, "eth:ethertype:ip:data", udp, "eth:ethertype:ip:data", udp}
	if !assert.Equal(t, wantKinds, kinds, "the exchange as tshark dissects it") {
		for i, fr := range frames {
			t.Logf("frame %d: %s %x", i+1, fr.Protocols, fr.Raw[:min(len(fr.Raw), 48)])
		}
	}
	recs, err := capture.ReadPcap(mustRead(t, g.pcap))
	require.NoError(t, err)
	require.Len(t, recs, len(frames))

	// A second capture appends to the same stream: one valid file.
	require.NoError(t, g.l.Type("pcap start -s 64 icmp\n"))
	expect(`sh: pcap: capturing frames matching 'icmp' \(snap 64\) to hvc0, appending to its pcap stream; pcap stop ends it\n`)
	out, err = g.ns.Run(ctx, "ping", "-c", "1", "-s", "200", "-W", "3", guestIP)
	require.NoError(t, err, out)
	require.NoError(t, g.l.Type("pcap stop\n"))
	m = expect(`sh: pcap: stopped: (\d+) frames captured, 0 dropped \(ring full\), \d+ filtered out; (\d+) written to hvc0 \((\d+) bytes\)\n`)
	require.Equal(t, "2", m[1], "one ping, one reply")
	require.Eventually(t, func() bool {
		r, err := capture.ReadPcap(mustRead(t, g.pcap))
		return err == nil && len(r) == len(frames)+2
	}, 30*time.Second, 50*time.Millisecond)
	again := tsharkRead(t, g.pcap)
	require.Len(t, again, len(frames)+2)
	for _, fr := range again[len(frames):] {
		assert.Equal(t, icmp, fr.Protocols)
		assert.Len(t, fr.Raw, 64, "cut at the snap length")
	}
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
