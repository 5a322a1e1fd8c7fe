package libsocket_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libsocket"
	"armos/servers/netd/sockets/sockettest"
)

// requireTimeout checks err is a Go-style deadline error from op.
func requireTimeout(t *testing.T, err error, op string) {
	t.Helper()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, op, oe.Op)
	assert.Equal(t, "udp", oe.Net)
}

func listenPacket(t *testing.T, h *sockettest.Netd) *libsocket.PacketConn {
	pc, err := h.Client().ListenPacket(bg, echoPort)
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	return pc
}

func TestPacketConnReadDeadline(t *testing.T) {
	h := sockettest.New(t)
	var pc net.PacketConn = listenPacket(t, h)
	assert.Equal(t, "0.0.0.0:7", pc.LocalAddr().String())
	buf := make([]byte, 100)

	// A deadline in the past fails at once, without waiting.
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(-time.Second)))
	_, _, err := pc.ReadFrom(buf)
	requireTimeout(t, err, "read")

	// A near deadline expires while the read is parked in netd.
	start := time.Now()
	require.NoError(t, pc.SetReadDeadline(start.Add(30*time.Millisecond)))
	_, _, err = pc.ReadFrom(buf)
	requireTimeout(t, err, "read")
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	h.WaitParked(0)

	// Clearing the deadline: data is read normally, and nothing was lost
	// to the timed-out read.
	require.NoError(t, pc.SetReadDeadline(time.Time{}))
	h.SendUDP(peerAddr, ourEcho, []byte("data"))
	n, from, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "data", string(buf[:n]))
	assert.Equal(t, peerAddr.String(), from.String())
}

func TestPacketConnDeadlineMovedWhileBlocked(t *testing.T) {
	h := sockettest.New(t)
	pc := listenPacket(t, h)
	errc := make(chan error, 1)
	go func() {
		_, _, err := pc.ReadFrom(make([]byte, 10))
		errc <- err
	}()
	h.WaitParked(1)
	// Another goroutine shortens the deadline into the past: the blocked
	// read must notice at once (the Go idiom for interrupting a reader).
	require.NoError(t, pc.SetReadDeadline(time.Now()))
	select {
	case err := <-errc:
		requireTimeout(t, err, "read")
	case <-time.After(5 * time.Second):
		t.Fatal("blocked read ignored the new deadline")
	}

	// Extending a deadline keeps the read waiting, and it gets the data;
	// deadlines beyond netd's longest receive timeout (a day) work too.
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(48*time.Hour)))
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 10)
		n, _, err := pc.ReadFrom(buf)
		if assert.NoError(t, err) {
			got <- string(buf[:n])
		}
	}()
	h.WaitParked(1)
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(72*time.Hour)))
	h.WaitParked(1) // re-parked with the new deadline
	h.SendUDP(peerAddr, ourEcho, []byte("late"))
	assert.Equal(t, "late", <-got)
}

func TestPacketConnWriteDeadlineAndClose(t *testing.T) {
	h := sockettest.New(t)
	pc := listenPacket(t, h)
	to := net.UDPAddrFromAddrPort(peerAddr)

	require.NoError(t, pc.SetDeadline(time.Now().Add(-time.Millisecond)))
	_, err := pc.WriteTo([]byte("x"), to)
	requireTimeout(t, err, "write")
	require.NoError(t, pc.SetWriteDeadline(time.Time{}))
	n, err := pc.WriteTo([]byte("hello"), to)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	d := h.Expect()
	assert.Equal(t, "hello", string(d.Payload))
	assert.Equal(t, peerAddr, d.Dst)

	// A 16-byte (IPv4-in-IPv6) net.IP, as net.ParseIP returns, works too.
	_, err = pc.WriteTo([]byte("v4in6"), &net.UDPAddr{IP: net.ParseIP("10.0.2.2"), Port: 5555})
	require.NoError(t, err)
	assert.Equal(t, peerAddr, h.Expect().Dst)

	_, err = pc.WriteTo([]byte("x"), &net.IPAddr{})
	assert.ErrorIs(t, err, libsocket.EINVAL, "only *net.UDPAddr")

	// Close wakes a blocked reader with net.ErrClosed.
	require.NoError(t, pc.SetReadDeadline(time.Time{}))
	errc := make(chan error, 1)
	go func() {
		_, _, err := pc.ReadFrom(make([]byte, 10))
		errc <- err
	}()
	h.WaitParked(1)
	require.NoError(t, pc.Close())
	err = <-errc
	assert.True(t, errors.Is(err, net.ErrClosed), "%v", err)
	_, err = pc.WriteTo([]byte("x"), to)
	assert.ErrorIs(t, err, net.ErrClosed)
}

// With no deadline, a receive timeout set as a socket option still ends a
// read (it is not retried like a deadline timer).
func TestPacketConnRecvTimeoutOption(t *testing.T) {
	h := sockettest.New(t)
	pc := listenPacket(t, h)
	require.NoError(t, pc.Socket().SetRecvTimeout(bg, time.Second))
	errc := make(chan error, 1)
	go func() {
		_, _, err := pc.ReadFrom(make([]byte, 10))
		errc <- err
	}()
	h.WaitParked(1)
	h.Clock.Advance(time.Second)
	h.Service().Kick()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, libsocket.ETIMEDOUT)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("read did not time out")
	}
}

// PacketConn works with code written for net.PacketConn only.
func TestPacketConnAsNetPacketConn(t *testing.T) {
	h := sockettest.New(t)
	var pc net.PacketConn = listenPacket(t, h)
	echoed := make(chan error, 1)
	go func() { echoed <- echoOnce(pc) }()
	h.WaitParked(1)
	h.SendUDP(peerAddr, ourEcho, []byte("generic"))
	require.NoError(t, <-echoed)
	d := h.Expect()
	assert.Equal(t, "generic", string(d.Payload))
	assert.Equal(t, peerAddr, d.Dst)
}

// echoOnce is ordinary Go code against net.PacketConn.
func echoOnce(pc net.PacketConn) error {
	buf := make([]byte, 1500)
	if err := pc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		return err
	}
	_, err = pc.WriteTo(buf[:n], from)
	return err
}
