// Command resolved is armos's caching DNS resolver (docs/dns.md): a
// process started by init that answers the DNS queries of every program
// on the machine — Go programs through net.Resolver with libsocket's
// Dial (libsocket.Client.Resolver) — from its cache or by asking upstream
// recursive servers.
//
// Usage (started by init):
//
//	service resolved /bin/resolved -upstream 10.0.2.3 [-upstream ADDR...] [-cache N]
//
// It serves UDP 0.0.0.0:53 through netd (libsocket; netd delivers
// loopback traffic only to endpoints bound to 0.0.0.0) and answers only
// clients on loopback (resolver.LoopbackOnly: not an open resolver for the
// LAN); each upstream try goes out from a socket of its own on a random
// port (resolver.UDPTransport over libsocket), and an answer that comes
// truncated (TC) is asked again over TCP (resolver.TCPFallback, through
// tcpd). Once tcpd serves it also answers DNS over TCP on the same port
// (loopback clients only, at most 16 connections at once): what Go's
// resolver asks after a truncated answer. It prints one ready line,
//
//	resolved: ready on udp 0.0.0.0:53 upstream 10.0.2.3:53 cache 1024 entries
//
// serves its counters as adminproto.OpReport on "resolved.admin" (with
// the upstream servers in use and where they came from), takes new
// upstream servers there (adminproto.OpSetUpstream: dhcpc's lease; the
// -upstream flags are the defaults until then, the cache stays), and
// prints its counters when stopped (SIGTERM). Started again by init (or as a
// standby, libipc.AwaitTurn) it begins with an empty cache.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/adminproto"
	"armos/libsocket/sockproto"
	"armos/servers/resolved/resolver"
)

// readyPrefix starts the line resolved prints once it serves.
const readyPrefix = "resolved: ready"

// options are resolved's flags.
type options struct {
	listen  netip.AddrPort
	service string
	cfg     resolver.Config
}

// upstreamList is the -upstream flag: repeated, or comma-separated; an
// address without a port means port 53.
type upstreamList struct{ servers *[]netip.AddrPort }

func (u upstreamList) String() string {
	if u.servers == nil {
		return ""
	}
	var s []string
	for _, a := range *u.servers {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

func (u upstreamList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		ap, err := netip.ParseAddrPort(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return fmt.Errorf("%q is not an address or address:port", f)
			}
			ap = netip.AddrPortFrom(a, 53)
		}
		if !ap.Addr().Is4() || ap.Port() == 0 {
			return fmt.Errorf("%q: an IPv4 address and a port other than 0", f)
		}
		*u.servers = append(*u.servers, ap)
	}
	return nil
}

// parseFlags reads resolved's command line.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("resolved", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(upstreamList{&o.cfg.Servers}, "upstream", "an upstream recursive DNS server, ADDR or ADDR:PORT (repeated or comma-separated; tried in turn)")
	listen := fs.String("listen", "0.0.0.0:53", "the UDP address to serve on")
	fs.StringVar(&o.service, "service", sockproto.ServiceName, "the socket service to use")
	fs.IntVar(&o.cfg.CacheEntries, "cache", resolver.DefaultCacheEntries, "cache entries (0: no cache bound other than the bytes)")
	fs.IntVar(&o.cfg.CacheBytes, "cache-bytes", resolver.DefaultCacheBytes, "cache size in bytes (approximate)")
	fs.DurationVar(&o.cfg.Timeout, "timeout", resolver.DefaultTimeout, "how long one upstream try waits")
	fs.IntVar(&o.cfg.Attempts, "attempts", resolver.DefaultAttempts, fmt.Sprintf("rounds over the upstream servers (1..%d)", resolver.MaxAttempts))
	fs.BoolVar(&o.cfg.No0x20, "no0x20", false, "ask in the name's own case (for servers that do not echo a mixed-case question)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(o.cfg.Servers) == 0 {
		return o, errors.New("no -upstream server")
	}
	if len(o.cfg.Servers) > resolver.MaxServers {
		return o, fmt.Errorf("at most %d upstream servers", resolver.MaxServers)
	}
	if o.cfg.CacheEntries < 0 || o.cfg.CacheBytes < 0 || o.cfg.Timeout <= 0 || o.cfg.Attempts < 1 || o.cfg.Attempts > resolver.MaxAttempts {
		return o, errors.New("-cache, -cache-bytes, -timeout or -attempts out of range")
	}
	var err error
	if o.listen, err = netip.ParseAddrPort(*listen); err != nil {
		return o, fmt.Errorf("-listen: %w", err)
	}
	return o, nil
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "resolved:", err)
		}
		os.Exit(2)
	}
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "resolved:", err)
		os.Exit(1)
	}
}

