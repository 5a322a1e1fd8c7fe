// Package server is tcpd's glue between its TCP engine (package tcp) and
// netd's protocol service (libproto): one goroutine, the event loop, owns
// the engine and feeds it
//
//   - the datagrams of protocol 6 netd delivers (Protocol.Datagrams →
//     Stack.Input),
//   - the ICMP errors quoting our segments (Protocol.Errors →
//     Stack.ICMPError, the message rebuilt by ICMPError.Message),
//   - the functions posted by the engine's users (Post, Do: Listen,
//     Connect and the Listener and Conn methods run there),
//   - its timers (a timer armed at Stack.NextDeadline → Stack.Tick);
//
// and sends the engine's segments with Protocol.SendAsync, DF set (path
// MTU discovery: docs/tcp.md). The engine's MTU is the interface's, as
// registration described it, unless the config sets one.
//
// A netd restart is libproto's to handle (it reconnects and registers 6
// again, the channels stay the same): the engine and its connections are
// untouched, segments sent meanwhile are lost and retransmitted, so a
// connection continues (docs/protocol-server.md, issue 10 item 4).
//
// Stream sockets netd hands over (Protocol.Streams) are served with the
// stream protocol (libsocket/streamproto, streams.go), unless
// Config.Streams takes them.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"armos/libipc"
	"armos/libproto"
	sp "armos/libsocket/streamproto"
	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/wire"
)

// PostQueueLen bounds the functions waiting for the event loop.
const PostQueueLen = 256

// BlockedSendWait bounds how long the event loop waits for netd to take a
// segment when the channel to netd is full (see Stats.SendBlocked).
const BlockedSendWait = time.Second

// Config configures a Server.
type Config struct {
	// TCP is the engine's configuration; MTU 0 means the interface's MTU
	// (libproto.Protocol.Info), and a larger one is lowered to it.
	TCP tcp.Config
	// Clock is the engine's time (nil: tcp.SystemClock). The event loop's
	// timer waits for NextDeadline minus Clock.Now in real time.
	Clock tcp.Clock
	// Streams takes the stream sockets netd hands to the owner of
	// protocol 6 (libproto.Protocol.Streams), on the event loop, instead of
	// the stream protocol (streams.go); nil serves them.
	Streams func(st *tcp.Stack, ep libipc.Endpoint)
	// NoOffload keeps every segment to one MSS though netd offers
	// segmentation offload (protoproto's TSOMax).
	NoOffload bool
}

// Stats counts what the glue did (the engine counts the rest:
// Stack.Counters).
type Stats struct {
	Datagrams   uint64 // datagrams handed to Stack.Input
	Broadcast   uint64 // datagrams sent to a broadcast address: dropped (TCP is unicast)
	ICMPErrors  uint64 // ICMP errors handed to Stack.ICMPError
	Sent        uint64 // segments netd took (SendAsync, or Send when blocked)
	SendErrors  uint64 // segments netd did not take (netd restarting, refused): lost, retransmitted
	SendBlocked uint64 // segments sent as a request because the channel to netd was full (back-pressure)
	Ticks       uint64 // Stack.Tick calls (the timer fired)
	Posts       uint64 // functions run for the engine's users
	PostsFull   uint64 // Post refused: PostQueueLen functions waiting
	Direct      uint64 // datagrams and stream messages run by their reader while the loop waited (no wake-up)
	// DatagramsDropped counts datagrams dropped because RecvQueueLen
	// waited for the loop already (as libproto's channel would drop them).
	DatagramsDropped uint64
	Streams          uint64 // stream sockets netd handed over
	Stream           StreamStats
}

