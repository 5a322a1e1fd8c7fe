package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server runs an Engine: one goroutine owns it (the loop), and client
// connections and the upstream transport reach it through a bounded queue
// of events. This is resolved's body; on a host it also serves tests.
type Server struct {
	eng    *Engine
	up     Upstream
	events chan func()
	done   chan struct{}
	once   sync.Once
	loopWG sync.WaitGroup

	mu    sync.Mutex
	conns map[io.Closer]struct{} // served connections, closed by Close

	notAllowed atomic.Uint64 // datagrams from clients ServePacket's allow rejected
}

// Server bounds: events queued for the loop (client queries, upstream
// datagrams; readers wait when it is full, and their sockets drop), and per
// stream connection the answers waiting to be written and the idle time
// before it is closed (RFC 7766 section 6.2.3 suggests seconds).
const (
	serverQueue   = 256
	streamPending = 16
	streamIdle    = 10 * time.Second
	maxStreamMsg  = 65535
)

// NewServer starts a Server with an engine configured by cfg, sending
// through the Upstream that newUpstream makes (given the function that
// hands received datagrams to the engine; it must not be called from
// Upstream.Send itself, which runs on the loop).
func NewServer(cfg Config, newUpstream func(DeliverFunc) Upstream) (*Server, error) {
	s := &Server{events: make(chan func(), serverQueue), done: make(chan struct{}), conns: make(map[io.Closer]struct{})}
	s.up = newUpstream(s.deliver)
	eng, err := New(cfg, SystemClock{}, s.up)
	if err != nil {
		return nil, err
	}
	s.eng = eng
	s.loopWG.Add(1)
	go s.loop()
	return s, nil
}

func (s *Server) loop() {
	defer s.loopWG.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if t, ok := s.eng.NextDeadline(); ok {
			timer.Reset(time.Until(t))
		} else {
			timer.Stop()
		}
		select {
		case f := <-s.events:
			f()
		case <-timer.C:
			s.eng.Tick()
		case <-s.done:
			return
		}
	}
}

// post runs f on the loop; false once the server is closed.
func (s *Server) post(f func()) bool {
	select {
	case s.events <- f:
		return true
	case <-s.done:
		return false
	}
}

func (s *Server) deliver(a Attempt, from netip.AddrPort, msg []byte) {
	s.post(func() { s.eng.Input(a, from, msg) })
}

// Counters returns the engine's counters.
func (s *Server) Counters() Counters {
	ch := make(chan Counters, 1)
	if !s.post(func() { ch <- s.eng.Counters() }) {
		return Counters{}
	}
	select {
	case c := <-ch:
		c.Clients.DropNotAllowed = s.notAllowed.Load()
		return c
	case <-s.done:
		return Counters{}
	}
}

// SetServers replaces the engine's upstream servers on the loop
// (Engine.SetServers).
func (s *Server) SetServers(servers []netip.AddrPort) error {
	ch := make(chan error, 1)
	if !s.post(func() { ch <- s.eng.SetServers(servers) }) {
		return net.ErrClosed
	}
	select {
	case err := <-ch:
		return err
	case <-s.done:
		return net.ErrClosed
	}
}

// Servers returns the engine's upstream servers.
func (s *Server) Servers() []netip.AddrPort {
	ch := make(chan []netip.AddrPort, 1)
	if !s.post(func() { ch <- s.eng.Servers() }) {
		return nil
	}
	select {
	case v := <-ch:
		return v
	case <-s.done:
		return nil
	}
}

// Flush empties the cache.
func (s *Server) Flush() { s.post(s.eng.Flush) }

func (s *Server) track(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c io.Closer) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// LoopbackOnly admits clients on loopback addresses only: resolved binds
// 0.0.0.0 (netd delivers loopback traffic only there) and must not be an
// open resolver for the LAN.
func LoopbackOnly(from netip.AddrPort) bool { return from.Addr().Unmap().IsLoopback() }

