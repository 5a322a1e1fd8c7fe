package sockets_test

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

// The simulated network: netd at ourIP, one peer host at peerIP on the same
// Ethernet. The peer answers ARP for its address; UDP it receives is handed
// to the test.
var (
	ourMAC       = stack.MAC{0x02, 0, 0, 0, 0, 0x01}
	peerMAC      = stack.MAC{0x02, 0, 0, 0, 0, 0x02}
	bcastMAC     = stack.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	ourNet       = netip.MustParsePrefix("10.0.2.15/24")
	ourIP        = ourNet.Addr()
	peerIP       = netip.MustParseAddr("10.0.2.2")
	bcastIP      = netip.MustParseAddr("10.0.2.255")
	limitedBcast = netip.MustParseAddr("255.255.255.255")
)

// linkQueueLen bounds the frames the simulated link holds for the peer.
const linkQueueLen = 4096

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

// datagram is a UDP datagram seen on the wire.
type datagram struct {
	src, dst netip.AddrPort
	payload  []byte
}

// harness runs a stack and the socket service on an event loop, with a
// broker standing in for init.
type harness struct {
	t     testing.TB
	clock *stacktest.FakeClock

	mu  sync.Mutex // st and svc change when netd "restarts"
	st  *stack.Stack
	svc *sockets.Service

	broker *libipc.Broker
	link   *simLink
	udp    chan datagram // UDP datagrams netd sent to the peer
	cancel context.CancelFunc
	done   chan struct{}
}

func newHarness(t testing.TB) *harness {
	h := &harness{
		t:      t,
		clock:  stacktest.NewFakeClock(),
		broker: libipc.NewBroker(),
		link:   &simLink{frames: make(chan []byte, linkQueueLen)},
		udp:    make(chan datagram, linkQueueLen),
		done:   make(chan struct{}),
	}
	h.start()
	go h.peer()
	t.Cleanup(func() {
		h.stop()
		close(h.link.frames)
	})
	return h
}

// start runs a fresh netd (stack and socket service) and registers it.
func (h *harness) start() {
	st, err := stack.New(stack.Config{MAC: ourMAC, Addr: ourNet}, h.link, h.clock)
	require.NoError(h.t, err)
	svc := sockets.New(st, h.clock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(ctx)
	}()
	h.mu.Lock()
	h.st, h.svc, h.cancel, h.done = st, svc, cancel, done
	h.mu.Unlock()
	h.broker.Register(sockproto.ServiceName, svc.Accept)
}

// stop kills netd: every client connection sees "peer closed".
func (h *harness) stop() {
	h.broker.Unregister(sockproto.ServiceName)
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.mu.Unlock()
	cancel()
	<-done
}

// restart kills netd and starts a new one, as init would.
func (h *harness) restart() {
	h.stop()
	h.start()
}

// netd returns the current stack and service.
func (h *harness) netd() (*stack.Stack, *sockets.Service) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st, h.svc
}

// service returns the current socket service.
func (h *harness) service() *sockets.Service {
	_, svc := h.netd()
	return svc
}

// onLoop runs fn on the event loop and waits for it.
func (h *harness) onLoop(fn func()) {
	ran := make(chan struct{})
	require.True(h.t, h.service().Post(func() { fn(); close(ran) }))
	<-ran
}

// inject delivers a frame to the stack as if the link received it.
func (h *harness) inject(frame []byte) {
	st, svc := h.netd()
	ran := make(chan struct{})
	require.True(h.t, svc.Post(func() { st.Input(stacktest.Buf(frame)); close(ran) }))
	<-ran
}

// send injects a UDP datagram from src to dst (dst may be a broadcast).
func (h *harness) send(src, dst netip.AddrPort, payload []byte) {
	dmac := ourMAC
	if dst.Addr() == bcastIP || dst.Addr() == limitedBcast {
		dmac = bcastMAC
	}
	h.inject(udpFrame(peerMAC, dmac, src, dst, payload))
}

// expect returns the next datagram netd sent, failing after a while.
func (h *harness) expect() datagram {
	h.t.Helper()
	select {
	case d := <-h.udp:
		return d
	case <-time.After(5 * time.Second):
		h.t.Fatal("no datagram from netd")
		return datagram{}
	}
}

// quiet asserts netd sends nothing for a short while.
func (h *harness) quiet() {
	h.t.Helper()
	select {
	case d := <-h.udp:
		h.t.Fatalf("unexpected datagram %v -> %v %q", d.src, d.dst, d.payload)
	case <-time.After(50 * time.Millisecond):
	}
}

// peer plays the other host: it answers ARP requests for peerIP and passes
// UDP datagrams to h.udp.
func (h *harness) peer() {
	for f := range h.link.frames {
		if len(f) < 14 {
			continue
		}
		switch binary.BigEndian.Uint16(f[12:14]) {
		case 0x0806:
			if req, ok := parseARPRequest(f); ok && req == peerIP {
				reply := arpReply(peerMAC, peerIP, ourMAC, ourIP)
				st, svc := h.netd()
				svc.Post(func() { st.Input(stacktest.Buf(reply)) })
			}
		case 0x0800:
			if d, ok := parseUDP(f); ok {
				select {
				case h.udp <- d:
				default:
				}
			}
		}
	}
}

// client dials the socket service through the broker.
func (h *harness) client() *libsocket.Client {
	c, err := libsocket.Dial(context.Background(), h.broker)
	require.NoError(h.t, err)
	h.t.Cleanup(func() { c.Close() })
	return c
}

// waitParked waits until n receives are parked in the service.
func (h *harness) waitParked(n uint64) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.service().Stats().Parked == n }, 5*time.Second, time.Millisecond)
}

// ---- frame building and parsing (test-only, independent of netd/wire) ----

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

func udpFrame(smac, dmac stack.MAC, src, dst netip.AddrPort, payload []byte) []byte {
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

func parseUDP(f []byte) (datagram, bool) {
	if len(f) < 14+20+8 {
		return datagram{}, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[9] != 17 || total > len(ip) || ihl+8 > total {
		return datagram{}, false
	}
	s := netip.AddrFrom4([4]byte(ip[12:16]))
	d := netip.AddrFrom4([4]byte(ip[16:20]))
	u := ip[ihl:total]
	return datagram{
		src:     netip.AddrPortFrom(s, binary.BigEndian.Uint16(u[0:])),
		dst:     netip.AddrPortFrom(d, binary.BigEndian.Uint16(u[2:])),
		payload: append([]byte(nil), u[8:]...),
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
