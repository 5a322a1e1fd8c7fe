// Package ping is the ping app's logic, apart from its wiring: it sends
// ICMP echo requests one interval apart through a Pinger (libsocket's
// Client under armos) and prints what iputils ping prints, replies and
// statistics alike, so that people and scripts reading Linux's ping read
// armos's.
//
// The numbers are computed as iputils computes them (ping/ping_common.c,
// ping/ping_output.c): round-trip times in whole microseconds; a reply's
// time with 3, 2, 1 or 0 decimals as it is under 1, 10, 100 ms or more;
// min/avg/max/mdev truncated to the microsecond, mdev being
// sqrt(mean(rtt²) − mean(rtt)²) in integer microseconds; the loss as C's
// %g of a float; "time" from the start to the last request sent.
//
// Unlike iputils, requests go one at a time: each waits for its reply or
// its timeout (-W) before the next, which leaves at the interval after the
// previous one left (later if the wait was longer than the interval). A
// lost reply prints nothing, as on Linux. Round-trip times are netd's, so
// they are printed for every size, also below the 16 data bytes under
// which iputils has no timestamp to time with.
package ping

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"time"

	"armos/libsocket"
	"armos/libsocket/sockproto"
)

// Pinger sends one echo request and waits for its reply (libsocket's
// Client.Ping).
type Pinger interface {
	Ping(ctx context.Context, dst netip.Addr, seq uint16, size int, timeout time.Duration) (libsocket.PingResult, error)
}

// Config is what the command line asks for.
type Config struct {
	Dst      netip.Addr
	Count    int           // 0: until interrupted
	Interval time.Duration // between requests
	Size     int           // data bytes
	Timeout  time.Duration // per reply
	Quiet    bool          // only the summary
	Service  string        // the socket service
}

// Defaults and limits.
const (
	DefaultInterval = time.Second
	DefaultSize     = 56
	DefaultTimeout  = time.Second
	MinInterval     = 10 * time.Millisecond
	MaxInterval     = time.Hour
	MaxSize         = sockproto.MaxPingSize
	MaxTimeout      = time.Duration(sockproto.MaxPingTimeout)
)

// Usage is the one-line usage printed after a usage error.
const Usage = "usage: ping [-c COUNT] [-i INTERVAL] [-s SIZE] [-W TIMEOUT] [-q] [-service NAME] HOST"

// ErrUsage marks a command-line error (exit status 2); errors.Is finds it
// in every error ParseArgs returns.
var ErrUsage = errors.New("usage error")

// ErrName is ParseArgs's error for a host given by name (exit status 2,
// as Linux's ping for a name it cannot resolve).
var ErrName = errors.New("names need the DNS resolver (not yet)")

type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// ParseArgs parses the command line (without the program name); service
// is -service's default (the shell, which has its own connection, passes
// ""). Options may follow the host, as with iputils
// (getopt permutes).
func ParseArgs(args []string, service string) (Config, error) {
	c := Config{Count: 0, Interval: DefaultInterval, Size: DefaultSize, Timeout: DefaultTimeout, Service: service}
	fs := flag.NewFlagSet("ping", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Func("c", "stop after COUNT requests (0: until interrupted)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("not a count (0 or more)")
		}
		c.Count = n
		return nil
	})
	fs.Func("i", "seconds between requests", func(v string) error {
		d, err := seconds(v, MaxInterval)
		if err != nil {
			return err
		}
		if d < MinInterval {
			return fmt.Errorf("below the minimum of %v (-i %g)", MinInterval, MinInterval.Seconds())
		}
		c.Interval = d
		return nil
	})
	fs.Func("s", "data bytes per request", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxSize {
			return fmt.Errorf("not a size in 0..%d", MaxSize)
		}
		c.Size = n
		return nil
	})
	fs.Func("W", "seconds to wait for each reply", func(v string) error {
		d, err := seconds(v, MaxTimeout)
		if err != nil {
			return err
		}
		if d <= 0 {
			return fmt.Errorf("not a time above 0")
		}
		c.Timeout = d
		return nil
	})
	fs.BoolVar(&c.Quiet, "q", false, "print only the first line and the summary")
	fs.StringVar(&c.Service, "service", service, "the socket service to use")

	var hosts []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return c, usagef("") // -h: the usage line alone
			}
			return c, usagef("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		hosts = append(hosts, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(hosts) == 0:
		return c, usagef("no host given")
	case len(hosts) > 1:
		return c, usagef("one host only (got %q)", hosts)
	}
	a, err := netip.ParseAddr(hosts[0])
	switch {
	case err != nil:
		return c, fmt.Errorf("%s: %w", hosts[0], ErrName)
	case !a.Unmap().Is4():
		return c, usagef("%v: IPv4 only", a)
	}
	c.Dst = a.Unmap()
	return c, nil
}

