package libproto_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libproto/prototest"
	"armos/libsocket/sockproto"
)

// TestStreamSocketsAreHandedToTheStreamServer: the socket service refuses
// SOCK_STREAM with EPROTONOSUPPORT while no server owns IP protocol 6;
// once one does, each stream socket is an endpoint pair: the application
// gets one end in its OpSocket reply, the server the other on Streams(),
// and they talk directly. When the server goes away, refused again.
func TestStreamSocketsAreHandedToTheStreamServer(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	ctx := ctxT(t)
	ep, err := p.A.Broker.Connect(ctx, sockproto.ServiceName)
	require.NoError(t, err)
	app := libipc.NewConn(ep)
	defer app.Close()
	stream := func() (libipc.Endpoint, error) {
		var resp sockproto.SocketResp
		caps, err := app.CallCaps(ctx, libipc.Op(sockproto.OpSocket), &sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockStream}, &resp, nil)
		var re *libipc.RemoteError
		if errors.As(err, &re) {
			return nil, sockproto.ErrnoOf(re.Code)
		}
		if err != nil {
			return nil, err
		}
		require.True(t, resp.Stream)
		require.Len(t, caps, 1)
		e, ok := caps[0].(libipc.Endpoint)
		require.True(t, ok)
		return e, nil
	}
	_, err = stream()
	require.ErrorIs(t, err, sockproto.EPROTONOSUPPORT)

	tcpd := p.A.Dial(t)
	tcp, err := tcpd.Register(ctx, 6)
	require.NoError(t, err)
	mine, err := stream()
	require.NoError(t, err)
	var theirs libipc.Endpoint
	select {
	case theirs = <-tcp.Streams():
	case <-time.After(prototest.Wait):
		t.Fatal("the stream server got no socket")
	}
	require.NoError(t, mine.Send(ctx, libipc.Message{Data: []byte("connect 10.99.0.2:80")}))
	m, err := theirs.Recv(ctx)
	require.NoError(t, err)
	assert.Equal(t, "connect 10.99.0.2:80", string(m.Data))
	require.NoError(t, theirs.Send(ctx, libipc.Message{Data: []byte("ok")}))
	m, err = mine.Recv(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(m.Data))
	assert.Equal(t, uint64(1), p.A.Protocol(6).Streams)
	assert.Equal(t, uint64(1), tcp.Stats().Streams)

	// The application closes its socket: the server sees its end close.
	require.NoError(t, mine.Close())
	_, err = theirs.Recv(ctx)
	require.ErrorIs(t, err, libipc.ErrPeerClosed)

	require.NoError(t, tcpd.Close())
	require.Eventually(t, func() bool {
		_, err := stream()
		return errors.Is(err, sockproto.EPROTONOSUPPORT)
	}, prototest.Wait, 5*time.Millisecond)
}
