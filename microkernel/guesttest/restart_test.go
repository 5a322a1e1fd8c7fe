package guesttest

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/internal/benchchart"
	"armos/servers/netd/link/peertest"
)

// soakRestarts is how many times each server is killed in CI (the issue
// asks for at least 50; ./build.sh bench's soak runs more).
const soakRestarts = 50

// TestRestartSoak kills netd, and in a second guest virtionetd, 50 times
// each (SIGKILL, as a crash) while the host sends a steady stream of echo
// requests: init starts each server again, virtionetd and every libsocket
// client (the echo app) reconnect and replay, netd reconnects to a new
// driver; the echo app never sees an error or loses its socket, the
// host's stream resumes after every restart, and at the end everything
// the processes held comes back. The downtime the host saw is logged.
func TestRestartSoak(t *testing.T) {
	// Each incarnation runs over a second (init's stableAfter), so each
	// kill is restarted at once, as a crash after a stable run is.
	for _, victim := range []struct{ name, service string }{{"netd", "netd.sockets"}, {"virtionetd", "net0"},
		{"random", "netd.sockets+net0"}} {
		t.Run(victim.name, func(t *testing.T) {
			t.Parallel()
			peertest.Require(t)
			soak(t, victim.name, victim.service, soakRestarts)
		})
	}
}

func soak(t testing.TB, victim, service string, n int) soakFigures {
	g := startNetGuest(t, false, fmt.Sprintf("app,restarter,/bin/restarter,-service,%s,-after,netd.sockets,-n,%d,-every,1100ms,-first,1s", service, n),
		fmt.Sprintf("service,echo,/bin/echo,-gaps,%d", n))
	stream := startEchoStream(t, g, 5*time.Millisecond)
	_, _, err := g.l.WaitFor(regexp.MustCompile(`restarter: done \d+ restarts`), 0, time.Duration(n)*3*time.Second+5*time.Minute)
	require.NoError(t, err, tail(g.l.Output(), 80))
	if victim == "netd" {
		// The operator's way, from the serial shell: ps shows the
		// standby waiting; restart netd (SIGTERM) hands it the service.
		time.Sleep(time.Second) // the next standby is started 300 ms after a restart
		from := len(g.l.Output())
		require.NoError(t, g.l.Type("ps\n"))
		_, _, err := g.l.WaitFor(regexp.MustCompile(`sh: +\d+ +\d+ running .* netd~\n`), from, time.Minute)
		require.NoError(t, err, "ps shows netd's standby: %s", tail(g.l.Output(), 30))
		require.NoError(t, g.l.Type("restart netd\n"))
		m, _, err := g.l.WaitFor(regexp.MustCompile(`sh: restart: netd: pid (\d+) -> (\d+) in [0-9.]+ ms\n`), from, time.Minute)
		require.NoError(t, err, tail(g.l.Output(), 30))
		assert.Regexp(t, `init: standby netd \(pid `+m[2]+`\) took over`, g.l.Output(), "the standby took over")
	}
	// The stream after the last restart: an answer to a request sent
	// from now on. Waited for rather than slept on: on a loaded host the
	// last restart can take longer than any fixed pause (CI saw it).
	resumed := stream.waitResumed(time.Now(), 30*time.Second)
	time.Sleep(200 * time.Millisecond)
	st := stream.stop()
	saveLog(t, "stream.csv", st.csv())
	out := g.stop(t)

	restarts := regexp.MustCompile(`restarter: \S+ restart \d+: pid \d+ -> \d+ in ([0-9.]+) ms`).FindAllStringSubmatch(out, -1)
	require.Len(t, restarts, n, "every restart done")
	var guest []float64
	for _, r := range restarts {
		v, _ := strconv.ParseFloat(r[1], 64)
		guest = append(guest, v)
	}
	slices.Sort(guest)
	if victim != "random" {
		require.Regexp(t, regexp.MustCompile(fmt.Sprintf(`init: restarting %s in 0s \(restart %d\)`, victim, n)), out,
			"each kill after a stable run restarts at once")
	}
	require.NotRegexp(t, `init: restarting \S+ in [1-9]`, out, "no kill met a backoff")
	assert.NotRegexp(t, `init: restarting echo `, out, "the echo app never failed")
	assert.Regexp(t, `echo: \d+ datagrams \(\d+ bytes\) echoed, 0 replies lost`, out, "the echo app saw no error")
	assert.Regexp(t, `init: echo \(pid \d+\) exited with status 0`, out)
	require.Greater(t, st.answered, 100, "the stream ran")
	assert.True(t, resumed, "the stream resumed after the last restart")
	gaps := st.outages(50 * time.Millisecond)
	t.Logf("%s: %d restarts; guest time kill to served again: median %.1f ms, max %.1f ms; host saw %d outages over 50 ms, median %v, p99 %v, max %v; %d of %d requests unanswered",
		victim, n, guest[len(guest)/2], guest[len(guest)-1], len(gaps), q(gaps, 0.5), q(gaps, 0.99), q(gaps, 1), st.sent-st.answered, st.sent)
	// Outages long enough that a loaded host's stalls of QEMU do not
	// make them (a restart's is 30-65 ms on a quiet host; CI's shared
	// cores have paused the guest for over 50 ms between restarts): at
	// most one per restart.
	assert.LessOrEqual(t, len(st.outages(soakOutage)), n+2, "outages come from the restarts only")
	// The host's downtime per restart: the n longest gaps between answers
	// (each restart makes one; the rest are the stream's 5 ms beat).
	all := st.outages(0)
	per := all[max(len(all)-n, 0):]
	t.Logf("%s: host downtime per restart (the %d longest gaps): median %v, p99 %v", victim, len(per), q(per, 0.5), q(per, 0.99))
	// The echo app's view, by the guest's clock: the n longest gaps
	// between its replies (each restart makes one).
	eg := regexp.MustCompile(`echo: the (\d+) longest gaps between replies: median ([0-9.]+) ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms`).FindStringSubmatch(out)
	require.NotNil(t, eg, "the echo app's gaps")
	echoMedian, _ := strconv.ParseFloat(eg[2], 64)
	echoP99, _ := strconv.ParseFloat(eg[3], 64)
	t.Logf("%s: the echo app's %s longest gaps between replies (guest clock): median %s ms, p99 %s ms, max %s ms", victim, eg[1], eg[2], eg[3], eg[4])
	// What the restarts must give back: the census the restarter took
	// before the first kill and after the last restart (the system still
	// running). The long-lived processes hold what they held; kernel
	// objects are what they were, give or take calls in flight.
	before, after := parseCensus(t, out, "before:"), parseCensus(t, out, "after: ")
	t.Logf("%s: after %d restarts: free memory %d -> %d KiB, kernel objects %d -> %d; descriptors/KiB: %v -> %v",
		victim, n, before.freeKiB, after.freeKiB, before.objects, after.objects, before.procs, after.procs)
	for _, name := range []string{"init", "echo", "sh"} {
		assert.Equal(t, before.procs[name][0], after.procs[name][0], "%s's descriptors after %d restarts", name, n)
	}
	assert.InDelta(t, before.objects, after.objects, 8, "kernel objects after %d restarts", n)
	return soakFigures{echoMedianMS: echoMedian, echoP99MS: echoP99, objectsBefore: before.objects, objectsAfter: after.objects, freeBefore: before.freeKiB, freeAfter: after.freeKiB,
		initBefore: before.procs["init"], initAfter: after.procs["init"], guestMedianMS: guest[len(guest)/2], guestP99MS: guest[min(len(guest)*99/100, len(guest)-1)],
		hostMedian: q(per, 0.5), hostP99: q(per, 0.99), lostPerRestart: float64(st.sent-st.answered) / float64(n)}
}

