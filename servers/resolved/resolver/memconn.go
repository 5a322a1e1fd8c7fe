package resolver

import (
	"net"
	"os"
	"sync"
	"time"
)

// memQueue is how many datagrams a memConn holds unread; more are dropped,
// as a full socket buffer drops them.
const memQueue = 64

// memConn is one end of an in-memory datagram connection: a net.Conn whose
// every Write is one Read at the other end, and a net.PacketConn (Go's
// resolver frames DNS as datagrams over a Conn that is one, as over UDP).
type memConn struct {
	in     chan []byte
	closed chan struct{}
	once   sync.Once
	peer   *memConn
	local  net.Addr

	mu       sync.Mutex
	deadline time.Time
	moved    chan struct{} // closed and replaced when the read deadline moves
}

// memPipe returns the two ends of an in-memory datagram connection.
func memPipe(a, b net.Addr) (*memConn, *memConn) {
	x := &memConn{in: make(chan []byte, memQueue), closed: make(chan struct{}), local: a, moved: make(chan struct{})}
	y := &memConn{in: make(chan []byte, memQueue), closed: make(chan struct{}), local: b, moved: make(chan struct{})}
	x.peer, y.peer = y, x
	return x, y
}

func (c *memConn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		dl, moved := c.deadline, c.moved
		c.mu.Unlock()
		var expire <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			expire = t.C
		}
		select {
		case m := <-c.in:
			return copy(b, m), nil
		case <-c.closed:
			return 0, net.ErrClosed
		case <-c.peer.closed:
			return 0, net.ErrClosed
		case <-expire:
		case <-moved:
		}
	}
}

func (c *memConn) Write(b []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	select {
	case c.peer.in <- append([]byte(nil), b...):
	default: // the peer's queue is full: lost, as a datagram is
	}
	return len(b), nil
}

func (c *memConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := c.Read(b)
	return n, c.peer.local, err
}

func (c *memConn) WriteTo(b []byte, _ net.Addr) (int, error) { return c.Write(b) }

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.peer.local }

func (c *memConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *memConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.moved)
	c.moved = make(chan struct{})
	return nil
}

// SetWriteDeadline does nothing: writes never block.
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

var (
	_ net.Conn       = (*memConn)(nil)
	_ net.PacketConn = (*memConn)(nil)
)
