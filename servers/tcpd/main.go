// Command tcpd is armos's TCP server (docs/tcp.md): a process of its own
// that owns IP protocol 6 of netd's stack through netd's protocol service
// (libproto, docs/protocol-server.md) and runs the TCP engine (package tcp)
// on it, glued by package server.
//
// Usage (started by init):
//
//	service tcpd /bin/tcpd [-service netd.proto] [-sndbuf BYTES] [-rcvbuf BYTES] [-mtu N]
//
// It waits for netd's protocol service (libproto.FromInit), registers
// protocol 6, prints one ready line,
//
//	tcpd: ready on netd.proto proto 6 addr 10.0.2.15 mtu 1500 buffers 262144/262144
//
// serves its counters (connections, the engine's, the glue's) as
// adminproto.OpReport on "tcpd.admin", and prints them when stopped
// (SIGTERM). A netd restart is libproto's to bridge: tcpd keeps its
// connections. Applications reach it through libsocket (TCPConn,
// TCPListener, DialContext, Listen): netd hands their stream sockets over
// and tcpd speaks the stream protocol (libsocket/streamproto) with them.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"armos/libipc"
	"armos/libproto"
	"armos/libproto/protoproto"
	"armos/libsocket/adminproto"
	"armos/servers/tcpd/server"
	"armos/servers/tcpd/tcp"
)

// readyPrefix starts the line tcpd prints once it serves.
const readyPrefix = "tcpd: ready"

// reportWait bounds how long a report waits for the event loop.
const reportWait = 5 * time.Second

// AdminService is tcpd's operators' service (adminproto.OpReport).
const AdminService = adminproto.TCPService

// options are tcpd's flags.
type options struct {
	service   string
	cfg       tcp.Config
	noOffload bool
}

// parseFlags reads tcpd's command line.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("tcpd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.service, "service", protoproto.ServiceName, "netd's protocol service")
	fs.IntVar(&o.cfg.SendBuffer, "sndbuf", tcp.DefaultSendBuffer, fmt.Sprintf("bytes of send buffer per connection (%d..%d)", tcp.MinBuffer, tcp.MaxBuffer))
	fs.IntVar(&o.cfg.RecvBuffer, "rcvbuf", tcp.DefaultRecvBuffer, fmt.Sprintf("bytes of receive buffer per connection (%d..%d)", tcp.MinBuffer, tcp.MaxBuffer))
	fs.IntVar(&o.cfg.MTU, "mtu", 0, fmt.Sprintf("the MTU the MSS is derived from (%d..%d; 0: the interface's)", tcp.MinMTU, tcp.MaxMTU))
	offload := fs.Bool("offload", true, "hand netd segments of many MSS to cut (segmentation offload) when it offers to")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.noOffload = !*offload
	if o.service == "" {
		return o, errors.New("-service is empty")
	}
	inRange := func(v, lo, hi int) bool { return v >= lo && v <= hi }
	if !inRange(o.cfg.SendBuffer, tcp.MinBuffer, tcp.MaxBuffer) || !inRange(o.cfg.RecvBuffer, tcp.MinBuffer, tcp.MaxBuffer) ||
		(o.cfg.MTU != 0 && !inRange(o.cfg.MTU, tcp.MinMTU, tcp.MaxMTU)) {
		return o, errors.New("-sndbuf, -rcvbuf or -mtu out of range")
	}
	return o, nil
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tcpd:", err)
		}
		os.Exit(2)
	}
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "tcpd:", err)
		os.Exit(1)
	}
}

func run(opts options) error {
	// A standby waits in StartService until init hands it the service;
	// SIGTERM while waiting ends it quietly (boot nil).
	ctx, stop, boot, err := libipc.StartService("tcpd")
	defer stop()
	if boot == nil {
		return err
	}
	client, err := libproto.FromInit(ctx, opts.service)
	if err != nil {
		return err
	}
	defer client.Close()
	p, err := client.Register(ctx, protoproto.ProtoTCP)
	if err != nil {
		return err
	}
	srv, err := server.New(p, server.Config{TCP: opts.cfg, NoOffload: opts.noOffload})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	lctx, stopLoop := context.WithCancel(context.Background())
	go func() { served <- srv.Run(lctx) }()
	report := func(w io.Writer) {
		rctx, cancel := context.WithTimeout(context.Background(), reportWait)
		defer cancel()
		if err := srv.Report(rctx, w); err != nil {
			fmt.Fprintf(w, "tcpd: report: %v\n", err)
		}
		cs := client.Stats()
		fmt.Fprintf(w, "libproto: reconnects %d (failed %d), re-registers %d (failed %d), unclaimed %d, malformed %d, dropped by libipc %d\n",
			cs.Reconnects, cs.ReconnectErrors, cs.ReRegisters, cs.ReRegisterErrors, cs.Unclaimed, cs.Malformed, cs.ConnDropped)
	}
	if err := serveAdmin(ctx, boot, report); err != nil {
		stopLoop()
		return err
	}
	cfg := srv.Config()
	fmt.Printf("%s on %s proto %d addr %v mtu %d buffers %d/%d\n", readyPrefix, opts.service, protoproto.ProtoTCP,
		srv.Addr(), cfg.MTU, cfg.SendBuffer, cfg.RecvBuffer)
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	stopLoop()
	if err == nil {
		<-served
	}
	// The counters (the loop has ended: the report reads the engine
	// directly).
	var b bytes.Buffer
	report(&b)
	os.Stdout.Write(b.Bytes())
	return err
}

// serveAdmin serves adminproto.OpReport on AdminService.
func serveAdmin(ctx context.Context, boot *libipc.InitClient, report func(io.Writer)) error {
	mux := libipc.NewMux()
	libipc.Handle(mux, adminproto.OpReport, func(*libipc.Request, *adminproto.Empty) (*adminproto.Report, error) {
		var b bytes.Buffer
		report(&b)
		return &adminproto.Report{Text: b.String()}, nil
	})
	srv := libipc.NewServer(mux)
	go func() { _ = srv.Serve(ctx) }()
	return boot.RegisterErr(ctx, AdminService, srv.Accept)
}
