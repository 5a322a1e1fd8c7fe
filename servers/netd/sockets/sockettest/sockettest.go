// Package sockettest runs a hosted netd for tests: netd's stack and socket
// service on their event loop, a libipc.Broker standing in for init, a fake
// clock, and a simulated Ethernet with one peer host. The peer answers ARP
// for its address and hands every UDP datagram netd sends to the test
// (Expect); the test injects datagrams from the peer (SendUDP). Apps written
// against libsocket dial the broker (Client) exactly as they dial init.
//
// Restart kills netd and starts a fresh one (new stack and service, same
// link), as init does, to test libsocket's reconnect and replay.
package sockettest

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libipc/skbuff"
	"armos/libsocket"
	"armos/libsocket/sockproto"
	"armos/servers/netd/sockets"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
)

// The simulated network: netd at OurIP (OurNet), one peer host at PeerIP on
// the same Ethernet.
var (
	OurMAC       = stack.MAC{0x02, 0, 0, 0, 0, 0x01}
	PeerMAC      = stack.MAC{0x02, 0, 0, 0, 0, 0x02}
	BcastMAC     = stack.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	OurNet       = netip.MustParsePrefix("10.0.2.15/24")
	OurIP        = OurNet.Addr()
	PeerIP       = netip.MustParseAddr("10.0.2.2")
	BcastIP      = netip.MustParseAddr("10.0.2.255")
	LimitedBcast = netip.MustParseAddr("255.255.255.255")
)

// LinkQueueLen bounds the frames the simulated link holds for the peer.
const LinkQueueLen = 4096

// simLink is the stack's Link: it copies each transmitted frame to a
// bounded channel read by the peer goroutine (drops counted).
type simLink struct {
	frames  chan []byte
	dropped atomic.Uint64
}

func (l *simLink) Transmit(b *skbuff.Buf) error {
	f := append([]byte(nil), b.Bytes()...)
	_ = b.Free()
	select {
	case l.frames <- f:
	default:
		l.dropped.Add(1)
	}
	return nil
}

// Datagram is a UDP datagram seen on the wire.
type Datagram struct {
	Src, Dst netip.AddrPort
	Payload  []byte
}

// Netd is a running hosted netd. Create it with New; it stops when the
// test ends.
type Netd struct {
	t     testing.TB
	Clock *stacktest.FakeClock // netd's time: advance it, then Service().Kick()

	mu       sync.Mutex // st and svc change when netd "restarts"
	st       *stack.Stack
	svc      *sockets.Service
	restarts int // how many times Restart ran

	Broker    *libipc.Broker // stands in for init: sockproto.ServiceName is registered here
	link      *simLink
	udp       chan Datagram // UDP datagrams netd sent to the peer
	peerDrops atomic.Uint64
	cancel    context.CancelFunc
	done      chan struct{}
}

// New starts a hosted netd for t.
func New(t testing.TB) *Netd {
	h := &Netd{
		t:      t,
		Clock:  stacktest.NewFakeClock(),
		Broker: libipc.NewBroker(),
		link:   &simLink{frames: make(chan []byte, LinkQueueLen)},
		udp:    make(chan Datagram, LinkQueueLen),
		done:   make(chan struct{}),
	}
	h.start()
	go h.peer()
	t.Cleanup(func() {
		h.Stop()
		close(h.link.frames)
	})
	return h
}

// start runs a fresh netd (stack and socket service) and registers it.
func (h *Netd) start() {
	st, err := stack.New(stack.Config{MAC: OurMAC, Addr: OurNet}, h.link, h.Clock)
	require.NoError(h.t, err)
	svc := sockets.New(st, h.Clock)
	if h.restarts > 0 {
		svc.SetGrace(sockets.DefaultGrace) // as netd does when init restarts it
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(ctx)
	}()
	h.mu.Lock()
	h.st, h.svc, h.cancel, h.done = st, svc, cancel, done
	h.mu.Unlock()
	h.Broker.Register(sockproto.ServiceName, svc.Accept)
}

// Stop kills netd: every client connection sees "peer closed", and the
// service is unregistered until Restart.
func (h *Netd) Stop() {
	h.Broker.Unregister(sockproto.ServiceName)
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.mu.Unlock()
	cancel()
	<-done
}

// Restart kills netd and starts a new one, as init would.
// The new netd has the grace period of a restarted one (sockets.SetGrace):
// advance Clock past sockets.DefaultGrace and Kick to end it.
func (h *Netd) Restart() {
	h.Stop()
	h.restarts++
	h.start()
}

// Netd returns the current stack and service. Use the stack only inside
// OnLoop.
func (h *Netd) Netd() (*stack.Stack, *sockets.Service) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st, h.svc
}

// Service returns the current socket service.
func (h *Netd) Service() *sockets.Service {
	_, svc := h.Netd()
	return svc
}

// OnLoop runs fn on netd's event loop and waits for it (the stack may be
// used only there).
func (h *Netd) OnLoop(fn func()) {
	ran := make(chan struct{})
	require.True(h.t, h.Service().Post(func() { fn(); close(ran) }))
	<-ran
}

// Inject delivers an Ethernet frame to the stack as if the link received
// it, and waits until the stack has processed it.
func (h *Netd) Inject(frame []byte) {
	st, svc := h.Netd()
	ran := make(chan struct{})
	require.True(h.t, svc.Post(func() { st.Input(stacktest.Buf(frame)); close(ran) }))
	<-ran
}

// SendUDP injects a UDP datagram from the peer (src should be a PeerIP
// address) to dst, which may be a broadcast address.
func (h *Netd) SendUDP(src, dst netip.AddrPort, payload []byte) {
	dmac := OurMAC
	if dst.Addr() == BcastIP || dst.Addr() == LimitedBcast {
		dmac = BcastMAC
	}
	h.Inject(UDPFrame(PeerMAC, dmac, src, dst, payload))
}

