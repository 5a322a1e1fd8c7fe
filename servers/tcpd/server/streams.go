package server

import (
	"errors"
	"io"
	"net/netip"

	"armos/libipc"
	"armos/libsocket/sockproto"
	sp "armos/libsocket/streamproto"
	"armos/servers/tcpd/tcp"
)

// StreamQueueLen is the capacity of the endpoint pairs tcpd makes for
// accepted connections (the pair netd makes for a socket has its own).
const StreamQueueLen = 64

// StreamStats counts the stream protocol (streamproto) spoken with
// applications.
type StreamStats struct {
	Sockets    uint64 // sockets served (handed over by netd, or accepted)
	Open       uint64 // sockets open now
	Connects   uint64 // OpConnect answered with a connection
	Listens    uint64 // OpListen answered with a listener
	Accepted   uint64 // connections handed to applications (OpAccepted)
	BytesIn    uint64 // bytes the applications wrote into connections
	BytesOut   uint64 // bytes delivered to applications
	Violations uint64 // messages beyond the credit, malformed or out of place: socket aborted
	Orphans    uint64 // connections whose application closed with data still to write (kept until written)
}

// stream is one application socket, on the event loop. It becomes a
// connection (tc) by OpConnect or by being accepted, or a listener (ln) by
// OpListen.
type stream struct {
	s    *Server
	conn *libipc.Conn
	tc   *tcp.Conn
	ln   *tcp.Listener

	connecting *libipc.Request // OpConnect waiting for the handshake

	// Application → connection: data received within the credit granted
	// (outstanding) and not yet in the connection's send buffer.
	pending         []chunk
	pendingArr      [4]chunk // pending's first array, reused while it suffices
	pendingBytes    int
	outBytes        int // credit granted to the application and not returned
	outMsgs         int
	retBytes        int // consumed and not yet returned
	retMsgs         int
	shutdownPending bool // OpShutdown arrived behind pending data

	// Connection → application: the credit the application granted.
	inBytes, inMsgs int
	eofSent         bool
	errSent         bool

	acceptWant int  // connections the application asked for
	deaf       bool // the application's end is closed: nothing more can be sent to it
	gone       bool // the application closed its endpoint (and all it sent was handled)
	done       bool // nothing more to do: forgotten
}

// serveStream takes an endpoint netd handed over (or one of an accepted
// connection's pair) and serves the stream protocol on it; on the loop.
func (s *Server) serveStream(ep libipc.Endpoint, tc *tcp.Conn) *stream {
	x := &stream{s: s}
	// The connection's reader hands the application's messages to the
	// loop, in order; when the endpoint ends, the socket is closed there.
	// The first message is handled once the Credit below is sent: the
	// loop runs this function.
	x.conn = libipc.NewConnFunc(ep, func(r *libipc.Request) {
		if !s.postWait(post{x: x, r: r}) {
			r.Conn().Close() // the loop has ended
		}
	}, func(error) { s.postWait(post{x: x}) })
	s.streams[x] = struct{}{}
	s.stats.streamSockets.Add(1)
	x.outBytes, x.outMsgs = sp.InitialSendCreditBytes, sp.InitialSendCreditMsgs
	if x.send(sp.OpCredit, &sp.Credit{Bytes: x.outBytes, Msgs: x.outMsgs}) && tc != nil {
		x.attach(tc)
	}
	return x
}

// postWait queues p for the loop, waiting while the queue is full; false
// once the loop has ended. A stream's message runs at once on its reader
// instead when the loop is waiting with nothing queued (tryDirect).
func (s *Server) postWait(p post) bool {
	if p.x != nil && s.tryDirect(p) {
		return true
	}
	s.queued.Add(1)
	select {
	case s.posts <- p: // the usual case, without a select over two channels
		return true
	default:
	}
	select {
	case s.posts <- p:
		return true
	case <-s.done:
		s.queued.Add(-1)
		return false
	}
}

