package ping

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libsocket"
	"armos/libsocket/sockproto"
)

var (
	gw    = netip.MustParseAddr("10.0.2.2")
	epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func TestParseArgsDefaults(t *testing.T) {
	c, err := ParseArgs([]string{"10.0.2.2"}, "netd.sockets")
	require.NoError(t, err)
	assert.Equal(t, Config{Dst: gw, Count: 0, Interval: time.Second, Size: 56, Timeout: time.Second, Service: "netd.sockets"}, c)
}

func TestParseArgsOptions(t *testing.T) {
	want := Config{Dst: netip.MustParseAddr("10.99.0.1"), Count: 3, Interval: 200 * time.Millisecond, Size: 2000,
		Timeout: 2500 * time.Millisecond, Quiet: true, Service: "peer.sockets"}
	for _, args := range [][]string{
		{"-c", "3", "-i", "0.2", "-s", "2000", "-W", "2.5", "-q", "-service", "peer.sockets", "10.99.0.1"},
		{"-c=3", "-i=.2", "-s=2000", "-W=2.5", "-q", "--service=peer.sockets", "10.99.0.1"},
		{"10.99.0.1", "-c", "3", "-i", "0.2", "-q", "-s", "2000", "-W", "2.5", "-service", "peer.sockets"}, // options after the host, as getopt allows
		{"-c", "3", "-i", "0.2", "-s", "2000", "10.99.0.1", "-W", "2.5", "-q", "-service", "peer.sockets"},
	} {
		c, err := ParseArgs(args, "netd.sockets")
		require.NoError(t, err, "%q", args)
		assert.Equal(t, want, c, "%q", args)
	}
	c, err := ParseArgs([]string{"-i", "0.01", "-s", "0", "-W", "60", "-c", "0", "::ffff:10.0.2.2"}, "s")
	require.NoError(t, err)
	assert.Equal(t, Config{Dst: gw, Interval: MinInterval, Size: 0, Timeout: time.Minute, Service: "s"}, c, "the limits; an IPv4-mapped address is IPv4")
	c, err = ParseArgs([]string{"-s", "65507", "10.0.2.2"}, "s")
	require.NoError(t, err)
	assert.Equal(t, 65507, c.Size)
}

func TestParseArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "no host given"},
		{[]string{"-c", "3"}, "no host given"},
		{[]string{"10.0.2.2", "10.0.2.3"}, `one host only (got ["10.0.2.2" "10.0.2.3"])`},
		{[]string{"::1"}, "::1: IPv4 only"},
		{[]string{"-c", "-1", "10.0.2.2"}, `invalid value "-1" for flag -c: not a count (0 or more)`},
		{[]string{"-c", "x", "10.0.2.2"}, `invalid value "x" for flag -c: not a count (0 or more)`},
		{[]string{"-c"}, "flag needs an argument: -c"},
		{[]string{"-s", "65508", "10.0.2.2"}, `invalid value "65508" for flag -s: not a size in 0..65507`},
		{[]string{"-s", "-1", "10.0.2.2"}, `invalid value "-1" for flag -s: not a size in 0..65507`},
		{[]string{"-i", "0.001", "10.0.2.2"}, `invalid value "0.001" for flag -i: below the minimum of 10ms (-i 0.01)`},
		{[]string{"-i", "0", "10.0.2.2"}, `invalid value "0" for flag -i: below the minimum of 10ms (-i 0.01)`},
		{[]string{"-i", "-1", "10.0.2.2"}, `invalid value "-1" for flag -i: not a time in seconds (0 to 3600)`},
		{[]string{"-i", "NaN", "10.0.2.2"}, `invalid value "NaN" for flag -i: not a time in seconds (0 to 3600)`},
		{[]string{"-i", "Inf", "10.0.2.2"}, `invalid value "Inf" for flag -i: not a time in seconds (0 to 3600)`},
		{[]string{"-i", "1s", "10.0.2.2"}, `invalid value "1s" for flag -i: not a time in seconds (0 to 3600)`},
		{[]string{"-W", "0", "10.0.2.2"}, `invalid value "0" for flag -W: not a time above 0`},
		{[]string{"-W", "61", "10.0.2.2"}, `invalid value "61" for flag -W: not a time in seconds (0 to 60)`},
		{[]string{"-x", "10.0.2.2"}, "flag provided but not defined: -x"},
		{[]string{"-h"}, ""},
	} {
		_, err := ParseArgs(tc.args, "s")
		require.Error(t, err, "%q", tc.args)
		assert.ErrorIs(t, err, ErrUsage, "%q", tc.args)
		assert.Equal(t, tc.msg, err.Error(), "%q", tc.args)
	}
	_, err := ParseArgs([]string{"-c", "1", "example.com"}, "s")
	require.ErrorIs(t, err, ErrName)
	assert.NotErrorIs(t, err, ErrUsage)
	assert.Equal(t, "example.com: names need the DNS resolver (not yet)", err.Error())
}

