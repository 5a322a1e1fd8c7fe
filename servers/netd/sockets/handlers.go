package sockets

import (
	"net/netip"
	"time"

	"armos/libipc"
	"armos/libsocket/sockproto"
	"armos/servers/netd/stack"
)

// register installs the protocol's handlers and the connection callbacks.
// Every handler decodes strictly (a bad body is answered with EBADMSG by
// way of libipc's FrameError), validates, acts, answers, and re-arms the
// timer.
func (s *Service) register(m *libipc.Mux) {
	m.OnConnect(s.onConnect)
	m.OnDisconnect(s.onDisconnect)
	ops := map[sockproto.Op]func(*libipc.Request){
		sockproto.OpSocket:      s.opSocket,
		sockproto.OpBind:        s.opBind,
		sockproto.OpConnect:     s.opConnect,
		sockproto.OpSendTo:      s.opSendTo,
		sockproto.OpRecvFrom:    s.opRecvFrom,
		sockproto.OpGetSockName: s.opGetSockName,
		sockproto.OpGetPeerName: s.opGetPeerName,
		sockproto.OpSetSockOpt:  s.opSetSockOpt,
		sockproto.OpGetSockOpt:  s.opGetSockOpt,
		sockproto.OpClose:       s.opClose,
		sockproto.OpCancel:      s.opCancel,
		sockproto.OpPing:        s.opPing,
	}
	for op, fn := range ops {
		m.HandleRaw(libipc.Op(op), func(r *libipc.Request) {
			s.stats.requests.Add(1)
			if r.Kind != libipc.KindRequest {
				// Every socket op needs an answer; a one-way message is
				// a client bug. There is no one to tell: drop it.
				s.stats.errors.Add(1)
				return
			}
			fn(r)
			s.rearm()
		})
	}
}

func (s *Service) onConnect(c *libipc.Conn) {
	s.nextClient++
	cl := &client{id: s.nextClient, conn: c, socks: make(map[sockproto.Handle]*socket)}
	c.Value = cl
	s.clients[cl] = struct{}{}
	s.stats.clients.Add(1)
}

// onDisconnect closes every socket of a connection that ended.
func (s *Service) onDisconnect(c *libipc.Conn, _ error) {
	cl, ok := c.Value.(*client)
	if !ok {
		return
	}
	for _, sk := range cl.socks {
		sk.close(false)
		s.stats.closedByClient.Add(1)
	}
	for id, p := range s.pings { // its pings: nobody to answer
		if p.r.Conn() == c {
			delete(s.pings, id)
			s.stats.pings.Add(^uint64(0))
		}
	}
	c.Value = nil
	delete(s.clients, cl)
	s.stats.clients.Add(^uint64(0))
	s.admitted.Add(-1)
	s.rearm()
}

// fail answers r with an error code.
func (s *Service) fail(r *libipc.Request, e sockproto.Errno) { s.failWith(r, e) }

// failErr answers r with the code of an error from the stack.
func (s *Service) failErr(r *libipc.Request, err error) { s.failWith(r, errnoOf(err)) }

// failWith answers r with err (libipc.CodeOf picks the code). r is
// recycled: no handler uses a request after answering it.
func (s *Service) failWith(r *libipc.Request, err error) {
	s.stats.errors.Add(1)
	if r.Fail(err) != nil {
		s.stats.lostReplies.Add(1)
	}
	r.Recycle()
}

// reply answers r with resp, and recycles r (see failWith).
func (s *Service) reply(r *libipc.Request, resp any) {
	if r.Reply(resp) != nil {
		s.stats.lostReplies.Add(1)
	}
	r.Recycle()
}

// answer answers r with resp, or with e when it is not 0.
func (s *Service) answer(r *libipc.Request, resp any, e sockproto.Errno) {
	if e != 0 {
		s.fail(r, e)
		return
	}
	s.reply(r, resp)
}

// replyAddr answers r with an address.
func (s *Service) replyAddr(r *libipc.Request, a netip.AddrPort) {
	s.reply(r, &sockproto.AddrResp{Addr: sockproto.AddrFrom(a)})
}

// decode decodes r's body into v, answering a malformed body itself. The
// body's buffer goes back to libipc's free list at once: the decoder copies
// what it keeps, and no handler reads r.Body after decoding.
func (s *Service) decode(r *libipc.Request, v any) bool {
	err := r.Decode(v)
	r.ReleaseBody()
	if err != nil {
		s.failWith(r, err)
		return false
	}
	return true
}

// target decodes r's body into req and returns the socket named by *h (a
// field of req) on r's connection. When the body is malformed (EBADMSG) or
// the handle names no socket (EBADF) it answers r itself and returns nil.
func (s *Service) target(r *libipc.Request, req any, h *sockproto.Handle) *socket {
	if !s.decode(r, req) {
		return nil
	}
	sk := s.lookup(r, *h)
	if sk == nil {
		s.fail(r, sockproto.EBADF)
	}
	return sk
}

