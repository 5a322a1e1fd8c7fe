package libproto_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libproto/prototest"
	"armos/libsocket/sockproto"
)

// TestStreamSocketsNeedAStreamServer: the socket service refuses
// SOCK_STREAM with EPROTONOSUPPORT while no server owns IP protocol 6;
// once one does, the request is recognised (handing the socket over is
// not implemented yet: EOPNOTSUPP); when the server goes away, refused
// again.
func TestStreamSocketsNeedAStreamServer(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	ctx := ctxT(t)
	ep, err := p.A.Broker.Connect(ctx, sockproto.ServiceName)
	require.NoError(t, err)
	conn := libipc.NewConn(ep)
	defer conn.Close()
	stream := func() error {
		var resp sockproto.SocketResp
		err := conn.Call(ctx, libipc.Op(sockproto.OpSocket), &sockproto.SocketReq{Family: sockproto.AFInet, Type: sockproto.SockStream}, &resp)
		var re *libipc.RemoteError
		if errors.As(err, &re) {
			return sockproto.ErrnoOf(re.Code)
		}
		return err
	}
	require.ErrorIs(t, stream(), sockproto.EPROTONOSUPPORT)

	tcpd := p.A.Dial(t)
	_, err = tcpd.Register(ctx, 6)
	require.NoError(t, err)
	require.ErrorIs(t, stream(), sockproto.EOPNOTSUPP)

	require.NoError(t, tcpd.Close())
	require.Eventually(t, func() bool { return errors.Is(stream(), sockproto.EPROTONOSUPPORT) }, prototest.Wait, 5*time.Millisecond)
}