// Server runs a tcp.Stack on a registered libproto.Protocol (number 6).
type Server struct {
	p     *libproto.Protocol
	st    *tcp.Stack
	clock tcp.Clock
	cfg   Config

	posts chan post
	done  chan struct{} // closed when Run returns
	once  sync.Once

	// Direct running (postWait): whoever does the loop's work holds
	// running, the loop's goroutine or a poster running its post in
	// place while the loop waits; queued counts the posts in the queue
	// not yet run, which a poster must not overtake. kick (cap 1) wakes
	// the loop to follow a deadline a direct run moved earlier; armed
	// and armedAt (under running) are the timer's state.
	running sync.Mutex
	queued  atomic.Int64
	serving atomic.Bool
	// dgrams holds the datagrams libproto's reader handed over
	// (libproto.Protocol.SetHandler) while the loop was busy; dqueued
	// counts them until they ran, as queued does the posts.
	dgrams  chan *libproto.Datagram
	dqueued atomic.Int64
	// onReader (under running): the work under way runs on libproto's
	// reader, which must not wait for a reply from netd (send).
	onReader bool
	kick     chan struct{}
	armed    bool
	armedAt  time.Time

	streams map[*stream]struct{} // the applications' sockets (on the loop)
	chunk   []byte               // a received chunk on its way to an application
	gather  [][]byte             // an offloaded segment's payload during SendOffloadedGather
	data    sp.Data              // the message sending it
	credit  sp.Credit            // a credit message being sent

	stats struct {
		datagrams, broadcast, icmpErrors, sent, sendErrors, sendBlocked, ticks, posts, postsFull,
		streams, streamSockets, streamConnects, streamListens, streamAccepted, streamBytesIn,
		streamBytesOut, streamViolations, streamOrphans, streamClosed, directs, datagramsDropped atomic.Uint64
	}
}

// New makes a Server for p (registered for protocol 6). Run starts it.
func New(p *libproto.Protocol, cfg Config) (*Server, error) {
	if p == nil {
		return nil, errors.New("tcpd: no protocol")
	}
	if cfg.Clock == nil {
		cfg.Clock = tcp.SystemClock{}
	}
	// The interface's MTU, or a smaller one: with DF set, netd refuses a
	// datagram over its MTU, and SendAsync would not tell the engine.
	tc := cfg.TCP
	if m := p.Info().MTU; m > 0 && (tc.MTU == 0 || tc.MTU > m) {
		tc.MTU = m
	}
	s := &Server{p: p, clock: cfg.Clock, cfg: cfg, posts: make(chan post, PostQueueLen), done: make(chan struct{}),
		kick: make(chan struct{}, 1), dgrams: make(chan *libproto.Datagram, libproto.RecvQueueLen), streams: map[*stream]struct{}{}, chunk: make([]byte, sp.MaxChunk)}
	// Segmentation offload: netd takes segments of many MSS and cuts them
	// (or has the NIC cut them), so a bulk transfer costs one message per
	// up to 64 KB. NoOffload (tcpd -offload=false) keeps one per MSS.
	if m := s.p.Info().TSOMax; m > 0 && !cfg.NoOffload && tc.Offload == 0 {
		tc.Offload = min(m, wire.MaxSegmentLen)
	}
	st, err := tcp.New(tc, output{s}, cfg.Clock)
	if err != nil {
		return nil, fmt.Errorf("tcpd: %w", err)
	}
	s.st = st
	return s, nil
}

// Addr returns netd's interface address (the local address for Connect).
func (s *Server) Addr() netip.Addr { return s.p.Info().Addr }

// Config returns the engine's configuration, defaults filled in.
func (s *Server) Config() tcp.Config { return s.st.Config() }

// Protocol returns the registered protocol.
func (s *Server) Protocol() *libproto.Protocol { return s.p }

// sendSegment is the engine's Output: a one-way OpSend with DF; when the
// channel to netd is full, a request instead, whose reply paces the loop.
// seg is encoded before the call returns, so it is not copied.
func (s *Server) sendSegment(src, dst netip.Addr, seg []byte) error {
	return s.send(&libproto.Datagram{Src: src, Dst: dst, DontFragment: true, Payload: seg})
}