// answer is one scripted outcome of a ping: a reply after rtt, a lost
// reply (the timeout passes), or an error.
type answer struct {
	rtt time.Duration
	err error
	ttl uint8
	len int // data bytes of the reply; -1: the request's
}

func reply(rtt time.Duration) answer { return answer{rtt: rtt, ttl: 64, len: -1} }

var lost = answer{err: &net.OpError{Op: "ping", Err: sockproto.ETIMEDOUT}}

// world is a scripted Pinger with a fake clock: a ping takes its RTT (its
// timeout when lost), a sleep its duration.
type world struct {
	t       *testing.T
	now     time.Time
	answers []answer
	seqs    []uint16
	sent    []time.Duration // when each request left, from the start
	slept   []time.Duration
	onPing  func(seq uint16) // called before answering
	onSleep func()           // called after each sleep
}

func newWorld(t *testing.T, answers ...answer) *world {
	return &world{t: t, now: epoch, answers: answers}
}

func (w *world) Ping(ctx context.Context, dst netip.Addr, seq uint16, size int, timeout time.Duration) (libsocket.PingResult, error) {
	w.seqs = append(w.seqs, seq)
	w.sent = append(w.sent, w.now.Sub(epoch))
	if w.onPing != nil {
		w.onPing(seq)
	}
	if ctx.Err() != nil {
		return libsocket.PingResult{}, &net.OpError{Op: "ping", Err: ctx.Err()}
	}
	require.NotEmpty(w.t, w.answers, "more pings than scripted")
	a := w.answers[0]
	w.answers = w.answers[1:]
	if a.err != nil {
		if errors.Is(a.err, sockproto.ETIMEDOUT) {
			w.now = w.now.Add(timeout)
		}
		return libsocket.PingResult{}, a.err
	}
	w.now = w.now.Add(a.rtt)
	n := size
	if a.len >= 0 {
		n = a.len
	}
	return libsocket.PingResult{From: dst, Seq: seq, RTT: a.rtt, Len: n, TTL: a.ttl}, nil
}

func (w *world) env(out, errs *bytes.Buffer) Env {
	return Env{Stdout: out, Stderr: errs, Now: func() time.Time { return w.now },
		Sleep: func(_ context.Context, d time.Duration) {
			w.slept = append(w.slept, d)
			w.now = w.now.Add(d)
			if w.onSleep != nil {
				w.onSleep()
			}
		}}
}

func us(n int64) time.Duration { return time.Duration(n) * time.Microsecond }

