package sockets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/sockproto"
	"armos/servers/netd/sockets"
	"armos/servers/netd/sockets/sockettest"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
)

var (
	bg       = context.Background()
	anyPort  = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	echoPort = netip.AddrPortFrom(netip.IPv4Unspecified(), 7)
	peerAddr = netip.AddrPortFrom(sockettest.PeerIP, 5555)
	ourEcho  = netip.AddrPortFrom(sockettest.OurIP, 7)
)

func startEcho(t testing.TB, h *sockettest.Netd) *libsocket.Socket {
	ready := make(chan *libsocket.Socket, 1)
	go sockettest.EchoApp(t, h.Client(), ready)
	s := <-ready
	require.NotNil(t, s)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestUDPEchoApp(t *testing.T) {
	h := sockettest.New(t)
	s := startEcho(t, h)
	assert.Equal(t, echoPort, s.LocalAddr())

	for i := range 5 {
		msg := []byte(fmt.Sprintf("hello %d", i))
		h.SendUDP(peerAddr, ourEcho, msg)
		d := h.Expect()
		assert.Equal(t, ourEcho, d.Src, "echo comes from port 7")
		assert.Equal(t, peerAddr, d.Dst, "echo goes back to the sender")
		assert.Equal(t, msg, d.Payload)
	}
	assert.EqualValues(t, 5, h.Service().Stats().Delivered)
}

func TestBindConflict(t *testing.T) {
	h := sockettest.New(t)
	c := h.Client()
	s1, err := c.ListenUDP(bg, echoPort)
	require.NoError(t, err)
	defer s1.Close()

	_, err = c.ListenUDP(bg, echoPort)
	require.ErrorIs(t, err, libsocket.EADDRINUSE)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "bind", oe.Op)
	assert.Equal(t, "udp", oe.Net)
	assert.Equal(t, "bind udp 0.0.0.0:7: address already in use", err.Error())

	// Another client cannot take it either; after Close, it can.
	other := h.Client()
	_, err = other.ListenUDP(bg, echoPort)
	require.ErrorIs(t, err, libsocket.EADDRINUSE)
	require.NoError(t, s1.Close())
	s2, err := other.ListenUDP(bg, echoPort)
	require.NoError(t, err)
	s2.Close()

	// A socket binds once.
	s3, err := c.ListenUDP(bg, anyPort)
	require.NoError(t, err)
	assert.ErrorIs(t, s3.Bind(bg, netip.AddrPortFrom(netip.IPv4Unspecified(), 99)), libsocket.EINVAL)
	// Only our address (or 0.0.0.0) can be bound.
	s4, err := c.Socket(bg)
	require.NoError(t, err)
	assert.ErrorIs(t, s4.Bind(bg, netip.MustParseAddrPort("10.9.9.9:1")), libsocket.EADDRNOTAVAIL)
	assert.ErrorIs(t, s4.Bind(bg, netip.MustParseAddrPort("[2001:db8::1]:1")), sockproto.EAFNOSUPPORT)
}

func TestEphemeralBind(t *testing.T) {
	h := sockettest.New(t)
	c := h.Client()
	a, err := c.ListenUDP(bg, anyPort)
	require.NoError(t, err)
	b, err := c.ListenUDP(bg, anyPort)
	require.NoError(t, err)
	pa, pb := a.LocalAddr().Port(), b.LocalAddr().Port()
	assert.NotEqual(t, pa, pb)
	for _, p := range []uint16{pa, pb} {
		assert.GreaterOrEqual(t, p, uint16(stack.EphemeralFirst))
		assert.LessOrEqual(t, p, uint16(stack.EphemeralLast))
	}
	name, err := a.GetSockName(bg)
	require.NoError(t, err)
	assert.Equal(t, a.LocalAddr(), name)

	// An unbound socket is bound to an ephemeral port by its first send,
	// and the datagram leaves from that port.
	u, err := c.Socket(bg)
	require.NoError(t, err)
	name, err = u.GetSockName(bg)
	require.NoError(t, err)
	assert.Equal(t, anyPort, name, "unbound: 0.0.0.0:0")
	_, err = u.SendTo(bg, []byte("x"), peerAddr)
	require.NoError(t, err)
	d := h.Expect()
	assert.Equal(t, u.LocalAddr().Port(), d.Src.Port())
	assert.GreaterOrEqual(t, d.Src.Port(), uint16(stack.EphemeralFirst))
}

