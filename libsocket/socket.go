package libsocket

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"armos/libipc"
	"armos/libsocket/sockproto"
)

var netipZero netip.AddrPort

// optSlots sizes the table of options a Socket remembers for replay.
const optSlots = 16

// Socket is a UDP socket in netd. Its methods are the BSD socket calls; it
// is safe for concurrent use (one goroutine may block in RecvFrom while
// others send).
type Socket struct {
	c *Client

	// autobind serialises the implicit bind before a first send, so two
	// concurrent first sends bind once.
	autobind sync.Mutex

	mu      sync.Mutex
	h       sockproto.Handle // handle on connection generation gen
	gen     uint64           // 0 until created; stale when it differs from c.gen
	created bool             // a handle existed once (later creations are replays)
	local   netip.AddrPort   // bound address as netd reported it
	peer    netip.AddrPort   // connected peer
	opts    [optSlots]optVal // options the application set, replayed on restart
	closed  bool
}

type optVal struct {
	set bool
	v   int64
}

// create makes the socket's handle exist on the current connection.
func (s *Socket) create(ctx context.Context) error {
	_, _, _, err := s.live(ctx)
	return err
}

// live returns the socket's handle on the current connection, creating it
// (first use) or replaying the socket's state into a restarted netd.
func (s *Socket) live(ctx context.Context) (*libipc.Conn, sockproto.Handle, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			return nil, 0, 0, net.ErrClosed
		}
		conn, gen := s.c.current()
		if s.gen == gen {
			return conn, s.h, gen, nil
		}
		err := s.replayLocked(ctx, conn, gen)
		if err == nil {
			return conn, s.h, gen, nil
		}
		if !s.c.canRetry(err) {
			if s.created {
				s.c.stats.replayErrors.Add(1)
			}
			return nil, 0, 0, err
		}
		if rerr := s.c.reconnect(ctx, gen); rerr != nil {
			return nil, 0, 0, rerr
		}
	}
}

// replayLocked creates the socket on conn and restores its bound address,
// peer and options. s.mu is held.
func (s *Socket) replayLocked(ctx context.Context, conn *libipc.Conn, gen uint64) error {
	var sr sockproto.SocketResp
	req := sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockDgram}
	if err := conn.Call(ctx, libipc.Op(sockproto.OpSocket), &req, &sr); err != nil {
		return err
	}
	h := sr.Handle
	err := func() error {
		for o, ov := range s.opts {
			if !ov.set {
				continue
			}
			r := sockproto.SetSockOptReq{Handle: h, Opt: sockproto.Opt(o), Value: ov.v}
			if err := conn.Call(ctx, libipc.Op(sockproto.OpSetSockOpt), &r, nil); err != nil {
				return err
			}
		}
		if s.local.IsValid() {
			r := sockproto.BindReq{Handle: h, Addr: sockproto.AddrFrom(s.local), Replay: s.created}
			if err := conn.Call(ctx, libipc.Op(sockproto.OpBind), &r, nil); err != nil {
				return err
			}
		}
		if s.peer.IsValid() {
			r := sockproto.ConnectReq{Handle: h, Peer: sockproto.AddrFrom(s.peer)}
			if err := conn.Call(ctx, libipc.Op(sockproto.OpConnect), &r, nil); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		conn.Call(ctx, libipc.Op(sockproto.OpClose), &sockproto.HandleReq{Handle: h}, nil)
		return err
	}
	if s.created {
		s.c.stats.replays.Add(1)
	} else {
		s.c.track(s)
	}
	s.h, s.gen, s.created = h, gen, true
	return nil
}

// do makes one request about the socket, storing the live handle through
// hp, and reconnects and retries while netd restarts.
func (s *Socket) do(ctx context.Context, op sockproto.Op, hp *sockproto.Handle, req, resp any) error {
	for {
		conn, h, gen, err := s.live(ctx)
		if err != nil {
			return err
		}
		*hp = h
		err = conn.Call(ctx, libipc.Op(op), req, resp)
		if err == nil || !s.c.canRetry(err) {
			return s.closedErr(err)
		}
		s.c.stats.retries.Add(1)
		if rerr := s.c.reconnect(ctx, gen); rerr != nil {
			return rerr
		}
	}
}

