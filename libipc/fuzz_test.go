package libipc_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
)

// fuzzSeeds are real messages and near misses.
func fuzzSeeds() [][]byte {
	return [][]byte{
		{0x94, 0x01, 0x01, 0x03, 0x07, 0x81, 0xa4, 'p', 'o', 'r', 't', 0x07},
		{0x94, 0x01, 0x01, 0x01, 0x07, 0x82, 0xa4, 't', 'e', 'x', 't', 0xa2, 'h', 'i', 0xa1, 'n', 0x05},
		{0x94, 0x01, 0x04, 0x01, 0x00, 0x81, 0xa1, 'n', 0xd3, 0, 0, 0, 0, 0, 0, 0, 1},
		{0x94, 0x01, 0x03, 0x03, 0x07, 0x82, 0xa4, 'c', 'o', 'd', 'e', 0x62, 0xa3, 'm', 's', 'g', 0xa1, 'x'},
		{0x94, 0x01, 0x02, 0xcd, 0x12, 0x34, 0xce, 0x01, 0x02, 0x03, 0x04, 0x80},
		{0x94, 0x01, 0x01, 0x01, 0x07, 0x80, 0x00},
		{0x94, 0x02, 0x01, 0x01, 0x07, 0xc0},
		{0x94, 0x01, 0x01, 0x01, 0x07, 0xdd, 0xff, 0xff, 0xff, 0xff},
		{0x94, 0x01, 0x01, 0x01, 0x07, 0x91, 0x91, 0x91, 0xc0},
		[]byte("GET / HTTP/1.0\r\n"),
		{},
	}
}

// FuzzDecodeMessage: decoding never panics, every failure is a *FrameError
// with a code, and whatever decodes re-encodes to a message that decodes to
// the same value.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v echoReq
		h, err := libipc.DecodeMessage(data, &v)
		if err != nil {
			var fe *libipc.FrameError
			require.ErrorAs(t, err, &fe)
			require.NotZero(t, libipc.CodeOf(err))
			require.LessOrEqual(t, fe.Offset, max(len(data), libipc.MaxMessageSize))
			return
		}
		out, err := libipc.AppendMessage(nil, h, &v)
		require.NoError(t, err)
		var v2 echoReq
		h2, err := libipc.DecodeMessage(out, &v2)
		require.NoError(t, err)
		assert.Equal(t, h, h2)
		assert.Equal(t, v, v2)
	})
}

// FuzzServer: a server fed arbitrary bytes never panics, answers every
// request or unreadable message with exactly one reply (an error unless it
// was a valid echo request), stays silent for one-way messages and stray
// replies, and keeps serving the connection afterwards.
func FuzzServer(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	mux := libipc.NewMux()
	libipc.Handle(mux, opEcho, func(r *libipc.Request, req *echoReq) (*echoResp, error) {
		return &echoResp{Text: req.Text, N: req.N}, nil
	})
	srv := libipc.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	sentinel, err := libipc.AppendMessage(nil,
		libipc.Header{Version: libipc.Version, Kind: libipc.KindRequest, Op: opEcho, ID: 0xffffffff},
		&echoReq{Text: "sentinel"})
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, data []byte) {
		cli, end := libipc.NewPair(8)
		defer cli.Close()
		srv.Accept(end)

		want := 0 // replies expected for data
		wantOK := false
		h, body, perr := libipc.ParseHeader(data)
		if perr != nil || h.Kind == libipc.KindRequest {
			want = 1
			wantOK = perr == nil && h.Op == opEcho && libipc.DecodeBody(body, &echoReq{}) == nil
		}
		require.NoError(t, cli.Send(testCtx(t), libipc.Message{Data: data}))
		require.NoError(t, cli.Send(testCtx(t), libipc.Message{Data: sentinel}))
		for i := 0; i <= want; i++ {
			m, err := cli.Recv(testCtx(t))
			require.NoError(t, err)
			var out struct {
				Text string      `msgpack:"text"`
				N    int         `msgpack:"n"`
				Code libipc.Code `msgpack:"code"`
				Msg  string      `msgpack:"msg"`
			}
			rh, err := libipc.DecodeMessage(m.Data, &out)
			require.NoError(t, err, "server sent an undecodable reply")
			if i == want {
				assert.Equal(t, libipc.KindReply, rh.Kind)
				assert.Equal(t, uint32(0xffffffff), rh.ID)
				assert.Equal(t, "sentinel", out.Text)
				continue
			}
			if wantOK {
				assert.Equal(t, libipc.KindReply, rh.Kind)
				assert.Equal(t, h.ID, rh.ID)
			} else {
				assert.Equal(t, libipc.KindError, rh.Kind)
				assert.NotZero(t, out.Code)
			}
		}
	})
}

func TestFramingAllocations(t *testing.T) {
	// The envelope itself costs no allocations either way.
	h := libipc.Header{Version: 1, Kind: libipc.KindRequest, Op: 300, ID: 70000}
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		b := libipc.AppendHeader(buf[:0], h)
		if _, _, err := libipc.ParseHeader(b); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)

	// A whole message with a reused buffer and a reused body value: the
	// pooled encoder/decoder make the framing itself allocation-free.
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	in := &sendtoBody{Sock: 3, Addr: []byte{10, 0, 2, 2}, Port: 7, Data: []byte("hello")}
	var out sendtoBody
	allocs = testing.AllocsPerRun(100, func() {
		b, err := libipc.AppendMessage(buf[:0], h, in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := libipc.DecodeMessage(b, &out); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
	assert.Equal(t, *in, out)
}
