package tcp_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
	"armos/servers/tcpd/tcp/wire"
)

// from injects a segment from the peer address's port into the fixture's
// engine.
func (f *fixture) from(port uint16, r wire.Repr) {
	f.t.Helper()
	f.s.Input(peerAddr, ourAddr, tcptest.Segment(netip.AddrPortFrom(peerAddr, port), f.us, r, nil))
	require.NoError(f.t, f.s.CheckInvariants())
}

// handshake has peer port complete a handshake with the listener and
// returns the SYN-ACK's sequence number.
func (f *fixture) synFrom(port uint16) (synack tcptest.Sent, ok bool) {
	f.t.Helper()
	f.from(port, wire.Repr{Seq: 1000, Flags: SYN, Window: 65535, Options: wire.Options{MSS: 1460}})
	segs := f.take()
	if len(segs) == 0 {
		return tcptest.Sent{}, false
	}
	require.Len(f.t, segs, 1)
	require.Equal(f.t, SYN|ACK, segs[0].Repr.Flags)
	return segs[0], true
}

// The accept queue holds backlog connections: a handshake completing
// beyond it has its ACK dropped (the connection stays half-open and our
// SYN-ACK retransmission brings the ACK again), and new SYNs are dropped
// while it is full.
func TestBacklogOverflow(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	l := f.listen(2)
	var sa [3]tcptest.Sent
	for i := range 3 {
		s, ok := f.synFrom(uint16(41000 + i))
		require.True(t, ok)
		sa[i] = s
	}
	for i := range 3 {
		f.from(uint16(41000+i), wire.Repr{Seq: 1001, Ack: sa[i].Repr.Seq + 1, Flags: ACK, Window: 65535})
	}
	assert.Equal(t, 2, l.Pending())
	assert.Equal(t, 1, l.HalfOpen())
	assert.Equal(t, uint64(1), f.s.Counters().RxAcceptQueueFull)
	_, ok := f.synFrom(41003)
	assert.False(t, ok, "SYN dropped while the accept queue is full")
	assert.Equal(t, uint64(1), f.s.Counters().RxListenOverflow)

	c, err := l.Accept()
	require.NoError(t, err)
	assert.Equal(t, uint16(41000), c.RemoteAddr().Port())
	// The third peer's SYN-ACK comes again; its ACK now completes.
	f.advance(time.Second)
	segs := f.take()
	require.Len(t, segs, 1)
	assert.Equal(t, SYN|ACK, segs[0].Repr.Flags)
	assert.Equal(t, uint16(41002), segs[0].Repr.DstPort)
	f.from(41002, wire.Repr{Seq: 1001, Ack: sa[2].Repr.Seq + 1, Flags: ACK, Window: 65535})
	assert.Equal(t, 2, l.Pending())
	assert.Equal(t, 0, l.HalfOpen())
}

// The SYN queue is bounded by Config.SynBacklog.
func TestSynQueueBound(t *testing.T) {
	f := newFixture(t, tcp.Config{SynBacklog: 3})
	l := f.listen(100)
	answered := 0
	for i := range 5 {
		if _, ok := f.synFrom(uint16(42000 + i)); ok {
			answered++
		}
	}
	assert.Equal(t, 3, answered)
	assert.Equal(t, 3, l.HalfOpen())
	assert.Equal(t, uint64(2), f.s.Counters().RxSynQueueFull)
	assert.Equal(t, uint64(3), f.s.Counters().RxListenSYN)
}

// A half-open connection retransmits its SYN-ACK with backoff and is
// forgotten after SynAckRetries; the peer's SYN again is answered at once.
func TestSynAckRetransmission(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	l := f.listen(4)
	f.send(SYN, "")
	sa := f.take()[0].Repr
	f.pSeq--
	f.send(SYN, "")
	again := f.take()
	require.Len(t, again, 1)
	assert.Equal(t, sa, again[0].Repr)
	assert.Equal(t, uint64(1), f.s.Counters().RxSynRetransmit)
	for _, want := range []time.Duration{1, 2, 4, 8, 16} {
		assert.Equal(t, want*time.Second, f.untilSent(time.Minute))
		assert.Equal(t, sa, f.take()[0].Repr)
	}
	f.advance(32 * time.Second)
	f.expectNone()
	assert.Equal(t, 0, l.HalfOpen())
	assert.Equal(t, uint64(1), f.s.Counters().SynAckTimeouts)
	assert.Empty(t, f.s.Conns())
}

