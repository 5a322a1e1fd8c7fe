// Command netctl lets a guest test's host side drive a run: started by
// init as an app (init -exit then stops the services and powers off once
// it ends), it binds a UDP port through libsocket and answers datagrams:
//
//	exit                  answers "bye" and exits, so the host decides when
//	                      the services stop and print their counters
//	nslookup [ARG...]     runs apps/nslookup's command (package nslookup)
//	                      in netctl, through netctl's libsocket client (Go's
//	                      net.Resolver asking resolved, or SERVER), at most
//	                      -runtimeout, and answers "status N\n" and its
//	                      output (at most maxOutput bytes; arguments split at
//	                      spaces, no quoting): a test looks names up when the
//	                      system is in the state it wants (after a DHCP
//	                      lease, say) rather than at boot
//
// A program netctl started with os/exec could not do that: it inherits
// ARMOS_BOOTSTRAP but not a channel of its own to init, so it cannot reach
// netd. Anything else gets "?".
//
//	netctl [-port 4000] [-runtimeout 2m]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"armos/apps/nslookup/nslookup"
	"armos/libsocket"
	"armos/libsocket/sockproto"
)

// Bounds: a request is one datagram read into a buffer this size; an
// answer carries at most maxOutput bytes of output (the rest is cut, and
// the answer says so); maxArgs arguments.
const (
	maxRequest = 1500
	maxOutput  = 8000
	maxArgs    = 64
)

// request is a parsed datagram.
type request struct {
	exit     bool
	nslookup []string // nslookup's arguments
}

// parseRequest reads one datagram: "exit", or "nslookup [ARG...]".
func parseRequest(b []byte) (request, error) {
	if len(b) > maxRequest {
		return request{}, errors.New("request too long")
	}
	s := string(b)
	if s == "exit" {
		return request{exit: true}, nil
	}
	f := strings.Fields(s)
	if len(f) == 0 || f[0] != "nslookup" {
		return request{}, errors.New("want exit or nslookup [ARG...]")
	}
	if len(f)-1 > maxArgs {
		return request{}, fmt.Errorf("nslookup: at most %d arguments", maxArgs)
	}
	return request{nslookup: append([]string{}, f[1:]...)}, nil
}

// answer is the reply for a command that ended with status and printed
// out.
func answer(status int, out []byte) []byte {
	cut := ""
	if len(out) > maxOutput {
		out, cut = out[:maxOutput], " (output cut)"
	}
	return append([]byte(fmt.Sprintf("status %d%s\n", status, cut)), out...)
}

// lookup runs nslookup's command with args through c.
func lookup(c *libsocket.Client, args []string, timeout time.Duration) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out bytes.Buffer
	connect := func(ctx context.Context, server netip.AddrPort) (nslookup.Resolver, error) {
		return c.ResolverAt(server), nil
	}
	status := nslookup.Main(ctx, args, nslookup.Env{Stdout: &out, Stderr: &out}, connect)
	return answer(status, out.Bytes())
}

func main() {
	port := flag.Int("port", 4000, "UDP port to listen on")
	timeout := flag.Duration("runtimeout", 2*time.Minute, "how long an nslookup may take")
	flag.Parse()
	ctx := context.Background()
	c, err := libsocket.FromInit(ctx, sockproto.ServiceName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netctl:", err)
		os.Exit(1)
	}
	conn, err := c.ListenPacket(ctx, netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "netctl:", err)
		os.Exit(1)
	}
	fmt.Printf("netctl: ready on udp %s\n", conn.LocalAddr())
	buf := make([]byte, maxRequest+1)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "netctl:", err)
			os.Exit(1)
		}
		req, err := parseRequest(buf[:n])
		switch {
		case err != nil:
			_, _ = conn.WriteTo([]byte("?"), from)
		case req.exit:
			_, _ = conn.WriteTo([]byte("bye"), from)
			fmt.Printf("netctl: exit asked by %v\n", from)
			conn.Close()
			return
		default:
			fmt.Printf("netctl: nslookup %s for %v\n", strings.Join(req.nslookup, " "), from)
			go func(args []string, to net.Addr) { _, _ = conn.WriteTo(lookup(c, args, *timeout), to) }(req.nslookup, from)
		}
	}
}
