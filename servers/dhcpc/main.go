// Command dhcpc is armos's DHCP client (docs/dhcp.md): it gets the
// address, prefix, gateway, MTU and DNS servers from a DHCP server and
// configures netd with them through netd's admin service
// (adminproto.OpConfigure; netd must run with -dhcp).
//
// Usage (started by init after netd):
//
//	service dhcpc /bin/dhcpc [-hostname armos] [-noprobe] [-startdelay 1s] [-resolved resolved.admin]
//
// It binds UDP 0.0.0.0:68 through netd (libsocket) with SO_BROADCAST,
// runs the engine (servers/dhcpc/client) in servers/dhcpc/agent's event
// loop, has netd probe an offered address (RFC 5227) before taking it,
// and prints
//
//	dhcpc: ready on udp 0.0.0.0:68 mac 52:54:00:12:34:56 probe netd
//	dhcpc: lease 10.0.2.15/24 gw 10.0.2.2 dns 10.0.2.3 mtu 0 server 10.0.2.2 time 24h0m0s
//
// On SIGTERM it releases the lease (a RELEASE to the server, the address
// removed from netd) and prints its counters. The lease's DNS servers go
// to resolved (adminproto.OpSetUpstream on -resolved's service, source
// "dhcp") when bound, whenever they change and when the resolved that had
// them is gone (restarted: its admin connection ended); a resolved not running yet
// is retried every few seconds while the lease holds. Losing the lease
// leaves resolved's servers as they are.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"time"

	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/adminproto"
	"armos/libsocket/sockproto"
	"armos/servers/dhcpc/agent"
	"armos/servers/dhcpc/client"
)

// readyPrefix starts the line dhcpc prints once its socket is bound.
const readyPrefix = "dhcpc: ready"

type options struct {
	service  string // netd's socket service
	admin    string // netd's admin service
	resolved string // resolved's admin service; "" for none
	probe    bool
	cfg      client.Config
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("dhcpc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.service, "service", sockproto.ServiceName, "netd's socket service")
	fs.StringVar(&o.admin, "admin", adminproto.NetdService, "netd's admin service (OpConfigure)")
	fs.StringVar(&o.resolved, "resolved", adminproto.ResolvedService, "resolved's admin service, given the lease's DNS servers (OpSetUpstream; empty: none)")
	noProbe := fs.Bool("noprobe", false, "take an ACKed address without netd's RFC 5227 probe")
	fs.StringVar(&o.cfg.Hostname, "hostname", "armos", "the hostname sent to the server (option 12; empty: none)")
	fs.DurationVar(&o.cfg.StartDelay, "startdelay", time.Second, "the first DISCOVER waits a random time below this (RFC 2131 4.4.1)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.cfg.StartDelay < 0 || o.cfg.StartDelay > time.Minute {
		return o, errors.New("-startdelay: between 0 and 1m")
	}
	if len(o.cfg.Hostname) > 255 {
		return o, errors.New("-hostname: at most 255 bytes")
	}
	o.probe = !*noProbe
	return o, nil
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "dhcpc:", err)
		}
		os.Exit(2)
	}
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "dhcpc:", err)
		os.Exit(1)
	}
}

func run(opts options) error {
	// A standby waits in StartService until init hands it the service;
	// SIGTERM while waiting ends it quietly (boot nil).
	ctx, stop, boot, err := libipc.StartService("dhcpc")
	defer stop()
	if boot == nil {
		return err
	}
	sc, err := libsocket.FromInit(ctx, opts.service)
	if err != nil {
		return err
	}
	defer sc.Close()
	pc, err := sc.ListenPacket(ctx, netip.AddrPortFrom(netip.IPv4Unspecified(), agent.ClientPort))
	if err != nil {
		return err
	}
	defer pc.Close()
	if err := pc.Socket().SetBroadcast(ctx, true); err != nil {
		return err
	}
	netd := agent.NewAdminNetd(func(ctx context.Context) (*adminproto.Client, error) {
		return adminproto.Dial(ctx, boot, opts.admin)
	})
	defer netd.Close()
	cfg := agent.Config{Client: opts.cfg, Probe: opts.probe, Log: os.Stdout}
	if opts.resolved != "" {
		res := agent.NewAdminResolved(func(ctx context.Context) (*adminproto.Client, error) {
			return adminproto.Dial(ctx, boot, opts.resolved)
		})
		defer res.Close()
		cfg.Resolved = res
	}
	a, err := agent.New(ctx, cfg, pc, netd)
	if err != nil {
		return err
	}
	probe := "netd"
	if !opts.probe {
		probe = "off"
	}
	fmt.Printf("%s on udp %v mac %v probe %s\n", readyPrefix, pc.LocalAddr(), a.MAC(), probe)
	err = a.Run(ctx)
	var b bytes.Buffer
	report(&b, a)
	os.Stdout.Write(b.Bytes())
	return err
}

// report prints the engine's and the agent's counters netstat style
// ("group:" headings, "    Name value" lines, non-zero only).
func report(w io.Writer, a *agent.Agent) {
	c := a.Engine().Counters()
	fmt.Fprintf(w, "dhcpc:\n    %-16s %v\n", "State", a.Engine().State())
	section(w, "rx", reflect.ValueOf(c.Rx))
	section(w, "tx", reflect.ValueOf(c.Tx))
	c.Rx, c.Tx = client.RxCounters{}, client.TxCounters{}
	section(w, "events", reflect.ValueOf(c))
	section(w, "agent", reflect.ValueOf(a.Counters()))
}

func section(w io.Writer, name string, v reflect.Value) {
	fmt.Fprintf(w, "%s:\n", name)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Uint64 || f.Uint() == 0 {
			continue
		}
		fmt.Fprintf(w, "    %-16s %d\n", strings.TrimSpace(v.Type().Field(i).Name), f.Uint())
	}
}