// send sends a one-way message to the application; a full queue means the
// application ignored the credit (it cannot happen otherwise): the socket
// is aborted. False when the socket is done.
func (x *stream) send(op sp.Op, body any) bool {
	if x.done || x.deaf {
		return false
	}
	if err := x.conn.TrySend(op, body); err != nil {
		if errors.Is(err, libipc.ErrWouldBlock) {
			x.violation()
		} else {
			// The application closed its end: what it sent before is
			// still to be read (the reader's end of stream closes the
			// socket then), so only stop talking to it.
			x.deaf = true
		}
		return false
	}
	return true
}

// violation aborts a socket whose application broke the protocol.
func (x *stream) violation() {
	x.s.stats.streamViolations.Add(1)
	if x.tc != nil {
		x.tc.Abort()
	}
	x.finish()
}

// finish forgets the socket: its endpoint is closed, the connection or
// listener already handled.
func (x *stream) finish() {
	if x.done {
		return
	}
	x.done = true
	if x.connecting != nil {
		x.connecting.Fail(sockproto.ECONNABORTED)
		x.connecting = nil
	}
	if x.ln != nil {
		x.ln.Close()
		x.ln = nil
	}
	if x.tc != nil {
		x.tc.SetNotify(nil)
	}
	x.dropPending()
	x.conn.Close()
	delete(x.s.streams, x)
	x.s.stats.streamClosed.Add(1)
}

// appGone: the application closed its socket. A listener closes; a
// connection closes gracefully once the data it was given is written (an
// orphan until then, as a Linux socket closed with data in its buffer).
func (x *stream) appGone() {
	if x.done {
		return
	}
	x.gone = true
	if x.tc != nil && len(x.pending) > 0 && x.tc.Err() == nil {
		x.s.stats.streamOrphans.Add(1)
		x.conn.Close()
		return // update closes it once pending is written
	}
	if x.tc != nil {
		x.tc.Close()
	}
	x.finish()
}

// chunk is data the application sent, waiting for room in the send
// buffer: in place in its message (req, released once written), or a
// decoded copy (req nil).
type chunk struct {
	b   []byte
	req *libipc.Request
}

// done releases the chunk's message, if it has one (a one-way message,
// handled: the Request goes back to libipc too).
func (c chunk) done() {
	if c.req != nil {
		c.req.Recycle()
	}
}

// handle runs one message of the application.
func (x *stream) handle(r *libipc.Request) {
	kept := false // the body holds pending data: released once written
	defer func() {
		if !kept {
			// Decoding copies what is kept; a deferred reply keeps only r
			// (Recycle leaves a request not yet answered alone).
			r.ReleaseBody()
			r.Recycle()
		}
	}()
	for _, c := range r.Caps {
		c.Close() // the protocol moves no caps this way
	}
	if x.done || x.gone {
		r.Fail(sockproto.EBADF)
		return
	}
	switch sp.Op(r.Op) {
	case sp.OpData:
		// The usual encoding is taken in place (no copy until the send
		// buffer); anything else is decoded the general way.
		var d sp.Data
		data, inPlace := sp.ParseData(r.Body)
		if inPlace {
			d.Data = data
		} else if !sp.DecodeData(r, &d) {
			x.violation()
			return
		}
		if len(d.Data) == 0 || len(d.Data) > sp.MaxChunk ||
			len(d.Data) > x.outBytes || x.outMsgs < 1 || x.tc == nil || x.shutdownPending {
			x.violation()
			return
		}
		x.outBytes -= len(d.Data)
		x.outMsgs--
		x.s.stats.streamBytesIn.Add(uint64(len(d.Data)))
		c := chunk{b: d.Data}
		if inPlace {
			c.req, kept = r, true
		}
		x.pending = append(x.pending, c)
		x.pendingBytes += len(d.Data)
		x.update()
	case sp.OpCredit:
		var c sp.Credit
		if !sp.DecodeCredit(r, &c) || c.Bytes < 0 || c.Msgs < 0 ||
			x.inBytes+c.Bytes > sp.MaxCreditBytes || x.inMsgs+c.Msgs > sp.MaxCreditMsgs {
			x.violation()
			return
		}
		x.inBytes += c.Bytes
		x.inMsgs += c.Msgs
		x.update()
	case sp.OpAccept:
		var a sp.AcceptMsg
		if r.Decode(&a) != nil || a.N < 1 || x.acceptWant+a.N > sp.MaxAcceptWant || x.ln == nil {
			x.violation()
			return
		}
		x.acceptWant += a.N
		x.acceptMore()
	case sp.OpConnect:
		x.opConnect(r)
	case sp.OpListen:
		x.opListen(r)
	case sp.OpShutdown:
		x.opShutdown(r)
	case sp.OpOption:
		x.opOption(r)
	default:
		if r.Kind == libipc.KindRequest {
			r.Fail(sockproto.ENOSYS)
			return
		}
		x.violation()
	}
}

