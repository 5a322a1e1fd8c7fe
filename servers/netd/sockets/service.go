package sockets

import (
	"context"
	"sync/atomic"
	"time"

	"armos/libipc"
	"armos/libsocket/sockproto"
	"armos/servers/netd/stack"
)

// MinTickInterval is the shortest wait between two timer ticks when a
// deadline is already due at the time of the last tick (so a deadline that
// a tick fails to clear cannot make the loop spin).
const MinTickInterval = time.Millisecond

// MaxParkedPerSocket bounds the blocking receives waiting on one socket; one
// more is refused with ENOBUFS (counted in Stats.ParkRefused).
const MaxParkedPerSocket = 16

// MaxClients bounds the client connections the service holds at once. A
// connection beyond it is refused: the service sends it an error report
// (libipc's unsolicited error reply, ID 0, code ENFILE) and closes it, and
// counts it in Stats.RefusedClients. libsocket turns the report into
// ENFILE for the application. (Each client's sockets are bounded too, by
// sockproto.MaxSocketsPerConn.)
const MaxClients = 256

// Stats counts the service's activity. Fields are read with atomics, so
// Stats may be called from any goroutine.
type Stats struct {
	Clients        uint64 // client connections open now
	RefusedClients uint64 // connections refused: MaxClients reached
	Sockets        uint64 // sockets open now
	SocketsRefused uint64 // OpSocket refused with EMFILE: sockproto.MaxSocketsPerConn reached
	Parked         uint64 // receives parked now
	Requests       uint64 // requests handled
	Errors         uint64 // requests answered with an error
	Delivered      uint64 // datagrams handed to clients
	Batched        uint64 // of them, those that rode in a batched receive's More (RecvFromReq.Count)
	BatchSent      uint64 // datagrams sent from a batched send's More (SendToReq.More)
	BatchSendsCut  uint64 // batched sends ended early by a datagram that failed (SendToReq.More)
	ParkRefused    uint64 // receives refused: MaxParkedPerSocket reached
	Timeouts       uint64 // parked receives ended by their timeout
	Cancelled      uint64 // parked receives ended by OpCancel
	EarlyCancels   uint64 // cancels that arrived before their receive
	LostReplies    uint64 // answers that could not be sent (client gone, queue full); a datagram in one is lost
	ClosedByClient uint64 // sockets closed because their connection ended
	Ticks          uint64 // timer ticks run
	Pings          uint64 // pings waiting for their echo reply now
	PingReplies    uint64 // pings answered by an echo reply
	PingTimeouts   uint64 // pings ended by their timeout
	GraceBinds     uint64 // binds that waited for the end of a restart's grace period
	Streams        uint64 // stream sockets handed to the stream server
}

type statCounters struct {
	clients, refusedClients, sockets, socketsRefused, parked, requests, errors, delivered, batched, batchSent, batchSendsCut, parkRefused,
	timeouts, cancelled, earlyCancels, lostReplies, closedByClient, ticks atomic.Uint64
	pings, pingReplies, pingTimeouts, graceBinds, streams atomic.Uint64
}

