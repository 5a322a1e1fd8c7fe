package resolver

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// StreamDialFunc opens a TCP connection to a DNS server. On a host it is
// a net.Dialer's; on armos libsocket.Client.DialTCP (through tcpd).
type StreamDialFunc func(ctx context.Context, server netip.AddrPort) (net.Conn, error)

// StreamTimeout bounds one query over TCP: connecting, sending, and
// reading the answer.
const StreamTimeout = 10 * time.Second

// TCPFallback is a UDPTransport that also asks over TCP (a StreamUpstream):
// the engine uses it for a question whose answer came truncated over UDP.
// Each TCP try is a connection of its own, closed after its one answer (or
// by Done).
type TCPFallback struct {
	*UDPTransport
	dial StreamDialFunc

	mu    sync.Mutex
	conns map[Attempt]net.Conn
	wg    sync.WaitGroup
}

// NewTCPFallback adds TCP (dial) to a UDP transport.
func NewTCPFallback(udp *UDPTransport, dial StreamDialFunc) *TCPFallback {
	return &TCPFallback{UDPTransport: udp, dial: dial, conns: make(map[Attempt]net.Conn)}
}

// SendStream asks server over TCP for attempt a; the answer goes to the
// transport's DeliverFunc. It returns at once: connecting and waiting run
// on a goroutine of their own.
func (t *TCPFallback) SendStream(a Attempt, server netip.AddrPort, query []byte) error {
	if len(query) > maxStreamMsg {
		return ErrSend
	}
	t.mu.Lock()
	if t.conns == nil {
		t.mu.Unlock()
		return ErrClosed
	}
	t.conns[a] = nil // reserved: Done before the connection exists cancels it
	t.wg.Add(1)
	t.mu.Unlock()
	go t.ask(a, server, append([]byte(nil), query...))
	return nil
}

func (t *TCPFallback) ask(a Attempt, server netip.AddrPort, query []byte) {
	defer t.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), StreamTimeout)
	defer cancel()
	c, err := t.dial(ctx, server)
	if err != nil {
		return // the engine's timeout ends the try
	}
	t.mu.Lock()
	if _, ok := t.conns[a]; !ok { // Done (or Close) came first
		t.mu.Unlock()
		c.Close()
		return
	}
	t.conns[a] = c
	t.mu.Unlock()
	defer t.forget(a, c)
	c.SetDeadline(time.Now().Add(StreamTimeout))
	msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(query)), uint16(len(query)))
	if _, err := c.Write(append(msg, query...)); err != nil {
		return
	}
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	answer := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(c, answer); err != nil {
		return
	}
	t.deliver(a, server, answer)
}

// forget closes attempt a's connection c.
func (t *TCPFallback) forget(a Attempt, c net.Conn) {
	t.mu.Lock()
	if t.conns != nil && t.conns[a] == c {
		delete(t.conns, a)
	}
	t.mu.Unlock()
	c.Close()
}

// Done ends attempt a: its UDP socket or TCP connection closes.
func (t *TCPFallback) Done(a Attempt) {
	t.UDPTransport.Done(a)
	t.mu.Lock()
	c, ok := t.conns[a]
	delete(t.conns, a)
	t.mu.Unlock()
	if ok && c != nil {
		c.Close()
	}
}

// Close closes every socket and connection and waits for their goroutines.
func (t *TCPFallback) Close() error {
	t.mu.Lock()
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	t.wg.Wait()
	return t.UDPTransport.Close()
}