// closedErr reports a failure caused by a concurrent Close as net.ErrClosed.
func (s *Socket) closedErr(err error) error {
	if err == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	return err
}

// addrs returns the cached local and peer addresses.
func (s *Socket) addrs() (local, peer netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local, s.peer
}

// LocalAddr returns the bound address as netd reported it at bind, connect
// or the first send (no IPC); the zero AddrPort while unbound.
func (s *Socket) LocalAddr() netip.AddrPort {
	l, _ := s.addrs()
	return l
}

// RemoteAddr returns the connected peer (no IPC), or the zero AddrPort.
func (s *Socket) RemoteAddr() netip.AddrPort {
	_, p := s.addrs()
	return p
}

// Bind binds the socket to addr. An unspecified IP (0.0.0.0) binds every
// local address; port 0 picks a free ephemeral port (see LocalAddr).
// Errors: EADDRINUSE, EADDRNOTAVAIL, EINVAL (already bound).
func (s *Socket) Bind(ctx context.Context, addr netip.AddrPort) error {
	req := sockproto.BindReq{Addr: sockproto.AddrFrom(addr)}
	var resp sockproto.AddrResp
	if err := s.do(ctx, sockproto.OpBind, &req.Handle, &req, &resp); err != nil {
		return opError("bind", addr, netipZero, err)
	}
	s.mu.Lock()
	s.local = resp.Addr.AddrPort()
	s.mu.Unlock()
	return nil
}

// Connect fixes the socket's peer: Send goes there, and only datagrams from
// there are received. An unbound socket is bound to an ephemeral port
// first. A zero peer dissolves the association.
func (s *Socket) Connect(ctx context.Context, peer netip.AddrPort) error {
	req := sockproto.ConnectReq{Peer: sockproto.AddrFrom(peer)}
	var resp sockproto.AddrResp
	if err := s.do(ctx, sockproto.OpConnect, &req.Handle, &req, &resp); err != nil {
		return opError("connect", s.LocalAddr(), peer, err)
	}
	s.mu.Lock()
	if local := resp.Addr.AddrPort(); local.Port() != 0 { // still unbound after a disconnect
		s.local = local
	}
	s.peer = peer
	s.mu.Unlock()
	return nil
}