// SendOffloaded is the engine's OffloadOutput: seg, many MSS of data, goes
// to netd in one message for netd (or the NIC) to cut into mss-sized
// segments (libproto.Datagram.TSO).
func (o output) SendOffloaded(src, dst netip.Addr, seg []byte, mss int) error {
	return o.s.send(&libproto.Datagram{Src: src, Dst: dst, DontFragment: true, Payload: seg, TSO: mss})
}

// SendOffloadedGather is the engine's GatherOutput: the segment goes to
// netd as SendOffloaded's does, its header and the send buffer's bytes
// encoded into the message as they are (libproto.Datagram.PayloadMore).
func (o output) SendOffloadedGather(src, dst netip.Addr, hdr []byte, data [][]byte, mss int) error {
	o.s.gather = data
	err := o.s.send(&libproto.Datagram{Src: src, Dst: dst, DontFragment: true, Payload: hdr,
		PayloadMore: o.s.gather, TSO: mss})
	o.s.gather = nil // keep no reference to the send buffer
	return err
}

// SendSegment is the engine's Output.
func (o output) SendSegment(src, dst netip.Addr, seg []byte) error {
	return o.s.sendSegment(src, dst, seg)
}

// output is the engine's Output (and OffloadOutput).
type output struct{ s *Server }

// send sends d as a one-way message, or as a request when the channel is
// full (see sendSegment).
func (s *Server) send(d *libproto.Datagram) error {
	err := s.p.SendAsync(d)
	if errors.Is(err, libipc.ErrWouldBlock) {
		s.stats.sendBlocked.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), BlockedSendWait)
		if s.onReader {
			// On libproto's reader (a datagram's direct input): netd's
			// reply would come through this very reader, so wait for
			// room instead.
			err = s.p.SendWait(ctx, d)
		} else {
			err = s.p.Send(ctx, d)
		}
		cancel()
	}
	if err != nil {
		s.stats.sendErrors.Add(1)
		return err
	}
	s.stats.sent.Add(1)
	return nil
}

// ErrStopped is Post's and Do's error once the event loop has ended.
var ErrStopped = errors.New("tcpd: the event loop has stopped")

// Post queues fn to run on the event loop, where the engine may be used.
// It fails when the loop has ended or PostQueueLen functions wait.
func (s *Server) Post(fn func(st *tcp.Stack)) error {
	select {
	case <-s.done:
		return ErrStopped
	default:
	}
	s.queued.Add(1)
	select {
	case s.posts <- post{fn: func() { fn(s.st) }}:
		return nil
	default:
		s.queued.Add(-1)
		s.stats.postsFull.Add(1)
		return errors.New("tcpd: the event loop's queue is full")
	}
}