// TestRunOutput: the whole output, byte for byte, of a run with a lost
// reply, and the times in each of iputils's four precisions.
func TestRunOutput(t *testing.T) {
	w := newWorld(t, reply(us(512)), lost, reply(us(12345)), reply(us(123456)))
	var out, errs bytes.Buffer
	c := Config{Dst: gw, Count: 4, Interval: time.Second, Size: 56, Timeout: time.Second}
	st := w.env(&out, &errs).Run(context.Background(), c, w)
	assert.Equal(t, `PING 10.0.2.2 (10.0.2.2) 56(84) bytes of data.
64 bytes from 10.0.2.2: icmp_seq=1 ttl=64 time=0.512 ms
64 bytes from 10.0.2.2: icmp_seq=3 ttl=64 time=12.3 ms
64 bytes from 10.0.2.2: icmp_seq=4 ttl=64 time=123 ms

--- 10.0.2.2 ping statistics ---
4 packets transmitted, 3 received, 25% packet loss, time 3000ms
rtt min/avg/max/mdev = 0.512/45.437/123.456/55.378 ms
`, out.String())
	assert.Empty(t, errs.String())
	assert.Equal(t, []uint16{1, 2, 3, 4}, w.seqs)
	assert.Equal(t, []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}, w.sent, "one request a second, whatever the replies took")
	assert.Equal(t, []time.Duration{time.Second - us(512), time.Second - us(12345)}, w.slept, "no sleep after a wait of a whole interval")
	assert.Equal(t, Stats{Sent: 4, Received: 3, RTTs: []time.Duration{us(512), us(12345), us(123456)}, Time: 3 * time.Second}, st)
	assert.Equal(t, 0, st.Status())
}

// TestRunStatistics: Linux's figures. mdev is computed as iputils does, in
// whole microseconds rounded down: 0.101/0.201/0.301 ms give 0.081 (the
// exact standard deviation is 81.6 µs); one loss in three is 33.3333%.
func TestRunStatistics(t *testing.T) {
	for _, tc := range []struct {
		answers []answer
		stats   string
	}{
		{[]answer{reply(us(101)), reply(us(201)), reply(us(301))},
			"3 packets transmitted, 3 received, 0% packet loss, time 400ms\nrtt min/avg/max/mdev = 0.101/0.201/0.301/0.081 ms\n"},
		{[]answer{reply(us(101)), lost, reply(us(301))},
			"3 packets transmitted, 2 received, 33.3333% packet loss, time 1200ms\nrtt min/avg/max/mdev = 0.101/0.201/0.301/0.100 ms\n"},
		{[]answer{lost, lost, reply(1500 * time.Microsecond)},
			"3 packets transmitted, 1 received, 66.6667% packet loss, time 2000ms\nrtt min/avg/max/mdev = 1.500/1.500/1.500/0.000 ms\n"},
		{[]answer{reply(999999 * time.Nanosecond), reply(us(9994)), reply(us(99949))}, // times truncated to µs; each precision's edge
			"3 packets transmitted, 3 received, 0% packet loss, time 400ms\nrtt min/avg/max/mdev = 0.999/36.980/99.949/44.676 ms\n"},
	} {
		w := newWorld(t, tc.answers...)
		var out bytes.Buffer
		c := Config{Dst: gw, Count: 3, Interval: 200 * time.Millisecond, Size: 56, Timeout: time.Second, Quiet: true}
		w.env(&out, &out).Run(context.Background(), c, w)
		assert.Equal(t, "PING 10.0.2.2 (10.0.2.2) 56(84) bytes of data.\n\n--- 10.0.2.2 ping statistics ---\n"+tc.stats, out.String())
	}
}

func TestReplyTime(t *testing.T) {
	for us, want := range map[int64]string{
		0: "0.000", 7: "0.007", 999: "0.999", 1000: "1.00", 1004: "1.00", 1005: "1.01", 9994: "9.99",
		9995: "10.0", 10049: "10.0", 10050: "10.1", 99949: "99.9", 99950: "100", 100499: "100", 100500: "101", 2345678: "2346",
	} {
		assert.Equal(t, want, replyTime(us), "%d µs", us)
	}
}

func TestLlsqrt(t *testing.T) {
	// As iputils's: k²−1 gives k (3 → 2, 8 → 3), else the floor.
	for a, want := range map[int64]int64{-5: 0, 0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 2, 8: 3, 9: 3, 6666: 81, 6723: 82, 6724: 82, 1 << 62: 1 << 31} {
		assert.Equal(t, want, llsqrt(a), "%d", a)
	}
}

