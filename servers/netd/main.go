// Command netd is armos's network server: Ethernet, ARP, IPv4, ICMP and UDP
// (package stack) behind the socket service (package sockets) that
// applications reach with libsocket.
//
// Hosted on a development machine, netd runs against a Linux TAP device, so
// that the Linux kernel's own network stack is its peer:
//
//	netd -tap tap0 -ip 10.99.0.2/24 [-gw 10.99.0.1] [-mac 02:00:0a:63:00:02] [-mtu 1500] [-apps echo]
//
// The Linux side is set up beforehand, e.g.
//
//	ip tuntap add dev tap0 mode tap && ip addr add 10.99.0.1/24 dev tap0 && ip link set tap0 up
//
// Hosted apps (-apps) run in-process and reach the socket service through
// libipc's in-memory transport and Broker, with libsocket exactly as inside
// armos. netd prints one "netd: ready ..." line when it serves, and on
// SIGINT/SIGTERM prints its counters (netstat style) and exits 0.
//
// This file and the others of package main are wiring only: flags, and
// connecting the link driver, the stack, the socket service and the apps.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"armos/libipc"
	"armos/servers/netd/link"
	"armos/servers/netd/sockets"
	"armos/servers/netd/stack"
)

// waitReady waits until the stack uses its address: probing found it free
// (at once without probing), or fails if another host has it.
func waitReady(ctx context.Context, n *instance) error {
	ready := make(chan struct{})
	taken := make(chan stack.AddressConflict, 1)
	n.svc.Post(func() {
		n.st.SetReadyHandler(func() { close(ready) })
		n.st.SetConflictHandler(func(c stack.AddressConflict) {
			if c.Probing {
				select {
				case taken <- c:
				default:
				}
			}
			reportConflict(n.st, c)
		})
	})
	select {
	case <-ready:
		return nil
	case c := <-taken:
		return fmt.Errorf("address %v is in use by %v (found while probing it)", n.st.Config().Addr.Addr(), net.HardwareAddr(c.MAC[:]))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openDevice opens what netd runs on: a TAP device (hosted), or an IPC
// link through init: "connect:NAME" connects to the link provider NAME (a
// NIC driver), "serve:NAME" registers NAME and takes the first connection
// as the link (a peer netd connects to it). It returns the device, how to
// name it, and its MTU.
func openDevice(ctx context.Context, opts options) (device, string, int, error) {
	if opts.tap != "" {
		tap, err := link.OpenTAP(opts.tap)
		if err != nil {
			return nil, "", 0, err
		}
		return tap, opts.tap, tap.MTU(), nil
	}
	boot, err := libipc.Bootstrap()
	if err != nil {
		return nil, "", 0, fmt.Errorf("-link %s: %w", opts.link, err)
	}
	if name, ok := strings.CutPrefix(opts.link, "connect:"); ok {
		ep, err := boot.ConnectWait(ctx, name)
		if err != nil {
			return nil, "", 0, err
		}
		return link.NewChan(ep), opts.link, stack.DefaultMTU, nil
	}
	name := strings.TrimPrefix(opts.link, "serve:")
	first := make(chan libipc.Endpoint, 1)
	err = boot.RegisterErr(ctx, name, func(ep libipc.Endpoint) {
		select {
		case first <- ep:
		default:
			ep.Close() // one peer only
		}
	})
	if err != nil {
		return nil, "", 0, err
	}
	select {
	case ep := <-first:
		return link.NewChan(ep), opts.link, stack.DefaultMTU, nil
	case <-ctx.Done():
		return nil, "", 0, ctx.Err()
	}
}

// readyPrefix starts the line netd prints once it serves (tests wait for it).
const readyPrefix = "netd: ready"

func main() {
	opts, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netd:", err)
		os.Exit(2)
	}
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "netd:", err)
		os.Exit(1)
	}
}

func run(opts options) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	dev, where, mtu, err := openDevice(ctx, opts)
	if err != nil {
		return err
	}
	if opts.mtu != 0 {
		mtu = opts.mtu
	}
	cfg := stack.Config{MAC: stack.MAC(opts.mac), Addr: opts.addr, Gateway: opts.gw, MTU: mtu, Dev: 1, Probe: !opts.noProbe}
	n, err := start(ctx, cfg, stack.SystemClock{}, dev, opts.apps)
	if err != nil {
		cancel()
		if n != nil {
			n.stop()
		} else {
			dev.Close()
		}
		return err
	}
	// The address is ours once probing found it free (RFC 5227).
	if err := waitReady(ctx, n); err != nil {
		cancel()
		n.stop()
		return err
	}
	// Restarted by init: the old clients' ports go back to them first
	// (sockets.SetGrace), before anyone can reach the service.
	if r := os.Getenv(libipc.RestartEnv); r != "" && r != "0" {
		n.svc.Post(func() { n.svc.SetGrace(sockets.DefaultGrace) })
	}
	// Started by init: the socket service is reachable by name.
	if boot, berr := libipc.Bootstrap(); berr == nil {
		if err := boot.RegisterErr(ctx, opts.service, n.svc.Accept); err != nil {
			cancel()
			n.stop()
			return err
		}
	}
	apps := strings.Join(opts.apps, ",")
	if apps == "" {
		apps = "-"
	}
	fmt.Printf("%s on %s ip %s mac %s mtu %d apps %s service %s\n", readyPrefix, where, opts.addr, opts.mac, mtu, apps, opts.service)

	err = n.wait(ctx)
	cancel()
	n.stop()
	n.report(os.Stdout)
	return err
}
