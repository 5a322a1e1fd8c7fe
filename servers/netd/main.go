// Command netd is armos's network server: Ethernet, ARP, IPv4, ICMP and UDP
// (package stack) behind the socket service (package sockets) that
// applications reach with libsocket.
//
// Hosted on a development machine, netd runs against a Linux TAP device, so
// that the Linux kernel's own network stack is its peer:
//
//	netd -tap tap0 -ip 10.99.0.2/24 [-gw 10.99.0.1] [-mac 02:00:0a:63:00:02] [-mtu 1500] [-apps echo]
//	netd -tap tap0 -dhcp [-mac 02:00:0a:63:00:02]   # no address until dhcpc configures it (docs/dhcp.md)
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
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"armos/libipc"
	"armos/libproto/protoproto"
	"armos/libsocket/sockproto"
	"armos/libsys"
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

// opened is the device netd runs on and what it knows of it.
type opened struct {
	dev   device
	where string           // how to name it
	mtu   int              // its MTU
	mac   net.HardwareAddr // its own address (a NIC's), or nil
	tso   *tsoSetter       // a NIC's segmentation offload, as its driver describes it (nil: none)
	share *link.SlotShare  // a NIC driver's shared transmit slots (nil: none)
}

// tsoSetter follows a NIC driver's TSOMax (link.LinkInfo) into the stack:
// the first description comes before the stack exists, later ones (a
// restarted driver, a link change) on the link's goroutine.
type tsoSetter struct {
	mu  sync.Mutex
	st  *stack.Stack
	max int
}

func (t *tsoSetter) set(max int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.max = max
	if t.st != nil {
		t.st.SetTSOMax(max)
	}
}

func (t *tsoSetter) attach(st *stack.Stack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st = st
	st.SetTSOMax(t.max)
}

// openDevice opens what netd runs on: a TAP device (hosted), or an IPC
// link through init: "nic:NAME" connects to the NIC driver NAME, which
// describes its device first (link.LinkInfo: MAC, MTU, carrier);
// "connect:NAME" connects to a peer netd's link; "serve:NAME" registers
// NAME and takes the first connection as the link (a peer netd connects
// to it).
func openDevice(ctx context.Context, opts options) (opened, error) {
	if opts.tap != "" {
		tap, err := link.OpenTAP(opts.tap)
		if err != nil {
			return opened{}, err
		}
		return opened{dev: tap, where: opts.tap, mtu: tap.MTU()}, nil
	}
	boot, err := libipc.Bootstrap()
	if err != nil {
		return opened{}, fmt.Errorf("-link %s: %w", opts.link, err)
	}
	name := linkName(opts.link)
	switch {
	case strings.HasPrefix(opts.link, "nic:"):
		// A NIC driver may restart (virtionetd killed, crashed or
		// restarted by the operator): netd connects to the new one and
		// keeps its stack and every socket.
		tso := &tsoSetter{}
		share := link.NewSlotShare(unmapSlot)
		dial := func(ctx context.Context) (*link.Chan, link.LinkInfo, error) {
			// The slots an earlier driver shared are gone with it.
			share.Retire()
			ep, err := boot.ConnectWait(ctx, name)
			if err != nil {
				return nil, link.LinkInfo{}, err
			}
			c := link.NewChan(ep)
			c.UseShare(share, mapSlot)
			ictx, cancel := context.WithTimeout(ctx, nicInfoTimeout)
			defer cancel()
			info, err := c.ReadInfo(ictx)
			if err != nil {
				c.Close()
				return nil, link.LinkInfo{}, fmt.Errorf("-link %s: %w", opts.link, err)
			}
			c.OnInfo(func(i link.LinkInfo) {
				tso.set(i.TSOMax)
				fmt.Printf("netd: %s: link %s\n", opts.link, upDown(i.Up))
			})
			return c, info, nil
		}
		c, info, err := dial(ctx)
		if err != nil {
			return opened{}, err
		}
		tso.set(info.TSOMax)
		r := link.NewRedial(ctx, c, dial, func(i link.LinkInfo) {
			tso.set(i.TSOMax)
			fmt.Printf("netd: %s: the driver restarted; reconnected (%s, link %s)\n", opts.link, i.Driver, upDown(i.Up))
		})
		r.SetShare(share)
		where := fmt.Sprintf("%s (%s, link %s)", opts.link, info.Driver, upDown(info.Up))
		return opened{dev: r, where: where, mtu: info.MTU, mac: net.HardwareAddr(info.MAC), tso: tso, share: share}, nil
	case strings.HasPrefix(opts.link, "connect:"):
		ep, err := boot.ConnectWait(ctx, name)
		if err != nil {
			return opened{}, err
		}
		return opened{dev: link.NewChan(ep), where: opts.link, mtu: stack.DefaultMTU}, nil
	}
	first := make(chan libipc.Endpoint, 1)
	err = boot.RegisterErr(ctx, name, func(ep libipc.Endpoint) {
		select {
		case first <- ep:
		default:
			ep.Close() // one peer only
		}
	})
	if err != nil {
		return opened{}, err
	}
	select {
	case ep := <-first:
		return opened{dev: link.NewChan(ep), where: opts.link, mtu: stack.DefaultMTU}, nil
	case <-ctx.Done():
		return opened{}, ctx.Err()
	}
}

