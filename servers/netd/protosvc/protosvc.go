// Package protosvc is netd's protocol service ("netd.proto", package
// libproto/protoproto): it lets a protocol server in another process own
// an IP protocol number of netd's stack, receive its datagrams and the ICMP
// errors quoting them, and send IP datagrams with netd doing routing, ARP
// and fragmentation.
//
// # Threads
//
// The stack belongs to netd's event loop (the socket service's dispatch
// goroutine). This service has its own libipc.Server, whose goroutine only
// decodes requests: every operation then runs on the event loop through the
// loop's Post (a function posted per request, in arrival order per
// connection, disconnects included), and answers from there. Deliveries
// run on the event loop too (the stack calls the owner's handler) and are
// sent with a non-blocking TrySend: netd never waits for a protocol server.
//
// # Bounds
//
// Connections by MaxClients (ENFILE report, then closed), protocols per
// connection by protoproto.MaxProtosPerConn (EMFILE). What waits for a
// server is bounded by its IPC channel's queue: a delivery that finds it
// full is dropped and counted per protocol (DroppedFull), like a NIC on a
// full ring; the transport's own recovery (TCP's retransmission) covers it.
package protosvc

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"

	"armos/libipc"
	"armos/libipc/skbuff"
	"armos/libproto/protoproto"
	"armos/libsocket/sockproto"
	"armos/servers/netd/sockets"
	"armos/servers/netd/stack"
)

// MaxClients bounds the protocol-server connections netd holds at once.
const MaxClients = 16

// ProtoStats counts one IP protocol number's traffic through the service,
// over all its owners since netd started.
type ProtoStats struct {
	Proto        uint8
	Registered   bool   // owned now
	Registers    uint64 // registrations (re-registrations after a server restart count again)
	Delivered    uint64 // datagrams handed to the owner's channel
	DroppedFull  uint64 // drop: the owner's channel was full
	DroppedGone  uint64 // drop: the owner's connection had ended
	ICMPErrors   uint64 // ICMP errors handed to the owner
	ICMPDropped  uint64 // ICMP errors dropped (channel full or gone)
	Sent         uint64 // datagrams sent for the owner
	SendErrors   uint64 // sends refused or failed in the stack
	SendRefused  uint64 // sends for a number the connection does not own
	RefusedOwner uint64 // registrations refused: owned already (EADDRINUSE)
	Streams      uint64 // stream sockets handed to the owner (protocol 6)
	StreamsLost  uint64 // stream sockets that could not be handed over (channel full or gone)
}

// Stats counts the service's activity.
type Stats struct {
	Clients        uint64 // connections open now
	RefusedClients uint64 // connections refused: MaxClients reached
	Requests       uint64 // requests and one-way sends handled
	Errors         uint64 // requests answered with an error (and one-way sends that failed)
	LostReplies    uint64 // answers that could not be sent
	InfoSent       uint64 // OpInfo messages sent to owners (the interface changed)
	InfoLost       uint64 // OpInfo messages an owner's full channel refused
}

type protoCounters struct {
	registered                                                                                    atomic.Bool
	registers, delivered, droppedFull, droppedGone, icmp, icmpDropped, sent, sendErr, refusedSend atomic.Uint64
	refusedOwner, streams, streamsLost                                                            atomic.Uint64
}

// Service is netd's protocol service. Create it with New, give Accept to
// the broker (init) under protoproto.ServiceName, and run it with Run.
type Service struct {
	st   *stack.Stack
	post func(func()) bool
	srv  *libipc.Server

	admitted atomic.Int64
	stats    struct{ clients, refusedClients, requests, errors, lostReplies atomic.Uint64 }
	infoSent atomic.Uint64
	infoLost atomic.Uint64
	protos   [256]protoCounters

	// owned on the event loop
	owners [256]*owner

	src atomic.Pointer[libipc.PostSource] // SetPostSource
}

// SetPostSource makes the kernel channels of the protocol servers that
// connect from now on post src's buffers first (libipc
// KernelEndpoint.SetPostSourceMixed): netd gives them the NIC driver's
// shared transmit slots (link.SlotShare), so that a segment lands in
// device memory and its frame is sent from there.
func (s *Service) SetPostSource(src libipc.PostSource) { s.src.Store(&src) }

// client is one connection's state (on the event loop).
type client struct {
	conn   *libipc.Conn
	protos []uint8
}

