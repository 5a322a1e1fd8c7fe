package libsocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"armos/libipc"
	"armos/libsocket/sockproto"
	sp "armos/libsocket/streamproto"
)

// RecvBuffer is the bytes a TCPConn lets the stream server send ahead of
// its reads (its read credit, streamproto). The TCP window behind it is
// tcpd's receive buffer. With the messages' framing it must fit the
// queue of a kernel channel (abi.QueueBytes, 256 KiB), or tcpd, sending
// within the credit, would find the channel full.
const RecvBuffer = 128 << 10

// stream is what TCPConn and TCPListener share: the endpoint to the stream
// server and a reader goroutine turning its messages into state, with
// wake-up channels for waiters.
type stream struct {
	conn *libipc.Conn

	mu      sync.Mutex
	waiters []chan struct{} // one per wait since the last broadcast, from wakeChans
	closed  bool            // Close was called
	err     error           // the socket's final error (OpError, the endpoint's end)
	rdl     time.Time       // read (or accept) deadline
	wdl     time.Time       // write deadline

	// Connection state.
	rbuf      [][]byte  // received chunks, in order
	rbufArr   [4][]byte // rbuf's first array, reused whenever rbuf empties
	rbytes    int
	eof       bool
	consumed  int // bytes read and not yet given back as credit
	consumedM int // messages read and not yet given back
	sendBytes int // credit the server granted
	sendMsgs  int
	wclosed   bool

	// Listener state.
	accepted []acceptedConn
	want     int // OpAccept asked for and not yet answered

	wmu  sync.Mutex // a Write's message being sent: wmsg
	wmsg sp.Data    // encoded before Send returns, so one serves every chunk
}

type acceptedConn struct {
	ep            libipc.Endpoint
	local, remote netip.AddrPort
}

func newStream(ep libipc.Endpoint) *stream {
	x := &stream{}
	// The connection's reader applies the server's messages itself (no
	// goroutine of ours between it and the state).
	x.conn = libipc.NewConnFunc(ep, x.message, x.ended)
	return x
}

// wakeChans recycles waiters' wake-up channels (room for one token each;
// empty and in no waiters list while in the pool): a channel closed and
// made anew at every wake-up was an allocation per message waited for.
var wakeChans = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

// broadcast wakes every waiter; with x.mu held. With none (the usual case
// for a message that arrives before a read asks for it, and for deadlines
// set before a read or write) it does nothing.
func (x *stream) broadcast() {
	for i, w := range x.waiters {
		select {
		case w <- struct{}{}:
		default: // (cannot happen: a channel is in one list once)
		}
		x.waiters[i] = nil
	}
	x.waiters = x.waiters[:0]
}

// ended: the endpoint ended, after the last message.
func (x *stream) ended(error) {
	x.mu.Lock()
	if x.err == nil {
		x.err = sockproto.ECONNABORTED // the stream server went away
	}
	x.broadcast()
	x.mu.Unlock()
}

// message applies one message of the server.
func (x *stream) message(r *libipc.Request) {
	defer r.Recycle()
	x.mu.Lock()
	defer x.mu.Unlock()
	defer x.broadcast()
	bad := func() {
		for _, c := range r.Caps {
			c.Close()
		}
		if x.err == nil {
			x.err = sockproto.EBADMSG
		}
		r.Conn().Close() // (the reader may run before newStream has set x.conn)
	}
	if r.Kind != libipc.KindOneway {
		bad()
		return
	}
	switch sp.Op(r.Op) {
	case sp.OpData:
		var d sp.Data
		if !sp.DecodeData(r, &d) || len(d.Data) == 0 || len(d.Data) > sp.MaxChunk || len(r.Caps) > 0 {
			bad()
			return
		}
		x.rbuf = append(x.rbuf, d.Data)
		x.rbytes += len(d.Data)
	case sp.OpCredit:
		var c sp.Credit
		if !sp.DecodeCredit(r, &c) || c.Bytes < 0 || c.Msgs < 0 || len(r.Caps) > 0 {
			bad()
			return
		}
		x.sendBytes += c.Bytes
		x.sendMsgs += c.Msgs
	case sp.OpEOF:
		x.eof = true
	case sp.OpError:
		var e sp.ErrorMsg
		if r.Decode(&e) != nil || len(r.Caps) > 0 {
			bad()
			return
		}
		if x.err == nil {
			x.err = e.Code
		}
	case sp.OpAccepted:
		var a sp.Accepted
		var ep libipc.Endpoint
		if len(r.Caps) == 1 {
			ep, _ = r.Caps[0].(libipc.Endpoint)
		}
		if r.Decode(&a) != nil || ep == nil || x.want < 1 {
			bad()
			return
		}
		x.want--
		x.accepted = append(x.accepted, acceptedConn{ep: ep, local: a.Local.AddrPort(), remote: a.Remote.AddrPort()})
	default:
		bad()
	}
}