// lookup finds the socket named h on r's connection.
func (s *Service) lookup(r *libipc.Request, h sockproto.Handle) *socket {
	cl, ok := r.Conn().Value.(*client)
	if !ok {
		return nil
	}
	return cl.socks[h]
}

// checkAddr validates an address from a client: IPv4 only (IPv4-mapped
// IPv6 is unmapped).
func checkAddr(a sockproto.Addr) (netip.AddrPort, sockproto.Errno) {
	ap := a.AddrPort()
	if !ap.IsValid() {
		return ap, sockproto.EINVAL
	}
	ip := ap.Addr().Unmap()
	if !ip.Is4() {
		return ap, sockproto.EAFNOSUPPORT
	}
	return netip.AddrPortFrom(ip, ap.Port()), 0
}

func (s *Service) opSocket(r *libipc.Request) {
	var req sockproto.SocketReq
	if !s.decode(r, &req) {
		return
	}
	cl, ok := r.Conn().Value.(*client)
	switch {
	case !ok:
		s.fail(r, sockproto.EBADF)
	case req.Family != sockproto.AFInet:
		s.fail(r, sockproto.EAFNOSUPPORT)
	case req.Type == sockproto.SockStream:
		s.streamSocket(r)
	case req.Type != sockproto.SockDgram:
		s.fail(r, sockproto.EPROTONOSUPPORT)
	case len(cl.socks) >= sockproto.MaxSocketsPerConn:
		s.stats.socketsRefused.Add(1)
		s.fail(r, sockproto.EMFILE)
	default:
		h := cl.newHandle()
		cl.socks[h] = &socket{s: s, cl: cl, h: h}
		s.stats.sockets.Add(1)
		s.reply(r, &sockproto.SocketResp{Handle: h})
	}
}

// protoTCP is the IP protocol number of the stream server (tcpd).
const protoTCP = 6

// streamSocket answers OpSocket for SOCK_STREAM. netd has no TCP of its
// own: a stream socket belongs to the protocol server that registered IP
// protocol 6 (docs/protocol-server.md, "Stream sockets"). An endpoint pair
// is made, one end handed to that server (SetStreamHandOff), and the
// service answers with the other: the application then talks to the
// server directly. With no server registered the answer is EPROTONOSUPPORT, as
// Linux without the protocol; without a hand-off function, EOPNOTSUPP; a
// server whose channel is full, ENOBUFS.
func (s *Service) streamSocket(r *libipc.Request) {
	switch {
	case !s.st.ProtocolRegistered(protoTCP):
		s.fail(r, sockproto.EPROTONOSUPPORT)
		return
	case s.handOff == nil:
		s.fail(r, sockproto.EOPNOTSUPP)
		return
	}
	mine, err := s.handOff()
	if err != nil {
		s.fail(r, sockproto.ENOBUFS)
		return
	}
	s.stats.streams.Add(1)
	if r.Reply(&sockproto.SocketResp{Stream: true}, mine) != nil {
		s.stats.lostReplies.Add(1) // mine is closed: the server sees the application gone
	}
	r.Recycle()
}

// SetStreamHandOff sets how stream sockets reach the stream server: fn
// makes an endpoint pair, hands one end to the server and returns the
// application's (protosvc.StreamSocket), on the event loop, without
// waiting. Call it before Run.
func (s *Service) SetStreamHandOff(fn func() (libipc.Endpoint, error)) { s.handOff = fn }

func (s *Service) opBind(r *libipc.Request) {
	var req sockproto.BindReq
	sk := s.target(r, &req, &req.Handle)
	if sk == nil {
		return
	}
	addr, e := checkAddr(req.Addr)
	if e == 0 && sk.ep != nil {
		e = sockproto.EINVAL // already bound
	}
	if e != 0 {
		s.fail(r, e)
		return
	}
	if !req.Replay && addr.Port() != 0 && s.inGrace() {
		// A restarted netd gives named ports back to their owners first:
		// this bind waits for the end of the grace period (grace.go).
		s.graceBinds = append(s.graceBinds, graceBind{r: r, sk: sk, addr: addr})
		return
	}
	s.finishBind(r, sk, addr)
}

// finishBind binds sk to addr and answers r.
func (s *Service) finishBind(r *libipc.Request, sk *socket, addr netip.AddrPort) {
	if sk.closed() {
		s.fail(r, sockproto.EBADF)
		return
	}
	if sk.ep != nil {
		s.fail(r, sockproto.EINVAL) // bound meanwhile
		return
	}
	if err := sk.bind(addr); err != nil {
		s.failErr(r, err)
		return
	}
	s.replyAddr(r, sk.local())
}

