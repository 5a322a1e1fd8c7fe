// Package prototest runs protocol servers on the host: two netds (stack,
// socket service, protocol service) joined by an in-memory Ethernet link,
// each with a libipc.Broker standing in for init, so a protocol server
// written against libproto is tested in a few lines:
//
//	p := prototest.NewPair(t, prototest.Options{})
//	srv := p.B.Register(t, 253)      // a libproto.Protocol on netd B
//	cli := p.A.Register(t, 253)      // and one on netd A
//	cli.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, Payload: ...})
//	d := <-srv.Datagrams()
//
// A netd that has no owner for a protocol answers its datagrams with ICMP
// protocol unreachable, as Linux does: the sender's owner gets the error.
// Restart replaces both netds (fresh stacks on a fresh link, the same
// brokers), as init restarts netd, to test reconnection.
package prototest

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libproto"
	"armos/libproto/protoproto"
	"armos/libsocket"
	"armos/libsocket/sockproto"
	"armos/servers/netd/link"
	"armos/servers/netd/protosvc"
	"armos/servers/netd/sockets"
	"armos/servers/netd/stack"
)

// Wait bounds each blocking step of the helpers.
const Wait = 10 * time.Second

// The pair's addresses.
var (
	AddrA = netip.MustParsePrefix("10.99.0.1/24")
	AddrB = netip.MustParsePrefix("10.99.0.2/24")
)

// Options configure a Pair.
type Options struct {
	MTU   int         // both interfaces' IP MTU; 0: 1500
	Clock stack.Clock // nil: the system clock
}

// Host is one netd of the pair.
type Host struct {
	Addr   netip.Addr
	Broker *libipc.Broker // dial it as init: libproto.Dial(ctx, h.Broker)

	t      testing.TB
	prefix netip.Prefix
	opts   Options

	mu     sync.Mutex
	st     *stack.Stack
	svc    *sockets.Service
	proto  *protosvc.Service
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Pair is two netds on one link.
type Pair struct {
	A, B *Host
	// LinkA is A's end of the link (link.Mem faults: loss, duplication);
	// it changes at Restart.
	LinkA *link.Mem
	t     testing.TB
}

// NewPair starts two netds, A (10.99.0.1) and B (10.99.0.2); they stop
// when the test ends.
func NewPair(t testing.TB, opts Options) *Pair {
	p := &Pair{t: t,
		A: &Host{Addr: AddrA.Addr(), Broker: libipc.NewBroker(), t: t, prefix: AddrA, opts: opts},
		B: &Host{Addr: AddrB.Addr(), Broker: libipc.NewBroker(), t: t, prefix: AddrB, opts: opts},
	}
	p.start()
	t.Cleanup(func() { p.A.stop(); p.B.stop() })
	return p
}

func (p *Pair) start() {
	a, b := link.NewMemPair(nil)
	p.LinkA = a
	p.A.start(a)
	p.B.start(b)
}

// Restart stops both netds and starts fresh ones (empty stacks, nothing
// registered) on a new link, registered in the same brokers: clients
// (libproto, libsocket) reconnect to them.
func (p *Pair) Restart() {
	p.A.stop()
	p.B.stop()
	p.start()
}

func (h *Host) start(dev *link.Mem) {
	clock := h.opts.Clock
	if clock == nil {
		clock = stack.SystemClock{}
	}
	a := h.prefix.Addr().As4()
	cfg := stack.Config{MAC: stack.MAC{0x02, 0, a[0], a[1], a[2], a[3]}, Addr: h.prefix, MTU: h.opts.MTU, Dev: 1}
	st, err := stack.New(cfg, dev, clock)
	require.NoError(h.t, err)
	svc := sockets.New(st, clock)
	proto := protosvc.New(st, svc.Post)
	svc.SetStreamHandOff(func() (libipc.Endpoint, error) { return proto.StreamSocket(protoproto.ProtoTCP) })
	pump := link.NewPump(dev, st, svc.Post)
	ctx, cancel := context.WithCancel(context.Background())
	h.mu.Lock()
	h.st, h.svc, h.proto, h.cancel = st, svc, proto, cancel
	h.mu.Unlock()
	h.done.Add(3)
	go func() { defer h.done.Done(); _ = svc.Run(ctx) }()
	go func() { defer h.done.Done(); _ = proto.Server().Serve(ctx) }()
	go func() { defer h.done.Done(); _ = pump.Run(ctx) }()
	h.Broker.Register(sockproto.ServiceName, svc.Accept)
	h.Broker.Register(protoproto.ServiceName, proto.Accept)
}

func (h *Host) stop() {
	h.mu.Lock()
	cancel := h.cancel
	h.cancel = nil
	h.mu.Unlock()
	if cancel == nil {
		return
	}
	h.Broker.Unregister(sockproto.ServiceName)
	h.Broker.Unregister(protoproto.ServiceName)
	cancel()
	h.done.Wait()
}

// Do runs fn on the netd's event loop (where the stack may be used) and
// waits for it.
func (h *Host) Do(fn func(st *stack.Stack)) {
	h.mu.Lock()
	st, svc := h.st, h.svc
	h.mu.Unlock()
	done := make(chan struct{})
	require.True(h.t, svc.Post(func() { fn(st); close(done) }), "netd's loop stopped")
	select {
	case <-done:
	case <-time.After(Wait):
		h.t.Fatalf("prototest: netd %v did not run the function", h.Addr)
	}
}

// Counters returns the netd's stack counters.
func (h *Host) Counters() stack.Counters {
	var c stack.Counters
	h.Do(func(st *stack.Stack) { c = st.Counters() })
	return c
}

// Protocol returns the protocol service's counters for num.
func (h *Host) Protocol(num uint8) protosvc.ProtoStats {
	h.mu.Lock()
	proto := h.proto
	h.mu.Unlock()
	for _, p := range proto.Protocols() {
		if p.Proto == num {
			return p
		}
	}
	return protosvc.ProtoStats{Proto: num}
}

// Service returns the running protocol service.
func (h *Host) Service() *protosvc.Service {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.proto
}

// Dial connects a libproto client to the netd; it is closed when the test
// ends.
func (h *Host) Dial(t testing.TB) *libproto.Client {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	c, err := libproto.Dial(ctx, h.Broker)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// Register dials the netd and registers num.
func (h *Host) Register(t testing.TB, num uint8) *libproto.Protocol {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	p, err := h.Dial(t).Register(ctx, num)
	require.NoError(t, err)
	return p
}

// Sockets connects a libsocket client (UDP) to the netd.
func (h *Host) Sockets(t testing.TB) *libsocket.Client {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	c, err := libsocket.Dial(ctx, h.Broker)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// Recv waits for p's next datagram (failing the test after Wait).
func Recv(t testing.TB, p *libproto.Protocol) *libproto.Datagram {
	t.Helper()
	select {
	case d, ok := <-p.Datagrams():
		require.True(t, ok, "protocol %d closed", p.Number())
		return d
	case <-time.After(Wait):
		t.Fatalf("prototest: no datagram for protocol %d", p.Number())
	}
	return nil
}

// RecvError waits for p's next ICMP error.
func RecvError(t testing.TB, p *libproto.Protocol) *libproto.ICMPError {
	t.Helper()
	select {
	case e, ok := <-p.Errors():
		require.True(t, ok, "protocol %d closed", p.Number())
		return e
	case <-time.After(Wait):
		t.Fatalf("prototest: no ICMP error for protocol %d", p.Number())
	}
	return nil
}
