// Package libproto is the client side of netd's protocol service: what a
// protocol server (tcpd, a toy protocol) uses to own an IP protocol number
// of netd, receive its datagrams and the ICMP errors quoting them, and send
// IP datagrams with netd doing routing, ARP and fragmentation.
//
//	c, err := libproto.Dial(ctx, broker)          // or libproto.FromInit(ctx, protoproto.ServiceName)
//	p, err := c.Register(ctx, 253)                // EADDRINUSE if another server owns 253
//	for {
//		select {
//		case d := <-p.Datagrams():                  // d.Src, d.Dst, d.Payload, d.MTU, ...
//			p.Send(ctx, &libproto.Datagram{Dst: d.Src, Payload: answer(d.Payload)})
//		case e := <-p.Errors():                     // ICMP errors quoting our datagrams
//		}
//	}
//
// When netd restarts, the Client reconnects (waiting for the new netd like
// libsocket) and registers every Protocol again; the channels stay the same,
// so the server only sees a gap. See docs/protocol-server.md.
package libproto

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"armos/libipc"
	"armos/libproto/protoproto"
	"armos/libsocket"
	"armos/libsocket/sockproto"
	"armos/servers/netd/wire"
)

// Queue bounds on the client side: a Protocol's channels hold this many
// deliveries; when the server does not keep up, further ones are dropped
// and counted (ProtoStats).
const (
	RecvQueueLen   = 256
	ErrorQueueLen  = 64
	StreamQueueLen = 64 // stream sockets waiting for the stream server (protocol 6)
)

// Error codes a protocol server meets (Linux values, as in sockproto).
const (
	EADDRINUSE = sockproto.EADDRINUSE // the number is owned (or is netd's own: 1, 17)
	EACCES     = sockproto.EACCES     // send for a number this client does not own
	EINVAL     = sockproto.EINVAL
	EMSGSIZE   = sockproto.EMSGSIZE // DF and over the MTU, or over 65,515 bytes
	EMFILE     = sockproto.EMFILE   // protoproto.MaxProtosPerConn reached
)

// Datagram is one IP datagram of an owned protocol: received from netd, or
// to send. Fields marked "received" are ignored by Send.
type Datagram struct {
	Src, Dst     netip.Addr // Src zero on Send: netd's address
	TTL          uint8      // 0 on Send: netd's default (64)
	TOS          uint8
	DontFragment bool   // Send: fail with EMSGSIZE instead of fragmenting
	Broadcast    bool   // received: sent to a broadcast address (never answer with an error)
	Dev          uint32 // received: the interface
	MTU          int    // received: the interface's IP MTU
	Header       []byte // received: the IPv4 header
	Payload      []byte
	// PayloadMore, on Send, continues Payload: the datagram's payload is
	// Payload and these pieces in order, joined only as the message is
	// encoded (a TCP header and its data in a send buffer, say).
	PayloadMore [][]byte
	// TSO, on Send of a TCP segment, asks netd to cut its data into
	// segments of at most TSO bytes (segmentation offload, up to
	// Info().TSOMax bytes of segment; protoproto.SendReq.TSO).
	TSO int

	// req, for a datagram received: the message Header and Payload lie
	// in, given back by Release.
	req *libipc.Request
}

// received holds Datagrams for deliveries (Release puts them back): one
// per datagram received, with its bytes copied, was two allocations per
// segment.
var received = sync.Pool{New: func() any { return new(Datagram) }}

// Release gives a received datagram back to libproto once the server is
// done with it: the Datagram and the message its Header and Payload lie
// in are reused, so neither d nor those bytes may be used afterwards. It
// is optional (a datagram never released is left to the garbage
// collector, as any other) and must be called at most once; on a
// Datagram libproto did not deliver it does nothing.
func (d *Datagram) Release() {
	r := d.req
	if r == nil {
		return
	}
	*d = Datagram{}
	r.ReleaseBody()
	r.Recycle()
	received.Put(d)
}