func (s *Service) opConnect(r *libipc.Request) {
	var req sockproto.ConnectReq
	sk := s.target(r, &req, &req.Handle)
	if sk == nil {
		return
	}
	var peer netip.AddrPort
	if req.Peer.IsValid() {
		var e sockproto.Errno
		if peer, e = checkAddr(req.Peer); e != 0 {
			s.fail(r, e)
			return
		}
		if err := sk.autoBind(); err != nil {
			s.failErr(r, err)
			return
		}
	}
	if sk.ep != nil {
		if err := sk.ep.Connect(peer); err != nil {
			s.failErr(r, err)
			return
		}
	}
	s.replyAddr(r, sk.local())
}

func (s *Service) opSendTo(r *libipc.Request) {
	req := &s.sendReq
	var sk *socket
	if sockproto.ParseSendTo(r.Body, req) {
		// The usual encoding: req.Data is the request's own bytes (no
		// copy); the body is released when r is answered.
		if sk = s.lookup(r, req.Handle); sk == nil {
			s.fail(r, sockproto.EBADF)
			return
		}
	} else {
		*req = sockproto.SendToReq{Data: s.sendBuf[:0]} // decode into the reused buffer
		if sk = s.target(r, req, &req.Handle); sk == nil {
			return
		}
	}
	if !sockproto.ValidFlags(req.Flags) {
		s.fail(r, sockproto.EINVAL)
		return
	}
	to, e := sk.destination(req.Data, req.To)
	if e != 0 {
		s.fail(r, e)
		return
	}
	if err := sk.autoBind(); err != nil {
		s.failErr(r, err)
		return
	}
	if e := sk.takeError(); e != 0 {
		s.fail(r, e) // an earlier send was refused (ICMP), as send(2) reports
		return
	}
	if err := sk.sendOne(req.Data, to); err != nil {
		s.failErr(r, err)
		return
	}
	s.sendResp.N = len(req.Data)
	s.sendResp.Sent = s.sendMore(sk, req.More)
	req.Data = nil // it may alias r's body, which goes with r
	clear(req.More)
	req.More = req.More[:0]
	s.reply(r, &s.sendResp)
}

// destination checks one datagram of a send: its size, and where it goes
// (to, or the connected peer when to is zero; that is returned zero).
func (sk *socket) destination(data []byte, to sockproto.Addr) (netip.AddrPort, sockproto.Errno) {
	switch {
	case len(data) > sockproto.MaxDatagram:
		return netip.AddrPort{}, sockproto.EMSGSIZE
	case to.IsValid():
		return checkAddr(to)
	case !sk.connected():
		return netip.AddrPort{}, sockproto.EDESTADDRREQ
	}
	return netip.AddrPort{}, 0
}

// sendOne sends one datagram to to, or to the connected peer when to is
// zero.
func (sk *socket) sendOne(data []byte, to netip.AddrPort) error {
	if to.IsValid() {
		return sk.ep.SendTo(data, to)
	}
	return sk.ep.Send(data)
}

// sendMore sends a batch's further datagrams in order and returns how many
// went; the first that fails ends the batch (its error is not reported to
// the client, as sendmmsg(2) does not after a first success: it is
// counted in Stats.BatchSendsCut).
func (s *Service) sendMore(sk *socket, more []sockproto.SendDgram) int {
	for i := range more {
		d := &more[i]
		to, e := sk.destination(d.Data, d.To)
		if e != 0 || sk.sendOne(d.Data, to) != nil {
			s.stats.batchSendsCut.Add(1)
			s.stats.batchSent.Add(uint64(i))
			return i
		}
	}
	s.stats.batchSent.Add(uint64(len(more)))
	return len(more)
}

// replyDatagram dequeues the oldest datagram of sk into the reply to r,
// keeping at most max bytes; with count above 1, also the datagrams queued
// behind it (up to count in all, and as many as fit one IPC message) into
// the reply's More.
func (s *Service) replyDatagram(sk *socket, r *libipc.Request, max uint32, count int) {
	if count > 1 && sk.ep.Len() > 1 {
		s.replyBatch(sk, r, max, count)
		return
	}
	s.replyTo, s.replyMax = r, max
	if err := sk.ep.DequeueFunc(s.replyFromQueue); err != nil {
		s.failErr(r, err)
	}
	s.replyTo = nil
}

// replyFromQueueFunc answers s.replyTo with a datagram straight from the
// packet buffer it arrived in: the reply's encoding is the payload's only
// copy in netd (DequeueFunc's slice is valid only during the call).
func (s *Service) replyFromQueueFunc(data []byte, meta stack.RecvMeta) {
	s.recvResp = s.recvRespOf(data, meta, s.replyMax)
	s.stats.delivered.Add(1)
	s.reply(s.replyTo, &s.recvResp) // encodes at once
	s.recvResp.Data = nil
}

