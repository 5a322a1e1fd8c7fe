package libsocket_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/sockproto"
	"armos/servers/netd/sockets"
	"armos/servers/netd/sockets/sockettest"
)

// TestNetdRestartReplay kills netd under a running echo app and starts a new
// one through the broker, as init does: the app's socket keeps working on
// the same port with the same options, and the app never sees an error.
func TestNetdRestartReplay(t *testing.T) {
	h := sockettest.New(t)
	ready := make(chan *libsocket.Socket, 1)
	c := h.Client()
	appDone := make(chan struct{})
	go func() {
		defer close(appDone)
		sockettest.EchoApp(t, c, ready)
	}()
	s := <-ready
	require.NoError(t, s.SetRecvQueueLen(bg, 8))

	// A client socket bound implicitly by its first send.
	cl, err := c.Socket(bg)
	require.NoError(t, err)
	_, err = cl.SendTo(bg, []byte("before"), peerAddr)
	require.NoError(t, err)
	port := h.Expect().Src.Port()

	h.SendUDP(peerAddr, ourEcho, []byte("one"))
	assert.Equal(t, "one", string(h.Expect().Payload))
	h.WaitParked(1)

	h.Restart()
	// The echo app's parked receive saw netd go away; it reconnected,
	// replayed its socket and parked again in the new netd.
	h.WaitParked(1)
	h.SendUDP(peerAddr, ourEcho, []byte("two"))
	d := h.Expect()
	assert.Equal(t, "two", string(d.Payload))
	assert.Equal(t, ourEcho, d.Src)

	q, err := s.Option(bg, sockproto.OptRecvQueue)
	require.NoError(t, err)
	assert.EqualValues(t, 8, q, "options are replayed")

	_, err = cl.SendTo(bg, []byte("after"), peerAddr)
	require.NoError(t, err)
	assert.Equal(t, port, h.Expect().Src.Port(), "the implicitly bound port is replayed too")

	st := c.Stats()
	assert.EqualValues(t, 1, st.Reconnects)
	assert.EqualValues(t, 2, st.Replays)
	assert.Zero(t, st.ReplayErrors)
	select {
	case <-appDone:
		t.Fatal("the echo app saw an error")
	default:
	}
}

// TestRestartWithoutDialerFails: a Client made from a bare connection
// cannot reconnect, and reports the dead peer.
func TestRestartWithoutDialerFails(t *testing.T) {
	h := sockettest.New(t)
	c := h.Client()
	s, err := c.ListenUDP(bg, echoPort)
	require.NoError(t, err)

	ep, err := h.Broker.Connect(bg, sockproto.ServiceName)
	require.NoError(t, err)
	bare := libsocket.NewClient(libipc.NewConn(ep))
	b, err := bare.ListenUDP(bg, anyPort)
	require.NoError(t, err)

	h.Restart()
	_, err = b.SendTo(bg, []byte("x"), peerAddr)
	require.Error(t, err)
	assert.ErrorIs(t, err, libipc.ErrPeerClosed)

	// The Dial-ed client recovers; the bare one's port was freed by the
	// old netd's death (a new netd starts empty).
	_, err = s.SendTo(bg, []byte("y"), peerAddr)
	require.NoError(t, err)
	assert.Equal(t, "y", string(h.Expect().Payload))
}

// TestRestartReplaysIdleSocketsEagerly: a socket bound and idle (no call
// in progress) is bound again in the new netd as soon as it starts, not
// at its next call: a datagram sent to it meanwhile is queued for it, not
// answered with port unreachable, and no rival binds its port first.
func TestRestartReplaysIdleSocketsEagerly(t *testing.T) {
	h := sockettest.New(t)
	c := h.Client()
	s, err := c.ListenUDP(bg, echoPort)
	require.NoError(t, err)

	h.Restart()
	// A rival races for the port as the new netd starts: during the grace
	// period its bind waits, while the owner's replay goes through.
	rival := h.Client()
	rivalErr := make(chan error, 1)
	go func() { _, err := rival.ListenUDP(bg, echoPort); rivalErr <- err }()
	require.Eventually(t, func() bool { return c.Stats().Replays == 1 }, 5*time.Second, time.Millisecond,
		"replayed with no call made")
	select {
	case err := <-rivalErr:
		t.Fatalf("the rival's bind did not wait for the grace period: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	h.Clock.Advance(sockets.DefaultGrace)
	h.Service().Kick()
	require.ErrorIs(t, <-rivalErr, sockproto.EADDRINUSE, "the port went back to its owner")
	assert.EqualValues(t, 1, h.Service().Stats().GraceBinds)

	h.SendUDP(peerAddr, ourEcho, []byte("while idle"))
	buf := make([]byte, 64)
	n, from, err := s.TryRecvFrom(bg, buf)
	for i := 0; errors.Is(err, sockproto.EAGAIN) && i < 1000; i++ {
		time.Sleep(time.Millisecond)
		n, from, err = s.TryRecvFrom(bg, buf)
	}
	require.NoError(t, err)
	assert.Equal(t, "while idle", string(buf[:n]))
	assert.Equal(t, peerAddr, from)
	assert.Zero(t, c.Stats().ReplayErrors)
}

// TestRestartKeepsReceiveDeadlines: a timed receive repeated in a
// restarted netd waits only for what is left of its timeout.
func TestRestartKeepsReceiveDeadlines(t *testing.T) {
	h := sockettest.New(t)
	c := h.Client()
	s, err := c.ListenUDP(bg, echoPort)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, _, err := s.RecvFromTimeout(bg, make([]byte, 16), 400*time.Millisecond)
		done <- err
	}()
	h.WaitParked(1)
	time.Sleep(300 * time.Millisecond)
	h.Restart()
	// netd's clock is a fake one: 150ms of it end what was left (about
	// 100ms); a receive that asked for 400ms again would still wait. On a
	// loaded machine the restart may take longer than what was left: the
	// client then times the receive out itself, before asking again,
	// which keeps the deadline too.
	deadline := time.After(5 * time.Second)
	advanced := false
	for {
		select {
		case err := <-done:
			require.ErrorIs(t, err, sockproto.ETIMEDOUT)
			return
		case <-deadline:
			t.Fatal("the receive did not time out with what was left of its timeout")
		case <-time.After(time.Millisecond):
		}
		if !advanced && h.Service().Stats().Parked == 1 {
			advanced = true // once: 150ms must be enough
			h.Clock.Advance(150 * time.Millisecond)
			h.Service().Kick()
		}
	}
}