// opConnect opens the connection; the reply waits for the handshake.
func (x *stream) opConnect(r *libipc.Request) {
	var req sp.ConnectReq
	if r.Decode(&req) != nil {
		r.Fail(sockproto.EBADMSG)
		return
	}
	if x.tc != nil || x.ln != nil {
		r.Fail(sockproto.EISCONN)
		return
	}
	remote := req.Addr.AddrPort()
	local := netip.AddrPortFrom(x.s.Addr(), 0)
	if remote.Addr().IsLoopback() {
		local = netip.AddrPortFrom(remote.Addr(), 0) // as Linux: 127.0.0.1 talks to 127.0.0.1
	}
	tc, err := x.s.st.Connect(local, remote)
	if err != nil {
		r.Fail(errnoOf(err))
		return
	}
	x.connecting = r
	x.attach(tc)
}

// opListen makes the socket a listener.
func (x *stream) opListen(r *libipc.Request) {
	var req sp.ListenReq
	if r.Decode(&req) != nil {
		r.Fail(sockproto.EBADMSG)
		return
	}
	switch {
	case x.tc != nil || x.ln != nil:
		r.Fail(sockproto.EINVAL)
		return
	case req.Backlog < 0 || req.Backlog > sp.MaxBacklog:
		r.Fail(sockproto.EINVAL)
		return
	case req.Backlog == 0:
		req.Backlog = 128
	}
	ln, err := x.s.st.Listen(req.Addr.AddrPort(), req.Backlog)
	if err != nil {
		r.Fail(errnoOf(err))
		return
	}
	x.ln = ln
	ln.SetNotify(x.acceptMore)
	x.s.stats.streamListens.Add(1)
	r.Reply(&sp.AddrsResp{Local: sockproto.AddrFrom(ln.Addr())})
}

// opShutdown queues a FIN behind the data written so far.
func (x *stream) opShutdown(r *libipc.Request) {
	if r.Decode(&sp.Empty{}) != nil {
		r.Fail(sockproto.EBADMSG)
		return
	}
	if x.tc == nil {
		r.Fail(sockproto.ENOTCONN)
		return
	}
	x.shutdownPending = true
	r.Reply(&sp.Empty{})
	x.update()
}

// opOption sets TCP_NODELAY and SO_KEEPALIVE.
func (x *stream) opOption(r *libipc.Request) {
	var req sp.OptionReq
	if r.Decode(&req) != nil {
		r.Fail(sockproto.EBADMSG)
		return
	}
	if x.tc == nil {
		r.Fail(sockproto.ENOTCONN)
		return
	}
	if req.NoDelay != nil {
		x.tc.SetNoDelay(*req.NoDelay)
	}
	if req.KeepAlive != nil {
		x.tc.SetKeepAlive(*req.KeepAlive)
	}
	r.Reply(&sp.Empty{})
}

// attach makes tc the socket's connection. Like Go's package net (the
// API applications see), it starts with Nagle's algorithm off
// (TCP_NODELAY); OpOption turns it back on.
func (x *stream) attach(tc *tcp.Conn) {
	x.tc = tc
	tc.SetNoDelay(true)
	tc.SetNotify(x.update)
	x.update()
}

