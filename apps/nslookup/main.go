// Command nslookup looks names up through armos's resolver and prints
// what BIND's nslookup prints:
//
//	nslookup [-port N] [-timeout DURATION] [-timing] NAME [SERVER]
//
// Without SERVER it asks resolved (servers/resolved, 127.0.0.1:53; first
// waiting, within -timeout, until resolved serves: libsocket.WaitResolved),
// else the IPv4 address SERVER. -timing adds a ";; Query time: N usec
// (round K)" line per round of lookups (A, AAAA and the canonical name);
// -repeat N makes N rounds. The output is written at once, at the end.
//
// It is wiring only: the command is package nslookup (Main), given Go's
// net.Resolver over libsocket (libsocket.Client.ResolverAt). Run by armos's
// init ("app,nslookup,/bin/nslookup,example.com"), it reaches netd through
// libsocket; anywhere else (a Linux host) through the system's sockets.
// Exit status: 0 when an address was found, 1 when none was (NXDOMAIN, a
// failure, a timeout), 2 on a usage error.
package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"armos/apps/nslookup/nslookup"
	"armos/libsocket"
	"armos/libsocket/sockproto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var client *libsocket.Client
	connect := func(ctx context.Context, server netip.AddrPort) (nslookup.Resolver, error) {
		c, err := libsocket.FromInit(ctx, sockproto.ServiceName)
		if errors.Is(err, libsocket.ErrNoInit) { // a Linux host: the system's sockets
			return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, server.String())
			}}, nil
		}
		if err != nil {
			return nil, err
		}
		client = c
		if server == libsocket.DNSServer {
			// Started at boot beside resolved: wait until it serves.
			if err := libsocket.WaitResolved(ctx); err != nil {
				return nil, err
			}
		}
		return c.ResolverAt(server), nil
	}
	// One write at the end: nslookups running side by side (init's apps)
	// keep their answers apart on the console.
	var out bytes.Buffer
	status := nslookup.Main(ctx, os.Args[1:], nslookup.Env{Stdout: &out, Stderr: os.Stderr}, connect)
	os.Stdout.Write(out.Bytes())
	stop()
	if client != nil {
		client.Close()
	}
	os.Exit(status)
}