// wait waits for the state to change or the deadline dl to pass (false);
// with x.mu held, which it releases while waiting.
func (x *stream) wait(dl time.Time) bool {
	var d time.Duration
	if !dl.IsZero() {
		if d = time.Until(dl); d <= 0 {
			return false
		}
	}
	w := wakeChans.Get().(chan struct{})
	x.waiters = append(x.waiters, w)
	x.mu.Unlock()
	if dl.IsZero() {
		<-w // broadcast took w off the list before its token
		x.mu.Lock()
		wakeChans.Put(w)
		return true
	}
	t := time.NewTimer(d)
	woken := false
	select {
	case <-w:
		woken = true
	case <-t.C:
	}
	t.Stop()
	x.mu.Lock()
	if !woken {
		// Off the list if a broadcast has not taken it meanwhile, and a
		// token it got after the timer dropped: w goes back empty.
		for i, v := range x.waiters {
			if v == w {
				last := len(x.waiters) - 1
				x.waiters[i] = x.waiters[last]
				x.waiters[last] = nil
				x.waiters = x.waiters[:last]
				break
			}
		}
		select {
		case <-w:
		default:
		}
	}
	wakeChans.Put(w)
	return woken
}

// close ends the socket locally: the endpoint closes, so the server closes
// the connection (gracefully) or the listener.
func (x *stream) close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return net.ErrClosed
	}
	x.closed = true
	acc := x.accepted
	x.accepted = nil
	x.broadcast()
	x.mu.Unlock()
	for _, a := range acc {
		a.ep.Close()
	}
	return x.conn.Close()
}

// setDeadlines sets the read and/or write deadline and wakes the waiters.
func (x *stream) setDeadlines(r, w bool, t time.Time) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return net.ErrClosed
	}
	if r {
		x.rdl = t
	}
	if w {
		x.wdl = t
	}
	x.broadcast()
	return nil
}

// TCPConn is a TCP connection of armos's stream server (tcpd), as a
// net.Conn with Go's semantics: deadlines (errors.Is(err,
// os.ErrDeadlineExceeded), net.Error's Timeout()), io.EOF after the peer's
// FIN, CloseWrite for a half-close, errors in a *net.OpError, net.ErrClosed
// after Close. Go's net/http runs over it unchanged. It is safe for
// concurrent use (one reader and one writer at a time, as usual).
type TCPConn struct {
	x             *stream
	local, remote netip.AddrPort
	laddr, raddr  net.Addr // the same as *net.TCPAddr (nil when invalid), made once: errors carry them
}

var _ net.Conn = (*TCPConn)(nil)

func newTCPConn(x *stream, local, remote netip.AddrPort) *TCPConn {
	return &TCPConn{x: x, local: local, remote: remote, laddr: tcpAddr(local), raddr: tcpAddr(remote)}
}

// streamSocket asks netd for a stream socket: the endpoint of the stream
// server's protocol.
func (c *Client) streamSocket(ctx context.Context) (libipc.Endpoint, error) {
	var resp sockproto.SocketResp
	caps, err := c.callCaps(ctx, sockproto.OpSocket, &sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockStream}, &resp)
	if err != nil {
		closeCaps(caps)
		return nil, cause(err)
	}
	var ep libipc.Endpoint
	if len(caps) == 1 {
		ep, _ = caps[0].(libipc.Endpoint)
	}
	if !resp.Stream || ep == nil {
		closeCaps(caps)
		return nil, fmt.Errorf("libsocket: netd's stream socket came without its endpoint: %w", sockproto.EBADMSG)
	}
	return ep, nil
}

func closeCaps(caps []libipc.Cap) {
	for _, c := range caps {
		c.Close()
	}
}

