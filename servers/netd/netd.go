package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"armos/apps/echo/echo"
	"armos/libipc"
	"armos/libproto/protoproto"
	"armos/libsocket"
	"armos/libsocket/sockproto"
	"armos/servers/netd/link"
	"armos/servers/netd/protosvc"
	"armos/servers/netd/sockets"
	"armos/servers/netd/stack"
)

// device is what netd runs on: a link driver that receives (for the pump)
// and transmits (for the stack). link.TAP and link.Mem are devices.
type device interface {
	link.Device
	stack.Link
}

// instance is one wired netd: device -> pump -> event loop (socket service)
// -> stack -> device, with the socket service registered in a broker and the
// hosted apps connected to it through that broker.
type instance struct {
	st     *stack.Stack
	svc    *sockets.Service
	proto  *protosvc.Service // protocol servers (tcpd), docs/protocol-server.md
	pump   *link.Pump
	broker *libipc.Broker

	loopDone  chan error // Service.Run's result
	protoDone chan error // the protocol service's Run result
	pumpDone  chan error // Pump.Run's result
	apps      sync.WaitGroup
	echo      *echo.Server // nil unless -apps echo
	pcap      *capturer    // packet captures (the shell's pcap)
	cfgState  configState  // run-time configuration (configure.go); on the event loop
	where     string       // what netd runs on (ifconfig)
	ctx       context.Context
}

// start wires an instance on dev and starts its event loop, its pump and
// the named apps. It returns once every app is serving. ctx stops it all.
func start(ctx context.Context, cfg stack.Config, clock stack.Clock, dev device, apps []string) (*instance, error) {
	td := &tapped{device: dev} // the capture point (pcap.go)
	st, err := stack.New(cfg, td, clock)
	if err != nil {
		return nil, err
	}
	st.SetConflictHandler(func(c stack.AddressConflict) { reportConflict(st, c) })
	n := &instance{
		st:        st,
		svc:       sockets.New(st, clock),
		broker:    libipc.NewBroker(),
		loopDone:  make(chan error, 1),
		protoDone: make(chan error, 1),
		pumpDone:  make(chan error, 1),
		pcap:      &capturer{tap: td},
		ctx:       ctx,
	}
	n.proto = protosvc.New(st, n.svc.Post)
	n.svc.SetStreamHandOff(func() (libipc.Endpoint, error) { return n.proto.StreamSocket(protoproto.ProtoTCP) })
	n.broker.Register(sockproto.ServiceName, n.svc.Accept)
	n.broker.Register(protoproto.ServiceName, n.proto.Accept)
	n.pump = link.NewPump(td, st, n.svc.Post)
	n.pump.Direct(n.svc.Server().TryPost, n.svc.Rearm)
	go func() { n.loopDone <- n.svc.Run(ctx) }()
	go func() { n.protoDone <- n.proto.Server().Serve(ctx) }()
	go func() { n.pumpDone <- n.pump.Run(ctx) }()
	for _, app := range apps {
		if err := n.startApp(ctx, app); err != nil {
			return n, fmt.Errorf("app %s: %w", app, err)
		}
	}
	return n, nil
}

// startApp connects app to the socket service through the broker, exactly as
// it would reach netd through init inside armos, and runs it.
func (n *instance) startApp(ctx context.Context, app string) error {
	switch app {
	case "echo":
		client, err := libsocket.Dial(ctx, n.broker)
		if err != nil {
			return err
		}
		conn, err := client.ListenPacket(ctx, netip.AddrPortFrom(netip.IPv4Unspecified(), echo.Port))
		if err != nil {
			client.Close()
			return err
		}
		n.echo = echo.New(conn)
		n.apps.Add(1)
		go func() {
			defer n.apps.Done()
			defer client.Close()
			_ = n.echo.Run(ctx) // after ctx ends its error is only the loop going away
		}()
		return nil
	}
	return fmt.Errorf("unknown app")
}

// reportConflict prints a line about another host claiming our address.
func reportConflict(st *stack.Stack, c stack.AddressConflict) {
	what := "defended"
	switch {
	case c.Probing:
		what = "found while probing: not used"
	case !c.Defended:
		what = "not defended again within 10s"
	}
	fmt.Printf("netd: address conflict: %v is claimed by %v (%s)\n", st.Config().Addr.Addr(), net.HardwareAddr(c.MAC[:]), what)
}