// Expect returns the next UDP datagram netd sent, failing the test after
// 5 s.
func (h *Netd) Expect() Datagram {
	h.t.Helper()
	select {
	case d := <-h.udp:
		return d
	case <-time.After(5 * time.Second):
		h.t.Fatal("no datagram from netd")
		return Datagram{}
	}
}

// Quiet fails the test if netd sends a UDP datagram within 50 ms.
func (h *Netd) Quiet() {
	h.t.Helper()
	select {
	case d := <-h.udp:
		h.t.Fatalf("unexpected datagram %v -> %v %q", d.Src, d.Dst, d.Payload)
	case <-time.After(50 * time.Millisecond):
	}
}

// peer plays the other host: it answers ARP requests for PeerIP and passes
// unfragmented UDP datagrams to h.udp (dropping and counting them when it
// is full); fragments are ignored.
func (h *Netd) peer() {
	for f := range h.link.frames {
		if len(f) < 14 {
			continue
		}
		switch binary.BigEndian.Uint16(f[12:14]) {
		case 0x0806:
			if req, ok := parseARPRequest(f); ok && req == PeerIP {
				reply := arpReply(PeerMAC, PeerIP, OurMAC, OurIP)
				st, svc := h.Netd()
				svc.Post(func() { st.Input(stacktest.Buf(reply)) })
			}
		case 0x0800:
			if d, ok := parseUDP(f); ok {
				select {
				case h.udp <- d:
				default:
					h.peerDrops.Add(1)
				}
			}
		}
	}
}

// Client dials the socket service through the broker, as an app does; it
// is closed when the test ends.
func (h *Netd) Client() *libsocket.Client {
	c, err := libsocket.Dial(context.Background(), h.Broker)
	require.NoError(h.t, err)
	h.t.Cleanup(func() { c.Close() })
	return c
}

// WaitParked waits until exactly n receives are parked in the service.
func (h *Netd) WaitParked(n uint64) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.Service().Stats().Parked == n }, 5*time.Second, time.Millisecond)
}

// Datagrams returns the channel of UDP datagrams netd sent to the peer (for
// benchmarks that wait without Expect's timer).
func (h *Netd) Datagrams() <-chan Datagram { return h.udp }

// Drops returns the frames lost because the link's or the peer's queue
// (LinkQueueLen) was full.
func (h *Netd) Drops() uint64 { return h.link.dropped.Load() + h.peerDrops.Load() }

// ---- frame building and parsing, independent of netd's wire package ----

func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// UDPFrame builds an Ethernet frame carrying one IPv4 UDP datagram, with
// correct checksums.
func UDPFrame(smac, dmac stack.MAC, src, dst netip.AddrPort, payload []byte) []byte {
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], dmac[:])
	copy(f[6:12], smac[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64
	ip[9] = 17
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))
	u := f[34:]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	var pseudo uint32
	for i := 0; i < 4; i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(s4[i:])) + uint32(binary.BigEndian.Uint16(d4[i:]))
	}
	pseudo += 17 + uint32(len(u))
	c := checksum(u, pseudo)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return f
}

func parseUDP(f []byte) (Datagram, bool) {
	if len(f) < 14+20+8 {
		return Datagram{}, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	fragment := binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 // MF or an offset: not reassembled here
	if ip[9] != 17 || fragment || total > len(ip) || ihl+8 > total {
		return Datagram{}, false
	}
	s := netip.AddrFrom4([4]byte(ip[12:16]))
	d := netip.AddrFrom4([4]byte(ip[16:20]))
	u := ip[ihl:total]
	return Datagram{
		Src:     netip.AddrPortFrom(s, binary.BigEndian.Uint16(u[0:])),
		Dst:     netip.AddrPortFrom(d, binary.BigEndian.Uint16(u[2:])),
		Payload: append([]byte(nil), u[8:]...),
	}, true
}

func parseARPRequest(f []byte) (netip.Addr, bool) {
	if len(f) < 14+28 {
		return netip.Addr{}, false
	}
	a := f[14:]
	if binary.BigEndian.Uint16(a[6:]) != 1 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(a[24:28])), true
}

func arpReply(smac stack.MAC, sip netip.Addr, tmac stack.MAC, tip netip.Addr) []byte {
	f := make([]byte, 14+28)
	copy(f[0:6], tmac[:])
	copy(f[6:12], smac[:])
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 2)
	s4, t4 := sip.As4(), tip.As4()
	copy(a[8:14], smac[:])
	copy(a[14:18], s4[:])
	copy(a[18:24], tmac[:])
	copy(a[24:28], t4[:])
	return f
}

// PortUnreachable builds the ICMP "port unreachable" the peer would send
// back for datagram d (which netd sent to it), quoting d's IP header and
// first 8 bytes of UDP, as RFC 792 asks.
func PortUnreachable(d Datagram) []byte {
	orig := UDPFrame(OurMAC, PeerMAC, d.Src, d.Dst, d.Payload)[14:]
	quote := orig[:min(len(orig), 20+8)]
	icmp := make([]byte, 8+len(quote))
	icmp[0], icmp[1] = 3, 3 // destination unreachable, port unreachable
	copy(icmp[8:], quote)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp, 0))

	f := make([]byte, 14+20+len(icmp))
	copy(f[0:6], OurMAC[:])
	copy(f[6:12], PeerMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(icmp)))
	ip[8] = 64
	ip[9] = 1
	s4, d4 := d.Dst.Addr().As4(), d.Src.Addr().As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))
	copy(f[34:], icmp)
	return f
}