// update moves what can move after the connection's readiness (or the
// credits) changed: the connect reply, the application's pending data into
// the send buffer (credit back), received data to the application within
// its credit, EOF and errors.
func (x *stream) update() {
	if x.done || x.tc == nil {
		return
	}
	tc := x.tc
	if x.connecting != nil {
		switch {
		case tc.Err() != nil:
			x.connecting.Fail(errnoOf(tc.Err()))
			x.connecting = nil
			x.tc.Close()
			x.tc.SetNotify(nil)
			x.tc = nil
			return
		case tc.State() == tcp.SynSent:
			return
		}
		x.connecting.Reply(&sp.AddrsResp{Local: sockproto.AddrFrom(tc.LocalAddr()), Remote: sockproto.AddrFrom(tc.RemoteAddr())})
		x.connecting = nil
		x.s.stats.streamConnects.Add(1)
	}
	x.writePending()
	if x.gone {
		if len(x.pending) == 0 || tc.Err() != nil {
			tc.Close()
			x.finish()
		}
		return
	}
	x.deliver()
}

// ownedMin is the least an application's write must be for tcpd to queue
// it in the connection's send buffer where it lies (tcp.Conn.WriteOwned)
// rather than copy it: the message buffer it lies in (up to 72 KiB) is
// held until the bytes are acknowledged, worth it for large writes only.
const ownedMin = 16 << 10

// creditBatchBytes and creditBatchMsgs are the credit writePending gives
// back at once: half the initial credit.
const (
	creditBatchBytes = sp.InitialSendCreditBytes / 2
	creditBatchMsgs  = sp.InitialSendCreditMsgs / 2
)

// dropPending forgets the pending data, releasing the messages it is in.
func (x *stream) dropPending() {
	for _, c := range x.pending {
		c.done()
	}
	clear(x.pending)
	x.pending, x.pendingBytes = x.pendingArr[:0], 0
}

// writePending moves pending data into the connection's send buffer and
// returns the credit it frees.
func (x *stream) writePending() {
	tc := x.tc
	for len(x.pending) > 0 {
		if c := x.pending[0]; c.req != nil && len(c.b) >= ownedMin {
			// A large write goes into the send buffer where it lies, in
			// the application's message, which is given back once the
			// bytes are acknowledged: no copy.
			took, err := tc.WriteOwned(c.b, c.req.RecycleFunc())
			if took {
				x.retBytes += len(c.b)
				x.pendingBytes -= len(c.b)
				x.pending[0] = chunk{}
				x.pending = x.pending[1:]
				x.retMsgs++
				continue
			}
			if errors.Is(err, tcp.ErrWouldBlock) {
				break // taken whole once acknowledgements make room
			}
			if err != nil {
				x.retBytes += x.pendingBytes
				x.retMsgs += len(x.pending)
				x.dropPending()
				break
			}
			// Larger than the send buffer: copied, as it fits.
		}
		n, err := tc.Write(x.pending[0].b)
		x.retBytes += n
		x.pendingBytes -= n
		if n == len(x.pending[0].b) {
			x.pending[0].done()
			x.pending[0] = chunk{}
			x.pending = x.pending[1:]
			x.retMsgs++
		} else {
			x.pending[0].b = x.pending[0].b[n:]
		}
		if err != nil {
			if !errors.Is(err, tcp.ErrWouldBlock) {
				// The connection failed or was shut: the rest is lost,
				// and deliver reports the error.
				x.retBytes += x.pendingBytes
				x.retMsgs += len(x.pending)
				x.dropPending()
			}
			break
		}
	}
	if len(x.pending) == 0 {
		x.pending = x.pendingArr[:0]
		if x.shutdownPending && tc.Err() == nil {
			x.shutdownPending = false
			tc.CloseWrite()
		}
	}
	// Give the credit back in batches of half of it (bytes or messages).
	// Never more than half is held back, so the application always has
	// the other half to write with and never waits on credit tcpd keeps;
	// a bulk writer's 32 KiB writes cost a credit message every other
	// write, not one each.
	if x.retMsgs > 0 && !x.gone && (x.retBytes >= creditBatchBytes || x.retMsgs >= creditBatchMsgs) {
		c := &x.s.credit // encoded before send returns: no allocation per message
		*c = sp.Credit{Bytes: x.retBytes, Msgs: x.retMsgs}
		x.outBytes += x.retBytes
		x.outMsgs += x.retMsgs
		x.retBytes, x.retMsgs = 0, 0
		x.send(sp.OpCredit, c)
	}
}