// recvRespOf describes one datagram, cut to max bytes, for a reply.
func (s *Service) recvRespOf(data []byte, meta stack.RecvMeta, max uint32) sockproto.RecvFromResp {
	n := min(len(data), int(max))
	return sockproto.RecvFromResp{
		From:      sockproto.AddrFrom(meta.From),
		Data:      data[:n],
		Size:      meta.Len,
		Truncated: meta.Truncated(n),
	}
}

// replyBatch answers r with up to count of sk's queued datagrams, the
// oldest in the reply's own fields and the rest in More, each payload read
// in place from its packet buffer (PeekFunc) and encoded once, then
// dequeued. It stops before the reply would outgrow one IPC message.
func (s *Service) replyBatch(sk *socket, r *libipc.Request, max uint32, count int) {
	ep := sk.ep
	budget := libipc.MaxMessageSize - sockproto.MaxOverhead
	all := s.batch[:0]
	for k := 0; k < count; k++ {
		l := ep.NthLen(k)
		if l < 0 {
			break
		}
		size := min(l, int(max)) + sockproto.MaxOverhead
		if k > 0 && size > budget {
			break
		}
		budget -= size
		ep.PeekFunc(k, func(data []byte, meta stack.RecvMeta) {
			all = append(all, s.recvRespOf(data, meta, max))
		})
	}
	s.recvResp = all[0]
	s.recvResp.More = all[1:]
	s.stats.delivered.Add(uint64(len(all)))
	s.stats.batched.Add(uint64(len(all) - 1))
	s.reply(r, &s.recvResp) // encodes at once, before the buffers go
	ep.Discard(len(all))
	clear(all)
	s.batch = all[:0]
	s.recvResp = sockproto.RecvFromResp{}
}

func (s *Service) opRecvFrom(r *libipc.Request) {
	req := &s.recvReq
	*req = sockproto.RecvFromReq{}
	sk := s.target(r, req, &req.Handle)
	if sk == nil {
		return
	}
	switch {
	case !sockproto.ValidFlags(req.Flags), req.Timeout < 0, req.Timeout > sockproto.MaxRecvTimeout:
		s.fail(r, sockproto.EINVAL)
		return
	case sk.takeCancel(req.Tag):
		s.stats.cancelled.Add(1)
		s.fail(r, sockproto.ECANCELED)
		return
	}
	if e := sk.takeError(); e != 0 {
		s.fail(r, e)
		return
	}
	count := int(min(max(req.Count, 1), sockproto.MaxBatch))
	if len(sk.waiters) == 0 && sk.ep != nil && sk.ep.Len() > 0 {
		s.replyDatagram(sk, r, req.Max, count)
		return
	}
	if req.Flags&sockproto.MsgDontWait != 0 || sk.nonBlock {
		s.fail(r, sockproto.EAGAIN)
		return
	}
	if len(sk.waiters) >= MaxParkedPerSocket {
		s.stats.parkRefused.Add(1)
		s.fail(r, sockproto.ENOBUFS)
		return
	}
	timeout := time.Duration(req.Timeout)
	if timeout == 0 {
		timeout = sk.recvTimeout
	}
	w := s.newWaiter()
	*w = waiter{sk: sk, r: r, max: req.Max, count: count, tag: req.Tag, hidx: -1}
	if timeout > 0 {
		w.deadline = s.clock.Now().Add(timeout)
	}
	sk.park(w)
}

func (s *Service) opCancel(r *libipc.Request) {
	var req sockproto.CancelReq
	sk := s.target(r, &req, &req.Handle)
	if sk == nil {
		return
	}
	if req.Tag != 0 {
		if w := sk.waiterTagged(req.Tag); w != nil {
			r, _, _ := sk.unpark(w)
			s.stats.cancelled.Add(1)
			s.fail(r, sockproto.ECANCELED)
		} else {
			sk.rememberCancel(req.Tag)
			s.stats.earlyCancels.Add(1)
		}
	}
	s.reply(r, &sockproto.Empty{})
}

func (s *Service) opGetSockName(r *libipc.Request) {
	var req sockproto.HandleReq
	if sk := s.target(r, &req, &req.Handle); sk != nil {
		s.replyAddr(r, sk.local())
	}
}

func (s *Service) opGetPeerName(r *libipc.Request) {
	var req sockproto.HandleReq
	sk := s.target(r, &req, &req.Handle)
	switch {
	case sk == nil:
	case !sk.connected():
		s.fail(r, sockproto.ENOTCONN)
	default:
		s.replyAddr(r, sk.ep.RemoteAddr())
	}
}

func (s *Service) opClose(r *libipc.Request) {
	var req sockproto.HandleReq
	if sk := s.target(r, &req, &req.Handle); sk != nil {
		sk.close(true)
		s.reply(r, &sockproto.Empty{})
	}
}
