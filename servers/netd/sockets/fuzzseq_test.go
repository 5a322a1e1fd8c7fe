package sockets_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libsocket/sockproto"
	"armos/servers/netd/sockets"
	"armos/servers/netd/sockets/sockettest"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
)

// maxSteps bounds the operations one FuzzServiceSequence input runs.
const maxSteps = 64

// The script's operations: one byte each, then their arguments.
const (
	stepSocket = iota
	stepBind
	stepConnect
	stepSendTo
	stepRecvFrom
	stepSetSockOpt
	stepGetSockOpt
	stepGetName
	stepClose
	stepCancel
	stepInject
	stepAdvance
	stepDisconnect
	stepRawBody
	stepICMP
	numSteps
)

// Argument tables the script indexes into (modulo their length).
var (
	seqAddrs = []netip.AddrPort{
		{}, // none
		netip.MustParseAddrPort("0.0.0.0:0"),
		netip.MustParseAddrPort("0.0.0.0:7"),
		netip.AddrPortFrom(sockettest.OurIP, 0),
		netip.AddrPortFrom(sockettest.OurIP, 7),
		netip.AddrPortFrom(sockettest.PeerIP, 7),
		netip.AddrPortFrom(sockettest.PeerIP, 9),
		netip.AddrPortFrom(sockettest.BcastIP, 9),
		netip.AddrPortFrom(sockettest.LimitedBcast, 9),
		netip.MustParseAddrPort("10.0.3.1:5"),
		netip.MustParseAddrPort("8.8.8.8:53"),
		netip.MustParseAddrPort("127.0.0.1:1"),
		netip.MustParseAddrPort("[::1]:5"),
		netip.MustParseAddrPort("[::ffff:10.0.2.2]:7"),
		netip.MustParseAddrPort("10.0.2.99:7"),
		netip.AddrPortFrom(sockettest.PeerIP, 0),
	}
	seqDurations = []time.Duration{0, time.Millisecond, 999 * time.Millisecond, time.Second, time.Hour,
		-1, time.Duration(sockproto.MaxRecvTimeout), time.Duration(sockproto.MaxRecvTimeout) + 1}
	seqValues = []int64{0, 1, 2, -1, 4, 64, sockproto.MaxRecvQueue, sockproto.MaxRecvQueue + 1, int64(time.Second), 1 << 62}
	seqSizes  = []int{0, 1, 5, 100, 1472, 1473, 9000, sockproto.MaxDatagram, sockproto.MaxDatagram + 1}
)

// script reads a fuzz input; past its end every byte is 0.
type script struct{ b []byte }

func (s *script) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *script) pick(n int) int { return int(s.byte()) % n }

// pending is a request the service has not answered yet.
type pending struct {
	op  sockproto.Op
	req any // the decoded request, nil if its body does not decode
}

// seqClient is one connection driven by the script, with a model of what
// the service should hold for it.
type seqClient struct {
	t       *testing.T
	h       *sockettest.Netd
	ep      libipc.Endpoint
	nextID  uint32
	pending map[uint32]pending
	handles []sockproto.Handle // open, as the replies said
	ports   []uint16           // local ports the replies reported
	sent    uint64             // requests sent to the service's handlers (probes included)
	errors  uint64             // error answers from the service's handlers
	got     uint64             // datagrams received
	sends   int                // successful sends not yet looked for at the peer
}

func newSeqClient(t *testing.T, h *sockettest.Netd) *seqClient {
	ep, err := h.Broker.Connect(context.Background(), sockproto.ServiceName)
	require.NoError(t, err)
	c := &seqClient{t: t, h: h, ep: ep, pending: make(map[uint32]pending)}
	c.sync() // the service has seen the connection: its counters include it
	return c
}

// handle picks a handle: usually one the service gave, sometimes any.
func (c *seqClient) handle(s *script) sockproto.Handle {
	b := s.byte()
	if len(c.handles) > 0 && b < 200 {
		return c.handles[int(b)%len(c.handles)]
	}
	return sockproto.Handle(b - 200)
}

// addr picks an address, or a local port the service reported.
func (c *seqClient) addr(s *script) sockproto.Addr {
	i := s.pick(len(seqAddrs) + 2)
	if i >= len(seqAddrs) {
		if len(c.ports) == 0 {
			return sockproto.Addr{}
		}
		port := c.ports[s.pick(len(c.ports))]
		ip := netip.IPv4Unspecified()
		if i == len(seqAddrs)+1 {
			ip = sockettest.PeerIP
		}
		return sockproto.AddrFrom(netip.AddrPortFrom(ip, port))
	}
	return sockproto.AddrFrom(seqAddrs[i])
}