// owner is the stack's handler for one registered number: it forwards
// datagrams and ICMP errors to the owning connection.
type owner struct {
	s    *Service
	num  uint8
	cl   *client
	dg   protoproto.Datagram  // reused: encoded by TrySend before it returns
	ierr protoproto.ICMPError // likewise
}

// New returns the protocol service over st. post runs a function on the
// stack's event loop (sockets.Service.Post) and reports false once the
// loop has stopped.
func New(st *stack.Stack, post func(func()) bool) *Service {
	s := &Service{st: st, post: post}
	m := libipc.NewMux()
	m.OnConnect(s.onConnect)
	m.OnDisconnect(s.onDisconnect)
	m.HandleRaw(libipc.Op(protoproto.OpRegister), s.opRegister)
	m.HandleRaw(libipc.Op(protoproto.OpUnregister), s.opUnregister)
	m.HandleRaw(libipc.Op(protoproto.OpSend), s.opSend)
	s.srv = libipc.NewServer(m)
	s.srv.SetDirect(true) // decoding runs on the reader (see sockets.New)
	return s
}

// Accept serves a protocol server's connection, or refuses it (an ENFILE
// report, then closed) when MaxClients are connected. It fits
// libipc.Broker.Register.
func (s *Service) Accept(ep libipc.Endpoint) {
	for {
		n := s.admitted.Load()
		if n >= MaxClients {
			s.stats.refusedClients.Add(1)
			h := libipc.Header{Version: libipc.Version, Kind: libipc.KindError}
			body := &libipc.ErrorBody{Code: sockproto.ENFILE.Code(), Msg: "netd: too many protocol servers"}
			if msg, err := libipc.AppendMessage(nil, h, body); err == nil {
				_ = ep.TrySend(libipc.Message{Data: msg})
			}
			_ = ep.Close()
			return
		}
		if s.admitted.CompareAndSwap(n, n+1) {
			break
		}
	}
	if src := s.src.Load(); src != nil {
		if ke, ok := ep.(*libipc.KernelEndpoint); ok {
			ke.SetPostSourceMixed(*src)
		}
	}
	s.srv.Accept(ep)
}

// Server returns the underlying libipc server (for its Stats).
func (s *Service) Server() *libipc.Server { return s.srv }

// Stats returns the service's counters (any goroutine).
func (s *Service) Stats() Stats {
	c := &s.stats
	return Stats{Clients: c.clients.Load(), RefusedClients: c.refusedClients.Load(), Requests: c.requests.Load(),
		Errors: c.errors.Load(), LostReplies: c.lostReplies.Load(), InfoSent: s.infoSent.Load(), InfoLost: s.infoLost.Load()}
}

// Protocols returns the counters of every protocol number that has any
// (any goroutine), in number order.
func (s *Service) Protocols() []ProtoStats {
	var out []ProtoStats
	for i := range s.protos {
		c := &s.protos[i]
		p := ProtoStats{Proto: uint8(i), Registered: c.registered.Load(), Registers: c.registers.Load(),
			Delivered: c.delivered.Load(), DroppedFull: c.droppedFull.Load(), DroppedGone: c.droppedGone.Load(),
			ICMPErrors: c.icmp.Load(), ICMPDropped: c.icmpDropped.Load(), Sent: c.sent.Load(),
			SendErrors: c.sendErr.Load(), SendRefused: c.refusedSend.Load(), RefusedOwner: c.refusedOwner.Load(),
			Streams: c.streams.Load(), StreamsLost: c.streamsLost.Load()}
		if p != (ProtoStats{Proto: uint8(i)}) {
			out = append(out, p)
		}
	}
	return out
}

func (s *Service) onConnect(c *libipc.Conn) {
	c.Value = &client{conn: c}
	s.stats.clients.Add(1)
}

// onDisconnect unregisters everything the connection owned: a protocol
// server that dies frees its numbers at once (its restart registers again).
func (s *Service) onDisconnect(c *libipc.Conn, _ error) {
	cl, _ := c.Value.(*client)
	s.stats.clients.Add(^uint64(0))
	s.admitted.Add(-1)
	if cl == nil {
		return
	}
	s.post(func() {
		for _, n := range cl.protos {
			s.release(n)
		}
		cl.protos = nil
	})
}

// release gives number n back (on the loop).
func (s *Service) release(n uint8) {
	s.owners[n] = nil
	s.st.UnregisterProtocol(n)
	s.protos[n].registered.Store(false)
}

// accepted counts a request and drops a one-way message where only
// requests make sense.
func (s *Service) accepted(r *libipc.Request) bool {
	s.stats.requests.Add(1)
	if r.Kind != libipc.KindRequest {
		s.stats.errors.Add(1)
		r.ReleaseBody()
		return false
	}
	return true
}