// Closing a listener resets its queued and half-open connections.
func TestListenerCloseResetsPending(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	l := f.listen(4)
	c := f.passive(l) // accepted: not reset
	f.peer = netip.AddrPortFrom(peerAddr, 40001)
	f.handshake()
	f.peer = netip.AddrPortFrom(peerAddr, 40002)
	f.send(SYN, "")
	f.take()
	require.Equal(t, 1, l.Pending())
	require.Equal(t, 1, l.HalfOpen())
	require.NoError(t, l.Close())
	segs := f.take()
	require.Len(t, segs, 2)
	for _, s := range segs {
		assert.Equal(t, RST|ACK, s.Repr.Flags)
	}
	assert.Equal(t, tcp.Established, c.State())
	assert.Len(t, f.s.Conns(), 1)
}

// Address checks of Listen and Connect.
func TestListenConnectErrors(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	for _, a := range []string{"[::1]:80", "10.0.0.1:0", "224.0.0.1:80", "255.255.255.255:80"} {
		_, err := f.s.Listen(netip.MustParseAddrPort(a), 1)
		assert.ErrorIs(t, err, tcp.ErrInvalidAddr, a)
	}
	l, err := f.s.Listen(netip.MustParseAddrPort("0.0.0.0:80"), 1)
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddrPort("0.0.0.0:80"), l.Addr())
	_, err = f.s.Listen(netip.MustParseAddrPort("10.0.0.1:80"), 1)
	assert.ErrorIs(t, err, tcp.ErrAddrInUse)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "listen tcp 10.0.0.1:80: address already in use", err.Error())

	for _, c := range []struct{ local, remote string }{
		{"0.0.0.0:1", "10.0.0.2:80"},
		{"10.0.0.1:1", "10.0.0.2:0"},
		{"10.0.0.1:1", "255.255.255.255:80"},
		{"224.0.0.1:1", "10.0.0.2:80"},
		{"10.0.0.1:1", "[::1]:80"},
	} {
		_, err := f.s.Connect(netip.MustParseAddrPort(c.local), netip.MustParseAddrPort(c.remote))
		assert.ErrorIs(t, err, tcp.ErrInvalidAddr, c)
	}
	_, err = f.s.Connect(netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.2:1"))
	assert.ErrorIs(t, err, tcp.ErrAddrInUse, "the listener's port")
	_, err = f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	_, err = f.s.Connect(f.us, f.peer)
	assert.ErrorIs(t, err, tcp.ErrAddrInUse, "the same 4-tuple")
}

// Ephemeral ports: distinct for one peer until the range runs out.
func TestEphemeralPorts(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	local := netip.AddrPortFrom(ourAddr, 0)
	seen := map[uint16]bool{}
	n := tcp.EphemeralLast - tcp.EphemeralFirst + 1
	for range n {
		c, err := f.s.Connect(local, f.peer)
		require.NoError(t, err)
		p := c.LocalAddr().Port()
		require.False(t, seen[p])
		require.True(t, p >= tcp.EphemeralFirst && p <= tcp.EphemeralLast)
		seen[p] = true
	}
	f.take()
	_, err := f.s.Connect(local, f.peer)
	assert.ErrorIs(t, err, tcp.ErrNoEphemeralPorts)
	// Another peer can reuse them.
	_, err = f.s.Connect(local, netip.AddrPortFrom(peerAddr, 40001))
	assert.NoError(t, err)
}

// A listener bound to one address does not answer for another.
func TestListenerAddress(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	_, err := f.s.Listen(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.9"), f.us.Port()), 1)
	require.NoError(t, err)
	f.send(SYN, "")
	f.expect(RST|ACK, 0, f.pSeq, "")
}

// Notifications: the listener's when a connection is queued, the
// connection's when data, the FIN or a reset arrive; callbacks may call
// the API.
func TestNotify(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	l := f.listen(4)
	var accepted *tcp.Conn
	var got string
	events := 0
	l.SetNotify(func() {
		c, err := l.Accept()
		require.NoError(t, err)
		accepted = c
		c.SetNotify(func() {
			events++
			buf := make([]byte, 100)
			n, _ := c.Read(buf)
			got += string(buf[:n])
		})
	})
	f.send(SYN, "")
	f.pAck = f.take()[0].Repr.Seq + 1
	f.send(ACK, "")
	require.NotNil(t, accepted)
	f.send(ACK|PSH, "hello")
	assert.Equal(t, "hello", got)
	f.send(ACK|FIN, "")
	assert.Equal(t, tcp.CloseWait, accepted.State())
	assert.Equal(t, 2, events, "one call per Input, however many changes")
}