func TestRecvFromTimeout(t *testing.T) {
	h, s := listenEcho(t)

	errc := make(chan error, 1)
	go func() {
		_, _, err := s.RecvFromTimeout(bg, make([]byte, 100), time.Second)
		errc <- err
	}()
	h.WaitParked(1)
	h.Clock.Advance(999 * time.Millisecond)
	h.Service().Kick()
	select {
	case err := <-errc:
		t.Fatalf("returned before its timeout: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	h.Clock.Advance(time.Millisecond)
	h.Service().Kick()
	err := <-errc
	require.ErrorIs(t, err, libsocket.ETIMEDOUT)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.EqualValues(t, 1, h.Service().Stats().Timeouts)
	h.WaitParked(0)

	// The socket option does the same for plain RecvFrom.
	require.NoError(t, s.SetRecvTimeout(bg, 2*time.Second))
	go func() {
		_, _, err := s.RecvFrom(bg, make([]byte, 100))
		errc <- err
	}()
	h.WaitParked(1)
	h.Clock.Advance(2 * time.Second)
	h.Service().Kick()
	require.ErrorIs(t, <-errc, libsocket.ETIMEDOUT)
}

func TestRecvTimeoutDoesNotLoseLaterDatagram(t *testing.T) {
	h, s := listenEcho(t)
	go func() {
		h.WaitParked(1)
		h.Clock.Advance(time.Second)
		h.Service().Kick()
	}()
	_, _, err := s.RecvFromTimeout(bg, make([]byte, 10), time.Second)
	require.ErrorIs(t, err, libsocket.ETIMEDOUT)
	h.SendUDP(peerAddr, ourEcho, []byte("late"))
	buf := make([]byte, 10)
	n, from, err := s.TryRecvFrom(bg, buf)
	require.NoError(t, err)
	assert.Equal(t, "late", string(buf[:n]))
	assert.Equal(t, peerAddr, from)
}

func TestNonBlockingRecv(t *testing.T) {
	h, s := listenEcho(t)
	buf := make([]byte, 100)
	_, _, err := s.TryRecvFrom(bg, buf)
	require.ErrorIs(t, err, libsocket.EAGAIN)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "EAGAIN is a timeout, as syscall.EAGAIN is")

	require.NoError(t, s.SetNonBlocking(bg, true))
	_, _, err = s.RecvFrom(bg, buf)
	require.ErrorIs(t, err, libsocket.EAGAIN)

	h.SendUDP(peerAddr, ourEcho, []byte("now"))
	n, from, err := s.RecvFrom(bg, buf)
	require.NoError(t, err)
	assert.Equal(t, "now", string(buf[:n]))
	assert.Equal(t, peerAddr, from)
	assert.Zero(t, h.Service().Stats().Parked)
}

func TestBroadcastGating(t *testing.T) {
	h := sockettest.New(t)
	c := h.Client()
	s, err := c.ListenUDP(bg, anyPort)
	require.NoError(t, err)
	for _, dst := range []netip.Addr{sockettest.BcastIP, sockettest.LimitedBcast} {
		_, err = s.SendTo(bg, []byte("hi"), netip.AddrPortFrom(dst, 9))
		require.ErrorIs(t, err, libsocket.EACCES, dst)
	}
	on, err := s.Option(bg, sockproto.OptBroadcast)
	require.NoError(t, err)
	assert.Zero(t, on)

	require.NoError(t, s.SetBroadcast(bg, true))
	_, err = s.SendTo(bg, []byte("hi"), netip.AddrPortFrom(sockettest.BcastIP, 9))
	require.NoError(t, err)
	d := h.Expect()
	assert.Equal(t, netip.AddrPortFrom(sockettest.BcastIP, 9), d.Dst)

	// Broadcasts are received by a socket bound to 0.0.0.0.
	r, err := c.ListenUDP(bg, netip.AddrPortFrom(netip.IPv4Unspecified(), 67))
	require.NoError(t, err)
	h.SendUDP(peerAddr, netip.AddrPortFrom(sockettest.BcastIP, 67), []byte("dhcp?"))
	buf := make([]byte, 100)
	n, _, err := r.TryRecvFrom(bg, buf)
	require.NoError(t, err)
	assert.Equal(t, "dhcp?", string(buf[:n]))
}

func TestRecvQueueBoundCountsDrops(t *testing.T) {
	h, s := listenEcho(t)
	require.NoError(t, s.SetRecvQueueLen(bg, 4))
	q, err := s.Option(bg, sockproto.OptRecvQueue)
	require.NoError(t, err)
	assert.EqualValues(t, 4, q)
	assert.ErrorIs(t, s.SetRecvQueueLen(bg, 0), libsocket.EINVAL)
	assert.ErrorIs(t, s.SetRecvQueueLen(bg, sockproto.MaxRecvQueue+1), libsocket.EINVAL)

	for i := range 10 {
		h.SendUDP(peerAddr, ourEcho, []byte{byte(i)})
	}
	drops, err := s.RecvDrops(bg)
	require.NoError(t, err)
	assert.EqualValues(t, 6, drops)
	queued, err := s.Option(bg, sockproto.OptRecvQueued)
	require.NoError(t, err)
	assert.EqualValues(t, 4, queued)
	var full uint64
	st, _ := h.Netd()
	h.OnLoop(func() { full = st.Counters().UDP.RxQueueFull })
	assert.EqualValues(t, 6, full, "the stack counts the same drops")

	buf := make([]byte, 10)
	for i := range 4 {
		n, _, err := s.TryRecvFrom(bg, buf)
		require.NoError(t, err)
		assert.Equal(t, []byte{byte(i)}, buf[:n], "the oldest datagrams are kept, in order")
	}
	_, _, err = s.TryRecvFrom(bg, buf)
	assert.ErrorIs(t, err, libsocket.EAGAIN)
}

// recvAsync runs a RecvFrom (10-byte buffer) on s in a goroutine and
// returns the channel its error will come on.
func recvAsync(ctx context.Context, s *libsocket.Socket) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, _, err := s.RecvFrom(ctx, make([]byte, 10))
		errc <- err
	}()
	return errc
}

