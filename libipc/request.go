package libipc

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Request is an incoming request or one-way message. A request (Kind ==
// KindRequest) must be answered exactly once with Reply or Fail — either
// before its handler returns or later (a deferred reply, see
// HandleDeferred); answering a one-way message is an error.
type Request struct {
	Header
	// Body is the undecoded msgpack body; decode it with Decode. It lies in
	// the transport's message buffer, which HandleRaw handlers and Recv
	// callers own (and may keep). The typed handlers (Handle, HandleDeferred,
	// HandleOneway) get the body already decoded: their wrapper gives the
	// buffer back to the transport before calling them, and Body is nil.
	// See ReleaseBody.
	Body []byte
	// Caps moved to the receiver with the message; the handler owns them.
	Caps []Cap

	conn     *Conn
	buf      []byte // the message buffer Body lies in
	answered atomic.Bool
	recycle  func() // r.Recycle as a value, made once (RecycleFunc), kept through reuse
}

// ReleaseBody gives the message buffer holding Body back to the transport's
// free list and sets Body to nil. Call it once the body has been decoded
// (Decode copies everything it keeps, so decoded values stay valid) and
// nothing refers to Body or a slice of it any more; a handler that keeps a
// request for a deferred reply may release its body first. Not calling it is
// always safe: the buffer is then left to the garbage collector. Calling it
// more than once does nothing.
func (r *Request) ReleaseBody() {
	r.Body = nil
	releaseBuf(r.buf)
	r.buf = nil
}

// TakeBuffer hands the message buffer holding Body over to the caller
// and sets Body to nil: the caller may then write anywhere in it (all of
// its capacity), and gives it back with ReleaseBuffer once done (or leaves
// it to the garbage collector). off is where Body began in it. ok is false,
// and nothing changes, when there is no buffer to take (a typed handler's
// request, a body already released or taken, or a Body that does not lie
// in it). netd builds a frame around the segment a protocol server sent,
// in the buffer that segment came in.
func (r *Request) TakeBuffer() (buf []byte, off int, ok bool) {
	if r.buf == nil || len(r.Body) == 0 {
		return nil, 0, false
	}
	whole := r.buf[:cap(r.buf)]
	off = cap(whole) - cap(r.Body)
	if off < 0 || off+len(r.Body) > len(whole) || &whole[off] != &r.Body[0] {
		return nil, 0, false
	}
	buf = whole
	r.Body, r.buf = nil, nil
	return buf, off, true
}

// requests recycles Requests (Recycle): one per incoming message was an
// allocation per message.
var requests = sync.Pool{New: func() any { return new(Request) }}

// newRequest returns a Request for an incoming message.
func newRequest(h Header, body []byte, caps []Cap, c *Conn, buf []byte) *Request {
	r := requests.Get().(*Request)
	r.Header, r.Body, r.Caps, r.conn, r.buf = h, body, caps, c, buf
	return r
}

// Recycle gives an answered request (or a one-way message that was
// handled) back to libipc for reuse. It is optional: a server's hot path
// calls it after answering so that requests cost no allocation. After
// Recycle, neither r nor anything taken from it (Body, Caps) may be used;
// a request not yet answered is left alone (it is not recycled).
func (r *Request) Recycle() {
	if r.Kind == KindRequest && !r.answered.Load() {
		return
	}
	r.ReleaseBody()
	fn := r.recycle
	*r = Request{recycle: fn}
	requests.Put(r)
}

// RecycleFunc returns r.Recycle as a func value, to hand to whoever
// finishes with the request later (a send buffer that gives a message
// back once its bytes are acknowledged). Unlike the method value
// r.Recycle, which allocates each time, it is made once per Request and
// kept as the Request is reused.
func (r *Request) RecycleFunc() func() {
	if r.recycle == nil {
		r.recycle = r.Recycle
	}
	return r.recycle
}

// Conn returns the connection the request arrived on.
func (r *Request) Conn() *Conn { return r.conn }

// Decode strictly decodes the body into v (see DecodeBody).
func (r *Request) Decode(v any) error {
	err := DecodeBody(r.Body, v)
	if fe, ok := err.(*FrameError); ok {
		fe.Op = r.Op
	}
	return err
}

// Answered reports whether Reply or Fail has been called.
func (r *Request) Answered() bool { return r.answered.Load() }

func (r *Request) claim() error {
	if r.Kind != KindRequest {
		return fmt.Errorf("libipc: reply to %v %v: %w", r.Kind, r.Op, ErrInvalid)
	}
	if !r.answered.CompareAndSwap(false, true) {
		return fmt.Errorf("libipc: %v already answered: %w", r.Op, ErrInvalid)
	}
	return nil
}

// Reply answers the request with resp as the body, moving caps hs to the
// caller. It never blocks; it fails (wrapping ErrPeerClosed) if the caller
// has gone away, in which case the reply is simply lost and hs are closed.
// A reply that cannot be sent for another reason (a cap the kernel
// refuses, a body too large) is replaced by an error reply with that
// error's code, so the caller's Call ends; hs are closed then too.
func (r *Request) Reply(resp any, hs ...Cap) error {
	if err := r.claim(); err != nil {
		return err
	}
	h := Header{Version: Version, Kind: KindReply, Op: r.Op, ID: r.ID}
	if err := r.conn.sendReply(h, resp, hs); err != nil {
		if errors.Is(err, ErrWouldBlock) || errors.Is(err, ErrPeerClosed) {
			return err // dropped and counted (the caller reads no replies), or nobody to tell
		}
		// The reply could not be encoded or sent (its caps refused,
		// too large): tell the caller instead of leaving it hanging.
		code := CodeOf(err)
		if errorsIsEncode(err) {
			code = ErrInternal
		}
		h.Kind = KindError
		r.conn.sendReply(h, &ErrorBody{Code: code, Msg: "libipc: reply not delivered: " + err.Error()}, nil)
		return err
	}
	return nil
}

// Fail answers the request with an error reply carrying CodeOf(err) and
// err's text. The caller's Call returns a *RemoteError with that code.
func (r *Request) Fail(err error) error {
	if cerr := r.claim(); cerr != nil {
		return cerr
	}
	h := Header{Version: Version, Kind: KindError, Op: r.Op, ID: r.ID}
	return r.conn.sendReply(h, &ErrorBody{Code: CodeOf(err), Msg: err.Error()}, nil)
}

// errorsIsEncode reports whether a sendReply error came from encoding the
// body (as opposed to the transport).
func errorsIsEncode(err error) bool {
	c := CodeOf(err)
	return c == ErrInternal || c == ErrTooLarge
}