// decode strictly decodes r's body, answering a malformed one (EBADMSG).
func (s *Service) decode(r *libipc.Request, v any) bool {
	err := r.Decode(v)
	r.ReleaseBody()
	if err != nil {
		s.fail(r, err)
		return false
	}
	return true
}

// fail answers r with an error (a one-way message is only counted).
func (s *Service) fail(r *libipc.Request, err error) {
	s.stats.errors.Add(1)
	if r.Kind == libipc.KindRequest && r.Fail(err) != nil {
		s.stats.lostReplies.Add(1)
	}
}

func (s *Service) reply(r *libipc.Request, resp any) {
	if r.Reply(resp) != nil {
		s.stats.lostReplies.Add(1)
	}
}

// onLoop runs fn on the event loop, or fails r if the loop has stopped.
func (s *Service) onLoop(r *libipc.Request, fn func()) {
	if !s.post(fn) {
		s.fail(r, sockproto.EIO)
	}
}

func (s *Service) opRegister(r *libipc.Request) {
	if !s.accepted(r) {
		return
	}
	var req protoproto.RegisterReq
	if !s.decode(r, &req) {
		return
	}
	cl, _ := r.Conn().Value.(*client)
	n := req.Proto
	switch {
	case n == protoproto.ProtoICMP || n == protoproto.ProtoUDP:
		s.protos[n].refusedOwner.Add(1)
		s.fail(r, sockproto.EADDRINUSE) // netd's own
		return
	case !protoproto.Registrable(n):
		s.fail(r, sockproto.EINVAL)
		return
	}
	s.onLoop(r, func() {
		switch {
		case s.owners[n] != nil || s.st.ProtocolRegistered(n):
			s.protos[n].refusedOwner.Add(1)
			s.fail(r, sockproto.EADDRINUSE)
			return
		case len(cl.protos) >= protoproto.MaxProtosPerConn:
			s.fail(r, sockproto.EMFILE)
			return
		}
		o := &owner{s: s, num: n, cl: cl}
		if err := s.st.RegisterProtocol(n, o); err != nil {
			s.fail(r, sockproto.EADDRINUSE)
			return
		}
		s.owners[n] = o
		cl.protos = append(cl.protos, n)
		s.protos[n].registers.Add(1)
		s.protos[n].registered.Store(true)
		cfg := s.st.Config()
		resp := &protoproto.RegisterResp{Addr: protoproto.IP(cfg.Addr.Addr()), MTU: uint32(cfg.MTU), Dev: uint32(cfg.Dev),
			TSOMax: tsoMax(n)}
		if resp.TSOMax != 0 {
			resp.Room = SendRoom
		}
		s.reply(r, resp)
	})
}

func (s *Service) opUnregister(r *libipc.Request) {
	if !s.accepted(r) {
		return
	}
	var req protoproto.ProtoReq
	if !s.decode(r, &req) {
		return
	}
	cl, _ := r.Conn().Value.(*client)
	s.onLoop(r, func() {
		for i, n := range cl.protos {
			if n == req.Proto {
				cl.protos = append(cl.protos[:i], cl.protos[i+1:]...)
				s.release(n)
				s.reply(r, &protoproto.Empty{})
				return
			}
		}
		s.fail(r, sockproto.EINVAL)
	})
}

func (s *Service) opSend(r *libipc.Request) {
	s.stats.requests.Add(1)
	j := sendJobs.Get().(*sendJob)
	j.s, j.r = s, r
	req := &j.req
	// The usual encoding parses in place (req.Data aliases the message,
	// released once the stack has copied it into frames); anything else
	// is decoded the general way.
	j.dataOff, j.inPlace = protoproto.ParseSendReqAt(r.Body, req)
	if !j.inPlace && !s.decode(r, req) {
		j.free()
		return
	}
	j.cl, _ = r.Conn().Value.(*client)
	n := req.Proto
	dst, ok := protoproto.IPv4Of(req.Dst)
	if req.Src.IsValid() {
		var sok bool
		j.src, sok = protoproto.IPv4Of(req.Src)
		ok = ok && sok
	}
	j.dst = dst
	tooBig := len(req.Data) > protoproto.MaxPayload || (req.TSO != 0 && len(req.Data) > stack.MaxTSOSegment)
	if !ok || tooBig {
		j.release()
		s.protos[n].sendErr.Add(1)
		if tooBig {
			s.fail(r, sockproto.EMSGSIZE)
		} else {
			s.fail(r, sockproto.EINVAL)
		}
		j.free()
		return
	}
	s.onLoop(r, j.run)
}