// listenEcho starts a hosted netd and a client socket bound to echoPort.
func listenEcho(t *testing.T) (*sockettest.Netd, *libsocket.Socket) {
	h := sockettest.New(t)
	s, err := h.Client().ListenUDP(bg, echoPort)
	require.NoError(t, err)
	return h, s
}

func TestRecvTruncates(t *testing.T) {
	h, s := listenEcho(t)
	h.SendUDP(peerAddr, ourEcho, []byte("0123456789"))
	buf := make([]byte, 4)
	r, err := s.Recv(bg, buf, sockproto.MsgDontWait, 0)
	require.NoError(t, err)
	assert.Equal(t, libsocket.RecvResult{N: 4, From: peerAddr, Size: 10, Truncated: true}, r)
	assert.Equal(t, "0123", string(buf))
}

func TestBadHandle(t *testing.T) {
	h := sockettest.New(t)
	c := h.Client()
	s, err := c.ListenUDP(bg, echoPort)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.SendTo(bg, []byte("x"), peerAddr)
	require.ErrorIs(t, err, net.ErrClosed, "a closed Socket fails locally")
	assert.ErrorIs(t, s.Close(), net.ErrClosed)

	// On the wire: a handle that was never issued, or one closed, or one
	// from another connection, is EBADF.
	ep, err := h.Broker.Connect(bg, sockproto.ServiceName)
	require.NoError(t, err)
	conn := libipc.NewConn(ep)
	defer conn.Close()
	var sr sockproto.SocketResp
	require.NoError(t, conn.Call(bg, libipc.Op(sockproto.OpSocket), &sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockDgram}, &sr))
	calls := []struct {
		op  sockproto.Op
		req any
	}{
		{sockproto.OpBind, &sockproto.BindReq{Handle: 999, Addr: sockproto.AddrFrom(anyPort)}},
		{sockproto.OpSendTo, &sockproto.SendToReq{Handle: 999, To: sockproto.AddrFrom(peerAddr)}},
		{sockproto.OpRecvFrom, &sockproto.RecvFromReq{Handle: 999}},
		{sockproto.OpClose, &sockproto.HandleReq{Handle: 0}},
		{sockproto.OpGetSockOpt, &sockproto.GetSockOptReq{Handle: 999, Opt: sockproto.OptBroadcast}},
	}
	for _, c := range calls {
		err := conn.Call(bg, libipc.Op(c.op), c.req, nil)
		assert.ErrorIs(t, err, libipc.ErrClosed, "%v", c.op) // EBADF is libipc's ErrClosed code
		var re *libipc.RemoteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, sockproto.EBADF, sockproto.ErrnoOf(re.Code))
	}
	// Handle numbers are per connection: sr.Handle on another connection is not this socket.
	ep2, err := h.Broker.Connect(bg, sockproto.ServiceName)
	require.NoError(t, err)
	conn2 := libipc.NewConn(ep2)
	defer conn2.Close()
	err = conn2.Call(bg, libipc.Op(sockproto.OpGetSockName), &sockproto.HandleReq{Handle: sr.Handle}, nil)
	var re *libipc.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, sockproto.EBADF, sockproto.ErrnoOf(re.Code))
}