// send sends one request with a raw body; the service owes it one answer.
// It reports false if the request could not be sent (too large for a
// message: it never reaches the service).
func (c *seqClient) send(op sockproto.Op, body []byte, decoded any) bool {
	c.nextID++
	hdr := libipc.Header{Version: libipc.Version, Kind: libipc.KindRequest, Op: libipc.Op(op), ID: c.nextID}
	msg := append(libipc.AppendHeader(nil, hdr), body...)
	if err := c.ep.TrySend(libipc.Message{Data: msg}); err != nil {
		return false
	}
	if op.Valid() {
		c.sent++ // unknown ops are answered by libipc, not counted by the service
	}
	c.pending[c.nextID] = pending{op: op, req: decoded}
	return true
}

// request encodes req as op's body and sends it.
func (c *seqClient) request(op sockproto.Op, req any) bool {
	body, err := libipc.AppendBody(nil, req)
	require.NoError(c.t, err)
	return c.send(op, body, req)
}

// rawRequest sends op with arbitrary body bytes, decoding them as the
// service will to know what the request means.
func (c *seqClient) rawRequest(op sockproto.Op, body []byte) {
	var req any
	switch op {
	case sockproto.OpSocket:
		req = &sockproto.SocketReq{}
	case sockproto.OpClose:
		req = &sockproto.HandleReq{}
	case sockproto.OpRecvFrom:
		req = &sockproto.RecvFromReq{}
	}
	if req != nil && libipc.DecodeBody(body, req) != nil {
		req = nil
	}
	c.send(op, body, req)
}

// sync sends a probe and reads answers until the probe's, checking that
// each answers a pending request exactly once. Requests are handled in
// order, so afterwards only parked receives are pending.
func (c *seqClient) sync() {
	require.True(c.t, c.request(sockproto.OpGetSockName, &sockproto.HandleReq{Handle: 0}))
	probe := c.nextID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		m, err := c.ep.Recv(ctx)
		require.NoError(c.t, err, "the service must answer the probe")
		hdr, body, err := libipc.ParseHeader(m.Data)
		require.NoError(c.t, err)
		p, ok := c.pending[hdr.ID]
		require.True(c.t, ok, "answer %d (%v) to no pending request", hdr.ID, hdr.Kind)
		delete(c.pending, hdr.ID)
		c.answered(p, hdr, body)
		if hdr.ID == probe {
			return
		}
	}
}

// answered checks one answer against its request and updates the model.
func (c *seqClient) answered(p pending, hdr libipc.Header, body []byte) {
	t := c.t
	require.Equal(t, libipc.Op(p.op), hdr.Op)
	if hdr.Kind == libipc.KindError {
		var eb libipc.ErrorBody
		require.NoError(t, libipc.DecodeBody(body, &eb))
		require.NotZero(t, eb.Code)
		if p.op.Valid() {
			c.errors++
		}
		return
	}
	require.Equal(t, libipc.KindReply, hdr.Kind)
	switch p.op {
	case sockproto.OpSocket:
		var r sockproto.SocketResp
		require.NoError(t, libipc.DecodeBody(body, &r))
		require.NotContains(t, c.handles, r.Handle, "a handle issued twice")
		c.handles = append(c.handles, r.Handle)
	case sockproto.OpClose:
		req, ok := p.req.(*sockproto.HandleReq)
		require.True(t, ok, "a close that succeeded decodes")
		i := -1
		for j, h := range c.handles {
			if h == req.Handle {
				i = j
			}
		}
		require.NotEqual(t, -1, i, "closed a handle that was not open")
		c.handles = append(c.handles[:i], c.handles[i+1:]...)
	case sockproto.OpBind, sockproto.OpConnect:
		var r sockproto.AddrResp
		require.NoError(t, libipc.DecodeBody(body, &r))
		ap := r.Addr.AddrPort()
		require.True(t, ap.Addr().Is4())
		if ap.Port() != 0 {
			c.ports = append(c.ports, ap.Port())
		}
	case sockproto.OpRecvFrom:
		var r sockproto.RecvFromResp
		require.NoError(t, libipc.DecodeBody(body, &r))
		req, ok := p.req.(*sockproto.RecvFromReq)
		require.True(t, ok)
		require.LessOrEqual(t, uint64(len(r.Data)), uint64(req.Max))
		require.GreaterOrEqual(t, r.Size, len(r.Data))
		require.Equal(t, r.Size > len(r.Data), r.Truncated)
		c.got++
	case sockproto.OpSendTo:
		c.sends++
	}
}

