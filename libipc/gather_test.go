package libipc_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libipc/mpwrite"
)

// gatherBody is a message with a payload between other fields, encoding
// itself with the payload left out as two pieces (libipc.BodyGatherer).
type gatherBody struct {
	Head uint32 `msgpack:"h"`
	Data []byte `msgpack:"d"`
	Tail string `msgpack:"t"`
}

func (g *gatherBody) AppendMsgpack(b []byte) []byte {
	b, pieces := g.AppendMsgpackGather(b, nil)
	return libipc.JoinPieces(nil, b, pieces)
}

func (g *gatherBody) AppendMsgpackGather(b []byte, pieces []libipc.Piece) ([]byte, []libipc.Piece) {
	b = mpwrite.Uint(append(b, 0x83, 0xa1, 'h'), uint64(g.Head))
	b = mpwrite.BinHeader(append(b, 0xa1, 'd'), len(g.Data))
	half := len(g.Data) / 2
	pieces = append(pieces, libipc.Piece{Off: len(b), Data: g.Data[:half]}, libipc.Piece{Off: len(b), Data: g.Data[half:]})
	b = append(b, 0xa1, 't', 0xa0|byte(len(g.Tail)))
	return append(b, g.Tail...), pieces
}

// TestConnGatherAndPostedReceives: messages whose payload an encoder
// leaves out of its encoding (BodyGatherer) arrive whole, of every size
// class and in order, through the pair the transport makes (kernel
// channels in armos, LIBIPC_TRANSPORT=kernel: there they go as
// abi.SendGather, and the receiving end, once it has had a large
// message, posts its receive buffer, abi.RecvPost); the encoding is the
// general encoder's.
func TestConnGatherAndPostedReceives(t *testing.T) {
	g := &gatherBody{Head: 7, Data: []byte("payload"), Tail: "end"}
	want, err := libipc.AppendBodyGeneral(nil, g)
	require.NoError(t, err)
	require.Equal(t, want, g.AppendMsgpack(nil))

	a, b, err := libipc.TransportPair(16)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	ca := libipc.NewConn(a)
	defer ca.Close()
	sizes := []int{0, 1, 100, 5000, 20000, 70000, 3, 40000, 40000, 40000, 10, 65000, 2, 30000}
	done := make(chan error, 1)
	go func() {
		for i, n := range sizes {
			body := &gatherBody{Head: uint32(i), Data: bytes.Repeat([]byte{byte(i + 1)}, n), Tail: "t"}
			if err := ca.Send(context.Background(), libipc.Op(9), body); err != nil {
				done <- err
				return
			}
			if i%3 == 0 {
				time.Sleep(time.Millisecond) // the receiver drains and waits (posts) now and then
			}
		}
		done <- nil
	}()
	for i, n := range sizes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := b.Recv(ctx)
		cancel()
		require.NoError(t, err, "message %d", i)
		var got gatherBody
		h, err := libipc.DecodeMessage(m.Data, &got)
		require.NoError(t, err, "message %d", i)
		require.Equal(t, libipc.Op(9), h.Op)
		require.Equal(t, uint32(i), got.Head, "in order")
		require.Equal(t, "t", got.Tail)
		require.True(t, bytes.Equal(bytes.Repeat([]byte{byte(i + 1)}, n), got.Data), "message %d: %d bytes whole", i, n)
		m.Release()
	}
	require.NoError(t, <-done)
}