func TestClientDisconnectClosesSockets(t *testing.T) {
	h := sockettest.New(t)
	c, err := libsocket.Dial(bg, h.Broker)
	require.NoError(t, err)
	s, err := c.ListenUDP(bg, echoPort)
	require.NoError(t, err)
	_, err = c.ListenUDP(bg, anyPort)
	require.NoError(t, err)
	errc := recvAsync(bg, s)
	h.WaitParked(1)
	assert.EqualValues(t, 2, h.Service().Stats().Sockets)

	require.NoError(t, c.Close())
	require.ErrorIs(t, <-errc, libipc.ErrClosed)
	require.Eventually(t, func() bool {
		st := h.Service().Stats()
		return st.Sockets == 0 && st.Parked == 0 && st.Clients == 0
	}, 5*time.Second, time.Millisecond)
	assert.EqualValues(t, 2, h.Service().Stats().ClosedByClient)

	// Port 7 is free again.
	s2, err := h.Client().ListenUDP(bg, echoPort)
	require.NoError(t, err)
	s2.Close()
	// A datagram to the dead socket's port is not queued anywhere.
	var eps int
	st, _ := h.Netd()
	h.OnLoop(func() { eps = len(st.UDPEndpoints()) })
	assert.Zero(t, eps)
}

func TestConnectedSocket(t *testing.T) {
	h := sockettest.New(t)
	c := h.Client()
	s, err := c.DialUDP(bg, netip.AddrPortFrom(sockettest.PeerIP, 9))
	require.NoError(t, err)
	assert.Equal(t, sockettest.OurIP.Is4(), s.LocalAddr().Addr().Is4())
	assert.NotZero(t, s.LocalAddr().Port(), "connect binds an ephemeral port")
	peer, err := s.GetPeerName(bg)
	require.NoError(t, err)
	assert.Equal(t, netip.AddrPortFrom(sockettest.PeerIP, 9), peer)

	_, err = s.Send(bg, []byte("ping"))
	require.NoError(t, err)
	d := h.Expect()
	assert.Equal(t, netip.AddrPortFrom(sockettest.PeerIP, 9), d.Dst)
	assert.Equal(t, "ping", string(d.Payload))

	// Only the peer's datagrams are received.
	local := netip.AddrPortFrom(sockettest.OurIP, s.LocalAddr().Port())
	h.SendUDP(netip.AddrPortFrom(sockettest.PeerIP, 10), local, []byte("stranger"))
	h.SendUDP(netip.AddrPortFrom(sockettest.PeerIP, 9), local, []byte("pong"))
	buf := make([]byte, 10)
	n, from, err := s.TryRecvFrom(bg, buf)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(buf[:n]))
	assert.Equal(t, netip.AddrPortFrom(sockettest.PeerIP, 9), from)

	// Unconnected sockets have no peer.
	u, err := c.ListenUDP(bg, anyPort)
	require.NoError(t, err)
	_, err = u.Send(bg, []byte("x"))
	assert.ErrorIs(t, err, libsocket.EDESTADDRREQ)
	_, err = u.GetPeerName(bg)
	assert.ErrorIs(t, err, libsocket.ENOTCONN)
}

