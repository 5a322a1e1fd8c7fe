package libipc

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// DispatchQueueLen bounds the events (requests, connects, disconnects,
// posted functions) waiting for a Server's dispatch goroutine. When it is
// full, connection readers stop reading, so back-pressure reaches clients
// through their endpoints' bounded queues.
const DispatchQueueLen = 256

// Mux maps ops to handlers. Register everything before serving; a Mux is
// not safe to modify while a Server uses it.
type Mux struct {
	handlers     map[Op]func(*Request)
	onConnect    func(*Conn)
	onDisconnect func(*Conn, error)
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{handlers: make(map[Op]func(*Request))} }

// HandleRaw registers fn for op. fn gets the undecoded request and must
// answer it (Reply/Fail), now or later, unless it is one-way.
// Registering an op twice replaces the handler.
func (m *Mux) HandleRaw(op Op, fn func(r *Request)) { m.handlers[op] = fn }

// OnConnect registers fn to run (on the dispatch goroutine) when a
// connection is accepted, before any of its requests.
func (m *Mux) OnConnect(fn func(c *Conn)) { m.onConnect = fn }

// OnDisconnect registers fn to run (on the dispatch goroutine) after a
// connection's last request, when it has ended; err says why (wrapping
// ErrPeerClosed when the client went away). Release per-client state here.
func (m *Mux) OnDisconnect(fn func(c *Conn, err error)) { m.onDisconnect = fn }

// Handle registers a synchronous typed handler for op: the request body is
// strictly decoded into a *Req (a decode failure is answered with an error
// reply and fn is not called), fn's *Resp becomes the reply, and a non-nil
// error becomes an error reply with CodeOf(err).
func Handle[Req, Resp any](m *Mux, op Op, fn func(r *Request, req *Req) (*Resp, error)) {
	m.HandleRaw(op, func(r *Request) {
		req, ok := decodeTyped[Req](r)
		if !ok {
			return
		}
		resp, err := fn(r, req)
		if r.Kind != KindRequest {
			return
		}
		if err != nil {
			r.Fail(err)
			return
		}
		r.Reply(resp)
	})
}

// decodeTyped strictly decodes r's body into a new T and gives the body's
// buffer back. A malformed body is answered (or, for a one-way message,
// dropped) here, and ok is false.
func decodeTyped[T any](r *Request) (v *T, ok bool) {
	v = new(T)
	err := r.Decode(v)
	r.ReleaseBody()
	if err != nil {
		failOrDrop(r, err)
		return nil, false
	}
	return v, true
}

// Reply is the typed answer slot of a deferred request: keep it and call OK
// or Fail exactly once, possibly long after the handler returned (a blocking
// recvfrom answers when a datagram arrives).
type Reply[Resp any] struct{ r *Request }

// Request returns the request being answered.
func (p *Reply[Resp]) Request() *Request { return p.r }

// OK answers with resp. It fails wrapping ErrPeerClosed if the caller left.
func (p *Reply[Resp]) OK(resp *Resp) error { return p.r.Reply(resp) }

// Fail answers with an error reply (see Request.Fail).
func (p *Reply[Resp]) Fail(err error) error { return p.r.Fail(err) }

// Done reports whether the request has been answered.
func (p *Reply[Resp]) Done() bool { return p.r.Answered() }

// HandleDeferred registers a typed handler whose answer may come later: fn
// receives the decoded request and a *Reply it may answer at once or keep.
// If the caller's connection ends first, OK/Fail return an error wrapping
// ErrPeerClosed (or ErrClosed); use Mux.OnDisconnect to drop kept replies.
func HandleDeferred[Req, Resp any](m *Mux, op Op, fn func(r *Request, req *Req, reply *Reply[Resp])) {
	m.HandleRaw(op, func(r *Request) {
		req, ok := decodeTyped[Req](r)
		if !ok {
			return
		}
		fn(r, req, &Reply[Resp]{r: r})
	})
}

// HandleOneway registers a typed handler for one-way messages of op. A
// request (expecting a reply) sent to it is answered with an empty reply
// after fn returns.
func HandleOneway[Msg any](m *Mux, op Op, fn func(r *Request, msg *Msg)) {
	m.HandleRaw(op, func(r *Request) {
		msg, ok := decodeTyped[Msg](r)
		if !ok {
			return
		}
		fn(r, msg)
		if r.Kind == KindRequest && !r.Answered() {
			r.Reply(nil)
		}
	})
}

