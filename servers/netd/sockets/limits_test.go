package sockets_test

import (
	"context"
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

// TestClientLimit fills the service with MaxClients connections: the next
// one is told ENFILE and closed, and counted; an app dialling with
// libsocket gets ENFILE at once (no reconnect loop); when a client leaves,
// a new one is served again.
func TestClientLimit(t *testing.T) {
	h := sockettest.New(t)
	svc := h.Service()
	eps := make([]libipc.Endpoint, sockets.MaxClients)
	for i := range eps {
		ep, err := h.Broker.Connect(bg, sockproto.ServiceName)
		require.NoError(t, err)
		t.Cleanup(func() { ep.Close() })
		eps[i] = ep
	}
	require.Eventually(t, func() bool { return svc.Stats().Clients == sockets.MaxClients }, 5*time.Second, time.Millisecond)

	// A raw connection beyond the bound: an error report, then the end.
	ep, err := h.Broker.Connect(bg, sockproto.ServiceName)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	m, err := ep.Recv(ctx)
	require.NoError(t, err)
	hdr, body, err := libipc.ParseHeader(m.Data)
	require.NoError(t, err)
	assert.Equal(t, libipc.KindError, hdr.Kind)
	assert.Zero(t, hdr.ID)
	var eb libipc.ErrorBody
	require.NoError(t, libipc.DecodeBody(body, &eb))
	assert.Equal(t, sockproto.ENFILE, sockproto.ErrnoOf(eb.Code))
	_, err = ep.Recv(ctx)
	require.ErrorIs(t, err, libipc.ErrPeerClosed)
	assert.EqualValues(t, 1, svc.Stats().RefusedClients)

	// An app sees ENFILE, and does not retry.
	c := h.Client()
	_, err = c.Socket(ctx)
	require.ErrorIs(t, err, libsocket.ENFILE)
	assert.Contains(t, err.Error(), "too many client connections")
	assert.Zero(t, c.Stats().Retries)
	assert.EqualValues(t, 2, svc.Stats().RefusedClients)
	assert.EqualValues(t, sockets.MaxClients, svc.Stats().Clients, "refused connections are not held")

	// One client leaves: a new one is served.
	require.NoError(t, eps[0].Close())
	require.Eventually(t, func() bool { return svc.Stats().Clients == sockets.MaxClients-1 }, 5*time.Second, time.Millisecond)
	s, err := h.Client().ListenUDP(ctx, echoPort)
	require.NoError(t, err)
	assert.Equal(t, echoPort.Port(), s.LocalAddr().Port())
	assert.EqualValues(t, 2, svc.Stats().RefusedClients)
}

// TestSocketsPerConnLimit: one connection holds at most MaxSocketsPerConn
// sockets; the next socket fails with EMFILE and is counted; closing one
// makes room.
func TestSocketsPerConnLimit(t *testing.T) {
	h := sockettest.New(t)
	c := h.Client()
	socks := make([]*libsocket.Socket, sockproto.MaxSocketsPerConn)
	for i := range socks {
		s, err := c.Socket(bg)
		require.NoError(t, err)
		socks[i] = s
	}
	_, err := c.Socket(bg)
	require.ErrorIs(t, err, libsocket.EMFILE)
	st := h.Service().Stats()
	assert.EqualValues(t, 1, st.SocketsRefused)
	assert.EqualValues(t, sockproto.MaxSocketsPerConn, st.Sockets)

	// Another connection has its own allowance.
	_, err = h.Client().Socket(bg)
	require.NoError(t, err)

	require.NoError(t, socks[0].Close())
	_, err = c.Socket(bg)
	require.NoError(t, err)
	assert.EqualValues(t, 1, h.Service().Stats().SocketsRefused)
}