func TestSendTooLarge(t *testing.T) {
	h := sockettest.New(t)
	s, err := h.Client().ListenUDP(bg, anyPort)
	require.NoError(t, err)
	_, err = s.SendTo(bg, make([]byte, sockproto.MaxDatagram+1), peerAddr)
	require.ErrorIs(t, err, libsocket.EMSGSIZE)
	assert.LessOrEqual(t, sockproto.MaxDatagram, stack.MaxUDPPayload)

	// The service checks too, for clients that do not.
	ep, err := h.Broker.Connect(bg, sockproto.ServiceName)
	require.NoError(t, err)
	conn := libipc.NewConn(ep)
	defer conn.Close()
	var sr sockproto.SocketResp
	require.NoError(t, conn.Call(bg, libipc.Op(sockproto.OpSocket), &sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockDgram}, &sr))
	req := sockproto.SendToReq{Handle: sr.Handle, To: sockproto.AddrFrom(peerAddr), Data: make([]byte, sockproto.MaxDatagram+1)}
	err = conn.Call(bg, libipc.Op(sockproto.OpSendTo), &req, nil)
	var re *libipc.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, sockproto.EMSGSIZE, sockproto.ErrnoOf(re.Code))

	// The largest datagram goes, fragmented by the stack.
	big := bytes.Repeat([]byte{0xab}, sockproto.MaxDatagram)
	_, err = s.SendTo(bg, big, peerAddr)
	require.NoError(t, err)
	st, _ := h.Netd()
	var c stack.Counters
	h.OnLoop(func() { c = st.Counters() })
	assert.EqualValues(t, 1, c.IPv4.TxFragmented)
	assert.EqualValues(t, (sockproto.MaxDatagram+8+1479)/1480, c.IPv4.TxFragments)
}

// A datagram larger than the protocol carries (IPv4 allows 65507 bytes) is
// received truncated to MaxDatagram, with its full size reported.
func TestRecvLargestDatagram(t *testing.T) {
	h, s := listenEcho(t)
	payload := bytes.Repeat([]byte{0x5a}, stack.MaxUDPPayload)
	pkt := sockettest.UDPFrame(sockettest.PeerMAC, sockettest.OurMAC, peerAddr, ourEcho, payload)
	for _, frag := range stacktest.Fragments(pkt[14:], 1500) {
		h.Inject(append(append([]byte(nil), pkt[:14]...), frag...))
	}
	buf := make([]byte, 70000)
	r, err := s.Recv(bg, buf, sockproto.MsgDontWait, 0)
	require.NoError(t, err)
	// The largest legal datagram arrives whole (it once was cut to 65,408).
	assert.Equal(t, stack.MaxUDPPayload, r.N)
	assert.Equal(t, stack.MaxUDPPayload, r.Size)
	assert.False(t, r.Truncated)
	assert.Equal(t, payload, buf[:r.N])
}

