// Package ping is the ping app's logic, apart from its wiring: it sends
// ICMP echo requests one interval apart through a Pinger (libsocket's
// Client under armos) and prints what iputils ping prints, replies and
// statistics alike, so that people and scripts reading Linux's ping read
// armos's.
package ping

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	"armos/libsocket"
	"armos/libsocket/sockproto"
)

// Pinger sends one echo request and waits for its reply.
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

// Limits.
const (
	MinInterval = 10 * time.Millisecond
	MaxSize     = sockproto.MaxPingSize
)

// ErrUsage marks a command-line error (exit status 2).
var ErrUsage = errors.New("usage: ping [-c COUNT] [-i INTERVAL] [-s SIZE] [-W TIMEOUT] [-q] [-service NAME] ADDRESS")

// ParseArgs parses the command line (without the program name).
func ParseArgs(args []string, service string) (Config, error) {
	fs := flag.NewFlagSet("ping", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := Config{}
	fs.IntVar(&c.Count, "c", 0, "stop after COUNT replies (0: until interrupted)")
	interval := fs.Float64("i", 1, "seconds between requests")
	fs.IntVar(&c.Size, "s", 56, "data bytes")
	timeout := fs.Float64("W", 1, "seconds to wait for each reply")
	fs.BoolVar(&c.Quiet, "q", false, "only the summary")
	fs.StringVar(&c.Service, "service", service, "the socket service")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w (%v)", ErrUsage, err)
	}
	if fs.NArg() != 1 {
		return c, ErrUsage
	}
	a, err := netip.ParseAddr(fs.Arg(0))
	switch {
	case err != nil:
		return c, fmt.Errorf("%w (%q: an IPv4 address; names need the DNS resolver, not there yet)", ErrUsage, fs.Arg(0))
	case !a.Is4():
		return c, fmt.Errorf("%w (%v: IPv4 only)", ErrUsage, a)
	case c.Count < 0:
		return c, fmt.Errorf("%w (-c %d)", ErrUsage, c.Count)
	case c.Size < 0 || c.Size > MaxSize:
		return c, fmt.Errorf("%w (-s %d: 0..%d)", ErrUsage, c.Size, MaxSize)
	case *interval < 0 || *timeout <= 0 || math.IsNaN(*interval) || math.IsNaN(*timeout) || *interval > 3600 || *timeout > 3600:
		return c, fmt.Errorf("%w (-i %v -W %v)", ErrUsage, *interval, *timeout)
	}
	c.Dst = a
	c.Interval = max(time.Duration(*interval*float64(time.Second)), MinInterval)
	c.Timeout = time.Duration(*timeout * float64(time.Second))
	return c, nil
}

// Stats summarises a run.
type Stats struct {
	Sent, Received int
	RTTs           []time.Duration
	Errors         int // requests that failed other than by timing out
}

// Run pings as c says, printing to out, until the count is reached or ctx
// ends; sleep waits between requests (time.Sleep-like, returning early
// when ctx ends). It returns the statistics (also printed).
func Run(ctx context.Context, c Config, p Pinger, out io.Writer, sleep func(context.Context, time.Duration)) Stats {
	var st Stats
	start := time.Now()
	fmt.Fprintf(out, "PING %v (%v) %d(%d) bytes of data.\n", c.Dst, c.Dst, c.Size, c.Size+28)
	for seq := 1; c.Count == 0 || seq <= c.Count; seq++ {
		if ctx.Err() != nil {
			break
		}
		if seq > 1 {
			sleep(ctx, c.Interval)
			if ctx.Err() != nil {
				break
			}
		}
		st.Sent++
		r, err := p.Ping(ctx, c.Dst, uint16(seq), c.Size, c.Timeout)
		switch {
		case err == nil:
			st.Received++
			st.RTTs = append(st.RTTs, r.RTT)
			if !c.Quiet {
				fmt.Fprintf(out, "%d bytes from %v: icmp_seq=%d ttl=%d time=%s ms\n", r.Len+8, r.From, seq, r.TTL, ms(r.RTT))
			}
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			st.Sent-- // interrupted, not lost
		case isTimeout(err):
			// Linux prints nothing for a lost reply.
		default:
			st.Errors++
			fmt.Fprintf(out, "ping: %v\n", err)
		}
	}
	summary(out, c, st, time.Since(start))
	return st
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// summary prints Linux's statistics block.
func summary(out io.Writer, c Config, st Stats, elapsed time.Duration) {
	fmt.Fprintf(out, "\n--- %v ping statistics ---\n", c.Dst)
	loss := 0
	if st.Sent > 0 {
		loss = (st.Sent - st.Received) * 100 / st.Sent
	}
	errs := ""
	if st.Errors > 0 {
		errs = fmt.Sprintf(", +%d errors", st.Errors)
	}
	fmt.Fprintf(out, "%d packets transmitted, %d received%s, %d%% packet loss, time %dms\n", st.Sent, st.Received, errs, loss, elapsed.Milliseconds())
	if len(st.RTTs) == 0 {
		return
	}
	lo, hi := st.RTTs[0], st.RTTs[0]
	var sum, sq float64
	for _, r := range st.RTTs {
		lo, hi = min(lo, r), max(hi, r)
		v := float64(r) / float64(time.Millisecond)
		sum += v
		sq += v * v
	}
	n := float64(len(st.RTTs))
	avg := sum / n
	mdev := math.Sqrt(max(sq/n-avg*avg, 0))
	fmt.Fprintf(out, "rtt min/avg/max/mdev = %s/%.3f/%s/%.3f ms\n", ms(lo), avg, ms(hi), mdev)
}

// ms formats d in milliseconds with three decimals, as ping does.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

// Status is the exit status: 0 with a reply, 1 without.
func (st Stats) Status() int {
	if st.Received > 0 {
		return 0
	}
	return 1
}