func run(opts options) error {
	// A standby waits in StartService until init hands it the service;
	// SIGTERM while waiting ends it quietly (boot nil).
	ctx, stop, boot, err := libipc.StartService("resolved")
	defer stop()
	if boot == nil {
		return err
	}
	client, err := libsocket.FromInit(ctx, opts.service)
	if err != nil {
		return err
	}
	defer client.Close()
	d, err := start(ctx, client, opts)
	if err != nil {
		return err
	}
	if err := serveAdmin(ctx, boot.RegisterErr, d); err != nil {
		d.close()
		return err
	}
	go d.serveTCP(ctx, client)
	fmt.Println(d.readyLine())
	select {
	case <-ctx.Done():
	case err = <-d.served:
		if err != nil {
			err = fmt.Errorf("serving %v: %w", opts.listen, err)
		}
	}
	// The counters before closing (a closed server has none to give).
	var b bytes.Buffer
	d.report(&b)
	d.close()
	os.Stdout.Write(b.Bytes())
	return err
}

// serveAdmin serves adminproto.OpReport and OpSetUpstream on
// adminproto.ResolvedService, registered with register (init's
// RegisterErr; a test's broker). The connections end with ctx (as they do
// when the process exits).
func serveAdmin(ctx context.Context, register func(context.Context, string, func(libipc.Endpoint)) error, d *daemon) error {
	mux := libipc.NewMux()
	libipc.Handle(mux, adminproto.OpSetUpstream, func(_ *libipc.Request, u *adminproto.Upstream) (*adminproto.Upstream, error) {
		return d.setUpstream(u)
	})
	libipc.Handle(mux, adminproto.OpReport, func(*libipc.Request, *adminproto.Empty) (*adminproto.Report, error) {
		var b bytes.Buffer
		d.report(&b)
		return &adminproto.Report{Text: b.String()}, nil
	})
	srv := libipc.NewServer(mux)
	go func() { _ = srv.Serve(ctx) }()
	return register(ctx, adminproto.ResolvedService, srv.Accept)
}

// daemon is resolved at work: the resolver's server, answering on pc and
// asking upstream through tr.
type daemon struct {
	opts    options
	srv     *resolver.Server
	tr      *resolver.UDPTransport
	pc      *libsocket.PacketConn
	started time.Time
	served  chan error // ServePacket's end

	tcpAddr          atomic.Value  // the DNS-over-TCP listener's address, once it serves
	streamClients    atomic.Uint64 // DNS-over-TCP connections served
	streamRefused    atomic.Uint64 // ... closed at once: maxStreamClients were being served
	streamNotAllowed atomic.Uint64 // ... closed at once: not from loopback

	mu     sync.Mutex // orders OpSetUpstream calls; guards source
	source string     // where the upstream servers came from: "flags", or OpSetUpstream's Source
}

// setUpstream is OpSetUpstream: the servers replace the engine's (on its
// loop); the cache stays. A bad body changes nothing.
func (d *daemon) setUpstream(u *adminproto.Upstream) (*adminproto.Upstream, error) {
	servers, err := adminproto.ParseUpstream(u)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.srv.SetServers(servers); err != nil {
		return nil, err
	}
	d.source = u.Source
	if d.source == "" {
		d.source = "admin"
	}
	return d.upstream(), nil
}

// upstream returns the servers in use and their source (d.mu held).
func (d *daemon) upstream() *adminproto.Upstream {
	r := &adminproto.Upstream{Source: d.source}
	for _, s := range d.srv.Servers() {
		r.Servers = append(r.Servers, s.String())
	}
	return r
}

