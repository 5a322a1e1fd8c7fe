// Package nslookup is the nslookup command (apps/nslookup): it looks a name
// up through a Go net.Resolver — on armos, libsocket's, asking resolved or
// the server named — and prints what BIND's nslookup prints:
//
//	Server:		127.0.0.1
//	Address:	127.0.0.1#53
//
//	Non-authoritative answer:
//	alias.test	canonical name = host.test.
//	Name:	host.test
//	Address: 10.99.0.7
//	Name:	host.test
//	Address: fd00::7
//
// or "** server can't find NAME: NXDOMAIN" (SERVFAIL for a failure),
// or ";; connection timed out; no servers could be reached". A round of
// lookups is A, AAAA, then (when there were addresses) the canonical
// name; -repeat N makes N rounds (the answer of the first printed), and
// -timing prints each round's time (";; Query time: N usec (round K)"):
// through resolved, the first round fills its cache and the others are
// answered from it.
//
// Go's resolver hides the DNS details nslookup usually shows: the CNAME
// line gives the canonical name the whole chain leads to (not each link),
// and a name without addresses (NODATA) is reported as NXDOMAIN, as Go
// reports both as "no such host".
package nslookup

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Resolver is what nslookup needs of a net.Resolver.
type Resolver interface {
	LookupCNAME(ctx context.Context, host string) (string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Connect returns the resolver asking server (the -port and SERVER
// arguments; resolved's address, 127.0.0.1:53, without SERVER).
type Connect func(ctx context.Context, server netip.AddrPort) (Resolver, error)

// Env is the command's surroundings.
type Env struct {
	Stdout, Stderr io.Writer
	Now            func() time.Time // for -timing; nil: time.Now
}

// DefaultServer is resolved's address, asked without SERVER.
var DefaultServer = netip.MustParseAddr("127.0.0.1")

// Exit statuses.
const (
	ExitOK       = 0 // an address was found
	ExitNotFound = 1 // NXDOMAIN, no address, a failure or a timeout
	ExitUsage    = 2 // bad arguments, or no resolver
)

const usage = "usage: nslookup [-port N] [-timeout DURATION] [-timing] [-repeat N] NAME [SERVER]"

// Main runs nslookup with args (without the program name) and returns its
// exit status.
func Main(ctx context.Context, args []string, env Env, connect Connect) int {
	fs := flag.NewFlagSet("nslookup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.Uint("port", 53, "the server's UDP port")
	timeout := fs.Duration("timeout", 15*time.Second, "how long the lookups may take in all")
	timing := fs.Bool("timing", false, "print how long the lookups took (;; Query time: N usec)")
	repeat := fs.Int("repeat", 1, "look the name up N times (the answer printed once; with -timing a time per round)")
	if err := fs.Parse(args); err != nil || fs.NArg() < 1 || fs.NArg() > 2 || *port == 0 || *port > 65535 || *timeout <= 0 || *repeat < 1 || *repeat > 1000 {
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.Stderr, "nslookup:", err)
		}
		fmt.Fprintln(env.Stderr, usage)
		return ExitUsage
	}
	name := fs.Arg(0)
	server := DefaultServer
	if fs.NArg() == 2 {
		a, err := netip.ParseAddr(fs.Arg(1))
		if err != nil || !a.Is4() {
			fmt.Fprintf(env.Stderr, "nslookup: SERVER %q: an IPv4 address\n", fs.Arg(1))
			return ExitUsage
		}
		server = a
	}
	if strings.Trim(name, ".") == "" || len(name) > 254 {
		fmt.Fprintf(env.Stderr, "nslookup: %q is not a name\n", name)
		return ExitUsage
	}
	ap := netip.AddrPortFrom(server, uint16(*port))
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	r, err := connect(ctx, ap)
	if err != nil {
		fmt.Fprintln(env.Stderr, "nslookup:", err)
		return ExitUsage
	}
	now := env.Now
	if now == nil {
		now = time.Now
	}
	out := env.Stdout
	fmt.Fprintf(out, "Server:\t\t%v\nAddress:\t%v#%d\n\n", server, server, ap.Port())

	var rounds []time.Duration
	var res result
	for i := range *repeat {
		start := now()
		got := lookup(ctx, r, name)
		rounds = append(rounds, now().Sub(start))
		if i == 0 {
			res = got
		}
	}
	status := ExitOK
	if len(res.v4)+len(res.v6) == 0 {
		status = ExitNotFound
		switch classify(res.err4, res.err6) {
		case notFound:
			fmt.Fprintf(out, "** server can't find %s: NXDOMAIN\n", name)
		case timedOut:
			fmt.Fprintf(out, ";; connection timed out; no servers could be reached\n")
		default:
			fmt.Fprintf(out, "** server can't find %s: SERVFAIL\n", name)
		}
	} else {
		fmt.Fprintln(out, "Non-authoritative answer:")
		canon := strings.TrimSuffix(name, ".")
		if res.errC == nil && res.cname != "" {
			if c := strings.TrimSuffix(res.cname, "."); !strings.EqualFold(c, canon) {
				fmt.Fprintf(out, "%s\tcanonical name = %s.\n", canon, c)
				canon = c
			}
		}
		for _, a := range append(res.v4, res.v6...) {
			fmt.Fprintf(out, "Name:\t%s\nAddress: %v\n", canon, a.Unmap())
		}
	}
	if *timing {
		for i, d := range rounds {
			fmt.Fprintf(out, ";; Query time: %d usec (round %d)\n", d.Microseconds(), i+1)
		}
	}
	fmt.Fprintln(out)
	return status
}

// result is one round's lookups: A, AAAA, and the canonical name when
// there were addresses.
type result struct {
	v4, v6     []netip.Addr
	err4, err6 error
	cname      string
	errC       error
}

func lookup(ctx context.Context, r Resolver, name string) (res result) {
	res.v4, res.err4 = r.LookupNetIP(ctx, "ip4", name)
	res.v6, res.err6 = r.LookupNetIP(ctx, "ip6", name)
	if res.err4 == nil || res.err6 == nil {
		res.cname, res.errC = r.LookupCNAME(ctx, name)
	}
	return res
}

type failure int

const (
	notFound failure = iota
	timedOut
	failed
)

// classify says why both lookups found nothing: not found when both say
// so, else a timeout if one timed out, else a failure (SERVFAIL, a refusal,
// an error reaching the server).
func classify(errs ...error) failure {
	nf := true
	for _, err := range errs {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			continue
		}
		nf = false
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return timedOut
		}
	}
	if nf {
		return notFound
	}
	return failed
}
