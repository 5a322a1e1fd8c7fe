package libsocket

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"armos/libsocket/sockproto"
)

// PacketConn adapts a Socket to net.PacketConn (and the Read/Write half of
// net.Conn for connected sockets), with Go's deadline semantics:
//
//   - a deadline is an absolute time after which reads (or writes) fail
//     with an error satisfying errors.Is(err, os.ErrDeadlineExceeded) and
//     net.Error's Timeout();
//   - a deadline in the past makes calls fail at once, a zero deadline means
//     none, and moving a deadline affects reads already blocked;
//   - after Close, calls fail with an error wrapping net.ErrClosed.
//
// Sends never block in netd, so the write deadline is only checked before
// each write. A PacketConn is safe for concurrent use.
type PacketConn struct {
	s *Socket

	mu      sync.Mutex
	rdl     time.Time
	wdl     time.Time
	readers map[*readCtx]struct{} // blocked reads, woken when rdl moves
	// spare is a reader's context that was never cancelled, kept for the
	// next read (a context per read was most of a read's allocations).
	spare *readCtx
}

var (
	errDeadlineMoved  = errors.New("libsocket: read deadline moved")
	errDeadlinePassed = errors.New("libsocket: read deadline passed")
)

// NewPacketConn adapts s. Closing the PacketConn closes s.
func NewPacketConn(s *Socket) *PacketConn {
	return &PacketConn{s: s, readers: make(map[*readCtx]struct{})}
}

// ListenPacket creates a UDP socket bound to laddr, as net.ListenPacket
// does, and returns it as a PacketConn.
func (c *Client) ListenPacket(ctx context.Context, laddr netip.AddrPort) (*PacketConn, error) {
	s, err := c.ListenUDP(ctx, laddr)
	if err != nil {
		return nil, err
	}
	return NewPacketConn(s), nil
}

// ListenUDP creates a socket bound to laddr.
func (c *Client) ListenUDP(ctx context.Context, laddr netip.AddrPort) (*Socket, error) {
	return c.socketWith(ctx, func(s *Socket) error { return s.Bind(ctx, laddr) })
}

// DialUDP creates a socket connected to raddr (bound to an ephemeral port).
func (c *Client) DialUDP(ctx context.Context, raddr netip.AddrPort) (*Socket, error) {
	return c.socketWith(ctx, func(s *Socket) error { return s.Connect(ctx, raddr) })
}