// failOrDrop answers a bad request with an error; a bad one-way message has
// nobody to answer and is only counted.
func failOrDrop(r *Request, err error) {
	if r.Kind == KindRequest {
		r.Fail(err)
		return
	}
	r.conn.stats.malformed.Add(1)
}

// ServerStats counts a Server's activity.
type ServerStats struct {
	Accepted   uint64 // connections accepted
	Active     uint64 // connections open now
	Dispatched uint64 // requests and one-way messages handed to handlers
	UnknownOps uint64 // messages for ops with no handler
	Panics     uint64 // handler panics recovered (answered with ErrInternal)
	PostFull   uint64 // TryPost calls refused because the dispatch queue was full
	Direct     uint64 // events run at once by the goroutine that posted them (SetDirect)
}

// event is one unit of work for the dispatch goroutine.
type event struct {
	req  *Request
	conn *Conn // connect (req == nil, err == nil) or disconnect (err != nil)
	err  error
	fn   func()
}

// Server runs a Mux over any number of connections. Every handler,
// OnConnect/OnDisconnect callback and Post-ed function runs on the single
// goroutine inside Serve, one at a time, in arrival order per connection —
// so a server's state needs no locks (the microkit model: one thread per
// protection domain). Handlers must not block; a handler that has to wait
// uses HandleDeferred and answers later.
type Server struct {
	mux    *Mux
	events chan event
	done   chan struct{}
	stop   sync.Once

	mu    sync.Mutex
	conns map[*Conn]struct{}

	// Direct dispatch (SetDirect): running is held by whoever dispatches
	// an event, the dispatch goroutine or a poster running it in place;
	// queued counts the events put in the queue and not yet dispatched.
	direct  bool
	serving atomic.Bool // Serve has started (nothing runs before it)
	running sync.Mutex
	queued  atomic.Int64

	accepted, active, dispatched, unknown, panics, postFull, directs atomic.Uint64
}

// SetDirect lets a post run its event at once, on the posting goroutine,
// when the dispatch goroutine is idle and nothing is queued: a request
// then reaches its handler without waking the dispatch goroutine (two
// goroutine switches and a channel hand-off per message). Handlers still
// run one at a time, each after everything posted before it (a lock and
// the count of queued events see to both), but no longer all on one
// goroutine, so a handler must not wait for its own connection's reader
// (a Call on the connection it serves, say): handlers must not block
// anyway. Call it before Serve and Accept.
func (s *Server) SetDirect(on bool) { s.direct = on }

// tryDirect dispatches e on the calling goroutine if the server is
// direct, idle and has nothing queued; false leaves e to the queue.
func (s *Server) tryDirect(e event) bool {
	if !s.direct || !s.serving.Load() || s.queued.Load() != 0 || !s.running.TryLock() {
		return false
	}
	defer s.running.Unlock()
	select {
	case <-s.done:
		return false // stopped: the caller reports it
	default:
	}
	if s.queued.Load() != 0 { // queued since the first look: it goes first
		return false
	}
	s.directs.Add(1)
	s.dispatch(e)
	return true
}

// NewServer returns a server for mux. Call Serve to run it; Accept may be
// called before or while it runs.
func NewServer(mux *Mux) *Server {
	return &Server{
		mux:    mux,
		events: make(chan event, DispatchQueueLen),
		done:   make(chan struct{}),
		conns:  make(map[*Conn]struct{}),
	}
}

// Accept starts serving a client on ep. Its signature fits Broker.Register.
// On a stopped server the endpoint is closed.
func (s *Server) Accept(ep Endpoint) {
	c := newConn(ep)
	c.srv = s
	c.deliver = func(r *Request) bool { return s.post(event{req: r}) }
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		ep.Close()
		return
	default:
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.accepted.Add(1)
	s.active.Add(1)
	go func() {
		// The connect event is posted here, not in Accept, so Accept never
		// waits for the dispatch queue (it may run on the dispatch goroutine).
		s.post(event{conn: c})
		c.readLoop()
		s.post(event{conn: c, err: c.Err()})
	}()
}

// post queues an event, waiting for room (or, direct, runs it at once);
// false if the server stopped.
func (s *Server) post(e event) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	if s.tryDirect(e) {
		return true
	}
	// Room in the queue, the common case: a non-blocking send, far
	// cheaper than the two-way select below (runtime.selectgo locks and
	// queues on both channels).
	s.queued.Add(1)
	select {
	case s.events <- e:
		return true
	default:
	}
	select {
	case s.events <- e:
		return true
	case <-s.done:
		s.queued.Add(-1)
		return false
	}
}

