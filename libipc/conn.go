package libipc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Bounds of a Conn.
const (
	// RecvQueueLen bounds the requests and one-way messages a Conn without a
	// server holds for Recv. When it is full, one-way messages are dropped
	// and requests refused with ErrNoBufs; both are counted in ConnStats.
	RecvQueueLen = 64
	// OutboxLen bounds the replies a Conn holds while the peer's queue is
	// full. Replies never block a handler: when the outbox is full too the
	// reply is dropped and counted in ConnStats.DroppedReplies.
	OutboxLen = 64
)

// ConnStats counts what happened on one connection.
type ConnStats struct {
	Calls          uint64 // requests sent by Call
	Replies        uint64 // replies and error replies sent
	Malformed      uint64 // received messages whose envelope could not be read
	Stray          uint64 // replies matching no pending call (late, after cancel)
	PeerErrors     uint64 // error replies with ID 0 (the peer could not read our message)
	DroppedRecv    uint64 // incoming messages dropped because RecvQueueLen was full
	DroppedReplies uint64 // replies dropped because the peer's queue and OutboxLen were full
}

// reply is what the reader hands to a waiting Call.
type reply struct {
	h       Header
	body    []byte
	buf     []byte // the message buffer body lies in; Call releases it after decoding
	handles []Cap
	err     error
}

// Conn is a message connection over an Endpoint: concurrent Calls are
// multiplexed on it and matched to their replies by request ID; one-way
// messages go with Send; incoming requests and one-way messages are read with
// Recv (client side) or dispatched to a Mux (when the Conn belongs to a
// Server). A Conn is safe for concurrent use.
//
// One goroutine per Conn reads the endpoint. When the peer goes away, every
// pending Call fails at once with an error wrapping ErrPeerClosed, and Done
// is closed.
type Conn struct {
	ep      Endpoint
	deliver func(*Request) bool // server conns: hand a request to the dispatcher
	ended   func(error)         // NewConnFunc's: told on the reader goroutine once the conn ends
	srv     *Server

	nextID atomic.Uint32

	mu      sync.Mutex
	pending map[uint32]chan reply
	err     error // why the conn ended; set once, before done closes

	done     chan struct{}
	incoming chan *Request
	outbox   chan Message
	outOnce  sync.Once

	// Value is free for the owner (for example a server's per-client state).
	// Libipc never touches it. Server handlers run on one goroutine, so they
	// may use it without locking.
	Value any

	stats struct {
		calls, replies, malformed, stray, peerErrors, droppedRecv, droppedReplies atomic.Uint64
	}
}

// NewConn starts a connection over ep. Incoming requests and one-way
// messages are queued for Recv. Close the Conn to release ep.
func NewConn(ep Endpoint) *Conn {
	c := newConn(ep)
	c.incoming = make(chan *Request, RecvQueueLen)
	go c.readLoop()
	return c
}

// NewConnFunc starts a connection over ep whose incoming requests and
// one-way messages go to deliver, called in order on the connection's
// reader goroutine, instead of being queued for Recv: a goroutine hand-off
// less per message for a reader that only hands each message on. deliver
// owns the Request as a Recv caller does; while it runs (or blocks) the
// reader reads nothing more, replies to this connection's Calls included.
// Once the connection has ended, after the last deliver, ended (if not nil)
// is called on the same goroutine with the reason (what Err returns). Close
// the Conn to release ep.
func NewConnFunc(ep Endpoint, deliver func(*Request), ended func(error)) *Conn {
	c := newConn(ep)
	c.deliver = func(r *Request) bool {
		deliver(r)
		return true
	}
	c.ended = ended
	go c.readLoop()
	return c
}

func newConn(ep Endpoint) *Conn {
	return &Conn{
		ep:      ep,
		pending: make(map[uint32]chan reply),
		done:    make(chan struct{}),
		outbox:  make(chan Message, OutboxLen),
	}
}

// Endpoint returns the endpoint the connection runs on.
func (c *Conn) Endpoint() Endpoint { return c.ep }

// Done is closed when the connection has ended (peer closed, Close called).
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (wrapping ErrPeerClosed or ErrClosed),
// or nil while it is open.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	default:
		return nil
	}
}