// DialTCP opens a TCP connection to addr (an IPv4 address and port).
func (c *Client) DialTCP(ctx context.Context, addr netip.AddrPort) (*TCPConn, error) {
	fail := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: tcpAddr(addr), Err: err}
	}
	ep, err := c.streamSocket(ctx)
	if err != nil {
		return nil, fail(err)
	}
	x := newStream(ep)
	// The read credit first: data may follow the handshake at once.
	if err := x.conn.Send(ctx, sp.OpCredit, &sp.Credit{Bytes: RecvBuffer, Msgs: sp.MaxCreditMsgs}); err != nil {
		x.close()
		return nil, fail(cause(err))
	}
	var resp sp.AddrsResp
	if err := x.conn.Call(ctx, sp.OpConnect, &sp.ConnectReq{Addr: sockproto.AddrFrom(addr)}, &resp); err != nil {
		x.close() // a connection still opening is dropped with the endpoint
		return nil, fail(dialCause(ctx, err))
	}
	return newTCPConn(x, resp.Local.AddrPort(), resp.Remote.AddrPort()), nil
}

// dialCause maps a failed connect: a context that ended is the error.
func dialCause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return os.ErrDeadlineExceeded
		}
		return ctx.Err()
	}
	return cause(err)
}

// DialContext is a net.Dialer's DialContext for armos: network "tcp" or
// "tcp4" (TCP through tcpd) or "udp"/"udp4" (a connected PacketConn);
// address is "host:port", a host name being resolved through this
// client's Resolver. It is what an http.Transport's DialContext wants:
//
//	tr := &http.Transport{DialContext: client.DialContext}
func (c *Client) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "udp", "udp4":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	pn, err := c.Resolver().LookupPort(ctx, network, port)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	ips, err := c.lookupIPv4(ctx, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var last error
	for _, ip := range ips {
		ap := netip.AddrPortFrom(ip, uint16(pn))
		var conn net.Conn
		if network[0] == 't' {
			conn, err = c.DialTCP(ctx, ap)
		} else {
			var s *Socket
			if s, err = c.DialUDP(ctx, ap); err == nil {
				conn = NewPacketConn(s)
			}
		}
		if err == nil {
			return conn, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// lookupIPv4 returns host's IPv4 addresses (host itself when it is one).
func (c *Client) lookupIPv4(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip = ip.Unmap(); !ip.Is4() {
			return nil, sockproto.EAFNOSUPPORT
		}
		return []netip.Addr{ip}, nil
	}
	all, err := c.Resolver().LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	for _, ip := range all {
		if ip = ip.Unmap(); ip.Is4() {
			ips = append(ips, ip)
		}
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no IPv4 address", Name: host, IsNotFound: true}
	}
	return ips, nil
}

func tcpAddr(ap netip.AddrPort) net.Addr {
	if !ap.IsValid() {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

// opErr wraps err for op on the connection.
func (t *TCPConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: t.laddr, Addr: t.raddr, Err: err}
}

// Read reads received bytes; io.EOF after the peer's FIN.
func (t *TCPConn) Read(p []byte) (int, error) {
	x := t.x
	x.mu.Lock()
	for {
		switch {
		case x.closed:
			x.mu.Unlock()
			return 0, t.opErr("read", net.ErrClosed)
		case !x.rdl.IsZero() && !time.Now().Before(x.rdl):
			// A passed deadline fails the read even with data buffered,
			// as package net does (net/http's server relies on it to
			// abort its background read).
			x.mu.Unlock()
			return 0, t.opErr("read", os.ErrDeadlineExceeded)
		case x.rbytes > 0:
			n := t.take(p)
			credit := t.creditDue()
			x.mu.Unlock()
			if credit != nil {
				// The server's queue has room: the credit bounds our data
				// and these messages are far fewer than the chunks read.
				_ = x.conn.Send(context.Background(), sp.OpCredit, credit)
			}
			return n, nil
		case x.eof:
			x.mu.Unlock()
			return 0, io.EOF
		case x.err != nil:
			err := x.err
			x.mu.Unlock()
			return 0, t.opErr("read", err)
		case len(p) == 0:
			x.mu.Unlock()
			return 0, nil
		}
		if !x.wait(x.rdl) {
			x.mu.Unlock()
			return 0, t.opErr("read", os.ErrDeadlineExceeded)
		}
	}
}

// take copies buffered bytes into p; with x.mu held.
func (t *TCPConn) take(p []byte) int {
	x := t.x
	n := 0
	for n < len(p) && len(x.rbuf) > 0 {
		k := copy(p[n:], x.rbuf[0])
		n += k
		if k == len(x.rbuf[0]) {
			x.rbuf[0] = nil
			x.rbuf = x.rbuf[1:]
			x.consumedM++
		} else {
			x.rbuf[0] = x.rbuf[0][k:]
		}
	}
	if len(x.rbuf) == 0 {
		clear(x.rbufArr[:])    // what a grown rbuf left behind
		x.rbuf = x.rbufArr[:0] // the next chunk needs no new array
	}
	x.rbytes -= n
	x.consumed += n
	return n
}

// creditDue returns the read credit to give back, in batches of a quarter
// of the buffer (or of the messages); with x.mu held.
func (t *TCPConn) creditDue() *sp.Credit {
	x := t.x
	if x.consumed < RecvBuffer/4 && x.consumedM < sp.MaxCreditMsgs/4 {
		return nil
	}
	c := &sp.Credit{Bytes: x.consumed, Msgs: x.consumedM}
	x.consumed, x.consumedM = 0, 0
	return c
}

// Write writes all of p, waiting for the stream server's credit; a write
// deadline can end the wait (the count then says what was written).
func (t *TCPConn) Write(p []byte) (int, error) {
	x := t.x
	done := 0
	x.mu.Lock()
	for done < len(p) {
		switch {
		case x.closed:
			x.mu.Unlock()
			return done, t.opErr("write", net.ErrClosed)
		case x.wclosed:
			x.mu.Unlock()
			return done, t.opErr("write", sockproto.EPIPE)
		case x.err != nil:
			err := x.err
			x.mu.Unlock()
			return done, t.opErr("write", err)
		case !x.wdl.IsZero() && !time.Now().Before(x.wdl):
			x.mu.Unlock()
			return done, t.opErr("write", os.ErrDeadlineExceeded)
		case x.sendBytes > 0 && x.sendMsgs > 0:
			n := min(len(p)-done, x.sendBytes, sp.MaxChunk)
			x.sendBytes -= n
			x.sendMsgs--
			x.mu.Unlock()
			x.wmu.Lock()
			x.wmsg.Data = p[done : done+n]
			err := x.conn.Send(context.Background(), sp.OpData, &x.wmsg)
			x.wmsg.Data = nil // keep no reference to the caller's bytes
			x.wmu.Unlock()
			if err != nil {
				return done, t.opErr("write", cause(err))
			}
			done += n
			x.mu.Lock()
			continue
		}
		if !x.wait(x.wdl) {
			x.mu.Unlock()
			return done, t.opErr("write", os.ErrDeadlineExceeded)
		}
	}
	x.mu.Unlock()
	return done, nil
}

// Close closes the connection: the data written is still delivered, then
// a FIN (tcpd closes it gracefully; data received and not read is lost).
func (t *TCPConn) Close() error {
	if err := t.x.close(); err != nil {
		return t.opErr("close", err)
	}
	return nil
}

// CloseWrite shuts down the sending side (shutdown(SHUT_WR)): the peer
// reads EOF after the data written so far; reading goes on.
func (t *TCPConn) CloseWrite() error {
	x := t.x
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return t.opErr("close", net.ErrClosed)
	}
	x.wclosed = true
	x.mu.Unlock()
	if err := x.conn.Call(context.Background(), sp.OpShutdown, &sp.Empty{}, &sp.Empty{}); err != nil {
		return t.opErr("close", cause(err))
	}
	return nil
}

// SetNoDelay turns Nagle's algorithm off (true) or on, as
// net.TCPConn.SetNoDelay. Connections start with it off, as in package net.
func (t *TCPConn) SetNoDelay(on bool) error { return t.option(&sp.OptionReq{NoDelay: &on}) }

// SetKeepAlive turns keep-alive probes on or off.
func (t *TCPConn) SetKeepAlive(on bool) error { return t.option(&sp.OptionReq{KeepAlive: &on}) }

func (t *TCPConn) option(req *sp.OptionReq) error {
	if err := t.x.conn.Call(context.Background(), sp.OpOption, req, &sp.Empty{}); err != nil {
		return t.opErr("set", cause(err))
	}
	return nil
}

// LocalAddr returns our address (a *net.TCPAddr).
func (t *TCPConn) LocalAddr() net.Addr { return t.laddr }

// RemoteAddr returns the peer's address (a *net.TCPAddr).
func (t *TCPConn) RemoteAddr() net.Addr { return t.raddr }

// AddrPorts returns both addresses as netip values.
func (t *TCPConn) AddrPorts() (local, remote netip.AddrPort) { return t.local, t.remote }

// SetDeadline sets both deadlines.
func (t *TCPConn) SetDeadline(d time.Time) error { return t.deadline(true, true, d) }

// SetReadDeadline sets the read deadline; blocked reads see it at once.
func (t *TCPConn) SetReadDeadline(d time.Time) error { return t.deadline(true, false, d) }

// SetWriteDeadline sets the write deadline; blocked writes see it at once.
func (t *TCPConn) SetWriteDeadline(d time.Time) error { return t.deadline(false, true, d) }

func (t *TCPConn) deadline(r, w bool, d time.Time) error {
	if err := t.x.setDeadlines(r, w, d); err != nil {
		return t.opErr("set", err)
	}
	return nil
}

// acceptedConn makes a TCPConn of a connection a listener handed over.
func newAcceptedConn(a acceptedConn) (*TCPConn, error) {
	x := newStream(a.ep)
	if err := x.conn.Send(context.Background(), sp.OpCredit, &sp.Credit{Bytes: RecvBuffer, Msgs: sp.MaxCreditMsgs}); err != nil {
		x.close()
		return nil, cause(err)
	}
	return newTCPConn(x, a.local, a.remote), nil
}

// TCPListener is a TCP listener of tcpd, as a net.Listener. Connections
// wait in tcpd's accept queue (the backlog) until Accept asks for one.
type TCPListener struct {
	x    *stream
	addr netip.AddrPort
}

var _ net.Listener = (*TCPListener)(nil)

// ListenTCP listens on addr (0.0.0.0 for every local address; the port
// must not be 0) with an accept queue of backlog connections (0: 128).
func (c *Client) ListenTCP(ctx context.Context, addr netip.AddrPort, backlog int) (*TCPListener, error) {
	fail := func(err error) error {
		return &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(addr), Err: err}
	}
	ep, err := c.streamSocket(ctx)
	if err != nil {
		return nil, fail(err)
	}
	x := newStream(ep)
	var resp sp.AddrsResp
	if err := x.conn.Call(ctx, sp.OpListen, &sp.ListenReq{Addr: sockproto.AddrFrom(addr), Backlog: backlog}, &resp); err != nil {
		x.close()
		return nil, fail(cause(err))
	}
	return &TCPListener{x: x, addr: resp.Local.AddrPort()}, nil
}

// Listen is net.Listen for armos: network "tcp" or "tcp4", address
// "[ip]:port".
func (c *Client) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	ip := netip.IPv4Unspecified()
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Err: err}
		}
	}
	pn, err := net.LookupPort(network, port)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return c.ListenTCP(ctx, netip.AddrPortFrom(ip.Unmap(), uint16(pn)), 0)
}