// start binds the service socket and starts serving it.
func start(ctx context.Context, client *libsocket.Client, opts options) (*daemon, error) {
	pc, err := client.ListenPacket(ctx, opts.listen)
	if err != nil {
		return nil, err
	}
	listen := func(port uint16) (net.PacketConn, error) {
		return client.ListenPacket(context.Background(), netip.AddrPortFrom(netip.IPv4Unspecified(), port))
	}
	d := &daemon{opts: opts, pc: pc, started: time.Now(), served: make(chan error, 1), source: "flags"}
	// Truncated answers are asked again over TCP (through tcpd; without
	// it the dial fails and the lookup ends SERVFAIL as before).
	dial := func(ctx context.Context, server netip.AddrPort) (net.Conn, error) { return client.DialTCP(ctx, server) }
	d.srv, err = resolver.NewServer(opts.cfg, func(deliver resolver.DeliverFunc) resolver.Upstream {
		d.tr = resolver.NewUDPTransport(listen, deliver)
		return resolver.NewTCPFallback(d.tr, dial)
	})
	if err != nil {
		pc.Close()
		return nil, err
	}
	go func() { d.served <- d.srv.ServePacket(pc, resolver.LoopbackOnly) }()
	return d, nil
}

// maxStreamClients bounds the DNS-over-TCP connections served at once;
// beyond, a new one is closed at once (counted: StreamRefused).
const maxStreamClients = 16

// serveTCP serves DNS over TCP on the service port to loopback clients
// (what Go's resolver asks after a truncated answer), once tcpd serves;
// without tcpd, UDP alone is served.
func (d *daemon) serveTCP(ctx context.Context, client *libsocket.Client) {
	if err := libsocket.WaitTCP(ctx); err != nil {
		return
	}
	ln, err := client.ListenTCP(ctx, d.opts.listen, maxStreamClients)
	if err != nil {
		fmt.Fprintf(os.Stderr, "resolved: no DNS over TCP: %v\n", err)
		return
	}
	go func() { <-ctx.Done(); ln.Close() }()
	d.acceptTCP(ln)
}

// acceptTCP serves the DNS-over-TCP connections ln accepts until it
// closes.
func (d *daemon) acceptTCP(ln *libsocket.TCPListener) {
	d.tcpAddr.Store(ln.AddrPort().String())
	slots := make(chan struct{}, maxStreamClients)
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			return
		}
		_, remote := c.AddrPorts()
		if !resolver.LoopbackOnly(remote) {
			d.streamNotAllowed.Add(1)
			c.Close()
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			d.streamRefused.Add(1)
			c.Close()
			continue
		}
		d.streamClients.Add(1)
		go func() {
			defer func() { <-slots }()
			d.srv.ServeStream(c)
		}()
	}
}

func (d *daemon) readyLine() string {
	up := upstreamList{&d.opts.cfg.Servers}.String()
	return fmt.Sprintf("%s on udp %v upstream %s cache %d entries", readyPrefix, d.pc.LocalAddr(), up, d.opts.cfg.CacheEntries)
}

// close stops serving: the server, its socket and the upstream sockets.
func (d *daemon) close() {
	d.srv.Close()
	d.pc.Close()
}

// report prints the counters netstat style: a "group:" heading, then
// "    Name value" lines (the resolver's non-zero counters; Cache's gauges
// always), then the process's own figures.
func (d *daemon) report(w io.Writer) {
	c := d.srv.Counters()
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		g := v.Field(i)
		fmt.Fprintf(w, "%s:\n", strings.ToLower(v.Type().Field(i).Name))
		for j := range g.NumField() {
			name := g.Type().Field(j).Name
			n := g.Field(j).Uint()
			if n != 0 || (v.Type().Field(i).Name == "Cache" && (name == "Entries" || name == "Bytes")) {
				fmt.Fprintf(w, "    %-16s %d\n", name, n)
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(w, "server:\n    %-16s %d\n    %-16s %d\n    %-16s %d\n    %-16s %d\n",
		"UptimeSeconds", int(time.Since(d.started).Seconds()), "UpstreamSockets", d.tr.Open(),
		"SysKiB", m.Sys>>10, "HeapInuseKiB", m.HeapInuse>>10)
	d.mu.Lock()
	u := d.upstream()
	d.mu.Unlock()
	fmt.Fprintf(w, "    %-16s %s\n    %-16s %s\n", "Upstream", orDash(strings.Join(u.Servers, ",")), "UpstreamSource", u.Source)
	tcp, _ := d.tcpAddr.Load().(string)
	fmt.Fprintf(w, "    %-16s %s\n    %-16s %d\n    %-16s %d\n    %-16s %d\n", "TCP", orDash(tcp),
		"TCPClients", d.streamClients.Load(), "TCPRefused", d.streamRefused.Load(), "TCPNotAllowed", d.streamNotAllowed.Load())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