// Close closes the endpoint; pending Calls fail with ErrClosed.
func (c *Conn) Close() error {
	err := c.ep.Close()
	c.finish(ErrClosed)
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// Stats returns the connection's counters.
func (c *Conn) Stats() ConnStats {
	s := &c.stats
	return ConnStats{
		Calls: s.calls.Load(), Replies: s.replies.Load(), Malformed: s.malformed.Load(),
		Stray: s.stray.Load(), PeerErrors: s.peerErrors.Load(),
		DroppedRecv: s.droppedRecv.Load(), DroppedReplies: s.droppedReplies.Load(),
	}
}

// finish ends the connection once: records why and fails every pending call.
func (c *Conn) finish(why error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = why
	pend := c.pending
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	for _, ch := range pend {
		ch <- reply{err: why}
	}
}

// bufPool holds encode buffers; transports copy Data on send, so a buffer
// goes back to the pool as soon as Send returns.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// send encodes and sends one message, blocking while the peer's queue is
// full (block) or failing with ErrWouldBlock (!block).
func (c *Conn) send(ctx context.Context, h Header, body any, hs []Cap, block bool) error {
	if os, ok := c.ep.(OwnedSender); ok {
		return c.sendOwned(ctx, os, h, body, hs, block)
	}
	if g, ok := body.(BodyGatherer); ok {
		if gs, ok := c.ep.(GatherSender); ok {
			return c.sendGather(ctx, gs, h, g, hs, block)
		}
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b, err := AppendMessage((*bp)[:0], h, body)
	if err != nil {
		return err
	}
	*bp = b
	m := Message{Data: b, Caps: hs}
	if block {
		return c.ep.Send(ctx, m)
	}
	return c.ep.TrySend(m)
}

// OwnedSender is a transport that can hand a message buffer to the
// receiver as it is (the in-memory transport: there is no kernel between
// the two to copy it). m.Data must come from libipc's message buffers; the
// transport owns it once the call succeeds, the caller keeps it otherwise.
type OwnedSender interface {
	SendOwned(ctx context.Context, m Message) error
	TrySendOwned(m Message) error
}

// SizeHinter is a message body that knows about how many bytes it encodes
// to, so the encoder picks a buffer that holds it at once.
type SizeHinter interface {
	MsgSizeHint() int
}

// sendOwned encodes straight into a message buffer and hands it over: the
// encoding is the only copy of the body between the two ends.
func (c *Conn) sendOwned(ctx context.Context, os OwnedSender, h Header, body any, hs []Cap, block bool) error {
	hint := bufClasses[0]
	if sh, ok := body.(SizeHinter); ok {
		hint = sh.MsgSizeHint() + 32 // the envelope
	}
	b, err := AppendMessage(getBuf(hint), h, body)
	if err != nil {
		releaseBuf(b)
		return err
	}
	m := Message{Data: b, Caps: hs}
	if block {
		err = os.SendOwned(ctx, m)
	} else {
		err = os.TrySendOwned(m)
	}
	if err != nil {
		releaseBuf(b)
	}
	return err
}

// GatherSender is a transport that sends a message's bytes from pieces
// where they lie (the kernel's abi.SendGather): m.Data is the encoding
// with the pieces left out (BodyGatherer), each piece's bytes going at its
// offset of it.
type GatherSender interface {
	SendGather(ctx context.Context, m Message, pieces []Piece) error
	TrySendGather(m Message, pieces []Piece) error
}

// gatherState is a gathered send's encode buffer and pieces.
type gatherState struct {
	b      []byte
	pieces []Piece
}

var gatherPool = sync.Pool{New: func() any { return &gatherState{b: make([]byte, 0, 256), pieces: make([]Piece, 0, 4)} }}

// sendGather encodes body with its large fields left out and sends the
// encoding and those fields as pieces: their bytes are copied once, from
// where they lie into the message.
func (c *Conn) sendGather(ctx context.Context, gs GatherSender, h Header, body BodyGatherer, hs []Cap, block bool) error {
	st := gatherPool.Get().(*gatherState)
	defer func() {
		clear(st.pieces) // keep no reference to the caller's bytes
		st.pieces = st.pieces[:0]
		gatherPool.Put(st)
	}()
	b := AppendHeader(st.b[:0], h)
	b, st.pieces = body.AppendMsgpackGather(b, st.pieces[:0])
	st.b = b
	n := len(b)
	for _, p := range st.pieces {
		n += len(p.Data)
	}
	if n > MaxMessageSize {
		return fmt.Errorf("libipc: encode %v: %d bytes: %w", h.Op, n, ErrTooLarge)
	}
	m := Message{Data: b, Caps: hs}
	if block {
		return gs.SendGather(ctx, m, st.pieces)
	}
	return gs.TrySendGather(m, st.pieces)
}

var replyChans = sync.Pool{New: func() any { return make(chan reply, 1) }}

// Call sends req as a request for op and waits for the reply, decoding it
// into resp (a pointer; nil to only check the reply body). An error reply
// comes back as a *RemoteError (errors.Is works on its code); a connection
// that ends first gives an error wrapping ErrPeerClosed or ErrClosed; ctx
// ending gives ctx.Err(). Caps in the reply are closed.
func (c *Conn) Call(ctx context.Context, op Op, req, resp any) error {
	hs, err := c.CallCaps(ctx, op, req, resp, nil)
	for _, h := range hs {
		h.Close()
	}
	return err
}

// CallCaps is Call that also moves caps: out go with the request (if the
// request cannot be sent they stay with the caller), and the caps in the
// reply are returned (the caller owns them).
func (c *Conn) CallCaps(ctx context.Context, op Op, req, resp any, out []Cap) ([]Cap, error) {
	ch := replyChans.Get().(chan reply)
	c.mu.Lock()
	if c.pending == nil {
		err := c.err
		c.mu.Unlock()
		replyChans.Put(ch)
		return nil, fmt.Errorf("libipc: call %v: %w", op, err)
	}
	id := c.nextID.Add(1)
	for _, busy := c.pending[id]; id == 0 || busy; _, busy = c.pending[id] {
		id = c.nextID.Add(1)
	}
	c.pending[id] = ch
	c.mu.Unlock()

	h := Header{Version: Version, Kind: KindRequest, Op: op, ID: id}
	if err := c.send(ctx, h, req, out, true); err != nil {
		c.abandon(id, ch)
		return nil, fmt.Errorf("libipc: call %v: %w", op, err)
	}
	c.stats.calls.Add(1)
	var r reply
	select {
	case r = <-ch:
		replyChans.Put(ch)
	case <-ctx.Done():
		c.abandon(id, ch)
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, fmt.Errorf("libipc: call %v: %w", op, r.err)
	}
	// The decoder copies what it keeps (the body is read through a
	// bytes.Reader), so the buffer is free again once decoding is over.
	defer releaseBuf(r.buf)
	if r.h.Op != op {
		closeAll(r.handles)
		return nil, &FrameError{Reason: ReasonUnknownOp, Op: r.h.Op,
			Err: fmt.Errorf("reply for %v to a call of %v", r.h.Op, op)}
	}
	if r.h.Kind == KindError {
		closeAll(r.handles)
		var eb ErrorBody
		if err := DecodeBody(r.body, &eb); err != nil {
			err.(*FrameError).Op = op
			return nil, err
		}
		return nil, &RemoteError{Op: op, Code: eb.Code, Msg: eb.Msg}
	}
	if err := DecodeBody(r.body, resp); err != nil {
		closeAll(r.handles)
		fe := err.(*FrameError)
		fe.Op = op
		return nil, fe
	}
	return r.handles, nil
}

// abandon removes a pending call; if the reader already claimed it, the
// reply it sends is drained (and its caps closed) so ch can be reused.
func (c *Conn) abandon(id uint32, ch chan reply) {
	c.mu.Lock()
	_, mine := c.pending[id]
	if mine {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	if !mine {
		r := <-ch
		closeAll(r.handles)
		releaseBuf(r.buf)
	}
	replyChans.Put(ch)
}

func closeAll(hs []Cap) {
	for _, h := range hs {
		h.Close()
	}
}

// Send sends msg as a one-way message for op, waiting while the peer's
// queue is full.
func (c *Conn) Send(ctx context.Context, op Op, msg any) error {
	return c.SendCaps(ctx, op, msg, nil)
}

// SendCaps is Send that also moves caps to the peer.
func (c *Conn) SendCaps(ctx context.Context, op Op, msg any, hs []Cap) error {
	h := Header{Version: Version, Kind: KindOneway, Op: op}
	if err := c.send(ctx, h, msg, hs, true); err != nil {
		return fmt.Errorf("libipc: send %v: %w", op, err)
	}
	return nil
}

// TrySend sends a one-way message without blocking; it fails with an error
// wrapping ErrWouldBlock when the peer's queue is full.
func (c *Conn) TrySend(op Op, msg any) error { return c.TrySendCaps(op, msg, nil) }

// TrySendCaps is TrySend that also moves caps to the peer. When it fails the
// caps are still the caller's.
func (c *Conn) TrySendCaps(op Op, msg any, hs []Cap) error {
	h := Header{Version: Version, Kind: KindOneway, Op: op}
	if err := c.send(context.Background(), h, msg, hs, false); err != nil {
		return fmt.Errorf("libipc: send %v: %w", op, err)
	}
	return nil
}

// Recv returns the next incoming request or one-way message of a client
// Conn (one made by NewConn). A request must be answered with Reply or Fail.
// After the connection ends and the queue is drained, Recv fails with the
// reason (see Err).
func (c *Conn) Recv(ctx context.Context) (*Request, error) {
	if c.incoming == nil {
		return nil, fmt.Errorf("libipc: Recv on a server connection: %w", ErrInvalid)
	}
	select {
	case r := <-c.incoming:
		return r, nil
	default:
	}
	select {
	case r := <-c.incoming:
		return r, nil
	case <-c.done:
		select {
		case r := <-c.incoming:
			return r, nil
		default:
			return nil, c.Err()
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// readLoop reads the endpoint until it fails, routing replies to pending
// calls and requests to deliver or the Recv queue.
func (c *Conn) readLoop() {
	for {
		m, err := c.ep.Recv(context.Background())
		if err != nil {
			c.finish(err)
			if c.ended != nil {
				c.ended(c.Err())
			}
			return
		}
		h, body, err := ParseHeader(m.Data)
		if err != nil {
			c.stats.malformed.Add(1)
			closeAll(m.Caps)
			m.Release() // the error refers to offsets only, never to the bytes
			var id uint32
			if fe := err.(*FrameError); fe.Reason == ReasonBadVersion || fe.Reason == ReasonBadKind {
				id = h.ID // the envelope was complete: answer the caller by ID
			}
			c.sendReply(Header{Version: Version, Kind: KindError, Op: h.Op, ID: id},
				&ErrorBody{Code: CodeOf(err), Msg: err.Error()}, nil)
			continue
		}
		switch h.Kind {
		case KindReply, KindError:
			c.route(h, body, m.Data, m.Caps)
		default:
			c.incomingRequest(newRequest(h, body, m.Caps, c, m.Data))
		}
	}
}

// route hands a reply to its pending call.
func (c *Conn) route(h Header, body, buf []byte, hs []Cap) {
	c.mu.Lock()
	ch, ok := c.pending[h.ID]
	if ok {
		delete(c.pending, h.ID)
	}
	c.mu.Unlock()
	if ok {
		ch <- reply{h: h, body: body, buf: buf, handles: hs}
		return
	}
	closeAll(hs)
	releaseBuf(buf)
	if h.ID == 0 && h.Kind == KindError {
		c.stats.peerErrors.Add(1)
	} else {
		c.stats.stray.Add(1)
	}
}

func (c *Conn) incomingRequest(r *Request) {
	if c.deliver != nil {
		if !c.deliver(r) {
			closeAll(r.Caps)
			r.ReleaseBody()
		}
		return
	}
	select {
	case c.incoming <- r:
	default:
		c.stats.droppedRecv.Add(1)
		closeAll(r.Caps)
		r.ReleaseBody()
		if r.Kind == KindRequest {
			r.Fail(fmt.Errorf("libipc: receive queue full: %w", ErrNoBufs))
		}
	}
}

// sendReply sends a reply without ever blocking the caller: straight to the
// endpoint if there is room, else through the bounded outbox drained by a
// writer goroutine, else dropped and counted. Caps of a reply that cannot be
// sent are closed.
func (c *Conn) sendReply(h Header, body any, hs []Cap) error {
	if len(c.outbox) == 0 {
		err := c.send(context.Background(), h, body, hs, false)
		if err == nil {
			c.stats.replies.Add(1)
			return nil
		}
		if !errors.Is(err, ErrWouldBlock) {
			closeAll(hs)
			return err
		}
	}
	bp := bufPool.Get().(*[]byte)
	b, err := AppendMessage((*bp)[:0], h, body)
	if err != nil {
		bufPool.Put(bp)
		closeAll(hs)
		return err
	}
	*bp = b
	// The outbox keeps its own copy in a free-list buffer; writeLoop
	// releases it once the endpoint has copied it (or the reply is dropped).
	m := Message{Data: copyToBuf(b), Caps: hs}
	bufPool.Put(bp)
	c.outOnce.Do(func() { go c.writeLoop() })
	select {
	case c.outbox <- m:
		return nil
	default:
		c.stats.droppedReplies.Add(1)
		closeAll(hs)
		m.Release()
		return fmt.Errorf("libipc: reply %v: outbox full: %w", h.Op, ErrWouldBlock)
	}
}

// writeLoop drains the outbox with blocking sends until the conn ends.
func (c *Conn) writeLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-c.done; cancel() }()
	for {
		select {
		case m := <-c.outbox:
			var err error
			if os, ok := c.ep.(OwnedSender); ok {
				if err = os.SendOwned(ctx, m); err != nil {
					m.Release() // not taken: still ours
				}
			} else {
				err = c.ep.Send(ctx, m) // copies m.Data
				m.Release()
			}
			if err != nil {
				c.stats.droppedReplies.Add(1)
				closeAll(m.Caps)
				continue
			}
			c.stats.replies.Add(1)
		case <-c.done:
			for {
				select {
				case m := <-c.outbox:
					c.stats.droppedReplies.Add(1)
					closeAll(m.Caps)
					m.Release()
				default:
					return
				}
			}
		}
	}
}