// soakFigures are a soak's restart downtime figures.
type soakFigures struct {
	guestMedianMS, guestP99MS   float64       // kill to served again, guest clock
	hostMedian, hostP99         time.Duration // the host's gaps between answers
	lostPerRestart              float64
	echoMedianMS, echoP99MS     float64 // the echo app's longest gaps between replies, guest clock
	objectsBefore, objectsAfter int     // kernel objects open
	freeBefore, freeAfter       uint64  // KiB of memory free
	initBefore, initAfter       [2]int  // init's descriptors and KiB
}

// census is one of the restarter's census lines.
type census struct {
	freeKiB uint64
	objects int
	procs   map[string][2]int // name: descriptors, KiB
}

func parseCensus(t testing.TB, out, when string) census {
	m := regexp.MustCompile(`restarter: census ` + regexp.QuoteMeta(when) + ` free (\d+) KiB objects (\d+)(.*)`).FindStringSubmatch(out)
	require.NotNil(t, m, "the restarter's census %s", when)
	c := census{procs: map[string][2]int{}}
	c.freeKiB, _ = strconv.ParseUint(m[1], 10, 64)
	c.objects, _ = strconv.Atoi(m[2])
	for _, p := range regexp.MustCompile(`(\S+) (\d+)/(\d+)`).FindAllStringSubmatch(m[3], -1) {
		fds, _ := strconv.Atoi(p[2])
		kib, _ := strconv.Atoi(p[3])
		c.procs[p[1]] = [2]int{fds, kib}
	}
	require.Contains(t, c.procs, "init", "the census lists init")
	return c
}

