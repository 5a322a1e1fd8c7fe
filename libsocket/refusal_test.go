package libsocket_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/sockproto"
)

// lateRefuser is a Dialer for a netd that accepts connections
// asynchronously (as under the kernel) and turns each away after its first
// request arrived: an error report (ID 0) with code, then close.
type lateRefuser struct {
	code  sockproto.Errno
	dials atomic.Int32
}

func (d *lateRefuser) Connect(ctx context.Context, _ string) (libipc.Endpoint, error) {
	d.dials.Add(1)
	client, server := libipc.NewPair(libipc.DefaultQueueLen)
	go func() {
		defer server.Close()
		if _, err := server.Recv(ctx); err != nil {
			return
		}
		h := libipc.Header{Version: libipc.Version, Kind: libipc.KindError}
		msg, err := libipc.AppendMessage(nil, h, &libipc.ErrorBody{Code: d.code.Code(), Msg: "full"})
		if err == nil {
			_ = server.TrySend(libipc.Message{Data: msg})
		}
	}()
	return client, nil
}

// TestRefusedAfterRequest: netd's ENFILE report arriving while a call
// waits fails the call with ENFILE, without reconnecting (a full netd is
// not a restarted one). sockets.TestClientLimit covers the refusal made
// while connecting, against the real service.
func TestRefusedAfterRequest(t *testing.T) {
	d := &lateRefuser{code: sockproto.ENFILE}
	c, err := libsocket.Dial(bg, d)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	_, err = c.Socket(ctx)
	require.ErrorIs(t, err, libsocket.ENFILE)
	assert.NoError(t, ctx.Err(), "refused at once, not after retrying until the deadline")
	assert.EqualValues(t, 1, d.dials.Load())
	assert.Zero(t, c.Stats().Retries)
}
