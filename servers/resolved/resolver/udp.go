package resolver

import (
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// DeliverFunc hands a datagram received on attempt a's socket to the
// engine's owner (Server.deliver): msg is the receiver's to keep.
type DeliverFunc func(a Attempt, from netip.AddrPort, msg []byte)

// ListenFunc binds a UDP socket to port on every local address (port 0:
// any port). On a host it is NetListen; on armos it wraps
// libsocket.Client.ListenPacket.
type ListenFunc func(port uint16) (net.PacketConn, error)

// NetListen binds with Go's net package.
func NetListen(port uint16) (net.PacketConn, error) {
	return net.ListenPacket("udp", ":"+strconv.Itoa(int(port)))
}

// UDPTransport is the Upstream over UDP: every attempt gets a socket of its
// own on a random port (RFC 5452's port randomisation; netd's ephemeral
// ports are sequential, so the transport picks the port), read by a
// goroutine of its own until Done closes it.
type UDPTransport struct {
	listen  ListenFunc
	deliver DeliverFunc

	mu     sync.Mutex
	rnd    *rand.Rand
	socks  map[Attempt]net.PacketConn
	closed bool
	wg     sync.WaitGroup
}

// Port randomisation: tries at a random port in [portLow, 65535] before
// settling for any port; datagrams read up to readBuf bytes.
const (
	portLow   = 1024
	portTries = 8
	readBuf   = 4096
)

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("resolver: transport closed")

// NewUDPTransport returns a transport binding its sockets with listen and
// handing what they receive to deliver.
func NewUDPTransport(listen ListenFunc, deliver DeliverFunc) *UDPTransport {
	var seed [32]byte
	crand.Read(seed[:])
	return &UDPTransport{listen: listen, deliver: deliver, rnd: rand.New(rand.NewChaCha8(seed)),
		socks: make(map[Attempt]net.PacketConn)}
}

// Send opens attempt a's socket and sends query to server from it.
func (t *UDPTransport) Send(a Attempt, server netip.AddrPort, query []byte) error {
	pc, err := t.open()
	if err != nil {
		return err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		pc.Close()
		return ErrClosed
	}
	t.socks[a] = pc
	t.wg.Add(1)
	t.mu.Unlock()
	go t.read(a, pc)
	_, err = pc.WriteTo(query, net.UDPAddrFromAddrPort(server))
	return err
}

func (t *UDPTransport) open() (net.PacketConn, error) {
	for range portTries {
		t.mu.Lock()
		port := uint16(portLow + t.rnd.IntN(65536-portLow))
		t.mu.Unlock()
		if pc, err := t.listen(port); err == nil {
			return pc, nil
		}
	}
	return t.listen(0)
}

func (t *UDPTransport) read(a Attempt, pc net.PacketConn) {
	defer t.wg.Done()
	buf := make([]byte, readBuf)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		t.deliver(a, ua.AddrPort(), append([]byte(nil), buf[:n]...))
	}
}

// Done closes attempt a's socket.
func (t *UDPTransport) Done(a Attempt) {
	t.mu.Lock()
	pc := t.socks[a]
	delete(t.socks, a)
	t.mu.Unlock()
	if pc != nil {
		pc.Close()
	}
}

// Open returns the number of sockets open.
func (t *UDPTransport) Open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.socks)
}

// Close closes every socket and waits for their readers.
func (t *UDPTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	for a, pc := range t.socks {
		pc.Close()
		delete(t.socks, a)
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}
