// Command ping sends ICMP echo requests through netd (libsocket) and
// prints what Linux's ping prints:
//
//	ping [-c COUNT] [-i INTERVAL] [-s SIZE] [-W TIMEOUT] [-q] [-service NAME] ADDRESS
//
// It runs under armos's init (e.g. "app ping /bin/ping -c 3 10.0.2.2" in
// init.conf, or init's command line). Exit status: 0 when a reply came, 1
// when none did, 2 on a usage error. SIGINT/SIGTERM end it with the
// statistics.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"armos/apps/ping/ping"
	"armos/libsocket"
	"armos/libsocket/sockproto"
)

func main() {
	cfg, err := ping.ParseArgs(os.Args[1:], sockproto.ServiceName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ping:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := libsocket.FromInit(ctx, cfg.Service)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ping:", err)
		os.Exit(2)
	}
	defer c.Close()
	st := ping.Run(ctx, cfg, c, os.Stdout, sleep)
	os.Exit(st.Status())
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