// seconds parses a time in seconds ("0.2"), at most max.
func seconds(v string, max time.Duration) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > max.Seconds() {
		return 0, fmt.Errorf("not a time in seconds (0 to %g)", max.Seconds())
	}
	return time.Duration(f * float64(time.Second)), nil
}

// Stats summarises a run.
type Stats struct {
	Sent, Received int
	RTTs           []time.Duration // of the replies, in order
	Errors         int             // requests that failed other than by timing out
	Time           time.Duration   // from the start to the last request sent
}

// Status is the exit status, as iputils ping's: 0 with a reply, 1 without.
func (st Stats) Status() int {
	if st.Received > 0 {
		return 0
	}
	return 1
}

// Env is what a run needs besides its Config and Pinger.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer                            // errors; nil: Stdout
	Sleep  func(context.Context, time.Duration) // returns early when ctx ends; nil: a timer
	Now    func() time.Time                     // nil: time.Now
}

// Run pings as c says, printing to out (errors too), until the count is
// reached or ctx ends; sleep waits between requests (time.Sleep-like,
// returning early when ctx ends). It returns the statistics (also
// printed). It is Env{Stdout: out, Sleep: sleep}.Run.
func Run(ctx context.Context, c Config, p Pinger, out io.Writer, sleep func(context.Context, time.Duration)) Stats {
	return Env{Stdout: out, Sleep: sleep}.Run(ctx, c, p)
}

// Run pings as c says until the count is reached or ctx ends (the
// statistics are printed then too), and returns the statistics.
func (e Env) Run(ctx context.Context, c Config, p Pinger) Stats {
	e = e.withDefaults()
	out := e.Stdout
	var st Stats
	start := e.Now()
	var sent time.Time
	fmt.Fprintf(out, "PING %v (%v) %d(%d) bytes of data.\n", c.Dst, c.Dst, c.Size, c.Size+28)
	for seq := 1; c.Count == 0 || seq <= c.Count; seq++ {
		if seq > 1 {
			if wait := c.Interval - e.Now().Sub(sent); wait > 0 {
				e.Sleep(ctx, wait)
			}
		}
		if ctx.Err() != nil {
			break
		}
		sent = e.Now()
		st.Sent++
		st.Time = sent.Sub(start)
		r, err := p.Ping(ctx, c.Dst, uint16(seq), c.Size, c.Timeout)
		switch {
		case err == nil:
			st.Received++
			st.RTTs = append(st.RTTs, r.RTT)
			if !c.Quiet {
				fmt.Fprintln(out, replyLine(c, r))
			}
		case ctx.Err() != nil:
			// Interrupted while waiting: sent and not answered, as on
			// Linux.
		case errors.Is(err, sockproto.ETIMEDOUT):
			// Linux prints nothing for a lost reply.
		default:
			st.Errors++
			fmt.Fprintf(e.Stderr, "ping: icmp_seq=%d: %v\n", uint16(seq), err)
		}
	}
	summary(out, c, st)
	return st
}

func (e Env) withDefaults() Env {
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = e.Stdout
	}
	if e.Sleep == nil {
		e.Sleep = Sleep
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	return e
}

// Sleep waits for d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// replyLine is iputils's line for a reply: ICMP bytes (data + 8), the
// sequence number and TTL of the reply, its time; a reply shorter than the
// request is "(truncated)" and untimed, as there.
func replyLine(c Config, r libsocket.PingResult) string {
	s := fmt.Sprintf("%d bytes from %v: icmp_seq=%d ttl=%d", r.Len+8, r.From, r.Seq, r.TTL)
	if r.Len < c.Size {
		return s + " (truncated)"
	}
	return s + " time=" + replyTime(r.RTT.Microseconds()) + " ms"
}