// TestRunNoReply: nothing answers: no reply lines, 100% loss, no rtt line
// (and so the blank line iputils ends with), exit status 1.
func TestRunNoReply(t *testing.T) {
	w := newWorld(t, lost, lost)
	var out bytes.Buffer
	c := Config{Dst: netip.MustParseAddr("10.0.2.9"), Count: 2, Interval: time.Second, Size: 8, Timeout: 1500 * time.Millisecond}
	st := w.env(&out, &out).Run(context.Background(), c, w)
	assert.Equal(t, `PING 10.0.2.9 (10.0.2.9) 8(36) bytes of data.

--- 10.0.2.9 ping statistics ---
2 packets transmitted, 0 received, 100% packet loss, time 1500ms

`, out.String())
	assert.Empty(t, w.slept, "the timeout was longer than the interval")
	assert.Equal(t, 1, st.Status())
}

// TestRunErrorsAndOddReplies: a request refused by netd is reported on
// stderr and counted as "+N errors"; a short reply is "(truncated)"; the
// TTL printed is the reply's.
func TestRunErrorsAndOddReplies(t *testing.T) {
	unreach := &net.OpError{Op: "ping", Err: sockproto.EHOSTUNREACH}
	w := newWorld(t, answer{rtt: us(250), ttl: 63, len: 100}, answer{err: unreach}, answer{rtt: us(300), ttl: 255, len: 20})
	var out, errs bytes.Buffer
	c := Config{Dst: gw, Count: 3, Interval: 10 * time.Millisecond, Size: 100, Timeout: time.Second}
	st := w.env(&out, &errs).Run(context.Background(), c, w)
	assert.Equal(t, `PING 10.0.2.2 (10.0.2.2) 100(128) bytes of data.
108 bytes from 10.0.2.2: icmp_seq=1 ttl=63 time=0.250 ms
28 bytes from 10.0.2.2: icmp_seq=3 ttl=255 (truncated)

--- 10.0.2.2 ping statistics ---
3 packets transmitted, 2 received, +1 errors, 33.3333% packet loss, time 20ms
rtt min/avg/max/mdev = 0.250/0.275/0.300/0.025 ms
`, out.String())
	assert.Equal(t, "ping: icmp_seq=2: "+unreach.Error()+"\n", errs.String())
	assert.Equal(t, 1, st.Errors)
}

// TestRunUntilInterrupted: count 0 pings until ctx ends, in a sleep or
// while a reply is awaited (that request is lost, as on Linux), then
// prints the statistics.
func TestRunUntilInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorld(t, reply(us(100)), reply(us(300)), reply(us(200)))
	w.onSleep = func() {
		if len(w.slept) == 2 {
			cancel()
		}
	}
	var out bytes.Buffer
	st := w.env(&out, &out).Run(ctx, Config{Dst: gw, Interval: time.Second, Size: 56, Timeout: time.Second}, w)
	assert.Equal(t, `PING 10.0.2.2 (10.0.2.2) 56(84) bytes of data.
64 bytes from 10.0.2.2: icmp_seq=1 ttl=64 time=0.100 ms
64 bytes from 10.0.2.2: icmp_seq=2 ttl=64 time=0.300 ms

--- 10.0.2.2 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 1000ms
rtt min/avg/max/mdev = 0.100/0.200/0.300/0.100 ms
`, out.String())
	assert.Equal(t, 0, st.Status())

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	w = newWorld(t, reply(us(100)))
	w.onPing = func(seq uint16) {
		if seq == 2 {
			cancel()
		}
	}
	out.Reset()
	st = w.env(&out, &out).Run(ctx, Config{Dst: gw, Interval: time.Second, Size: 56, Timeout: time.Second, Quiet: true}, w)
	assert.Equal(t, `PING 10.0.2.2 (10.0.2.2) 56(84) bytes of data.

--- 10.0.2.2 ping statistics ---
2 packets transmitted, 1 received, 50% packet loss, time 1000ms
rtt min/avg/max/mdev = 0.100/0.100/0.100/0.000 ms
`, out.String(), "-q: no reply lines; the interrupted request counts as lost, not as an error")
	assert.Equal(t, 0, st.Status())

	// Interrupted before anything was sent.
	out.Reset()
	st = w.env(&out, &out).Run(ctx, Config{Dst: gw, Count: 5, Interval: time.Second, Size: 56, Timeout: time.Second}, w)
	assert.Equal(t, "PING 10.0.2.2 (10.0.2.2) 56(84) bytes of data.\n\n--- 10.0.2.2 ping statistics ---\n0 packets transmitted, 0 received\n\n", out.String())
	assert.Equal(t, 1, st.Status())
}