// Service is netd's socket service. Create it with New, hand it client
// endpoints with Accept, and run its event loop with Run. Except for
// Accept, Post, Kick and Stats, its state belongs to the loop goroutine.
type Service struct {
	st    *stack.Stack
	clock stack.Clock
	srv   *libipc.Server

	clients map[*client]struct{} // connected clients
	// freeWaiters are recycled parked-receive records (newWaiter).
	freeWaiters []*waiter
	nextClient  uint64

	// The grace period after a restart (grace.go).
	graceUntil time.Time
	graceBinds []graceBind

	// Pings waiting for their echo reply (ping.go), by ICMP identifier.
	pings      map[uint16]*pendingPing
	nextPingID uint16
	admitted   atomic.Int64 // connections accepted and not yet disconnected (any goroutine)

	// Timer state, owned by the loop.
	timer    *time.Timer
	armed    time.Time   // when timer fires; zero when stopped
	lastTick time.Time   // clock reading at the last tick
	rearmFn  func()      // s.rearm as a func value, made once
	pending  atomic.Bool // a tick is posted and not yet run
	waits    waitHeap    // parked receives that have a deadline

	// Reused on the loop to avoid per-datagram allocations: the payload
	// buffer of a receive reply, and the decoded bodies of the hot ops.
	scratch  []byte
	sendBuf  []byte
	sendReq  sockproto.SendToReq
	sendResp sockproto.SendToResp
	recvReq  sockproto.RecvFromReq
	recvResp sockproto.RecvFromResp
	// batch is the reused array of a batched reply's datagrams
	// (replyBatch).
	batch []sockproto.RecvFromResp
	// The receive being answered by replyFromQueue (a func value made
	// once: DequeueFunc's callback).
	replyTo        *libipc.Request
	replyMax       uint32
	replyFromQueue func([]byte, stack.RecvMeta)

	// handOff gives a stream socket's endpoint to the stream server
	// (SetStreamHandOff); nil: stream sockets are not offered.
	handOff func() (libipc.Endpoint, error)

	stats statCounters
}

// New returns the socket service over st, reading time from clock (the
// stack's clock; stack.SystemClock{} if nil). It registers nothing: give
// Accept to the broker (init) under sockproto.ServiceName.
func New(st *stack.Stack, clock stack.Clock) *Service {
	if clock == nil {
		clock = stack.SystemClock{}
	}
	s := &Service{
		st: st, clock: clock, clients: make(map[*client]struct{}),
		scratch: make([]byte, sockproto.MaxDatagram),
		pings:   make(map[uint16]*pendingPing),
	}
	st.SetEchoHandler(s.echoReply)
	s.sendBuf = make([]byte, 0, sockproto.MaxDatagram)
	s.rearmFn = s.rearm
	s.replyFromQueue = s.replyFromQueueFunc
	s.timer = time.AfterFunc(time.Hour, s.fire)
	s.timer.Stop()
	mux := libipc.NewMux()
	s.register(mux)
	s.srv = libipc.NewServer(mux)
	// A request, a frame's drain or a protocol server's segment runs on
	// the goroutine that brought it when the loop is idle, instead of
	// waking the loop's goroutine (libipc.Server.SetDirect): the stack
	// still sees one event at a time, in order.
	s.srv.SetDirect(true)
	return s
}

// Accept serves a client connection on ep, or refuses it when MaxClients
// connections are open. It fits libipc.Broker.Register and may be called
// from any goroutine, before or while Run runs.
func (s *Service) Accept(ep libipc.Endpoint) {
	if !s.admit() {
		s.stats.refusedClients.Add(1)
		refuse(ep)
		return
	}
	s.srv.Accept(ep)
}