// ICMPError is an ICMP error about a datagram this server sent.
type ICMPError struct {
	From     netip.Addr // the router or host that sent it
	Type     uint8      // 3 destination unreachable, 11 time exceeded, 12 parameter problem
	Code     uint8      // for type 3: 2 protocol unreachable, 4 fragmentation needed, ...
	MTU      int        // next-hop MTU of "fragmentation needed" (RFC 1191), else 0
	Pointer  uint8      // parameter problem: the offending byte
	Src, Dst netip.Addr // the quoted datagram's addresses
	Quote    []byte     // the quoted datagram: IPv4 header and (part of) its payload
}

// QuotedPayload returns the quoted datagram's payload (what follows its
// header in Quote): a transport finds its ports or connection id there.
func (e *ICMPError) QuotedPayload() []byte {
	if len(e.Quote) < 20 {
		return nil
	}
	hl := int(e.Quote[0]&0x0f) * 4
	if hl < 20 || hl > len(e.Quote) {
		return nil
	}
	return e.Quote[hl:]
}

// Message returns the ICMP message as it came on the wire: the 8-byte
// header (type, code, checksum, and the next-hop MTU or pointer) followed by
// Quote — what an engine that parses ICMP itself takes (tcpd's
// Stack.ICMPError).
func (e *ICMPError) Message() []byte {
	m := make([]byte, 8+len(e.Quote))
	m[0], m[1] = e.Type, e.Code
	switch {
	case e.MTU != 0:
		m[6], m[7] = byte(e.MTU>>8), byte(e.MTU)
	case e.Type == 12:
		m[4] = e.Pointer
	}
	copy(m[8:], e.Quote)
	c := ^wire.Checksum(m, 0)
	m[2], m[3] = byte(c>>8), byte(c)
	return m
}

// Info describes netd's interface, as Register returns it.
type Info struct {
	Addr netip.Addr // the interface address: the pseudo-header source
	MTU  int        // its IP MTU
	Dev  uint32
	// TSOMax is the largest TCP segment netd takes with segmentation
	// offload (Datagram.TSO); 0: none.
	TSOMax int
}

// Stats counts a Client's recoveries and what it could not deliver.
type Stats struct {
	Reconnects       uint64 // new connections after netd went away
	ReconnectErrors  uint64 // reconnections that gave up
	ReRegisters      uint64 // protocols registered again in a new netd
	ReRegisterErrors uint64 // ... that failed (another server took the number)
	Unclaimed        uint64 // deliveries for a number no Protocol holds
	Malformed        uint64 // deliveries that did not decode
	ConnDropped      uint64 // deliveries libipc dropped on the current connection (its receive queue was full; none since deliveries are handled on its reader, libipc.NewConnFunc)
}

// ProtoStats counts one Protocol's deliveries.
type ProtoStats struct {
	Received       uint64 // datagrams queued on Datagrams()
	Dropped        uint64 // datagrams dropped: Datagrams() was full (RecvQueueLen)
	Errors         uint64 // ICMP errors queued on Errors()
	ErrorsDropped  uint64 // ICMP errors dropped: Errors() was full
	Streams        uint64 // stream sockets queued on Streams()
	StreamsDropped uint64 // stream sockets closed at once: Streams() was full (StreamQueueLen)
}

// Client is a connection to netd's protocol service.
type Client struct {
	dialer  libipc.Dialer
	service string

	mu      sync.Mutex
	conn    *libipc.Conn
	ended   chan struct{} // closed once conn has ended, after its last delivery
	gen     uint64
	changed chan struct{} // closed and replaced at every reconnection and at the end
	closed  bool
	dead    error // set when the Client gave up (or was closed)
	protos  map[uint8]*Protocol

	// The deliveries, on the connection's reader goroutine (one hand-off
	// less per datagram than a goroutine of ours reading them). While a
	// new connection registers the Protocols again they are held, then
	// handled in order (as they would have waited in a receive queue).
	dmu     sync.Mutex
	holding bool
	held    []*libipc.Request

	stats struct {
		reconnects, reconnectErrors, reRegisters, reRegisterErrors, unclaimed, malformed atomic.Uint64
	}
}

// Dial connects to netd's protocol service (protoproto.ServiceName) through
// d, which it keeps to reconnect after a netd restart.
func Dial(ctx context.Context, d libipc.Dialer) (*Client, error) {
	return DialService(ctx, d, protoproto.ServiceName)
}