// check compares the service's counters with the model (one client).
func (c *seqClient) check(svc *sockets.Service, base sockets.Stats) {
	st := svc.Stats()
	require.EqualValues(c.t, len(c.pending), st.Parked+st.Pings, "pending requests are exactly the parked receives and pings")
	require.EqualValues(c.t, len(c.handles), st.Sockets)
	require.EqualValues(c.t, 1, st.Clients)
	require.Equal(c.t, base.Requests+c.sent, st.Requests, "every request counted once")
	require.Equal(c.t, base.Errors+c.errors, st.Errors, "every error answer counted once")
	require.Equal(c.t, base.Delivered+c.got, st.Delivered, "every datagram delivered counted once")
	require.Equal(c.t, base.LostReplies, st.LostReplies)
	require.Zero(c.t, svc.Server().Stats().Panics)
}

// onLoop runs fn on the service's event loop and waits for it. (The
// sockettest helpers report failures to the F given to sockettest.New,
// which a fuzz target may not use.)
func (c *seqClient) onLoop(fn func()) {
	_, svc := c.h.Netd()
	ran := make(chan struct{})
	require.True(c.t, svc.Post(func() { fn(); close(ran) }))
	<-ran
}

// icmpWait bounds the wait for a datagram netd sends the peer.
const icmpWait = 20 * time.Millisecond

// sentToPeer returns a datagram one of this client's sockets sent the peer
// (it may reach the peer only after ARP), skipping others'. It waits only
// when a send succeeded since the last look.
func (c *seqClient) sentToPeer() (sockettest.Datagram, bool) {
	if c.sends == 0 {
		return sockettest.Datagram{}, false
	}
	c.sends--
	timer := time.NewTimer(icmpWait)
	defer timer.Stop()
	for {
		select {
		case d := <-c.h.Datagrams():
			if slices.Contains(c.ports, d.Src.Port()) {
				return d, true
			}
		case <-timer.C:
			return sockettest.Datagram{}, false
		}
	}
}

// disconnect closes the connection and checks the service let go of
// everything: sockets, parked receives, endpoints and ports.
func (c *seqClient) disconnect(svc *sockets.Service) {
	require.NoError(c.t, c.ep.Close())
	require.Eventually(c.t, func() bool {
		st := svc.Stats()
		return st.Clients == 0 && st.Sockets == 0 && st.Parked == 0
	}, 10*time.Second, time.Millisecond)
	var eps []stack.UDPEndpointInfo
	st, _ := c.h.Netd()
	c.onLoop(func() { eps = st.UDPEndpoints() })
	require.Empty(c.t, eps, "no endpoint (port) outlives its client")
}

// FuzzServiceSequence drives one connection with a script: each input byte
// picks an operation (socket, bind, connect, sendto, recvfrom with or
// without a timeout, socket options, names, close, cancel, a datagram from
// the peer, advancing the fake clock, disconnecting, a request with an
// arbitrary body, the peer answering netd's last datagram with ICMP port
// unreachable) and the following bytes its arguments. After every step
// it checks: no panic; every request answered exactly once (parked
// receives later), with well-formed answers; the service's counts of
// sockets, parked receives and requests match the model; and after a
// disconnect no socket, parked receive or stack endpoint remains.
func FuzzServiceSequence(f *testing.F) {
	f.Add([]byte{stepSocket, 0, stepBind, 0, 2, stepRecvFrom, 0, 10, 0, 0, 1, stepInject, 0, 4, 3, stepClose, 0})
	f.Add([]byte{stepSocket, 0, stepRecvFrom, 0, 10, 0, 2, 7, stepAdvance, 3, stepAdvance, 4, stepDisconnect})
	f.Add([]byte{stepSocket, 0, stepConnect, 0, 5, stepSendTo, 0, 0, 0, 2, stepRecvFrom, 0, 100, 0, 0, 5,
		stepCancel, 0, 5, stepGetName, 0, 1, stepClose, 0})
	f.Add([]byte{stepSocket, 0, stepSetSockOpt, 0, 1, 1, stepSetSockOpt, 0, 2, 1, stepBind, 0, 1,
		stepSendTo, 0, 7, 0, 3, stepSendTo, 0, 8, 0, 3, stepGetSockOpt, 0, 5, stepGetSockOpt, 0, 7})
	f.Add([]byte{stepSocket, 0, stepSocket, 0, stepBind, 0, 2, stepBind, 1, 2, stepRecvFrom, 1, 200, 0, 0, 0,
		stepRecvFrom, 1, 200, 0, 0, 0, stepInject, 0, 4, 4, stepDisconnect, stepSocket, 0})
	f.Add([]byte{stepSocket, 0, stepConnect, 0, 6, stepSendTo, 0, 0, 0, 2, stepICMP, stepRecvFrom, 0, 10, 0, 0, 0,
		stepSendTo, 0, 0, 0, 2, stepICMP, stepSendTo, 0, 0, 0, 2, stepSendTo, 0, 0, 0, 2, stepICMP, stepGetSockOpt, 0, 7})
	f.Add([]byte{stepRawBody, 5, 0x81, 0xa1, 0x68, 0x01, stepSocket, 0, stepRawBody, 10, 0x81, 0xa1, 0x68, 0x01})
	h := sockettest.New(f)
	svc := h.Service()
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &script{b: in}
		base := svc.Stats()
		c := newSeqClient(t, h)
		c.check(svc, base)
		for step := 0; step < maxSteps && len(s.b) > 0; step++ {
			c.step(s, svc)
			if c.ep == nil {
				base = svc.Stats()
				c = newSeqClient(t, h)
			}
			c.sync()
			c.check(svc, base)
		}
		c.disconnect(svc)
	})
}

