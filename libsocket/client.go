package libsocket

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"armos/libipc"
	"armos/libsocket/sockproto"
)

// Reconnection bounds: after netd dies, a Client tries to reach the new
// instance ReconnectAttempts times, waiting ReconnectBackoff before the first
// retry and doubling up to ReconnectMaxBackoff (about 6 s in all), then
// gives up and returns the error.
const (
	ReconnectAttempts   = 64
	ReconnectBackoff    = time.Millisecond
	ReconnectMaxBackoff = 100 * time.Millisecond
)

// Stats counts a Client's recoveries from netd restarts.
type Stats struct {
	Reconnects      uint64 // new connections made after the old one died
	ReconnectErrors uint64 // reconnections that gave up (ReconnectAttempts or ctx)
	Replays         uint64 // sockets re-created in a new netd
	ReplayErrors    uint64 // sockets whose state could not be replayed (port taken, ...)
	Retries         uint64 // calls repeated on a new connection
}

// Client is a connection to netd's socket service. Create it with Dial
// (which can reconnect after a netd restart) or NewClient (which cannot).
type Client struct {
	dialer  libipc.Dialer // nil: no reconnection
	service string        // the name the dialer connects to

	mu     sync.Mutex
	conn   *libipc.Conn
	gen    uint64 // incremented by every reconnection
	closed bool
	// socks are the sockets created and not closed: replayed at once into
	// a restarted netd (replayAll), not on their next call.
	socks map[*Socket]struct{}

	redial sync.Mutex // one reconnection at a time
	tags   atomic.Uint32

	stats struct {
		reconnects, reconnectErrors, replays, replayErrors, retries atomic.Uint64
	}
}

// Dial connects to the socket service (sockproto.ServiceName) through d. The
// Client keeps d to reconnect if netd restarts.
func Dial(ctx context.Context, d libipc.Dialer) (*Client, error) {
	return DialService(ctx, d, sockproto.ServiceName)
}

// DialService is Dial to a socket service registered under another name
// (a second netd, on another interface).
func DialService(ctx context.Context, d libipc.Dialer, service string) (*Client, error) {
	ep, err := d.Connect(ctx, service)
	if err != nil {
		return nil, fmt.Errorf("libsocket: dial %s: %w", service, err)
	}
	c := &Client{dialer: d, service: service, conn: libipc.NewConn(watch(ep)), gen: 1, socks: map[*Socket]struct{}{}}
	go c.watchConn(c.conn, 1)
	return c, nil
}

// ReplayTimeout bounds the eager replay of a Client's sockets after a
// reconnection.
const ReplayTimeout = 10 * time.Second

// watchConn reconnects as soon as connection gen ends, even while no call
// is in progress, so that idle sockets are replayed at once: a datagram
// for an idle bound socket must not meet "port unreachable" in the new
// netd, nor its port another client.
func (c *Client) watchConn(conn *libipc.Conn, gen uint64) {
	<-conn.Done()
	if !c.canRetry(conn.Err()) {
		return // closed by us, or netd refused the connection (ENFILE)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ReplayTimeout)
	defer cancel()
	_ = c.reconnect(ctx, gen) // a failure is counted; the next call tries again
}

// replayAll replays every socket into the connection of generation gen.
func (c *Client) replayAll(gen uint64) {
	c.mu.Lock()
	socks := make([]*Socket, 0, len(c.socks))
	for s := range c.socks {
		socks = append(socks, s)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), ReplayTimeout)
	defer cancel()
	for _, s := range socks {
		if _, cur := c.current(); cur != gen {
			return // another reconnection took over
		}
		_, _, _, _ = s.live(ctx) // errors are counted (ReplayErrors)
	}
}

// track records a created socket; forget drops a closed one.
func (c *Client) track(s *Socket) {
	c.mu.Lock()
	if c.socks != nil {
		c.socks[s] = struct{}{}
	}
	c.mu.Unlock()
}

func (c *Client) forget(s *Socket) {
	c.mu.Lock()
	delete(c.socks, s)
	c.mu.Unlock()
}

