// Command lookupbench times net.LookupHost, the same static program on
// armos and in the Linux reference guest (BenchmarkDHCPDNS): first it
// looks -warm up until it resolves (on armos the address comes from DHCP
// after boot; it also takes Go's one-time work out of the figures), then
// for each of -n names (b0.ZONE, b1.ZONE, ...) a first lookup and the
// same name again, and prints the medians:
//
//	lookupbench: n 20 new-us 1234.5 again-us 234.5
//
// On armos (started by init) Go's resolver asks resolved through
// libsocket (127.0.0.1:53): a new name is a cache miss that resolved asks
// upstream, the same name again a cache hit. In Linux (no resolver
// daemon, no cache) Go asks the nameserver of /etc/resolv.conf both
// times. net.LookupHost asks A and AAAA in parallel.
//
//	lookupbench [-n 20] [-wait 2m] [-warm warm.test] ZONE
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"armos/libsocket"
	"armos/libsocket/sockproto"
)

func main() {
	n := flag.Int("n", 20, "names to look up (1..1000)")
	wait := flag.Duration("wait", 2*time.Minute, "how long -warm may take to resolve")
	warm := flag.String("warm", "warm.test", "a name looked up until it resolves, before the timed lookups")
	flag.Parse()
	if flag.NArg() != 1 || flag.Arg(0) == "" || *n < 1 || *n > 1000 {
		fmt.Fprintln(os.Stderr, "usage: lookupbench [-n 1..1000] [-wait D] [-warm NAME] ZONE")
		os.Exit(2)
	}
	if err := run(*n, *wait, *warm, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "lookupbench:", err)
		os.Exit(1)
	}
}

func run(n int, wait time.Duration, warm, zone string) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := libsocket.FromInit(ctx, sockproto.ServiceName)
	switch {
	case errors.Is(err, libsocket.ErrNoInit): // Linux: the system's resolver
	case err != nil:
		return err
	default:
		defer c.Close()
		c.SetDefaultResolver()
		if err := libsocket.WaitResolved(ctx); err != nil {
			return err
		}
	}
	for {
		_, err := net.DefaultResolver.LookupHost(ctx, warm)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s did not resolve within %v: %v", warm, wait, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), time.Duration(n)*30*time.Second)
	defer lcancel()
	var first, again []time.Duration
	for i := range n {
		name := fmt.Sprintf("b%d.%s", i, zone)
		for _, into := range []*[]time.Duration{&first, &again} {
			t := time.Now()
			addrs, err := net.DefaultResolver.LookupHost(lctx, name)
			d := time.Since(t)
			if err != nil {
				return err
			}
			if len(addrs) == 0 {
				return fmt.Errorf("%s: no address", name)
			}
			*into = append(*into, d)
		}
	}
	fmt.Printf("lookupbench: n %d new-us %.1f again-us %.1f\n", n, us(median(first)), us(median(again)))
	return nil
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