// step runs one operation of the script.
func (c *seqClient) step(s *script, svc *sockets.Service) {
	switch s.pick(numSteps) {
	case stepSocket:
		req := &sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockDgram}
		if b := s.byte(); b >= 240 {
			req.Family, req.Type = uint16(b&3), uint16(b>>2&3)
		}
		c.request(sockproto.OpSocket, req)
	case stepBind:
		c.request(sockproto.OpBind, &sockproto.BindReq{Handle: c.handle(s), Addr: c.addr(s)})
	case stepConnect:
		c.request(sockproto.OpConnect, &sockproto.ConnectReq{Handle: c.handle(s), Peer: c.addr(s)})
	case stepSendTo:
		h, to, flags := c.handle(s), c.addr(s), uint32(s.byte())
		c.request(sockproto.OpSendTo, &sockproto.SendToReq{Handle: h, To: to, Flags: flags,
			Data: make([]byte, seqSizes[s.pick(len(seqSizes))])})
	case stepRecvFrom:
		c.request(sockproto.OpRecvFrom, &sockproto.RecvFromReq{Handle: c.handle(s), Max: uint32(s.byte()) * 37,
			Flags: uint32(s.byte() & 0x43), Timeout: int64(seqDurations[s.pick(len(seqDurations))]),
			Tag: uint32(s.byte() % 8)})
	case stepSetSockOpt:
		c.request(sockproto.OpSetSockOpt, &sockproto.SetSockOptReq{Handle: c.handle(s),
			Opt: sockproto.Opt(s.byte() % 10), Value: seqValues[s.pick(len(seqValues))]})
	case stepGetSockOpt:
		c.request(sockproto.OpGetSockOpt, &sockproto.GetSockOptReq{Handle: c.handle(s), Opt: sockproto.Opt(s.byte() % 10)})
	case stepGetName:
		op := sockproto.OpGetSockName
		h := c.handle(s)
		if s.byte()&1 == 1 {
			op = sockproto.OpGetPeerName
		}
		c.request(op, &sockproto.HandleReq{Handle: h})
	case stepClose:
		c.request(sockproto.OpClose, &sockproto.HandleReq{Handle: c.handle(s)})
	case stepCancel:
		c.request(sockproto.OpCancel, &sockproto.CancelReq{Handle: c.handle(s), Tag: uint32(s.byte() % 8)})
	case stepInject:
		src := netip.AddrPortFrom(sockettest.PeerIP, 1000+uint16(s.byte()))
		dst := c.addr(s).AddrPort()
		n := seqSizes[s.pick(len(seqSizes)-2)] // fits one unfragmented frame or not, never over IPv4's bound
		if !dst.Addr().Is4() {
			dst = netip.AddrPortFrom(sockettest.OurIP, dst.Port())
		}
		dmac := sockettest.OurMAC
		if dst.Addr() == sockettest.BcastIP || dst.Addr() == sockettest.LimitedBcast {
			dmac = sockettest.BcastMAC
		}
		frame := sockettest.UDPFrame(sockettest.PeerMAC, dmac, src, dst, make([]byte, n))
		st, _ := c.h.Netd()
		c.onLoop(func() { st.Input(stacktest.Buf(frame)) })
	case stepAdvance:
		c.h.Clock.Advance(max(seqDurations[s.pick(len(seqDurations))], 0))
		require.True(c.t, svc.Kick())
	case stepDisconnect:
		c.disconnect(svc)
		c.ep = nil
	case stepICMP:
		if d, ok := c.sentToPeer(); ok {
			frame := sockettest.PortUnreachable(d)
			st, _ := c.h.Netd()
			c.onLoop(func() { st.Input(stacktest.Buf(frame)) })
		}
	case stepRawBody:
		op := sockproto.Op(s.byte() % 13)
		n := s.pick(16)
		body := make([]byte, 0, n)
		for range n {
			body = append(body, s.byte())
		}
		c.rawRequest(op, body)
	}
}