// NewClient uses an existing connection to the socket service. Such a
// Client cannot reconnect: when the connection ends, calls fail with an
// error wrapping libipc.ErrPeerClosed.
func NewClient(conn *libipc.Conn) *Client {
	return &Client{conn: conn, gen: 1}
}

// Close closes the connection. netd then closes every socket of the Client
// and frees their ports. Calls in progress fail with errors wrapping
// libipc.ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	conn := c.conn
	c.mu.Unlock()
	return conn.Close()
}

// Stats returns the Client's counters.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		Reconnects: s.reconnects.Load(), ReconnectErrors: s.reconnectErrors.Load(),
		Replays: s.replays.Load(), ReplayErrors: s.replayErrors.Load(), Retries: s.retries.Load(),
	}
}

// current returns the connection and its generation.
func (c *Client) current() (*libipc.Conn, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn, c.gen
}

// canRetry reports whether err means netd went away and a reconnection may
// help: the Client has a Dialer, was not closed, and err wraps
// ErrPeerClosed but is not netd's refusal (ENFILE, see watchedEndpoint).
func (c *Client) canRetry(err error) bool {
	if c.dialer == nil || !errors.Is(err, libipc.ErrPeerClosed) || errors.Is(err, errRefused) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed
}

// reconnect replaces the connection of generation failed with a new one,
// unless another caller already did.
func (c *Client) reconnect(ctx context.Context, failed uint64) error {
	c.redial.Lock()
	defer c.redial.Unlock()
	c.mu.Lock()
	done, closed := c.gen != failed, c.closed
	old := c.conn
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("libsocket: reconnect: %w", libipc.ErrClosed)
	}
	if done {
		return nil
	}
	old.Close()
	ep, err := Redial(ctx, c.dialer, c.service)
	if err != nil {
		c.stats.reconnectErrors.Add(1)
		return fmt.Errorf("libsocket: reconnect %s: %w", c.service, err)
	}
	c.mu.Lock()
	conn := libipc.NewConn(watch(ep))
	c.conn = conn
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	c.stats.reconnects.Add(1)
	go c.watchConn(conn, gen)
	go c.replayAll(gen)
	return nil
}

// Redial connects to service through d after the service went away: up to
// ReconnectAttempts tries, waiting ReconnectBackoff before the first retry
// and doubling up to ReconnectMaxBackoff, until ctx ends. It returns the
// last error when every try failed. libsocket and libproto reconnect with it.
func Redial(ctx context.Context, d libipc.Dialer, service string) (libipc.Endpoint, error) {
	wait := ReconnectBackoff
	var err error
	for range ReconnectAttempts {
		var ep libipc.Endpoint
		if ep, err = d.Connect(ctx, service); err == nil {
			return ep, nil
		}
		if ctx.Err() != nil {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, ReconnectMaxBackoff)
	}
	return nil, err
}

// call makes one request on the current connection, reconnecting and
// retrying while netd is being restarted. It is for calls that do not name
// a socket (OpSocket).
func (c *Client) call(ctx context.Context, op sockproto.Op, req, resp any) error {
	caps, err := c.callCaps(ctx, op, req, resp)
	closeCaps(caps)
	return err
}

// callCaps is call returning the caps the reply moved to us.
func (c *Client) callCaps(ctx context.Context, op sockproto.Op, req, resp any) ([]libipc.Cap, error) {
	for {
		conn, gen := c.current()
		caps, err := conn.CallCaps(ctx, libipc.Op(op), req, resp, nil)
		if err == nil || !c.canRetry(err) {
			return caps, err
		}
		c.stats.retries.Add(1)
		if rerr := c.reconnect(ctx, gen); rerr != nil {
			return nil, rerr
		}
	}
}

// Socket creates an unbound UDP socket.
func (c *Client) Socket(ctx context.Context) (*Socket, error) {
	s := &Socket{c: c}
	if err := s.create(ctx); err != nil {
		return nil, opError("socket", netipZero, netipZero, err)
	}
	return s, nil
}