// deliver sends received data within the application's credit, then EOF
// or the connection's error.
func (x *stream) deliver() {
	tc := x.tc
	for x.inBytes > 0 && x.inMsgs > 0 && !x.done {
		buf := x.s.chunk[:min(sp.MaxChunk, x.inBytes)]
		n, err := tc.Read(buf)
		if n > 0 {
			x.inBytes -= n
			x.inMsgs--
			x.s.stats.streamBytesOut.Add(uint64(n))
			x.s.data.Data = buf[:n] // encoded before send returns
			if !x.send(sp.OpData, &x.s.data) {
				return
			}
			continue
		}
		switch {
		case err == nil, errors.Is(err, tcp.ErrWouldBlock):
			return
		case errors.Is(err, io.EOF):
			if !x.eofSent {
				x.eofSent = true
				x.send(sp.OpEOF, &sp.Empty{})
			}
			return
		}
		x.fail(err)
		return
	}
	if x.inBytes > 0 || x.eofSent || x.errSent {
		return
	}
	// No credit: an error (not data) may still be told.
	if err := tc.Err(); err != nil && tc.Readiness()&tcp.Readable != 0 {
		if _, rerr := tc.Read(nil); rerr != nil && !errors.Is(rerr, io.EOF) {
			x.fail(rerr)
		}
	}
}

// fail tells the application the connection failed.
func (x *stream) fail(err error) {
	if x.errSent {
		return
	}
	x.errSent = true
	x.send(sp.OpError, &sp.ErrorMsg{Code: errnoOf(err)})
}

// acceptMore hands the application the connections it asked for.
func (x *stream) acceptMore() {
	for x.ln != nil && x.acceptWant > 0 && !x.done && !x.deaf {
		c, err := x.ln.Accept()
		if err != nil {
			return // ErrWouldBlock (or closed)
		}
		mine, theirs, err := libipc.PairFor(x.conn.Endpoint(), StreamQueueLen)
		if err != nil {
			c.Abort()
			x.s.stats.streamViolations.Add(1) // out of kernel objects: counted with the aborts
			continue
		}
		msg := &sp.Accepted{Local: sockproto.AddrFrom(c.LocalAddr()), Remote: sockproto.AddrFrom(c.RemoteAddr())}
		if err := x.conn.TrySendCaps(sp.OpAccepted, msg, []libipc.Cap{theirs}); err != nil {
			theirs.Close()
			mine.Close()
			c.Abort()
			if errors.Is(err, libipc.ErrWouldBlock) {
				x.violation()
			} else {
				x.deaf = true // closed: the reader's end of stream closes the listener
			}
			return
		}
		x.acceptWant--
		x.s.stats.streamAccepted.Add(1)
		x.s.serveStream(mine, c)
	}
}

// errnoOf maps the engine's errors to the protocol's codes.
func errnoOf(err error) sockproto.Errno {
	switch {
	case errors.Is(err, tcp.ErrConnRefused):
		return sockproto.ECONNREFUSED
	case errors.Is(err, tcp.ErrConnReset):
		return sockproto.ECONNRESET
	case errors.Is(err, tcp.ErrTimedOut):
		return sockproto.ETIMEDOUT
	case errors.Is(err, tcp.ErrHostUnreachable):
		return sockproto.EHOSTUNREACH
	case errors.Is(err, tcp.ErrNetUnreachable):
		return sockproto.ENETUNREACH
	case errors.Is(err, tcp.ErrAddrInUse):
		return sockproto.EADDRINUSE
	case errors.Is(err, tcp.ErrInvalidAddr):
		return sockproto.EINVAL
	case errors.Is(err, tcp.ErrNoEphemeralPorts):
		return sockproto.EADDRNOTAVAIL
	case errors.Is(err, tcp.ErrClosed):
		return sockproto.EPIPE
	case errors.Is(err, tcp.ErrNotConnected):
		return sockproto.ENOTCONN
	}
	return sockproto.ECONNABORTED
}
