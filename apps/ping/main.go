// Command ping sends ICMP echo requests through netd (libsocket's
// Client.Ping) and prints what Linux's (iputils) ping prints:
//
//	ping [-c COUNT] [-i INTERVAL] [-s SIZE] [-W TIMEOUT] [-q] [-service NAME] HOST
//
// HOST is an IPv4 address (names need the DNS resolver, not there yet).
// COUNT 0 (the default) pings until SIGINT/SIGTERM, which print the
// statistics; INTERVAL (seconds, default 1, at least 0.01) separates the
// requests; SIZE data bytes (default 56); TIMEOUT seconds (default 1, at
// most 60) to wait for each reply; -q prints only the first line and the
// statistics.
//
// It is wiring only: the command is package ping (Main). It runs under
// armos's init ("app ping /bin/ping -c 3 10.0.2.2" in init.conf, or init's
// command line) and reaches the socket service through init's bootstrap
// channel (libsocket.FromInit). Exit status: 0 when a reply came, 1 when
// none did, 2 on a usage error or without a socket service.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"armos/apps/ping/ping"
	"armos/libsocket"
	"armos/libsocket/sockproto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var client *libsocket.Client
	connect := func(ctx context.Context, service string) (ping.Pinger, error) {
		c, err := libsocket.FromInit(ctx, service)
		if errors.Is(err, libsocket.ErrNoInit) {
			return nil, errors.New("no socket service: ping runs under armos's init")
		}
		if err != nil {
			return nil, err
		}
		client = c
		return c, nil
	}
	status := ping.Main(ctx, os.Args[1:], sockproto.ServiceName, ping.Env{Stdout: os.Stdout, Stderr: os.Stderr}, connect)
	stop()
	if client != nil {
		client.Close()
	}
	os.Exit(status)
}