func TestCloseWakesParkedRecv(t *testing.T) {
	h, s := listenEcho(t)
	errc := recvAsync(bg, s)
	h.WaitParked(1)
	require.NoError(t, s.Close())
	assert.ErrorIs(t, <-errc, net.ErrClosed)
	h.WaitParked(0)
}

func TestContextCancelsParkedRecv(t *testing.T) {
	h, s := listenEcho(t)
	ctx, cancel := context.WithCancel(bg)
	errc := recvAsync(ctx, s)
	h.WaitParked(1)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	h.WaitParked(0)
	assert.EqualValues(t, 1, h.Service().Stats().Cancelled)

	// The cancelled receive does not swallow the next datagram.
	h.SendUDP(peerAddr, ourEcho, []byte("kept"))
	buf := make([]byte, 10)
	n, _, err := s.TryRecvFrom(bg, buf)
	require.NoError(t, err)
	assert.Equal(t, "kept", string(buf[:n]))

	// A context that is already done never parks.
	_, _, err = s.RecvFrom(ctx, buf)
	require.ErrorIs(t, err, context.Canceled)
}

func TestParkedRecvsServedInOrder(t *testing.T) {
	h, s := listenEcho(t)
	got := make(chan string, 2)
	for range 2 {
		go func() {
			buf := make([]byte, 10)
			n, _, err := s.RecvFrom(bg, buf)
			if assert.NoError(t, err) {
				got <- string(buf[:n])
			}
		}()
	}
	h.WaitParked(2)
	h.SendUDP(peerAddr, ourEcho, []byte("a"))
	h.SendUDP(peerAddr, ourEcho, []byte("b"))
	r := []string{<-got, <-got}
	assert.ElementsMatch(t, []string{"a", "b"}, r)
}

func TestSocketOptionsValidated(t *testing.T) {
	h := sockettest.New(t)
	s, err := h.Client().Socket(bg)
	require.NoError(t, err)
	assert.ErrorIs(t, s.SetOption(bg, sockproto.OptBroadcast, 2), libsocket.EINVAL)
	assert.ErrorIs(t, s.SetOption(bg, sockproto.OptRecvTimeout, -1), libsocket.EINVAL)
	assert.ErrorIs(t, s.SetOption(bg, sockproto.OptRecvDrops, 0), sockproto.ENOPROTOOPT, "read-only")
	assert.ErrorIs(t, s.SetOption(bg, sockproto.Opt(77), 0), sockproto.ENOPROTOOPT)
	_, err = s.Option(bg, sockproto.Opt(77))
	assert.ErrorIs(t, err, sockproto.ENOPROTOOPT)

	// Options set before bind apply to the bound socket.
	require.NoError(t, s.SetRecvQueueLen(bg, 2))
	require.NoError(t, s.Bind(bg, echoPort))
	for range 3 {
		h.SendUDP(peerAddr, ourEcho, []byte("x"))
	}
	drops, err := s.RecvDrops(bg)
	require.NoError(t, err)
	assert.EqualValues(t, 1, drops)
	q, err := s.Option(bg, sockproto.OptRecvQueue)
	require.NoError(t, err)
	assert.EqualValues(t, 2, q)
}

func TestTooManyParkedRecvs(t *testing.T) {
	h, s := listenEcho(t)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	for range 16 {
		go s.RecvFrom(ctx, make([]byte, 1))
	}
	h.WaitParked(16)
	_, _, err := s.RecvFrom(bg, make([]byte, 1))
	require.ErrorIs(t, err, sockproto.ENOBUFS)
	assert.EqualValues(t, 1, h.Service().Stats().ParkRefused)
	cancel()
	h.WaitParked(0)
}