// replyTime formats a round-trip time of us microseconds as iputils does
// in a reply line (gather_statistics).
func replyTime(us int64) string {
	switch {
	case us >= 100000-50:
		return strconv.FormatInt((us+500)/1000, 10)
	case us >= 10000-5:
		return fmt.Sprintf("%d.%01d", (us+50)/1000, ((us+50)%1000)/100)
	case us >= 1000:
		return fmt.Sprintf("%d.%02d", (us+5)/1000, ((us+5)%1000)/10)
	}
	return fmt.Sprintf("%d.%03d", us/1000, us%1000)
}

// summary prints iputils's statistics block (ping_print_finish).
func summary(out io.Writer, c Config, st Stats) {
	fmt.Fprintf(out, "\n--- %v ping statistics ---\n", c.Dst)
	fmt.Fprintf(out, "%d packets transmitted, %d received", st.Sent, st.Received)
	if st.Errors > 0 {
		fmt.Fprintf(out, ", +%d errors", st.Errors)
	}
	if st.Sent > 0 {
		loss := float32(float64(st.Sent-st.Received) * 100.0 / float64(st.Sent))
		fmt.Fprintf(out, ", %s%% packet loss, time %dms", cG(float64(loss)), (st.Time+500*time.Microsecond)/time.Millisecond)
	}
	fmt.Fprintln(out)
	if len(st.RTTs) > 0 {
		fmt.Fprint(out, rttLine(st.RTTs))
	}
	fmt.Fprintln(out)
}

// cG is C's printf %g (precision 6, trailing zeros dropped).
func cG(f float64) string { return fmt.Sprintf("%.6g", f) }

// rttLine is iputils's "rtt min/avg/max/mdev" (ping_print_statistics),
// without its newline, in integer microseconds as there.
func rttLine(rtts []time.Duration) string {
	var tsum, tsum2 float64
	tmin, tmax := int64(math.MaxInt64), int64(0)
	for _, d := range rtts {
		t := d.Microseconds()
		tsum += float64(t)
		tsum2 += float64(t * t)
		tmin, tmax = min(tmin, t), max(tmax, t)
	}
	total := float64(len(rtts))
	tmavg := int64(tsum / total)
	var tmvar int64
	if tsum < math.MaxInt32 {
		tmvar = int64((tsum2 - tsum*tsum/total) / total)
	} else {
		tmvar = int64(tsum2/total) - tmavg*tmavg
	}
	tmdev := llsqrt(tmvar)
	f := func(us int64) string { return fmt.Sprintf("%d.%03d", us/1000, us%1000) }
	return fmt.Sprintf("rtt min/avg/max/mdev = %s/%s/%s/%s ms", f(tmin), f(tmavg), f(tmax), f(tmdev))
}

// llsqrt is iputils's integer square root, copied with its quirk:
// Newton's method returning its last step, which rounds down except just
// below a perfect square (k²−1 gives k); 0 for a ≤ 0.
func llsqrt(a int64) int64 {
	if a <= 0 {
		return 0
	}
	x, prev := a, int64(math.MaxInt64)
	for x < prev {
		prev = x
		x = (x + a/x) / 2
	}
	return x
}

// Main is the command: it parses args (defaultService is -service's
// default), connects with connect, pings, and returns the exit status: 0
// with a reply, 1 without, 2 for a usage error or when the socket service
// cannot be reached.
func Main(ctx context.Context, args []string, defaultService string, e Env, connect func(ctx context.Context, service string) (Pinger, error)) int {
	e = e.withDefaults()
	c, err := ParseArgs(args, defaultService)
	if err != nil {
		if err.Error() != "" {
			fmt.Fprintf(e.Stderr, "ping: %v\n", err)
		}
		if errors.Is(err, ErrUsage) {
			fmt.Fprintln(e.Stderr, Usage)
		}
		return 2
	}
	p, err := connect(ctx, c.Service)
	if err != nil {
		fmt.Fprintf(e.Stderr, "ping: %s: %v\n", c.Service, err)
		return 2
	}
	return e.Run(ctx, c, p).Status()
}