// sendJob is one OpSend on its way from the protocol service's goroutine
// to the event loop. Jobs are pooled, with their run function made once: a
// send allocated its request and two closures, three allocations per
// segment sent.
type sendJob struct {
	s        *Service
	r        *libipc.Request
	req      protoproto.SendReq
	inPlace  bool // req.Data aliases r's body: release it once sent
	dataOff  int  // then where req.Data begins in the body
	cl       *client
	src, dst netip.Addr // src zero: netd picks
	run      func()     // j.exec, made once per job
}

// sendJobs holds free jobs (its New is set in init: a job's run refers
// back to the pool).
var sendJobs sync.Pool

func init() {
	sendJobs.New = func() any {
		j := new(sendJob)
		j.run = j.exec
		return j
	}
}

// SendRoom is the padding (RegisterResp.Room) netd asks an owner of an
// offloaded protocol to put in front of a large segment's payload: with
// what the request's other fields take, room for the frame's headers and
// the frame message's envelope, so that the frame is built around the
// payload in the buffer the request came in (sendJob.inPlaceBuf).
const SendRoom = 64

// inPlaceBuf returns a packet buffer over the message buffer j's request
// came in, with the payload as its data and all before it as headroom:
// the stack builds the frame around the payload there when the headroom
// is enough (stack.InPlaceHeadroom), else copies it as before. The
// message buffer is the packet buffer's from then on (it goes back to
// libipc when the stack frees it) and release does nothing. nil when the
// request has no buffer of its own to give.
func (j *sendJob) inPlaceBuf() *skbuff.Buf {
	data := j.req.Data
	if !j.inPlace || len(data) == 0 {
		return nil
	}
	buf, off, ok := j.r.TakeBuffer()
	if !ok {
		return nil
	}
	j.inPlace = false // the buffer is no longer the request's to release
	head := off + j.dataOff
	b, err := skbuff.Default.View(buf, head, msgBufOwner{})
	if err != nil || head+len(data) > len(buf) || &buf[head] != &data[0] || b.SetLen(len(data)) != nil {
		// Cannot happen (Data lies in the body, at dataOff); the buffer
		// is left to the garbage collector, as Data still reads it.
		return nil
	}
	return b
}

// msgBufOwner owns the storage of inPlaceBuf's packet buffers: a libipc
// message buffer, given back when the buffer is freed.
type msgBufOwner struct{}

func (msgBufOwner) Release(storage []byte) { libipc.ReleaseBuffer(storage) }

// release gives r's body back once nothing reads req.Data any more.
func (j *sendJob) release() {
	if j.inPlace {
		j.r.ReleaseBody()
	}
}

// free empties j and returns it to the pool; j must not be used after.
func (j *sendJob) free() {
	run := j.run
	*j = sendJob{run: run}
	sendJobs.Put(j)
}

// exec runs on the event loop: the send itself.
func (j *sendJob) exec() {
	s, r, req := j.s, j.r, &j.req
	n := req.Proto
	defer j.free()
	o := s.owners[n]
	if o == nil || o.cl != j.cl {
		j.release()
		s.protos[n].refusedSend.Add(1)
		s.fail(r, sockproto.EACCES)
		return
	}
	d := stack.Datagram{Src: j.src, Dst: j.dst, Protocol: n, TTL: req.TTL, TOS: req.TOS,
		DontFragment: req.DF, Payload: req.Data, TSO: int(req.TSO)}
	if req.TSO != 0 {
		d.Buf = j.inPlaceBuf()
	}
	err := s.st.SendDatagram(&d)
	j.release()
	if err != nil {
		s.protos[n].sendErr.Add(1)
		s.fail(r, errnoOf(err))
		return
	}
	s.protos[n].sent.Add(1)
	if r.Kind == libipc.KindRequest {
		s.reply(r, &protoproto.Empty{})
	}
}

// tsoMax is the RegisterResp's and InfoMsg's TSOMax for protocol n: TCP
// segments with offload up to stack.MaxTSOSegment (netd cuts them when
// the NIC does not), nothing for other protocols.
func tsoMax(n uint8) uint32 {
	if n == protoproto.ProtoTCP {
		return stack.MaxTSOSegment
	}
	return 0
}