// wait blocks until the instance stops: ctx ended (nil) or the device
// failed (its error). Once wait returns, the event loop has stopped, so the
// stack may be read from this goroutine.
func (n *instance) wait(ctx context.Context) error {
	var err error
	select {
	case err = <-n.pumpDone:
		// A link whose peer closed as the system stops (init sends
		// SIGTERM to everyone; a peer netd may end first) is a shutdown,
		// not a failure: wait a moment for our own SIGTERM.
		if errors.Is(err, link.ErrClosed) {
			t := time.NewTimer(shutdownGrace)
			select {
			case <-ctx.Done():
				err = nil
			case <-t.C:
			}
			t.Stop()
		}
		if err != nil {
			err = fmt.Errorf("device: %w", err)
		}
		// The device is gone: stop the loop too (it ends with ctx).
	case <-ctx.Done():
		err = <-n.pumpDone
	}
	return err
}

// shutdownGrace is how long after its link closed netd waits for a
// SIGTERM before calling the closed link a failure.
const shutdownGrace = time.Second

// stop waits for the loop and the apps to finish after ctx was cancelled.
func (n *instance) stop() {
	<-n.loopDone
	<-n.protoDone
	n.apps.Wait()
}

// report prints netd's counters, netstat style.
func (n *instance) report(w io.Writer) {
	fmt.Fprint(w, n.st.Counters().String())
	p := n.pump.Stats()
	fmt.Fprintf(w, "pump:\n    %-20s %d\n    %-20s %d\n", "RxFrames", p.RxFrames, "RxQueueFull", p.RxQueueFull)
	s := n.svc.Stats()
	fmt.Fprint(w, "sockets:\n")
	for _, r := range []struct {
		name string
		v    uint64
	}{{"Requests", s.Requests}, {"Errors", s.Errors}, {"Delivered", s.Delivered}, {"Batched", s.Batched},
		{"BatchSent", s.BatchSent}, {"BatchSendsCut", s.BatchSendsCut}, {"LostReplies", s.LostReplies}} {
		fmt.Fprintf(w, "    %-20s %d\n", r.name, r.v)
	}
	for _, p := range n.proto.Protocols() {
		fmt.Fprintf(w, "proto %d:\n", p.Proto)
		for _, r := range []struct {
			name string
			v    uint64
		}{{"Registers", p.Registers}, {"Delivered", p.Delivered}, {"DroppedFull", p.DroppedFull},
			{"DroppedGone", p.DroppedGone}, {"ICMPErrors", p.ICMPErrors}, {"ICMPDropped", p.ICMPDropped},
			{"Sent", p.Sent}, {"SendErrors", p.SendErrors}, {"SendRefused", p.SendRefused}, {"RefusedOwner", p.RefusedOwner},
			{"Streams", p.Streams}, {"StreamsLost", p.StreamsLost}} {
			if r.v != 0 {
				fmt.Fprintf(w, "    %-20s %d\n", r.name, r.v)
			}
		}
	}
	if n.echo != nil {
		e := n.echo.Stats()
		fmt.Fprintf(w, "echo:\n    %-20s %d\n    %-20s %d\n    %-20s %d\n", "Echoed", e.Echoed, "Bytes", e.Bytes, "WriteErrors", e.WriteErrors)
	}
	if cs := n.cfgState; cs.allowed || cs.refused != 0 {
		fmt.Fprintf(w, "configure:\n    %-20s %d\n    %-20s %d\n", "Changes", cs.changes, "Refused", cs.refused)
	}
	n.pcap.report(w)
	// Memory: what the Go runtime took from the system (its high-water
	// mark, as it rarely gives back) and the heap in use now.
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(w, "memory:\n    %-20s %d\n    %-20s %d\n", "SysKiB", m.Sys>>10, "HeapInuseKiB", m.HeapInuse>>10)
}

// counters reads the stack's counters on the event loop, so it is safe while
// the instance runs; it fails if the loop has stopped or ctx ends first.
func (n *instance) counters(ctx context.Context) (stack.Counters, error) {
	ch := make(chan stack.Counters, 1)
	if !n.svc.Post(func() { ch <- n.st.Counters() }) {
		return stack.Counters{}, fmt.Errorf("netd: event loop stopped")
	}
	select {
	case c := <-ch:
		return c, nil
	case <-ctx.Done():
		return stack.Counters{}, ctx.Err()
	}
}