// DialService is Dial for a protocol service under another name (a second
// netd: protoproto.ServiceFor("peer.sockets")).
func DialService(ctx context.Context, d libipc.Dialer, service string) (*Client, error) {
	ep, err := d.Connect(ctx, service)
	if err != nil {
		return nil, fmt.Errorf("libproto: dial %s: %w", service, err)
	}
	c := &Client{dialer: d, service: service, gen: 1, changed: make(chan struct{}), protos: map[uint8]*Protocol{}}
	c.conn, c.ended = c.newConn(ep)
	go c.run()
	return c, nil
}

// ErrNoInit is FromInit's error outside armos (no bootstrap channel).
var ErrNoInit = errors.New("libproto: not started by init (no bootstrap channel)")

// FromInit connects through init's name service, waiting for service to be
// registered (netd may start after the protocol server, or restart).
func FromInit(ctx context.Context, service string) (*Client, error) {
	boot, err := libipc.Bootstrap()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoInit, err)
	}
	return DialService(ctx, libsocket.WaitDialer(boot), service)
}

// Stats returns the Client's counters.
func (c *Client) Stats() Stats {
	conn, _, _, _ := c.current()
	s := &c.stats
	return Stats{Reconnects: s.reconnects.Load(), ReconnectErrors: s.reconnectErrors.Load(),
		ReRegisters: s.reRegisters.Load(), ReRegisterErrors: s.reRegisterErrors.Load(),
		Unclaimed: s.unclaimed.Load(), Malformed: s.malformed.Load(), ConnDropped: conn.Stats().DroppedRecv}
}

// Close closes the connection: netd unregisters every protocol of the
// Client, and their channels are closed.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	conn := c.conn
	c.mu.Unlock()
	return conn.Close()
}

// Register takes ownership of IP protocol num. It fails with EADDRINUSE
// when another server owns it or it is netd's own (1, 17), EINVAL for 0
// and 255.
func (c *Client) Register(ctx context.Context, num uint8) (*Protocol, error) {
	p := &Protocol{c: c, num: num, in: make(chan *Datagram, RecvQueueLen), errs: make(chan *ICMPError, ErrorQueueLen),
		streams: make(chan libipc.Endpoint, StreamQueueLen)}
	c.mu.Lock()
	switch {
	case c.dead != nil:
		c.mu.Unlock()
		return nil, c.dead
	case c.protos[num] != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("libproto: register %d: %w", num, EADDRINUSE)
	}
	c.protos[num] = p // before the call: a delivery may come before the reply
	c.mu.Unlock()
	var resp protoproto.RegisterResp
	if err := c.call(ctx, protoproto.OpRegister, &protoproto.RegisterReq{Proto: num}, &resp); err != nil {
		c.mu.Lock()
		if c.protos[num] == p {
			delete(c.protos, num)
		}
		c.mu.Unlock()
		return nil, fmt.Errorf("libproto: register %d: %w", num, err)
	}
	p.setInfo(&resp)
	return p, nil
}

// newConn starts a connection whose deliveries go to c.deliver; the
// channel closes once it has ended.
func (c *Client) newConn(ep libipc.Endpoint) (*libipc.Conn, chan struct{}) {
	ended := make(chan struct{})
	return libipc.NewConnFunc(ep, c.deliverMsg, func(error) { close(ended) }), ended
}

// current returns the connection and its generation.
func (c *Client) current() (*libipc.Conn, uint64, chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn, c.gen, c.changed, c.dead
}