// Post runs fn on the dispatch goroutine (for example to complete deferred
// replies when a timer fires or the network stack has data). It waits for
// room in the dispatch queue and returns false if the server has stopped.
// Call it from other goroutines only: code already on the dispatch goroutine
// (a handler, a callback) just calls fn, and posting from there could wait
// forever on a full queue; TryPost never waits.
func (s *Server) Post(fn func()) bool { return s.post(event{fn: fn}) }

// TryPost is Post without waiting: it fails with ErrWouldBlock when the
// dispatch queue is full (counted in ServerStats.PostFull) and with
// ErrClosed when the server has stopped.
func (s *Server) TryPost(fn func()) error {
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	if s.tryDirect(event{fn: fn}) {
		return nil
	}
	s.queued.Add(1)
	select {
	case s.events <- event{fn: fn}:
		return nil
	default:
		s.queued.Add(-1)
		s.postFull.Add(1)
		return ErrWouldBlock
	}
}

// Serve runs the dispatch loop until ctx ends, then closes every connection
// and returns ctx's error. Call it once. OnDisconnect is not called for the
// connections Serve closes on its way out.
func (s *Server) Serve(ctx context.Context) error {
	defer func() {
		// No direct dispatch runs through or after the shutdown.
		s.running.Lock()
		defer s.running.Unlock()
		s.shutdown()
	}()
	s.serving.Store(true)
	done := ctx.Done()
	for {
		// Events already queued are taken without the two-way select
		// (which costs as much as a small handler); ctx is still checked
		// before each one.
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		select {
		case e := <-s.events:
			s.dispatchQueued(e)
			continue
		default:
		}
		select {
		case e := <-s.events:
			s.dispatchQueued(e)
		case <-done:
			return ctx.Err()
		}
	}
}

// dispatchQueued dispatches an event taken from the queue, holding
// running (a direct dispatch may be under way), and only then counts it
// out of the queue, so that no later post overtakes it.
func (s *Server) dispatchQueued(e event) {
	if !s.direct {
		s.dispatch(e)
		s.queued.Add(-1)
		return
	}
	s.running.Lock()
	s.dispatch(e)
	s.queued.Add(-1)
	s.running.Unlock()
}

func (s *Server) shutdown() {
	s.stop.Do(func() {
		s.mu.Lock()
		close(s.done)
		conns := s.conns
		s.conns = nil
		s.mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Accepted: s.accepted.Load(), Active: s.active.Load(), Dispatched: s.dispatched.Load(),
		UnknownOps: s.unknown.Load(), Panics: s.panics.Load(), PostFull: s.postFull.Load(), Direct: s.directs.Load(),
	}
}

func (s *Server) dispatch(e event) {
	defer func() {
		if p := recover(); p != nil {
			s.panics.Add(1)
			if e.req != nil && e.req.Kind == KindRequest && !e.req.Answered() {
				e.req.Fail(fmt.Errorf("libipc: handler for %v panicked: %v: %w", e.req.Op, p, ErrInternal))
			}
		}
	}()
	switch {
	case e.fn != nil:
		e.fn()
	case e.req != nil:
		s.handle(e.req)
	case e.err != nil:
		s.mu.Lock()
		if s.conns != nil {
			delete(s.conns, e.conn)
		}
		s.mu.Unlock()
		s.active.Add(^uint64(0))
		if s.mux.onDisconnect != nil {
			s.mux.onDisconnect(e.conn, e.err)
		}
	default:
		if s.mux.onConnect != nil {
			s.mux.onConnect(e.conn)
		}
	}
}

func (s *Server) handle(r *Request) {
	fn, ok := s.mux.handlers[r.Op]
	if !ok || r.Op == 0 {
		s.unknown.Add(1)
		closeAll(r.Caps)
		failOrDrop(r, &FrameError{Reason: ReasonUnknownOp, Op: r.Op})
		return
	}
	s.dispatched.Add(1)
	fn(r)
}

// Registrar publishes a service under a name: Broker implements it for
// hosted runs, and init's registration service will under the kernel.
type Registrar interface {
	Register(name string, accept func(Endpoint))
}

// ServeNamed is the whole life of a simple server: it makes a Server for
// mux, registers it as name with reg, and serves until ctx ends. A server's
// main.go can be just its Mux wiring and this call.
func ServeNamed(ctx context.Context, reg Registrar, name string, mux *Mux) error {
	srv := NewServer(mux)
	reg.Register(name, srv.Accept)
	return srv.Serve(ctx)
}