// mapSlot maps a transmit slot a NIC driver shares (a shared-memory
// object's descriptor, link.OpSlots) and closes the descriptor: the
// mapping keeps the object.
func mapSlot(h libipc.Cap, size int) ([]byte, error) {
	kh, ok := h.(*libipc.KernelHandle)
	if !ok {
		return nil, fmt.Errorf("slot: not a kernel descriptor")
	}
	defer kh.Close()
	return syscall.Mmap(kh.Fd(), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
}

// unmapSlot lets go of a slot's mapping.
func unmapSlot(b []byte) { _ = syscall.Munmap(b) }

// nicInfoTimeout bounds the wait for a NIC driver's link description.
const nicInfoTimeout = 10 * time.Second

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// startTrace is when main began (for the restart timeline).
var startTrace *libsys.Start

// readyPrefix starts the line netd prints once it serves (tests wait for it).
const readyPrefix = "netd: ready"

func main() {
	startTrace = libsys.StartTrace()
	oneProc()
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

// oneProc gives netd's Go runtime one P, as armos gives every process one
// CPU, unless GOMAXPROCS says otherwise. netd is one event loop with a few
// goroutines waiting on I/O around it: a second P only turns each hand-off
// between them into a wake-up of another thread (a futex call, and an idle
// thread spinning for work on the cores the peers need). Hosted on 2 cores,
// one P took netd from 29 to 22 µs of CPU per echo and the tap echo rate up
// by a third (BenchmarkRealPeerEchoWindow, docs/netd.md).
func oneProc() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

func run(opts options) error {
	if opts.cpuProf != "" {
		stop, err := startCPUProfile(opts.cpuProf)
		if err != nil {
			return err
		}
		defer stop()
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	// A standby netd waits here, its runtime up, until init hands it the
	// service (docs/restart.md); SIGTERM while waiting ends it quietly.
	restart, standby, err := libipc.AwaitTurn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if standby {
		startTrace.TookOver()
	}

	od, err := openDevice(ctx, opts)
	if err != nil {
		return err
	}
	startTrace.Mark("link")
	dev, where, mtu := od.dev, od.where, od.mtu
	if opts.mtu != 0 {
		mtu = opts.mtu
	}
	if od.mac != nil && !opts.macSet {
		opts.mac = od.mac // the NIC's own address
	}
	// Restarted by init, netd takes back the address it was using a
	// moment ago without probing it again (RFC 5227's probe guards a new
	// address, not one this host held): its clients wait the least.
	restarted := restart > 0
	cfg := stack.Config{MAC: stack.MAC(opts.mac), Addr: opts.addr, Gateway: opts.gw, MTU: mtu, Dev: 1,
		Probe: !opts.noProbe && !restarted, ARPLifetime: opts.arpLife}
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
	startTrace.Mark("stack")
	if od.tso != nil {
		od.tso.attach(n.st)
	}
	if od.share != nil {
		n.proto.SetPostSource(od.share)
	}
	n.where = where
	n.cfgState.allowed, n.cfgState.linkMTU = opts.dhcp, od.mtu
	// The address is ours once probing found it free (RFC 5227).
	if err := waitReady(ctx, n); err != nil {
		cancel()
		n.stop()
		return err
	}
	startTrace.Mark("ready")
	// Restarted by init: the old clients' ports go back to them first
	// (sockets.SetGrace), before anyone can reach the service.
	if restarted {
		n.svc.Post(func() { n.svc.SetGrace(sockets.DefaultGrace) })
	}
	// Started by init: the socket service is reachable by name, and the
	// operators' service beside it (the main netd's only).
	boot, berr := libipc.Bootstrap()
	if berr == nil {
		n.pcap.dial = dialConsole(boot)
		go boot.ExitWhenGone(ctx, "netd")
		if err := boot.RegisterErr(ctx, opts.service, n.svc.Accept); err != nil {
			cancel()
			n.stop()
			return err
		}
		// The protocol service beside it (docs/protocol-server.md):
		// protocol servers (tcpd) reconnect to it after a restart.
		if err := boot.RegisterErr(ctx, protoproto.ServiceFor(opts.service), n.proto.Accept); err != nil {
			cancel()
			n.stop()
			return err
		}
	}
	// Served: what a restart's clients wait for ends here; the timeline
	// is taken now, the operators' service comes after (before the ready
	// line, so that a shell that saw the line finds it).
	trace := ""
	if restarted { // where a restart's time went (docs/restart.md)
		trace = startTrace.Line("netd", strconv.Itoa(restart))
	}
	if berr == nil && opts.service == sockproto.ServiceName {
		if err := serveAdmin(ctx, boot, n, where, dev); err != nil {
			cancel()
			n.stop()
			return err
		}
	}
	apps := strings.Join(opts.apps, ",")
	if apps == "" {
		apps = "-"
	}
	ip := opts.addr.String()
	if !opts.addr.IsValid() {
		ip = "-" // -dhcp: none until dhcpc's lease
	}
	if opts.dhcp {
		ip += " dhcp"
	}
	fmt.Printf("%s on %s ip %s mac %s mtu %d apps %s service %s\n%s", readyPrefix, where, ip, opts.mac, mtu, apps, opts.service, trace)

	err = n.wait(ctx)
	cancel()
	n.stop()
	var b bytes.Buffer
	n.report(&b)
	reportLink(&b, dev)
	os.Stdout.Write(b.Bytes())
	return err
}