// socketWith creates a socket and sets it up with setup, closing it if
// that fails.
func (c *Client) socketWith(ctx context.Context, setup func(*Socket) error) (*Socket, error) {
	s, err := c.Socket(ctx)
	if err != nil {
		return nil, err
	}
	if err := setup(s); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Socket returns the adapted socket.
func (p *PacketConn) Socket() *Socket { return p.s }

func (p *PacketConn) opErr(op string, remote netip.AddrPort, err error) error {
	if !remote.IsValid() {
		remote = p.s.RemoteAddr()
	}
	return &net.OpError{Op: op, Net: netName, Source: udpAddr(p.s.LocalAddr()), Addr: udpAddr(remote), Err: err}
}

// ReadFrom receives one datagram (net.PacketConn). A datagram longer than
// b is truncated.
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := p.ReadFromUDPAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// ReadFromUDPAddrPort is ReadFrom returning a netip.AddrPort (no
// allocation for the address), like net.UDPConn's method of that name.
func (p *PacketConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	r, _, err := p.read(b, nil, nil)
	return r.N, r.From, err
}

// ReadBatch reads up to len(bufs) datagrams in one round trip to netd
// (Socket.RecvBatch: recvmmsg), waiting like ReadFrom (read deadline
// included) for the first only, and describes them in res, which needs
// len(bufs) entries. It returns how many it read. Each is cut to the
// shortest buffer's length. Go's *net.UDPConn has no such method; a
// program that wants it on both asks for it with a type assertion (as
// apps/echo does).
func (p *PacketConn) ReadBatch(bufs [][]byte, res []RecvResult) (int, error) {
	n, err := recvBatch(bufs, res, p.read)
	if err == errBadBatch {
		err = p.opErr("read", netipZero, sockproto.EINVAL)
	}
	return n, err
}

// read is ReadFromUDPAddrPort, also taking up to len(more) further queued
// datagrams (Socket.recv).
func (p *PacketConn) read(b []byte, more [][]byte, moreRes []RecvResult) (RecvResult, int, error) {
	for {
		p.mu.Lock()
		dl := p.rdl
		if !dl.IsZero() && !time.Now().Before(dl) {
			p.mu.Unlock()
			return RecvResult{}, 0, p.opErr("read", netipZero, os.ErrDeadlineExceeded)
		}
		pr := p.spare
		p.spare = nil
		if pr == nil {
			pr = newReadCtx()
		}
		p.readers[pr] = struct{}{}
		p.mu.Unlock()

		var timer *time.Timer
		var timeout time.Duration
		if !dl.IsZero() {
			timeout = time.Until(dl)
			timer = time.AfterFunc(timeout, func() { pr.cancel(errDeadlinePassed) })
		}
		// netd bounds a receive's timeout; a farther deadline is enforced
		// here, re-issuing the receive when netd's shorter timeout ends.
		timeout = min(max(timeout, 0), time.Duration(sockproto.MaxRecvTimeout))
		r, n, err := p.s.recv(pr, b, more, moreRes, 0, timeout)
		if timer != nil {
			timer.Stop()
		}
		p.mu.Lock()
		delete(p.readers, pr)
		why := pr.cause()
		if why == nil && p.spare == nil {
			p.spare = pr // not cancelled: good for the next read
		}
		p.mu.Unlock()
		if err == nil {
			return r, n, nil
		}
		switch {
		case errors.Is(err, net.ErrClosed):
			return RecvResult{}, 0, p.opErr("read", netipZero, net.ErrClosed)
		case why == errDeadlineMoved, why == errDeadlinePassed,
			!dl.IsZero() && errors.Is(err, ETIMEDOUT): // netd's timer for our deadline
			continue // check the (possibly new) deadline again
		}
		var oe *net.OpError
		if errors.As(err, &oe) {
			oe.Op = "read"
		}
		return RecvResult{}, 0, err
	}
}

// WriteTo sends b as one datagram to addr (net.PacketConn); addr must be a
// *net.UDPAddr.
func (p *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, p.opErr("write", netipZero, EINVAL)
	}
	ap := ua.AddrPort() // a 16-byte net.IP gives an IPv4-mapped address
	return p.WriteToUDPAddrPort(b, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

// WriteToUDPAddrPort sends b to addr.
func (p *PacketConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if err := p.writeDeadline(addr); err != nil {
		return 0, err
	}
	var n int
	var err error
	if addr.IsValid() {
		n, err = p.s.SendTo(context.Background(), b, addr)
	} else {
		n, err = p.s.Send(context.Background(), b)
	}
	return n, asWrite(err)
}

// WriteBatch sends bufs[i] to addrs[i] (a zero address: the connected
// peer) in as few round trips to netd as fit (Socket.SendBatch: sendmmsg),
// honouring the write deadline. It returns how many were sent; on an error
// the count is of those before the datagram that failed.
func (p *PacketConn) WriteBatch(bufs [][]byte, addrs []netip.AddrPort) (int, error) {
	if err := p.writeDeadline(netipZero); err != nil {
		return 0, err
	}
	n, err := p.s.SendBatch(context.Background(), bufs, addrs)
	return n, asWrite(err)
}

// writeDeadline fails a write (to addr) whose deadline has passed.
func (p *PacketConn) writeDeadline(addr netip.AddrPort) error {
	p.mu.Lock()
	dl := p.wdl
	p.mu.Unlock()
	if !dl.IsZero() && !time.Now().Before(dl) {
		return p.opErr("write", addr, os.ErrDeadlineExceeded)
	}
	return nil
}

// asWrite names a send's error as package net names a PacketConn's: a
// "write".
func asWrite(err error) error {
	if err != nil { // (oe escapes: only on the error path)
		var oe *net.OpError
		if errors.As(err, &oe) {
			oe.Op = "write"
		}
	}
	return err
}

// Read receives from the connected peer (net.Conn).
func (p *PacketConn) Read(b []byte) (int, error) {
	n, _, err := p.ReadFromUDPAddrPort(b)
	return n, err
}

// Write sends to the connected peer (net.Conn).
func (p *PacketConn) Write(b []byte) (int, error) {
	return p.WriteToUDPAddrPort(b, netipZero)
}

// Close closes the socket; blocked reads return errors wrapping
// net.ErrClosed.
func (p *PacketConn) Close() error {
	return p.s.Close()
}

// LocalAddr returns the bound address as a *net.UDPAddr (nil while
// unbound).
func (p *PacketConn) LocalAddr() net.Addr { return udpAddr(p.s.LocalAddr()) }

// RemoteAddr returns the connected peer as a *net.UDPAddr, or nil.
func (p *PacketConn) RemoteAddr() net.Addr { return udpAddr(p.s.RemoteAddr()) }

// SetDeadline sets both the read and the write deadline.
func (p *PacketConn) SetDeadline(t time.Time) error {
	p.SetReadDeadline(t)
	return p.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; blocked reads re-check it at once.
func (p *PacketConn) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rdl = t
	for pr := range p.readers {
		pr.cancel(errDeadlineMoved)
	}
	return nil
}

// SetWriteDeadline sets the write deadline.
func (p *PacketConn) SetWriteDeadline(t time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wdl = t
	return nil
}

var (
	_ net.PacketConn = (*PacketConn)(nil)
	_ net.Conn       = (*PacketConn)(nil)
)