// ensureBound binds an unbound socket to an ephemeral port before its first
// send, as the kernel does, so that the Client knows the port to replay.
func (s *Socket) ensureBound(ctx context.Context) error {
	if s.LocalAddr().IsValid() {
		return nil
	}
	s.autobind.Lock()
	defer s.autobind.Unlock()
	if s.LocalAddr().IsValid() {
		return nil
	}
	return s.Bind(ctx, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
}

// SendTo sends b as one datagram to to. Sends never block: the datagram is
// handed to netd's stack (or dropped there, counted) before SendTo returns.
// Errors: EMSGSIZE (over sockproto.MaxDatagram), EACCES (broadcast without
// SetBroadcast), EINVAL (bad address), ENETUNREACH.
func (s *Socket) SendTo(ctx context.Context, b []byte, to netip.AddrPort) (int, error) {
	return s.send(ctx, "sendto", b, to)
}

// Send sends b to the connected peer (EDESTADDRREQ if not connected).
func (s *Socket) Send(ctx context.Context, b []byte) (int, error) {
	return s.send(ctx, "send", b, netipZero)
}

func (s *Socket) send(ctx context.Context, op string, b []byte, to netip.AddrPort) (int, error) {
	if len(b) > sockproto.MaxDatagram {
		return 0, opError(op, s.LocalAddr(), to, sockproto.EMSGSIZE)
	}
	if err := s.ensureBound(ctx); err != nil {
		return 0, err
	}
	sc := sendCalls.Get().(*sendCall)
	defer sc.release()
	sc.req = sockproto.SendToReq{To: sockproto.AddrFrom(to), Data: b}
	if err := s.do(ctx, sockproto.OpSendTo, &sc.req.Handle, &sc.req, &sc.resp); err != nil {
		if !to.IsValid() {
			to = s.RemoteAddr()
		}
		return 0, opError(op, s.LocalAddr(), to, err)
	}
	return sc.resp.N, nil
}

// SendBatch sends bufs[i] to to[i] (a zero address: the connected peer),
// in order, in as few round trips to netd as fit (sendmmsg): up to
// sockproto.MaxBatch datagrams, and what fits one IPC message, per trip.
// It returns how many were sent. A datagram that fails stops the batch:
// SendBatch returns the count before it and its error (EMSGSIZE, EINVAL,
// EACCES... as SendTo would give), and the caller decides whether to go
// on with the rest. to needs len(bufs) entries.
func (s *Socket) SendBatch(ctx context.Context, bufs [][]byte, to []netip.AddrPort) (int, error) {
	if len(to) < len(bufs) {
		return 0, opError("sendmmsg", s.LocalAddr(), netipZero, sockproto.EINVAL)
	}
	sent := 0
	for sent < len(bufs) {
		n, err := s.sendSome(ctx, bufs[sent:], to[sent:])
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// sendSome sends the first of bufs and as many after it as one request
// holds; it returns how many went.
func (s *Socket) sendSome(ctx context.Context, bufs [][]byte, to []netip.AddrPort) (int, error) {
	if len(bufs[0]) > sockproto.MaxDatagram {
		return 0, opError("sendmmsg", s.LocalAddr(), to[0], sockproto.EMSGSIZE)
	}
	if err := s.ensureBound(ctx); err != nil {
		return 0, err
	}
	sc := sendCalls.Get().(*sendCall)
	defer sc.release()
	sc.req = sockproto.SendToReq{To: sockproto.AddrFrom(to[0]), Data: bufs[0], More: sc.more[:0]}
	budget := libipc.MaxMessageSize - sockproto.MaxOverhead - len(bufs[0])
	k := 1
	for ; k < len(bufs) && k < sockproto.MaxBatch; k++ {
		size := len(bufs[k]) + sockproto.MaxOverhead
		if len(bufs[k]) > sockproto.MaxDatagram || size > budget {
			break // sent by a later request (which reports its error)
		}
		budget -= size
		sc.req.More = append(sc.req.More, sockproto.SendDgram{To: sockproto.AddrFrom(to[k]), Data: bufs[k]})
	}
	sc.more = sc.req.More
	if err := s.do(ctx, sockproto.OpSendTo, &sc.req.Handle, &sc.req, &sc.resp); err != nil {
		return 0, opError("sendmmsg", s.LocalAddr(), to[0], err)
	}
	// Fewer than k when netd stopped at a datagram that failed: SendBatch
	// sends it next, first of its request, which reports its error (or,
	// if it goes through now, carries on).
	return 1 + min(sc.resp.Sent, k-1), nil
}

// sendCall holds one send's bodies, pooled so a send does not allocate them.
type sendCall struct {
	req  sockproto.SendToReq
	resp sockproto.SendToResp
	more []sockproto.SendDgram // a batch's further datagrams, kept across uses
}

var sendCalls = sync.Pool{New: func() any { return new(sendCall) }}

func (sc *sendCall) release() {
	more := sc.more
	clear(more) // no caller's buffers kept alive in the pool
	*sc = sendCall{more: more[:0]}
	sendCalls.Put(sc)
}

// GetSockName asks netd for the socket's local address.
func (s *Socket) GetSockName(ctx context.Context) (netip.AddrPort, error) {
	return s.askAddr(ctx, "getsockname", sockproto.OpGetSockName)
}

// GetPeerName asks netd for the connected peer (ENOTCONN if none).
func (s *Socket) GetPeerName(ctx context.Context) (netip.AddrPort, error) {
	return s.askAddr(ctx, "getpeername", sockproto.OpGetPeerName)
}

func (s *Socket) askAddr(ctx context.Context, op string, code sockproto.Op) (netip.AddrPort, error) {
	var req sockproto.HandleReq
	var resp sockproto.AddrResp
	if err := s.do(ctx, code, &req.Handle, &req, &resp); err != nil {
		return netipZero, opError(op, s.LocalAddr(), s.RemoteAddr(), err)
	}
	return resp.Addr.AddrPort(), nil
}

// SetOption sets a socket option (see sockproto.Opt). The Client remembers
// it and sets it again if netd restarts.
func (s *Socket) SetOption(ctx context.Context, opt sockproto.Opt, v int64) error {
	req := sockproto.SetSockOptReq{Opt: opt, Value: v}
	if err := s.do(ctx, sockproto.OpSetSockOpt, &req.Handle, &req, nil); err != nil {
		return opError("setsockopt", s.LocalAddr(), netipZero, err)
	}
	if int(opt) < optSlots && !opt.ReadOnly() {
		s.mu.Lock()
		s.opts[opt] = optVal{set: true, v: v}
		s.mu.Unlock()
	}
	return nil
}

// Option reads a socket option.
func (s *Socket) Option(ctx context.Context, opt sockproto.Opt) (int64, error) {
	req := sockproto.GetSockOptReq{Opt: opt}
	var resp sockproto.GetSockOptResp
	if err := s.do(ctx, sockproto.OpGetSockOpt, &req.Handle, &req, &resp); err != nil {
		return 0, opError("getsockopt", s.LocalAddr(), netipZero, err)
	}
	return resp.Value, nil
}

// SetBroadcast allows sending to broadcast addresses (SO_BROADCAST).
func (s *Socket) SetBroadcast(ctx context.Context, on bool) error {
	return s.SetOption(ctx, sockproto.OptBroadcast, boolVal(on))
}

// SetRecvQueueLen bounds the receive queue to n datagrams (SO_RCVBUF in
// datagrams); further datagrams are dropped and counted (RecvDrops).
func (s *Socket) SetRecvQueueLen(ctx context.Context, n int) error {
	return s.SetOption(ctx, sockproto.OptRecvQueue, int64(n))
}

// SetRecvTimeout sets how long RecvFrom waits (SO_RCVTIMEO); 0 waits
// forever.
func (s *Socket) SetRecvTimeout(ctx context.Context, d time.Duration) error {
	return s.SetOption(ctx, sockproto.OptRecvTimeout, int64(d))
}

// SetNonBlocking makes every RecvFrom return EAGAIN at once when nothing
// is queued (O_NONBLOCK).
func (s *Socket) SetNonBlocking(ctx context.Context, on bool) error {
	return s.SetOption(ctx, sockproto.OptNonBlock, boolVal(on))
}

// RecvDrops returns how many datagrams netd dropped because this socket's
// receive queue was full.
func (s *Socket) RecvDrops(ctx context.Context) (uint64, error) {
	v, err := s.Option(ctx, sockproto.OptRecvDrops)
	return uint64(v), err
}

func boolVal(on bool) int64 {
	if on {
		return 1
	}
	return 0
}

// Close closes the socket: netd frees its port, and receives blocked on it
// return an error wrapping net.ErrClosed. Closing twice returns an error
// wrapping net.ErrClosed.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.closed {
		local, peer := s.local, s.peer
		s.mu.Unlock()
		return opError("close", local, peer, net.ErrClosed)
	}
	s.closed = true
	h, gen, local := s.h, s.gen, s.local
	s.mu.Unlock()
	s.c.forget(s)
	conn, cur := s.c.current()
	if gen != cur {
		return nil // netd restarted since: the socket no longer exists there
	}
	err := conn.Call(context.Background(), libipc.Op(sockproto.OpClose), &sockproto.HandleReq{Handle: h}, nil)
	if err != nil && !s.c.canRetry(err) {
		return opError("close", local, netipZero, err)
	}
	return nil
}