// errnoOf maps a stack error to the code sent back: the socket service's
// mapping, plus the two errors only a protocol server meets.
func errnoOf(err error) sockproto.Errno {
	switch {
	case errors.Is(err, stack.ErrProtocolInUse):
		return sockproto.EACCES
	case errors.Is(err, stack.ErrTentative):
		return sockproto.EAGAIN
	}
	return sockets.ErrnoOf(err)
}

// ErrNoOwner is StreamSocket's error when nobody owns the protocol.
var ErrNoOwner = errors.New("protosvc: protocol has no owner")

// StreamSocket makes a stream socket for an application: an endpoint pair
// on the owner's transport (kernel channels inside armos, in-memory ones
// hosted), one end handed to the owner of protocol num as a one-way
// OpStream message carrying it as a cap, the other returned for the
// application's OpSocket reply. It runs on the event loop and never waits:
// with no owner it fails with ErrNoOwner, and when the owner's channel is
// full with an error wrapping libipc.ErrWouldBlock (counted in
// StreamsLost).
func (s *Service) StreamSocket(num uint8) (libipc.Endpoint, error) {
	o := s.owners[num]
	if o == nil {
		return nil, ErrNoOwner
	}
	owner := o.cl.conn.Endpoint()
	mine, theirs, err := libipc.PairFor(owner, StreamQueueLen)
	if err != nil {
		s.protos[num].streamsLost.Add(1)
		return nil, err
	}
	msg, err := libipc.AppendMessage(nil, libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway,
		Op: libipc.Op(protoproto.OpStream)}, &protoproto.StreamConn{Proto: num})
	if err == nil {
		err = owner.TrySend(libipc.Message{Data: msg, Caps: []libipc.Cap{theirs}})
	}
	if err != nil {
		s.protos[num].streamsLost.Add(1)
		_ = theirs.Close()
		_ = mine.Close()
		return nil, err
	}
	s.protos[num].streams.Add(1)
	return mine, nil
}

// Reconfigured tells every owner the interface as it is now (OpInfo): netd
// calls it on the event loop after its address changed at run time. It
// never waits; a message an owner's full channel refuses is counted
// (InfoLost) and that owner keeps the old address until the next change.
func (s *Service) Reconfigured() {
	cfg := s.st.Config()
	for n, o := range s.owners {
		if o == nil {
			continue
		}
		msg := &protoproto.InfoMsg{Proto: uint8(n), Addr: protoproto.IP(cfg.Addr.Addr()), MTU: uint32(cfg.MTU), Dev: uint32(cfg.Dev),
			TSOMax: tsoMax(uint8(n))}
		if o.cl.conn.TrySend(libipc.Op(protoproto.OpInfo), msg) != nil {
			s.infoLost.Add(1)
			continue
		}
		s.infoSent.Add(1)
	}
}

// StreamQueueLen is the queue capacity of a stream socket's endpoints.
const StreamQueueLen = libipc.BrokerQueueLen

// HandleIP forwards a datagram to the owner (on the event loop).
func (o *owner) HandleIP(p *stack.IPPacket) {
	c := &o.s.protos[o.num]
	o.dg = protoproto.Datagram{Proto: p.Protocol, Src: protoproto.IP(p.Src), Dst: protoproto.IP(p.Dst), TTL: p.TTL,
		TOS: p.TOS, Bcast: p.Broadcast, Dev: uint32(p.Dev), MTU: uint32(p.MTU), Hdr: p.Header, Data: p.Payload}
	err := o.cl.conn.TrySend(libipc.Op(protoproto.OpDeliver), &o.dg)
	o.dg = protoproto.Datagram{}
	switch {
	case err == nil:
		c.delivered.Add(1)
	case errors.Is(err, libipc.ErrWouldBlock):
		c.droppedFull.Add(1)
	default:
		c.droppedGone.Add(1)
	}
}

// HandleICMPError forwards an ICMP error quoting the owner's datagram.
func (o *owner) HandleICMPError(e *stack.ICMPError) {
	c := &o.s.protos[o.num]
	o.ierr = protoproto.ICMPError{Proto: e.Protocol, From: protoproto.IP(e.From), Type: e.Type, Code: e.Code,
		MTU: uint32(e.MTU), Pointer: e.Pointer, Src: protoproto.IP(e.Src), Dst: protoproto.IP(e.Dst), Quote: e.Quote}
	err := o.cl.conn.TrySend(libipc.Op(protoproto.OpICMPError), &o.ierr)
	o.ierr = protoproto.ICMPError{}
	if err == nil {
		c.icmp.Add(1)
	} else {
		c.icmpDropped.Add(1)
	}
}