// admit takes one of the MaxClients connection slots; onDisconnect gives
// it back.
func (s *Service) admit() bool {
	for {
		n := s.admitted.Load()
		if n >= MaxClients {
			return false
		}
		if s.admitted.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// refuse tells the client on ep why it is turned away, with an error
// report (ID 0, ENFILE), and closes ep. The report is sent without waiting:
// if the client's queue is full it is lost, and the client sees only the
// closed connection.
func refuse(ep libipc.Endpoint) {
	h := libipc.Header{Version: libipc.Version, Kind: libipc.KindError, ID: 0}
	body := &libipc.ErrorBody{Code: sockproto.ENFILE.Code(), Msg: "netd: too many clients"}
	if msg, err := libipc.AppendMessage(nil, h, body); err == nil {
		_ = ep.TrySend(libipc.Message{Data: msg})
	}
	_ = ep.Close()
}

// Server returns the underlying libipc server (for its Stats).
func (s *Service) Server() *libipc.Server { return s.srv }

// Run is netd's event loop: it dispatches requests, posted functions and
// timer ticks one at a time until ctx ends, then closes every client
// connection and returns ctx's error.
func (s *Service) Run(ctx context.Context) error {
	defer s.timer.Stop()
	s.Post(func() {}) // arm the timer for deadlines set before Run
	return s.srv.Serve(ctx)
}

// Post runs fn on the event loop, then re-arms the timer (fn may have
// changed the stack's deadlines). netd's link reader uses it to hand frames
// to the stack: svc.Post(func() { st.Input(frame) }). It waits while the
// loop's queue is full and returns false if the loop has stopped. Never call
// it from the loop itself (a handler or a posted function): with the queue
// full it would wait for itself.
func (s *Service) Post(fn func()) bool {
	// Two events rather than a closure around fn: posting allocates
	// nothing when fn is a stored func value (the link's drain function).
	return s.srv.Post(fn) && s.srv.Post(s.rearmFn)
}

// Kick makes the loop run due timers now: tests call it after advancing a
// fake clock. It returns false if the loop has stopped.
func (s *Service) Kick() bool { return s.srv.Post(s.tick) }

// Stats returns the service's counters.
func (s *Service) Stats() Stats {
	c := &s.stats
	return Stats{
		Clients: c.clients.Load(), RefusedClients: c.refusedClients.Load(),
		Sockets: c.sockets.Load(), SocketsRefused: c.socketsRefused.Load(), Parked: c.parked.Load(),
		Requests: c.requests.Load(), Errors: c.errors.Load(), Delivered: c.delivered.Load(), Batched: c.batched.Load(),
		BatchSent: c.batchSent.Load(), BatchSendsCut: c.batchSendsCut.Load(),
		ParkRefused: c.parkRefused.Load(), Timeouts: c.timeouts.Load(), Cancelled: c.cancelled.Load(),
		EarlyCancels: c.earlyCancels.Load(), LostReplies: c.lostReplies.Load(),
		ClosedByClient: c.closedByClient.Load(), Ticks: c.ticks.Load(),
		Pings: c.pings.Load(), PingReplies: c.pingReplies.Load(), PingTimeouts: c.pingTimeouts.Load(),
		GraceBinds: c.graceBinds.Load(), Streams: c.streams.Load(),
	}
}

// fire runs on the timer's goroutine: it posts one tick at a time.
func (s *Service) fire() {
	if s.pending.CompareAndSwap(false, true) {
		if !s.srv.Post(s.tick) {
			s.pending.Store(false)
		}
	}
}

// tick runs the stack's timers and times out due receives.
func (s *Service) tick() {
	s.pending.Store(false)
	s.stats.ticks.Add(1)
	s.armed = time.Time{}
	s.st.Tick()
	now := s.clock.Now()
	s.lastTick = now
	for len(s.waits) > 0 && !s.waits[0].deadline.After(now) {
		w := s.waits[0]
		r, _, _ := w.sk.unpark(w)
		s.stats.timeouts.Add(1)
		s.fail(r, sockproto.ETIMEDOUT)
	}
	s.expirePings(now)
	s.endGrace()
	s.rearm()
}

// Rearm points the timer at the earliest deadline of the stack and the
// parked receives. Call it only on the event loop, after running the stack
// in a function queued there other than through Post (which re-arms by
// itself): the pump's direct drains (link.Pump.Direct).
func (s *Service) Rearm() { s.rearm() }

// rearm points the timer at the earliest deadline of the stack and the
// parked receives. It runs at the end of every event.
func (s *Service) rearm() {
	next, ok := s.st.NextDeadline()
	if len(s.waits) > 0 {
		if d := s.waits[0].deadline; !ok || d.Before(next) {
			next, ok = d, true
		}
	}
	if d, pok := s.nextPingDeadline(); pok && (!ok || d.Before(next)) {
		next, ok = d, true
	}
	if d, gok := s.graceDeadline(); gok && (!ok || d.Before(next)) {
		next, ok = d, true
	}
	if !ok {
		if !s.armed.IsZero() {
			s.timer.Stop()
			s.armed = time.Time{}
		}
		return
	}
	if next.Equal(s.armed) {
		return
	}
	s.armed = next
	now := s.clock.Now()
	d := next.Sub(now)
	if d <= 0 && !now.After(s.lastTick) {
		d = MinTickInterval // a tick at this very time already ran
	}
	s.timer.Reset(max(d, 0))
}