func TestErrorsAreOpErrors(t *testing.T) {
	h := sockettest.New(t)
	s, err := h.Client().ListenUDP(bg, anyPort)
	require.NoError(t, err)
	_, err = s.SendTo(bg, []byte("x"), netip.AddrPortFrom(sockettest.BcastIP, 9))
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "sendto", oe.Op)
	assert.Equal(t, s.LocalAddr().String(), oe.Source.String())
	assert.Equal(t, "10.0.2.255:9", oe.Addr.String())
	assert.True(t, errors.Is(err, libsocket.EACCES))
	assert.False(t, oe.Timeout())
}

func TestSocketsListing(t *testing.T) {
	h := sockettest.New(t)
	a := h.Client()
	s1, err := a.ListenUDP(bg, echoPort)
	require.NoError(t, err)
	require.NoError(t, s1.SetRecvQueueLen(bg, 5))
	_, err = a.DialUDP(bg, peerAddr)
	require.NoError(t, err)
	b := h.Client()
	_, err = b.Socket(bg)
	require.NoError(t, err)
	h.SendUDP(peerAddr, ourEcho, []byte("q"))

	var list []sockets.SocketInfo
	h.OnLoop(func() { list = h.Service().Sockets() })
	require.Len(t, list, 3)
	assert.Equal(t, echoPort, list[0].Local)
	assert.Equal(t, 1, list[0].Queued)
	assert.Equal(t, 5, list[0].QueueLen)
	assert.Equal(t, peerAddr, list[1].Peer)
	assert.Equal(t, list[0].Client, list[1].Client)
	assert.Greater(t, list[2].Client, list[1].Client)
	assert.False(t, list[2].Local.IsValid(), "unbound")
}

func TestConnRefused(t *testing.T) {
	h := sockettest.New(t)
	s, err := h.Client().DialUDP(bg, netip.AddrPortFrom(sockettest.PeerIP, 9))
	require.NoError(t, err)

	// A receive is parked; the peer answers our datagram with ICMP port
	// unreachable: the receive fails with ECONNREFUSED.
	errc := recvAsync(bg, s)
	h.WaitParked(1)
	_, err = s.Send(bg, []byte("anyone?"))
	require.NoError(t, err)
	h.Inject(sockettest.PortUnreachable(h.Expect()))
	err = <-errc
	require.ErrorIs(t, err, libsocket.ECONNREFUSED)
	assert.Equal(t, "recvfrom", err.(*net.OpError).Op)

	// Reported once: then the socket works again. The next refusal is
	// reported by the next send, as send(2) does, or read with OptError.
	_, err = s.Send(bg, []byte("again"))
	require.NoError(t, err)
	h.Inject(sockettest.PortUnreachable(h.Expect()))
	_, err = s.Send(bg, []byte("third"))
	require.ErrorIs(t, err, libsocket.ECONNREFUSED)
	h.Quiet() // the failed send sent nothing

	_, err = s.Send(bg, []byte("fourth"))
	require.NoError(t, err)
	h.Inject(sockettest.PortUnreachable(h.Expect()))
	v, err := s.Option(bg, sockproto.OptError)
	require.NoError(t, err)
	assert.EqualValues(t, libsocket.ECONNREFUSED, v)
	v, err = s.Option(bg, sockproto.OptError)
	require.NoError(t, err)
	assert.Zero(t, v, "reading SO_ERROR clears it")

	// Unconnected sockets are not told (they cannot know which send failed).
	u, err := h.Client().ListenUDP(bg, anyPort)
	require.NoError(t, err)
	_, err = u.SendTo(bg, []byte("x"), netip.AddrPortFrom(sockettest.PeerIP, 9))
	require.NoError(t, err)
	h.Inject(sockettest.PortUnreachable(h.Expect()))
	_, err = u.SendTo(bg, []byte("y"), netip.AddrPortFrom(sockettest.PeerIP, 9))
	require.NoError(t, err)
}