// BenchmarkRestartSoak is the long soak of ./build.sh bench: netd and
// virtionetd killed ARMOS_SOAK_N times each (default 1000) under the host's
// echo stream, the figures reported; memory and handles are checked against
// the boot's baseline at the end (the census), as in TestRestartSoak. The
// -icount runs (ARMOS_SOAK_ICOUNT_N kills each, default 200: a guest
// second is about 2.5 wall seconds there) give the guest-time figures:
// the guest's clock counts instructions, unmoved by the host's load.
func BenchmarkRestartSoak(b *testing.B) {
	peertest.Require(b)
	count := func(env string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
			return v
		}
		return def
	}
	got := map[string]soakFigures{} // by run name, for the chart
	defer func() { restartChart(b, got) }()
	for _, run := range []struct {
		name, victim, service string
		icount                bool
	}{{"netd", "netd", "netd.sockets", false}, {"virtionetd", "virtionetd", "net0", false},
		{"netd-icount", "netd", "netd.sockets", true}, {"virtionetd-icount", "virtionetd", "net0", true}} {
		n := count("ARMOS_SOAK_N", 1000)
		if run.icount {
			n = count("ARMOS_SOAK_ICOUNT_N", 200)
		}
		b.Run(run.name, func(b *testing.B) {
			if run.icount {
				b.Setenv("ARMOS_GUEST_ICOUNT", "1")
			}
			for i := 0; i < b.N; i++ {
				f := soak(b, run.victim, run.service, n)
				got[run.name] = f
				b.ReportMetric(f.guestMedianMS, "ms-guest-median")
				b.ReportMetric(f.guestP99MS, "ms-guest-p99")
				b.ReportMetric(float64(f.hostMedian.Microseconds())/1000, "ms-host-median")
				b.ReportMetric(float64(f.hostP99.Microseconds())/1000, "ms-host-p99")
				b.ReportMetric(f.lostPerRestart, "lost/restart")
				b.ReportMetric(f.echoMedianMS, "ms-echo-gap-median")
				b.ReportMetric(f.echoP99MS, "ms-echo-gap-p99")
				b.ReportMetric(float64(n), "restarts")
				b.ReportMetric(float64(f.objectsAfter-f.objectsBefore), "objects-delta")
				b.ReportMetric(float64(int64(f.freeBefore)-int64(f.freeAfter)), "KiB-free-lost")
				b.ReportMetric(float64(f.initAfter[0]-f.initBefore[0]), "init-fds-delta")
			}
		})
	}
}

// echoStream sends numbered echo requests at a steady interval from the
// namespace and records when each answer came.
type echoStream struct {
	mu       sync.Mutex
	sentAt   []time.Time
	gotAt    map[int]time.Time
	sent     int
	answered int
	done     chan struct{}
	finished chan struct{}
}

func startEchoStream(t testing.TB, g *netGuest, every time.Duration) *echoStream {
	s := &echoStream{gotAt: map[int]time.Time{}, done: make(chan struct{}), finished: make(chan struct{})}
	var c net.Conn
	require.NoError(t, g.ns.Do(func() (err error) {
		c, err = net.Dial("udp4", guestIP+":7")
		return err
	}))
	go func() {
		buf := make([]byte, 64)
		for {
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			k, err := c.Read(buf)
			select {
			case <-s.done:
				if err != nil {
					close(s.finished)
					return
				}
			default:
			}
			if err != nil || k != 16 {
				continue
			}
			seq := int(binary.BigEndian.Uint64(buf))
			s.mu.Lock()
			if _, dup := s.gotAt[seq]; !dup && seq < len(s.sentAt) {
				s.gotAt[seq] = time.Now()
				s.answered++
			}
			s.mu.Unlock()
		}
	}()
	go func() {
		p := make([]byte, 16)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-tk.C:
			}
			s.mu.Lock()
			seq := len(s.sentAt)
			s.sentAt = append(s.sentAt, time.Now())
			s.mu.Unlock()
			binary.BigEndian.PutUint64(p, uint64(seq))
			_, _ = c.Write(p)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return s
}

// soakOutage is the gap between answers that TestRestartSoak counts as
// an outage when it bounds their number.
const soakOutage = 250 * time.Millisecond