// ServePacket answers the queries arriving on pc, one per datagram, until
// pc fails or the server closes (then it returns nil). pc may be a UDP
// socket of Go's net or of libsocket, or any datagram connection. Datagrams
// from a source allow rejects (if allow is not nil) are dropped and counted
// (Clients.DropNotAllowed).
func (s *Server) ServePacket(pc net.PacketConn, allow func(from netip.AddrPort) bool) error {
	if !s.track(pc) {
		return nil
	}
	defer s.untrack(pc)
	buf := make([]byte, maxStreamMsg)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if s.closed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if allow != nil {
			ua, ok := addr.(*net.UDPAddr)
			if !ok || !allow(ua.AddrPort()) {
				s.notAllowed.Add(1)
				continue
			}
		}
		q := append([]byte(nil), buf[:n]...)
		if !s.post(func() {
			s.eng.Answer(q, false, func(b []byte) { pc.WriteTo(b, addr) })
		}) {
			return nil
		}
	}
}

// ServeStream answers the queries arriving on c with TCP's framing (each
// message after a 2-byte length; RFC 1035 section 4.2.2, RFC 7766), several
// in flight at once, until c fails, stays idle streamIdle, or the server
// closes.
func (s *Server) ServeStream(c net.Conn) error {
	if !s.track(c) {
		return nil
	}
	defer s.untrack(c)
	// Answers go to a writer goroutine through out, which only the loop
	// sends on and closes (outClosed is the loop's), so a slow client never
	// blocks the loop and a late answer never meets a closed channel.
	out := make(chan []byte, streamPending)
	outClosed := false
	closeOut := func() {
		if !outClosed {
			outClosed = true
			close(out)
		}
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for b := range out {
			if _, err := c.Write(b); err != nil {
				c.Close()
				for range out {
				}
				return
			}
		}
	}()
	defer func() {
		c.Close() // unblocks the writer
		if !s.post(closeOut) {
			s.loopWG.Wait() // the loop is gone: nothing else touches out
			closeOut()
		}
		<-writerDone
	}()
	var hdr [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(streamIdle))
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return s.streamErr(err)
		}
		q := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return s.streamErr(err)
		}
		if !s.post(func() {
			s.eng.Answer(q, true, func(b []byte) {
				if outClosed {
					return
				}
				framed := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(b)), uint16(len(b)))
				select {
				case out <- append(framed, b...):
				default: // the client does not read its answers: drop it
					closeOut()
					c.Close()
				}
			})
		}) {
			return nil
		}
	}
}

func (s *Server) streamErr(err error) error {
	if s.closed() || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil // idle
	}
	return err
}

func (s *Server) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Address of the in-memory connections Dial makes.
var (
	memServerAddr = net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:53"))
	memClientAddr = net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:1053"))
)

// Dial connects to the server in memory, for net.Resolver's Dial in the
// same process:
//
//	r := &net.Resolver{PreferGo: true, Dial: srv.Dial}
//
// network "udp..." gives a datagram connection (it is a net.PacketConn, so
// Go's resolver sends one message per write), "tcp..." a stream with TCP's
// framing (Go's resolver uses it after a truncated answer). The address is
// ignored.
func (s *Server) Dial(ctx context.Context, network, _ string) (net.Conn, error) {
	if s.closed() {
		return nil, net.ErrClosed
	}
	if strings.HasPrefix(network, "tcp") {
		client, server := net.Pipe()
		go s.ServeStream(server)
		return client, nil
	}
	client, server := memPipe(memClientAddr, memServerAddr)
	go s.ServePacket(server, nil)
	return client, nil
}

// Close stops the server: the loop, the served connections and the
// transport (if it is an io.Closer). Lookups in flight get no answer.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		close(s.done)
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.loopWG.Wait()
		if c, ok := s.up.(io.Closer); ok {
			c.Close()
		}
	})
	return nil
}
