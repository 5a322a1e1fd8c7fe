package ping

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libsocket"
	"armos/libsocket/sockproto"
)

func TestParseArgs(t *testing.T) {
	c, err := ParseArgs([]string{"10.0.2.2"}, "netd.sockets")
	require.NoError(t, err)
	assert.Equal(t, Config{Dst: netip.MustParseAddr("10.0.2.2"), Interval: time.Second, Size: 56, Timeout: time.Second, Service: "netd.sockets"}, c)
	c, err = ParseArgs([]string{"-c", "3", "-i", "0.2", "-s", "2000", "-W", "2", "-q", "-service", "peer.sockets", "10.99.0.1"}, "netd.sockets")
	require.NoError(t, err)
	assert.Equal(t, Config{Dst: netip.MustParseAddr("10.99.0.1"), Count: 3, Interval: 200 * time.Millisecond, Size: 2000,
		Timeout: 2 * time.Second, Quiet: true, Service: "peer.sockets"}, c)
	c, err = ParseArgs([]string{"-i", "0.001", "10.0.2.2"}, "s")
	require.NoError(t, err)
	assert.Equal(t, MinInterval, c.Interval, "at most 100 a second")
	for _, bad := range [][]string{{}, {"a", "b"}, {"example.com"}, {"::1"}, {"-c", "-1", "1.2.3.4"}, {"-s", "70000", "1.2.3.4"},
		{"-W", "0", "1.2.3.4"}, {"-i", "-1", "1.2.3.4"}, {"-i", "NaN", "1.2.3.4"}, {"-x", "1.2.3.4"}} {
		_, err := ParseArgs(bad, "s")
		assert.ErrorIs(t, err, ErrUsage, "%q", bad)
	}
}

// script answers pings from a list: an RTT, or 0 for a lost reply.
type script struct {
	rtts []time.Duration
	seqs []uint16
}

func (s *script) Ping(_ context.Context, dst netip.Addr, seq uint16, size int, _ time.Duration) (libsocket.PingResult, error) {
	s.seqs = append(s.seqs, seq)
	rtt := s.rtts[0]
	s.rtts = s.rtts[1:]
	if rtt == 0 {
		return libsocket.PingResult{}, &net.OpError{Op: "ping", Err: sockproto.ETIMEDOUT}
	}
	return libsocket.PingResult{From: dst, Seq: seq, RTT: rtt, Len: size, TTL: 64}, nil
}

func TestRunPrintsWhatLinuxPrints(t *testing.T) {
	p := &script{rtts: []time.Duration{100 * time.Microsecond, 0, 300 * time.Microsecond}}
	var out bytes.Buffer
	var slept []time.Duration
	c := Config{Dst: netip.MustParseAddr("10.0.2.2"), Count: 3, Interval: 200 * time.Millisecond, Size: 56, Timeout: time.Second}
	st := Run(context.Background(), c, p, &out, func(_ context.Context, d time.Duration) { slept = append(slept, d) })
	assert.Equal(t, []uint16{1, 2, 3}, p.seqs)
	assert.Equal(t, []time.Duration{200 * time.Millisecond, 200 * time.Millisecond}, slept)
	assert.Equal(t, 0, st.Status())
	got := regexp.MustCompile(`time \d+ms`).ReplaceAllString(out.String(), "time Tms")
	assert.Equal(t, `PING 10.0.2.2 (10.0.2.2) 56(84) bytes of data.
64 bytes from 10.0.2.2: icmp_seq=1 ttl=64 time=0.100 ms
64 bytes from 10.0.2.2: icmp_seq=3 ttl=64 time=0.300 ms

--- 10.0.2.2 ping statistics ---
3 packets transmitted, 2 received, 33% packet loss, time Tms
rtt min/avg/max/mdev = 0.100/0.200/0.300/0.100 ms
`, got)
}

func TestRunNoReplyAndInterrupt(t *testing.T) {
	p := &script{rtts: []time.Duration{0, 0}}
	var out bytes.Buffer
	c := Config{Dst: netip.MustParseAddr("10.0.2.9"), Count: 2, Interval: MinInterval, Size: 8, Timeout: time.Second, Quiet: true}
	st := Run(context.Background(), c, p, &out, func(context.Context, time.Duration) {})
	assert.Equal(t, 1, st.Status(), "no reply: status 1")
	assert.Contains(t, out.String(), "2 packets transmitted, 0 received, 100% packet loss")
	assert.NotContains(t, out.String(), "rtt ")

	// Count 0 runs until interrupted, then prints the statistics.
	ctx, cancel := context.WithCancel(context.Background())
	p = &script{rtts: []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}}
	out.Reset()
	n := 0
	st = Run(ctx, Config{Dst: netip.MustParseAddr("10.0.2.2"), Interval: time.Second, Size: 56}, p, &out, func(context.Context, time.Duration) {
		if n++; n == 2 {
			cancel()
		}
	})
	assert.Equal(t, 2, st.Sent)
	assert.Contains(t, out.String(), "2 packets transmitted, 2 received, 0% packet loss")
}