// waitResumed waits up to d for an answer to a request sent at from or
// later, and reports whether one came.
func (s *echoStream) waitResumed(from time.Time, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		for i := len(s.sentAt) - 1; i >= 0 && !s.sentAt[i].Before(from); i-- {
			if _, ok := s.gotAt[i]; ok {
				s.mu.Unlock()
				return true
			}
		}
		s.mu.Unlock()
	}
	return false
}

// stop ends the stream and waits for late answers.
func (s *echoStream) stop() *echoStream {
	close(s.done)
	<-s.finished
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = len(s.sentAt)
	return s
}

// outages returns each stretch longer than min during which requests
// went unanswered: from the last answered request's answer before it to
// the first answer after it.
func (s *echoStream) outages(min time.Duration) []time.Duration {
	var out []time.Duration
	var last time.Time
	for i := range s.sentAt {
		at, ok := s.gotAt[i]
		if !ok {
			continue
		}
		if !last.IsZero() && at.Sub(last) > min {
			out = append(out, at.Sub(last))
		}
		if at.After(last) {
			last = at
		}
	}
	slices.Sort(out)
	return out
}

// csv is the stream's timeline: each request's send time (ms since the
// first) and how long its answer took (ms; empty when none came).
func (s *echoStream) csv() []byte {
	var b []byte
	b = append(b, "seq,sent_ms,rtt_ms\n"...)
	for i, at := range s.sentAt {
		b = fmt.Appendf(b, "%d,%.1f,", i, float64(at.Sub(s.sentAt[0]).Microseconds())/1000)
		if got, ok := s.gotAt[i]; ok {
			b = fmt.Appendf(b, "%.2f", float64(got.Sub(at).Microseconds())/1000)
		}
		b = append(b, '\n')
	}
	return b
}

func q(ds []time.Duration, f float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(int(f*float64(len(ds))), len(ds)-1)].Round(time.Millisecond)
}

// restartChart writes the soak's figures as restart.json and .svg under
// $ARMOS_BENCH_OUT (./build.sh bench) once all four runs are in: netd and
// virtionetd side by side (there is no Linux column: Linux cannot restart
// its network stack under its applications).
func restartChart(b *testing.B, got map[string]soakFigures) {
	dir := os.Getenv("ARMOS_BENCH_OUT")
	if dir == "" || b.Failed() {
		return
	}
	for _, name := range []string{"netd", "virtionetd", "netd-icount", "virtionetd-icount"} {
		if _, ok := got[name]; !ok {
			b.Logf("restart chart not written: the %s run is missing", name)
			return
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rows := []struct {
		name, unit string
		value      func(wall, icount soakFigures) float64
	}{
		{restartFigureNames[0], "ms", func(_, i soakFigures) float64 { return i.guestMedianMS }},
		{restartFigureNames[1], "ms", func(_, i soakFigures) float64 { return i.guestP99MS }},
		{restartFigureNames[2], "ms", func(_, i soakFigures) float64 { return i.echoMedianMS }},
		{restartFigureNames[3], "ms", func(_, i soakFigures) float64 { return i.echoP99MS }},
		{restartFigureNames[4], "ms", func(w, _ soakFigures) float64 { return w.guestMedianMS }},
		{restartFigureNames[5], "ms", func(w, _ soakFigures) float64 { return ms(w.hostMedian) }},
		{restartFigureNames[6], "ms", func(w, _ soakFigures) float64 { return ms(w.hostP99) }},
		{restartFigureNames[7], "requests", func(w, _ soakFigures) float64 { return w.lostPerRestart }},
	}
	r := benchchart.Results{Title: "armos: restarting a network server under traffic (no Linux equivalent)",
		Date: time.Now().UTC().Format("2006-01-02"), Systems: []string{"netd killed", "virtionetd killed"}}
	for _, row := range rows {
		r.Figures = append(r.Figures, benchchart.Figure{Name: row.name, Unit: row.unit, Better: "lower",
			Values: map[string]float64{
				"netd killed":       row.value(got["netd"], got["netd-icount"]),
				"virtionetd killed": row.value(got["virtionetd"], got["virtionetd-icount"]),
			}})
	}
	require.NoError(b, benchchart.Write(dir, "restart", r))
}

// restartFigureNames are the restart chart's figures, as the README's
// table names them.
var restartFigureNames = []string{
	"guest time (icount): kill to served again, median",
	"guest time (icount): kill to served again, p99",
	"guest time (icount): the echo app's longest gaps between replies, median",
	"guest time (icount): the echo app's longest gaps between replies, p99",
	"wall: kill to served again, median",
	"wall: the host's downtime per restart, median",
	"wall: the host's downtime per restart, p99",
	"requests lost per restart (one sent every 5 ms)",
}