// Do runs fn on the event loop and waits for it (or for ctx, or the
// loop's end).
func (s *Server) Do(ctx context.Context, fn func(st *tcp.Stack)) error {
	select {
	case <-s.done:
		return ErrStopped
	default:
	}
	ran := make(chan struct{})
	s.queued.Add(1)
	select {
	case s.posts <- post{fn: func() { fn(s.st); close(ran) }}:
	case <-s.done:
		s.queued.Add(-1)
		return ErrStopped
	case <-ctx.Done():
		s.queued.Add(-1)
		return ctx.Err()
	}
	select {
	case <-ran:
		return nil
	case <-s.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run is the event loop; it returns when ctx ends (nil) or the protocol's
// channels close (the protocol or its client was closed, or the client
// gave up reconnecting). Call it once.
func (s *Server) Run(ctx context.Context) error {
	defer func() {
		s.p.SetHandler(nil)
		s.running.Lock() // no direct run through or after the end
		defer s.running.Unlock()
		for x := range s.streams {
			x.conn.Close() // the applications see their sockets end
		}
		s.once.Do(func() { close(s.done) })
		s.drainPosts()
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	in := s.p.Datagrams()
	// The rare events (ICMP errors, stream sockets, ctx's end) come as
	// posts, from a goroutine of their own: the loop's select, once per
	// message, has four cases instead of seven.
	go s.watch(ctx)
	s.serving.Store(true)
	s.p.SetHandler(s.deliver)
	for {
		s.running.Lock()
		s.follow(timer)
		s.running.Unlock()
		select {
		case d, ok := <-in:
			if !ok {
				return s.closedErr()
			}
			s.running.Lock()
			s.input(d)
			// Take what else has arrived before looking at the timer.
			for range len(in) {
				if d, ok = <-in; !ok {
					s.running.Unlock()
					return s.closedErr()
				}
				s.input(d)
			}
			s.running.Unlock()
		case d := <-s.dgrams:
			s.running.Lock()
			s.input(d)
			s.dqueued.Add(-1)
			for range len(s.dgrams) {
				s.input(<-s.dgrams)
				s.dqueued.Add(-1)
			}
			s.running.Unlock()
		case p := <-s.posts:
			if p.end {
				s.queued.Add(-1)
				timer.Stop()
				return p.err
			}
			s.running.Lock()
			s.stats.posts.Add(1)
			s.run(p)
			s.queued.Add(-1)
			s.running.Unlock()
		case <-timer.C:
			s.running.Lock()
			s.armed = false
			s.stats.ticks.Add(1)
			s.st.Tick()
			s.running.Unlock()
		case <-s.kick:
		}
	}
}

// follow arms timer for the engine's earliest deadline (under running).
// With the system clock the timer, once armed for a deadline, fires when
// it is due: it is re-armed only when the deadline moves earlier. One
// that moved later (a retransmission timer restarted by an ACK), or went,
// leaves it as it is: it fires early and Tick, which calling early does
// no harm, finds nothing due; then it follows the deadline. Another clock
// need not run at the pace of real time, so its remaining time is taken
// again on every turn.
func (s *Server) follow(timer *time.Timer) {
	_, sysClock := s.clock.(tcp.SystemClock)
	if next, ok := s.st.NextDeadline(); ok {
		if !s.armed || !sysClock || next.Before(s.armedAt) {
			timer.Reset(max(next.Sub(s.clock.Now()), 0))
			s.armed, s.armedAt = true, next
		}
	} else if s.armed && !sysClock {
		timer.Stop()
		s.armed = false
	}
}

// deliver takes a datagram on libproto's reader (SetHandler): its input
// runs there when the loop is waiting and no datagram is queued before
// it, else it is queued for the loop (dropped and counted if
// RecvQueueLen wait, as libproto's channel would).
func (s *Server) deliver(d *libproto.Datagram) {
	if s.tryDirectInput(d) {
		return
	}
	s.dqueued.Add(1)
	select {
	case s.dgrams <- d:
	default:
		s.dqueued.Add(-1)
		s.stats.datagramsDropped.Add(1)
		d.Release()
	}
}

// tryDirectInput is tryDirect for a datagram (none may wait in libproto's
// channel either, from before SetHandler).
func (s *Server) tryDirectInput(d *libproto.Datagram) bool {
	if len(s.p.Datagrams()) != 0 || !s.lockIdle(&s.dqueued) {
		return false
	}
	defer s.running.Unlock()
	s.onReader = true
	s.input(d)
	s.onReader = false
	s.kickIfEarlier()
	return true
}

// lockIdle takes running for a direct run when the loop serves and
// waits and nothing counted in pending (queued, not yet run) would be
// overtaken; false leaves running alone.
func (s *Server) lockIdle(pending *atomic.Int64) bool {
	if !s.serving.Load() || pending.Load() != 0 || !s.running.TryLock() {
		return false
	}
	select {
	case <-s.done:
		s.running.Unlock()
		return false
	default:
	}
	if pending.Load() != 0 { // queued since the first look: it goes first
		s.running.Unlock()
		return false
	}
	s.stats.directs.Add(1)
	return true
}

// kickIfEarlier wakes the loop to re-arm its timer after a direct run
// (under running) moved the engine's deadline earlier than the armed
// one, or after any, with a clock other than the system's.
func (s *Server) kickIfEarlier() {
	_, sysClock := s.clock.(tcp.SystemClock)
	if next, ok := s.st.NextDeadline(); !sysClock || ok && (!s.armed || next.Before(s.armedAt)) {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// tryDirect runs p on the calling goroutine (a stream's reader) when the
// loop is waiting and no post is queued before it, as the loop would:
// the engine sees one event at a time, a stream's messages in order. If
// the run needs the timer moved, the loop is kicked to move it. False
// leaves p to the queue.
func (s *Server) tryDirect(p post) bool {
	if !s.lockIdle(&s.queued) {
		return false
	}
	defer s.running.Unlock()
	s.stats.posts.Add(1)
	s.run(p)
	s.kickIfEarlier()
	return true
}

// watch posts the rare events to the loop until it ends: an ICMP error,
// a stream socket netd hands over, and the end of ctx or of the
// protocol's channels (which ends the loop).
func (s *Server) watch(ctx context.Context) {
	errs, streams := s.p.Errors(), s.p.Streams()
	for {
		var p post
		select {
		case <-s.done:
			return
		case <-ctx.Done():
			p = post{end: true}
		case e, ok := <-errs:
			if !ok {
				p = post{end: true, err: s.closedErr()}
				break
			}
			p.fn = func() {
				s.stats.icmpErrors.Add(1)
				s.st.ICMPError(e.Message())
			}
		case ep, ok := <-streams:
			if !ok {
				p = post{end: true, err: s.closedErr()}
				break
			}
			p.ep = ep
		}
		if !s.postWait(p) {
			if p.ep != nil {
				p.ep.Close() // the loop has ended: the socket with it
			}
			return
		}
		if p.ep != nil {
			select {
			case <-s.done:
				// The loop may have ended, its queue drained, before
				// the socket went in.
				s.drainPosts()
				return
			default:
			}
		}
		if p.end {
			return
		}
	}
}

// post is work for the event loop: a function, or one of a stream's
// messages (r; nil when the application's endpoint ended), which needs no
// closure; or a stream socket netd handed over (ep); or the loop's end
// (end: Run returns err).
type post struct {
	fn  func()
	x   *stream
	r   *libipc.Request
	ep  libipc.Endpoint
	end bool
	err error
}

// drainPosts empties the queue once the loop has ended: the stream
// sockets handed over and not yet served end with it.
func (s *Server) drainPosts() {
	for {
		select {
		case p := <-s.posts:
			if p.ep != nil {
				p.ep.Close()
			}
		default:
			return
		}
	}
}

// run does p's work (on the loop).
func (s *Server) run(p post) {
	switch {
	case p.fn != nil:
		p.fn()
	case p.ep != nil:
		s.stats.streams.Add(1)
		if s.cfg.Streams != nil {
			s.cfg.Streams(s.st, p.ep)
		} else {
			s.serveStream(p.ep, nil)
		}
	case p.r != nil:
		p.x.handle(p.r)
	default:
		p.x.appGone()
	}
}

// input hands one datagram to the engine.
func (s *Server) input(d *libproto.Datagram) {
	defer d.Release() // the engine keeps nothing of it (tcp.Stack.Input)
	if d.Broadcast {
		s.stats.broadcast.Add(1)
		return
	}
	s.stats.datagrams.Add(1)
	s.st.Input(d.Src, d.Dst, d.Payload)
}

// closedErr says why the protocol's channels closed.
func (s *Server) closedErr() error {
	if err := s.p.Err(); err != nil {
		return err
	}
	return errors.New("tcpd: protocol 6 closed (netd gone for good, or the client closed)")
}

// Stats returns the glue's counters.
func (s *Server) Stats() Stats {
	x := &s.stats
	return Stats{Datagrams: x.datagrams.Load(), Broadcast: x.broadcast.Load(), ICMPErrors: x.icmpErrors.Load(),
		Sent: x.sent.Load(), SendErrors: x.sendErrors.Load(), SendBlocked: x.sendBlocked.Load(), Ticks: x.ticks.Load(),
		Posts: x.posts.Load(), PostsFull: x.postsFull.Load(), Direct: x.directs.Load(), DatagramsDropped: x.datagramsDropped.Load(), Streams: x.streams.Load(),
		Stream: StreamStats{Sockets: x.streamSockets.Load(), Open: x.streamSockets.Load() - x.streamClosed.Load(),
			Connects: x.streamConnects.Load(), Listens: x.streamListens.Load(), Accepted: x.streamAccepted.Load(),
			BytesIn: x.streamBytesIn.Load(), BytesOut: x.streamBytesOut.Load(), Violations: x.streamViolations.Load(),
			Orphans: x.streamOrphans.Load()}}
}

// Report writes the counters, netstat style: the connections, the engine's
// counters, the glue's and libproto's. It runs on the event loop (for the
// engine's part); once the loop has ended it reads the engine directly.
func (s *Server) Report(ctx context.Context, w io.Writer) error {
	var conns []tcp.Info
	var c tcp.Counters
	read := func(st *tcp.Stack) { conns, c = st.Conns(), st.Counters() }
	if err := s.Do(ctx, read); errors.Is(err, ErrStopped) {
		read(s.st) // the loop is gone: nobody else uses the engine
	} else if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-21s %-21s %-12s %8s %8s\n", "Local", "Remote", "State", "Send-Q", "Recv-Q")
	for _, i := range conns {
		fmt.Fprintf(w, "%-21v %-21v %-12v %8d %8d\n", i.Local, i.Remote, i.State, i.SendQueued, i.RecvQueued)
	}
	fmt.Fprintf(w, "tcp:\n")
	for _, r := range c.Rows() {
		if r.Value != 0 {
			fmt.Fprintf(w, "    %-24s %d\n", r.Name, r.Value)
		}
	}
	g := s.Stats()
	fmt.Fprintf(w, "tcpd: datagrams %d (broadcast dropped %d), icmp errors %d, sent %d (errors %d, blocked %d), ticks %d, posts %d (full %d), streams %d\n",
		g.Datagrams, g.Broadcast, g.ICMPErrors, g.Sent, g.SendErrors, g.SendBlocked, g.Ticks, g.Posts, g.PostsFull, g.Streams)
	st := g.Stream
	fmt.Fprintf(w, "sockets: %d (open %d), connects %d, listens %d, accepted %d, bytes in %d out %d, violations %d, orphans %d\n",
		st.Sockets, st.Open, st.Connects, st.Listens, st.Accepted, st.BytesIn, st.BytesOut, st.Violations, st.Orphans)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	bs := libipc.MessageBufStats()
	fmt.Fprintf(w, "memory:\n")
	for _, r := range []struct {
		name string
		v    uint64
	}{{"SysKiB", m.Sys >> 10}, {"HeapInuseKiB", m.HeapInuse >> 10}, {"GCCycles", uint64(m.NumGC)},
		{"MsgBufsReused", bs.Reused}, {"MsgBufsAllocated", bs.Allocated}, {"MsgBufsReleased", bs.Released}, {"MsgBufsDiscarded", bs.Discarded}} {
		fmt.Fprintf(w, "    %-24s %d\n", r.name, r.v)
	}
	ps := s.p.Stats()
	fmt.Fprintf(w, "libproto: received %d (dropped %d), icmp errors %d (dropped %d), streams %d (dropped %d)\n",
		ps.Received, ps.Dropped, ps.Errors, ps.ErrorsDropped, ps.Streams, ps.StreamsDropped)
	if err := s.p.Err(); err != nil {
		fmt.Fprintf(w, "libproto: %v\n", err)
	}
	return nil
}