// call makes a request, waiting for a reconnection and retrying when netd
// went away meanwhile.
func (c *Client) call(ctx context.Context, op protoproto.Op, req, resp any) error {
	for {
		conn, _, changed, dead := c.current()
		if dead != nil {
			return dead
		}
		err := conn.Call(ctx, libipc.Op(op), req, resp)
		if err == nil || !errors.Is(err, libipc.ErrPeerClosed) {
			return cause(err)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// cause turns an error reply into its sockproto.Errno.
func cause(err error) error {
	var re *libipc.RemoteError
	if errors.As(err, &re) {
		return sockproto.ErrnoOf(re.Code)
	}
	return err
}

// run reads deliveries for the life of the Client, reconnecting when netd
// goes away; when the Client is closed or gives up it closes every
// Protocol's channels.
func (c *Client) run() {
	for {
		c.mu.Lock()
		conn, gen, ended := c.conn, c.gen, c.ended
		c.mu.Unlock()
		<-ended // every delivery of conn handled
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed || !errors.Is(conn.Err(), libipc.ErrPeerClosed) {
			c.finish(fmt.Errorf("libproto: client closed: %w", libipc.ErrClosed))
			return
		}
		if conn.Stats().PeerErrors > 0 {
			// netd sent an error report (ID 0) before closing: it refused
			// the connection (protosvc.MaxClients), which another try
			// would meet again.
			c.finish(fmt.Errorf("libproto: %s refused the connection: %w (%w)", c.service, sockproto.ENFILE, libipc.ErrPeerClosed))
			return
		}
		if err := c.reconnect(gen); err != nil {
			c.stats.reconnectErrors.Add(1)
			c.finish(err)
			return
		}
	}
}

// finish ends the Client for good.
func (c *Client) finish(why error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dead = why
	for n, p := range c.protos {
		p.closeChans()
		delete(c.protos, n)
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// reconnect dials the service again (libsocket.Redial: libsocket's
// bounds and backoff), then registers every Protocol again.
func (c *Client) reconnect(failed uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ep, err := libsocket.Redial(ctx, c.dialer, c.service) // libsocket's backoff
	if err != nil {
		return fmt.Errorf("libproto: reconnect %s: %w", c.service, err)
	}
	c.dmu.Lock()
	c.holding = true // until the registrations are done
	c.dmu.Unlock()
	defer c.release()
	conn, ended := c.newConn(ep)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		conn.Close()
		return fmt.Errorf("libproto: client closed: %w", libipc.ErrClosed)
	}
	c.conn, c.ended, c.gen = conn, ended, failed+1
	protos := make([]*Protocol, 0, len(c.protos))
	for _, p := range c.protos {
		protos = append(protos, p)
	}
	c.mu.Unlock()
	c.stats.reconnects.Add(1)
	// Registrations first, on the new connection, before its deliveries
	// are handled (release, deferred): the replies are routed by the
	// connection itself.
	for _, p := range protos {
		var resp protoproto.RegisterResp
		if rerr := conn.Call(ctx, libipc.Op(protoproto.OpRegister), &protoproto.RegisterReq{Proto: p.num}, &resp); rerr != nil {
			c.stats.reRegisterErrors.Add(1)
			p.lost(cause(rerr))
			continue
		}
		c.stats.reRegisters.Add(1)
		p.setInfo(&resp)
	}
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// deliverMsg takes one delivery of the connection (on its reader): held
// while a new connection registers, else handled.
func (c *Client) deliverMsg(r *libipc.Request) {
	c.dmu.Lock()
	if c.holding {
		c.held = append(c.held, r)
	} else {
		c.handle(r)
	}
	c.dmu.Unlock()
}

// release handles the deliveries held during a reconnection, in order,
// and lets the next ones through.
func (c *Client) release() {
	c.dmu.Lock()
	for i, r := range c.held {
		c.handle(r)
		c.held[i] = nil
	}
	c.held = c.held[:0]
	c.holding = false
	c.dmu.Unlock()
}

// handle dispatches one delivery (under dmu).
func (c *Client) handle(r *libipc.Request) {
	if r.Kind == libipc.KindRequest {
		r.Fail(sockproto.ENOSYS) // netd asks nothing (yet)
		return
	}
	switch protoproto.Op(r.Op) {
	case protoproto.OpDeliver:
		// One per datagram: decoded by hand (the general way when
		// that fails) into m, which stays off the heap, and delivered
		// without a closure.
		// netd's usual encoding is read in place: the Datagram keeps
		// the request (and its bytes) until Release.
		var m protoproto.Datagram
		inPlace := m.ParseMsgpackInPlace(r.Body)
		if !inPlace && !m.ParseMsgpack(r.Body) {
			g := new(protoproto.Datagram)
			if r.Decode(g) != nil {
				c.stats.malformed.Add(1)
				break
			}
			m = *g
		}
		for _, h := range r.Caps { // none expected; closed before r may go
			h.Close()
		}
		r.Caps = nil
		var keep *libipc.Request
		if inPlace {
			keep = r
		}
		c.mu.Lock()
		kept := false
		p := c.protos[m.Proto]
		var h *func(*Datagram)
		if p == nil {
			c.stats.unclaimed.Add(1)
		} else if h = p.handler.Load(); h == nil {
			kept = p.deliver(&m, keep)
		}
		c.mu.Unlock()
		if h != nil {
			// Outside c.mu: the handler may send (SendAsync takes it).
			p.stats.received.Add(1)
			(*h)(p.datagramOf(&m, keep))
			kept = keep != nil
		}
		if kept {
			return // the Datagram's Release gives r back (r is not touched again)
		}
	case protoproto.OpICMPError:
		var m protoproto.ICMPError
		if r.Decode(&m) != nil {
			c.stats.malformed.Add(1)
			break
		}
		c.deliver(m.Proto, func(p *Protocol) {
			if p != nil {
				p.icmpError(&m)
			}
		})
	case protoproto.OpStream:
		var m protoproto.StreamConn
		ep, ok := streamCap(r)
		if r.Decode(&m) != nil || !ok {
			c.stats.malformed.Add(1)
			break
		}
		r.Caps = nil // taken
		c.deliver(m.Proto, func(p *Protocol) {
			if p == nil {
				ep.Close()
				return
			}
			p.stream(ep)
		})
	case protoproto.OpInfo:
		var m protoproto.InfoMsg
		if r.Decode(&m) != nil {
			c.stats.malformed.Add(1)
			break
		}
		c.deliver(m.Proto, func(p *Protocol) {
			if p != nil {
				p.changed(&m)
			}
		})
	default:
		c.stats.malformed.Add(1)
	}
	for _, h := range r.Caps { // none expected
		h.Close()
	}
	r.ReleaseBody()
	r.Recycle()
}

// streamCap returns the endpoint an OpStream message carries.
func streamCap(r *libipc.Request) (libipc.Endpoint, bool) {
	if len(r.Caps) != 1 {
		return nil, false
	}
	ep, ok := r.Caps[0].(libipc.Endpoint)
	return ep, ok
}

// deliver runs fn on num's Protocol under the lock (fn never blocks).
func (c *Client) deliver(num uint8, fn func(*Protocol)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.protos[num]
	if p == nil {
		c.stats.unclaimed.Add(1)
		fn(nil)
		return
	}
	fn(p)
}

// Protocol is an owned IP protocol number.
type Protocol struct {
	c       *Client
	num     uint8
	in      chan *Datagram
	errs    chan *ICMPError
	streams chan libipc.Endpoint

	mu     sync.Mutex
	info   Info
	err    error // why it was lost (re-registration refused)
	closed bool  // channels closed (under c.mu)

	sendMu  sync.Mutex
	sendMsg protoproto.SendReq // SendAsync's message (encoded before TrySend returns), under sendMu
	// room is the padding netd asked large offloaded segments to carry
	// in front of their payload (RegisterResp.Room; at most maxRoom).
	room atomic.Int32
	// handler takes deliveries instead of in (SetHandler).
	handler atomic.Pointer[func(*Datagram)]

	stats struct {
		received, dropped, errors, errorsDropped, streams, streamsDropped atomic.Uint64
	}
}

// Number returns the protocol number.
func (p *Protocol) Number() uint8 { return p.num }

// SetHandler makes fn take every datagram delivered from now on instead
// of the Datagrams channel: it runs on the client's reader goroutine,
// outside libproto's locks, so it may send; it must not wait long (the
// reader delivers nothing else meanwhile). The Datagram is fn's (Release
// it when done). Datagrams already queued stay in the channel; nil goes
// back to the channel. A server whose work is quick saves the wake-up of
// the goroutine that would read the channel (tcpd runs a segment's input
// there when its loop is idle).
func (p *Protocol) SetHandler(fn func(d *Datagram)) {
	if fn == nil {
		p.handler.Store(nil)
		return
	}
	p.handler.Store(&fn)
}

// Info returns netd's interface as the last registration described it.
func (p *Protocol) Info() Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// Err returns why the protocol was lost (a restarted netd gave the number
// to someone else before this Client came back), or nil.
func (p *Protocol) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Datagrams returns the channel of received datagrams. It is closed when
// the Protocol or its Client is closed.
func (p *Protocol) Datagrams() <-chan *Datagram { return p.in }

// Errors returns the channel of ICMP errors quoting this protocol's
// datagrams. It is closed with Datagrams.
func (p *Protocol) Errors() <-chan *ICMPError { return p.errs }

// Streams returns the channel of stream sockets netd hands to the owner of
// protocol 6 (an application's OpSocket(SOCK_STREAM)): each is an endpoint
// whose other end the application holds; the stream server speaks its
// stream protocol on it. It is closed with Datagrams (endpoints still
// queued are closed).
func (p *Protocol) Streams() <-chan libipc.Endpoint { return p.streams }

// Stats returns the Protocol's delivery counters.
func (p *Protocol) Stats() ProtoStats {
	s := &p.stats
	return ProtoStats{Received: s.received.Load(), Dropped: s.dropped.Load(), Errors: s.errors.Load(),
		ErrorsDropped: s.errorsDropped.Load(), Streams: s.streams.Load(), StreamsDropped: s.streamsDropped.Load()}
}

func (p *Protocol) setInfo(r *protoproto.RegisterResp) {
	a, _ := protoproto.IPv4Of(r.Addr)
	p.mu.Lock()
	p.info = Info{Addr: a, MTU: int(r.MTU), Dev: r.Dev, TSOMax: int(r.TSOMax)}
	p.err = nil
	p.mu.Unlock()
	p.room.Store(int32(min(int(r.Room), maxRoom)))
}

// maxRoom bounds the padding a segment carries for netd (RegisterResp.Room),
// and roomBytes is it: the bytes never matter, netd overwrites them.
const maxRoom = 128

var roomBytes [maxRoom]byte

// changed takes the interface netd describes after a change (OpInfo).
func (p *Protocol) changed(m *protoproto.InfoMsg) {
	a, _ := protoproto.IPv4Of(m.Addr)
	p.mu.Lock()
	p.info = Info{Addr: a, MTU: int(m.MTU), Dev: m.Dev, TSOMax: int(m.TSOMax)}
	p.mu.Unlock()
}

func (p *Protocol) lost(err error) {
	p.mu.Lock()
	p.err = fmt.Errorf("libproto: protocol %d lost at a netd restart: %w", p.num, err)
	p.mu.Unlock()
}

// sendReq builds the request for d.
func (p *Protocol) sendReq(d *Datagram) *protoproto.SendReq {
	r := p.sendReqOf(d)
	return &r
}

// sendReqOf is the request for d, as a value.
// An offloaded segment of protoproto.GatherMin bytes or more carries the
// padding netd asked for (RegisterResp.Room), where netd writes the
// frame's headers: it then sends the frame from the message it received.
func (p *Protocol) sendReqOf(d *Datagram) protoproto.SendReq {
	r := protoproto.SendReq{Proto: p.num, Src: protoproto.IP(d.Src), Dst: protoproto.IP(d.Dst), TTL: d.TTL,
		TOS: d.TOS, DF: d.DontFragment, Data: d.Payload, DataMore: d.PayloadMore, TSO: uint16(min(max(d.TSO, 0), 1<<16-1))}
	if room := p.room.Load(); room > 0 && r.TSO != 0 && payloadLen(d) >= protoproto.GatherMin {
		r.Room = roomBytes[:room]
	}
	return r
}

// payloadLen is d's payload length, Payload and PayloadMore together.
func payloadLen(d *Datagram) int {
	n := len(d.Payload)
	for _, m := range d.PayloadMore {
		n += len(m)
	}
	return n
}

// Send sends d (its Payload is the transport segment, checksummed against
// d.Src or Info().Addr) and waits for netd to take it: routed, queued for
// ARP or transmitted. Errors: EMSGSIZE, ENETUNREACH, EINVAL, ENOBUFS,
// EACCES (not owned). Across a netd restart it waits and retries.
func (p *Protocol) Send(ctx context.Context, d *Datagram) error {
	if err := p.c.call(ctx, protoproto.OpSend, p.sendReq(d), &protoproto.Empty{}); err != nil {
		return fmt.Errorf("libproto: send to %v: %w", d.Dst, err)
	}
	return nil
}

// SendAsync sends d as a one-way message without waiting: netd's errors are
// only counted there, and a full channel to netd fails with an error
// wrapping libipc.ErrWouldBlock.
func (p *Protocol) SendAsync(d *Datagram) error {
	conn, _, _, dead := p.c.current()
	if dead != nil {
		return dead
	}
	// One message per segment: the request is Protocol's own, not an
	// allocation each time.
	p.sendMu.Lock()
	p.sendMsg = p.sendReqOf(d)
	err := conn.TrySend(libipc.Op(protoproto.OpSend), &p.sendMsg)
	p.sendMsg = protoproto.SendReq{} // keep no reference to the payload
	p.sendMu.Unlock()
	return err
}

// SendWait is SendAsync that, when the channel to netd is full, waits
// for room (until ctx ends) instead of failing: unlike Send it needs no
// reply, so a SetHandler handler, which runs on the reader the reply
// would come through, may use it.
func (p *Protocol) SendWait(ctx context.Context, d *Datagram) error {
	conn, _, _, dead := p.c.current()
	if dead != nil {
		return dead
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.sendMsg = p.sendReqOf(d)
	err := conn.Send(ctx, libipc.Op(protoproto.OpSend), &p.sendMsg)
	p.sendMsg = protoproto.SendReq{} // keep no reference to the payload
	return err
}

// Close gives the number back to netd and closes the channels.
func (p *Protocol) Close(ctx context.Context) error {
	c := p.c
	c.mu.Lock()
	if c.protos[p.num] != p {
		c.mu.Unlock()
		return nil
	}
	delete(c.protos, p.num)
	p.closeChans()
	c.mu.Unlock()
	err := c.call(ctx, protoproto.OpUnregister, &protoproto.ProtoReq{Proto: p.num}, &protoproto.Empty{})
	if err != nil {
		return fmt.Errorf("libproto: unregister %d: %w", p.num, err)
	}
	return nil
}

// closeChans closes the channels once (under c.mu).
func (p *Protocol) closeChans() {
	if !p.closed {
		p.closed = true
		close(p.in)
		close(p.errs)
		close(p.streams)
		for ep := range p.streams {
			ep.Close()
		}
	}
}

// deliver queues a datagram (under c.mu). With req, m's bytes lie in
// req's body: the Datagram keeps req until Release, and deliver reports
// whether it did (false: dropped, req is still the caller's).
func (p *Protocol) deliver(m *protoproto.Datagram, req *libipc.Request) (kept bool) {
	d := p.datagramOf(m, req)
	select {
	case p.in <- d:
		p.stats.received.Add(1)
		return req != nil
	default:
		p.stats.dropped.Add(1)
		*d = Datagram{}
		received.Put(d)
		return false
	}
}

// datagramOf is the Datagram for delivery m, holding req (whose body m's
// bytes lie in) until Release; with req nil, m's bytes are a copy of
// their own.
func (p *Protocol) datagramOf(m *protoproto.Datagram, req *libipc.Request) *Datagram {
	src, _ := protoproto.IPv4Of(m.Src)
	dst, _ := protoproto.IPv4Of(m.Dst)
	d := received.Get().(*Datagram)
	*d = Datagram{Src: src, Dst: dst, TTL: m.TTL, TOS: m.TOS, Broadcast: m.Bcast, Dev: m.Dev, MTU: int(m.MTU),
		Header: m.Hdr, Payload: m.Data}
	d.req = req
	return d
}

// stream queues a stream socket's endpoint (under c.mu), or closes it.
func (p *Protocol) stream(ep libipc.Endpoint) {
	select {
	case p.streams <- ep:
		p.stats.streams.Add(1)
	default:
		p.stats.streamsDropped.Add(1)
		ep.Close()
	}
}

// icmpError queues an ICMP error (under c.mu).
func (p *Protocol) icmpError(m *protoproto.ICMPError) {
	from, _ := protoproto.IPv4Of(m.From)
	src, _ := protoproto.IPv4Of(m.Src)
	dst, _ := protoproto.IPv4Of(m.Dst)
	e := &ICMPError{From: from, Type: m.Type, Code: m.Code, MTU: int(m.MTU), Pointer: m.Pointer, Src: src, Dst: dst, Quote: m.Quote}
	select {
	case p.errs <- e:
		p.stats.errors.Add(1)
	default:
		p.stats.errorsDropped.Add(1)
	}
}