// Accept waits for a connection (the listener's deadline, SetDeadline,
// can end the wait).
func (l *TCPListener) Accept() (net.Conn, error) { return l.AcceptTCP() }

// AcceptTCP is Accept returning the *TCPConn.
func (l *TCPListener) AcceptTCP() (*TCPConn, error) {
	x := l.x
	fail := func(err error) (*TCPConn, error) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: tcpAddr(l.addr), Err: err}
	}
	x.mu.Lock()
	for {
		switch {
		case x.closed:
			x.mu.Unlock()
			return fail(net.ErrClosed)
		case len(x.accepted) > 0:
			a := x.accepted[0]
			x.accepted = x.accepted[1:]
			x.mu.Unlock()
			c, err := newAcceptedConn(a)
			if err != nil {
				return fail(err)
			}
			return c, nil
		case x.err != nil:
			err := x.err
			x.mu.Unlock()
			return fail(err)
		case x.want == 0:
			// Ask for one; the answer (OpAccepted) may come after a
			// deadline ends this call, and is then kept for the next.
			x.want++
			x.mu.Unlock()
			if err := x.conn.Send(context.Background(), sp.OpAccept, &sp.AcceptMsg{N: 1}); err != nil {
				return fail(cause(err))
			}
			x.mu.Lock()
			continue
		}
		if !x.wait(x.rdl) {
			x.mu.Unlock()
			return fail(os.ErrDeadlineExceeded)
		}
	}
}

// Close stops listening; connections not yet accepted are reset.
func (l *TCPListener) Close() error {
	if err := l.x.close(); err != nil {
		return &net.OpError{Op: "close", Net: "tcp", Addr: tcpAddr(l.addr), Err: err}
	}
	return nil
}

// Addr returns the listening address (a *net.TCPAddr).
func (l *TCPListener) Addr() net.Addr { return tcpAddr(l.addr) }

// AddrPort returns the listening address.
func (l *TCPListener) AddrPort() netip.AddrPort { return l.addr }

// SetDeadline sets the deadline of Accept.
func (l *TCPListener) SetDeadline(t time.Time) error {
	if err := l.x.setDeadlines(true, false, t); err != nil {
		return &net.OpError{Op: "set", Net: "tcp", Addr: tcpAddr(l.addr), Err: err}
	}
	return nil
}