// TestMain_ exercises the command: its exit status and what it prints
// where.
func TestMainStatus(t *testing.T) {
	run := func(w *world, args ...string) (status int, stdout, stderr string, service string) {
		var out, errs bytes.Buffer
		status = Main(context.Background(), args, "netd.sockets", w.env(&out, &errs), func(_ context.Context, s string) (Pinger, error) {
			service = s
			return w, nil
		})
		return status, out.String(), errs.String(), service
	}

	status, stdout, stderr, service := run(newWorld(t, reply(us(100)), lost), "-c", "2", "10.0.2.2")
	assert.Equal(t, 0, status, "a reply came")
	assert.Equal(t, "netd.sockets", service)
	assert.Contains(t, stdout, "2 packets transmitted, 1 received, 50% packet loss")
	assert.Empty(t, stderr)

	status, _, _, service = run(newWorld(t, lost, lost), "-c", "2", "-service", "peer.sockets", "10.0.2.2")
	assert.Equal(t, 1, status, "no reply")
	assert.Equal(t, "peer.sockets", service)

	for args, want := range map[string]string{
		"-c -1 10.0.2.2":      "ping: invalid value \"-1\" for flag -c: not a count (0 or more)\n" + Usage + "\n",
		"":                    "ping: no host given\n" + Usage + "\n",
		"-h":                  Usage + "\n",
		"-i 0.005 10.0.2.2":   "ping: invalid value \"0.005\" for flag -i: below the minimum of 10ms (-i 0.01)\n" + Usage + "\n",
		"-c 1 gateway.local":  "ping: gateway.local: names need the DNS resolver (not yet)\n",
		"10.0.2.2 10.0.2.3 x": "ping: one host only (got [\"10.0.2.2\" \"10.0.2.3\" \"x\"])\n" + Usage + "\n",
	} {
		status, stdout, stderr, service := run(newWorld(t), fields(args)...)
		assert.Equal(t, 2, status, "%q", args)
		assert.Empty(t, stdout, "%q", args)
		assert.Empty(t, service, "%q: not connected", args)
		assert.Equal(t, want, stderr, "%q", args)
	}

	var out, errs bytes.Buffer
	status = Main(context.Background(), []string{"10.0.2.2"}, "netd.sockets", Env{Stdout: &out, Stderr: &errs},
		func(context.Context, string) (Pinger, error) { return nil, errors.New("no socket service") })
	assert.Equal(t, 2, status)
	assert.Equal(t, "ping: netd.sockets: no socket service\n", errs.String())
	assert.Empty(t, out.String())
}

func fields(s string) []string {
	var f []string
	for _, w := range bytes.Fields([]byte(s)) {
		f = append(f, string(w))
	}
	return f
}

// TestRunCompat: Run (the shell's entry) prints errors with the output and
// sleeps with the given function.
func TestRunCompat(t *testing.T) {
	w := newWorld(t, reply(us(100)), answer{err: &net.OpError{Op: "ping", Err: sockproto.ENETUNREACH}})
	var out bytes.Buffer
	var slept []time.Duration
	st := Run(context.Background(), Config{Dst: gw, Count: 2, Interval: 20 * time.Millisecond, Size: 56, Timeout: time.Second}, w, &out,
		func(_ context.Context, d time.Duration) { slept = append(slept, d) })
	assert.Len(t, slept, 1)
	assert.InDelta(t, float64(20*time.Millisecond), float64(slept[0]), float64(20*time.Millisecond))
	assert.Contains(t, out.String(), "ping: icmp_seq=2: ")
	assert.Contains(t, out.String(), "2 packets transmitted, 1 received, +1 errors, 50% packet loss")
	assert.Equal(t, 1, st.Errors)
}
