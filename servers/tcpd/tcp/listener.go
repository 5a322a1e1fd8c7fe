package tcp

import (
	"net/netip"

	"armos/servers/tcpd/tcp/wire"
)

// Listener is a passive open (RFC 9293 LISTEN): it answers SYNs to its
// port with half-open connections (the SYN queue, bounded by
// Config.SynBacklog) and queues those whose handshake completes (the
// accept queue, bounded by the backlog) until Accept takes them. When the
// accept queue is full, new SYNs and handshake-completing ACKs are dropped
// (counted) so that peers retry, as Linux does; there are no SYN cookies.
type Listener struct {
	s       *Stack
	local   netip.AddrPort
	backlog int
	syn     int     // half-open connections
	queue   []*Conn // established, not yet accepted
	closed  bool
	notify  notifier
}

// Listen opens a listener on local (an IPv4 address of ours, or 0.0.0.0
// for any; the port must not be 0). backlog bounds the accept queue
// (clamped to 1..MaxBacklog). Errors: ErrInvalidAddr, ErrAddrInUse (a
// listener holds the port), in a *net.OpError.
func (s *Stack) Listen(local netip.AddrPort, backlog int) (*Listener, error) {
	if !local.Addr().Is4() || local.Port() == 0 || (!local.Addr().IsUnspecified() && !unicast(local.Addr())) {
		return nil, opErr("listen", local, ErrInvalidAddr)
	}
	if s.listeners[local.Port()] != nil {
		return nil, opErr("listen", local, ErrAddrInUse)
	}
	l := &Listener{s: s, local: local, backlog: max(1, min(backlog, MaxBacklog))}
	s.listeners[local.Port()] = l
	return l, nil
}

// Addr returns the address the listener was opened on.
func (l *Listener) Addr() netip.AddrPort { return l.local }

// SetNotify sets fn to be called when a connection joins the accept queue
// (see Conn.SetNotify for when it runs).
func (l *Listener) SetNotify(fn func()) { l.notify.fn = fn }

// Pending returns the connections waiting in the accept queue.
func (l *Listener) Pending() int { return len(l.queue) }

// HalfOpen returns the connections in SYN-RECEIVED.
func (l *Listener) HalfOpen() int { return l.syn }

// Accept takes the oldest connection from the accept queue; ErrWouldBlock
// when it is empty. The connection may already have received data, a FIN
// or even a RST (then its Err says so).
func (l *Listener) Accept() (*Conn, error) {
	if l.closed {
		return nil, opErr("accept", l.local, ErrClosed)
	}
	if len(l.queue) == 0 {
		return nil, ErrWouldBlock
	}
	c := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	c.listener, c.queued = nil, false
	return c, nil
}

// Close stops listening: the port is free again, and connections not yet
// accepted, half-open or queued, are reset.
func (l *Listener) Close() error {
	defer l.s.flush()
	if l.closed {
		return opErr("close", l.local, ErrClosed)
	}
	l.closed = true
	delete(l.s.listeners, l.local.Port())
	for _, c := range l.queue {
		c.listener, c.queued = nil, false
		c.userClosed = true
		c.abort()
	}
	l.queue = nil
	for i := 0; i < len(l.s.list); {
		c := l.s.list[i]
		if c.listener == l {
			c.abort() // swaps the last connection into i
			continue
		}
		i++
	}
	return nil
}

// input handles a segment to the listener (RFC 9293 3.10.7.2): a RST is
// ignored, an ACK answered with a RST, a SYN becomes a half-open
// connection in SYN-RECEIVED answered with SYN-ACK — unless a queue is
// full. Data and FIN on the SYN are not kept (the peer sends them again).
func (l *Listener) input(t tuple, seg wire.Segment) verdict {
	s := l.s
	f := seg.Flags()
	switch {
	case f&wire.FlagRST != 0:
		return vListenOther
	case f&wire.FlagACK != 0:
		s.resetFor(t, seg)
		return vListenOther
	case f&wire.FlagSYN == 0:
		return vListenOther
	case len(l.queue) >= l.backlog:
		return vListenOverflow
	case l.syn >= s.cfg.SynBacklog:
		return vSynQueueFull
	}
	c := s.newConn(t)
	c.passive, c.listener = true, l
	l.syn++
	c.state = SynReceived
	c.irs = seq(seg.Seq())
	c.rcvNxt = c.irs.add(1)
	c.rcvAdv = c.rcvNxt
	c.negotiate(seg.Options())
	c.sndWnd = int(seg.Window()) // never scaled in a SYN
	c.maxSndWnd = c.sndWnd
	c.sndWl1 = c.irs
	c.start(s.isn(t))
	s.add(c)
	c.sendSYN(s.clock.Now())
	return vListenSYN
}

// start sets the send sequence variables from the initial sequence
// number, and the connection's timestamp offset.
func (c *Conn) start(iss seq) {
	c.iss = iss
	c.sndUna, c.sndNxt, c.sndMax = iss, iss, iss
	c.sndWl2 = iss
	c.sndBufSeq = iss.add(1)
	c.recover = iss
	if !c.s.cfg.NoTimestamps {
		c.tsOffset = c.s.keyedHash('t', c.id.local.Addr(), c.id.local.Port(), c.id.remote)
	}
}

// Connect opens a connection from local (one of our IPv4 addresses; port
// 0 picks an ephemeral port) to remote: it sends a SYN and returns the
// connection in SYN-SENT. Readiness turns Writable once it is established
// (or Errored: ErrConnRefused, ErrTimedOut...). Errors: ErrInvalidAddr,
// ErrAddrInUse, ErrNoEphemeralPorts, in a *net.OpError.
func (s *Stack) Connect(local, remote netip.AddrPort) (*Conn, error) {
	defer s.flush()
	if !unicast(local.Addr()) || !unicast(remote.Addr()) || remote.Port() == 0 {
		return nil, opErr("connect", remote, ErrInvalidAddr)
	}
	port := local.Port()
	if port == 0 {
		p, ok := s.ephemeralPort(local.Addr(), remote)
		if !ok {
			return nil, opErr("connect", remote, ErrNoEphemeralPorts)
		}
		port = p
	}
	t := tuple{netip.AddrPortFrom(local.Addr(), port), remote}
	if s.conns[t] != nil || s.listeners[port] != nil {
		return nil, opErr("connect", remote, ErrAddrInUse)
	}
	c := s.newConn(t)
	c.state = SynSent
	c.tsOK, c.sackOK = !s.cfg.NoTimestamps, !s.cfg.NoSACK // offered; the SYN-ACK settles them
	c.start(s.isn(t))
	s.add(c)
	s.c.ActiveOpens++
	c.sendSYN(s.clock.Now())
	return c, nil
}
