package link

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libipc/skbuff"
)

// A provider (a NIC driver) describes its link and passes frames; netd's
// side learns the description while reading frames, and every later
// description reaches OnInfo. A description that makes no sense is a
// malformed message, not a new MAC address.
func TestChanFramesAndLinkInfo(t *testing.T) {
	a, b := libipc.NewPair(16)
	provider, netd := NewChan(a), NewChan(b)
	defer provider.Close()
	defer netd.Close()
	updates := make(chan LinkInfo, 4)
	netd.OnInfo(func(i LinkInfo) { updates <- i })

	mac := []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	require.NoError(t, provider.SendInfo(LinkInfo{MAC: mac, MTU: 1500, Up: true, Driver: "test"}))
	require.NoError(t, provider.SendInfo(LinkInfo{MAC: []byte{1, 2, 3}, MTU: 1500})) // bad: dropped
	f := skbuff.Get()
	require.NoError(t, f.Append([]byte("a frame of some bytes")))
	require.NoError(t, provider.Transmit(f))
	require.NoError(t, provider.SendInfo(LinkInfo{MAC: mac, MTU: 1500, Up: false, Driver: "test"}))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := netd.ReadInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, mac, info.MAC)
	assert.True(t, info.Up)
	got := skbuff.Get()
	defer got.Free()
	require.NoError(t, netd.ReadBuf(got))
	assert.Equal(t, "a frame of some bytes", string(got.Bytes()))

	// The link-down description arrives with the next read.
	go func() {
		f := skbuff.Get()
		_ = f.Append([]byte("x"))
		_ = provider.Transmit(f)
	}()
	require.NoError(t, got.Reset(skbuff.DefaultHeadroom))
	require.NoError(t, netd.ReadBuf(got))
	select {
	case u := <-updates:
		assert.False(t, u.Up)
	case <-ctx.Done():
		t.Fatal("no update")
	}
	c := netd.Counters()
	assert.EqualValues(t, 2, c.InfoUpdates)
	assert.EqualValues(t, 1, c.RxMalformed)
	assert.EqualValues(t, 2, c.RxFrames)
}

// Frames before the description are dropped and counted; a provider
// that never describes its link times the wait out.
func TestChanReadInfo(t *testing.T) {
	a, b := libipc.NewPair(4)
	provider := NewChan(a)
	defer provider.Close()
	c := NewChan(b)
	defer c.Close()
	f := skbuff.Get()
	require.NoError(t, f.Append([]byte("early")))
	require.NoError(t, provider.Transmit(f))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.ReadInfo(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, ok := c.Info()
	assert.False(t, ok)
	assert.EqualValues(t, 1, c.Counters().RxMalformed)
}

// ReadFrameInPlace hands over frames as they are in the message (GSO size
// too), decodes those in another valid encoding into the buffer, takes
// descriptions on the way, and skips (counting) what is not a frame.
func TestChanReadFrameInPlace(t *testing.T) {
	a, b := libipc.NewPair(16)
	netd, driver := NewChan(a), NewChan(b)
	defer netd.Close()
	defer driver.Close()
	f := skbuff.Get()
	require.NoError(t, f.Append([]byte("offloaded segment")))
	f.GSOSize = 1448
	require.NoError(t, netd.Transmit(f))
	mac := []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	require.NoError(t, netd.SendInfo(LinkInfo{MAC: mac, MTU: 1500}))
	// The same frame with its array in a longer msgpack form: valid, but
	// not the encoding read in place.
	enc, err := libipc.AppendMessage(nil, libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway, Op: OpFrame}, []any{0, 10, 10, -1, -1, -1, []byte("plain")})
	require.NoError(t, err)
	hdrLen := len(enc) - (1 + 6 + 2 + 5)
	long := append(append(append([]byte(nil), enc[:hdrLen]...), 0xdc, 0, 7), enc[hdrLen+1:]...)
	require.NoError(t, a.TrySend(libipc.Message{Data: long}))
	require.NoError(t, a.TrySend(libipc.Message{Data: []byte("junk")}))
	g := skbuff.Get()
	require.NoError(t, g.Append([]byte("last")))
	require.NoError(t, netd.Transmit(g))

	buf := skbuff.Get()
	defer buf.Free()
	type got struct {
		frame string
		gso   uint16
	}
	var frames []got
	for range 3 {
		require.NoError(t, driver.ReadFrameInPlace(buf, func(frame []byte, gso uint16) {
			frames = append(frames, got{string(frame), gso})
		}))
		assert.Zero(t, buf.Len(), "left empty")
	}
	assert.Equal(t, []got{{"offloaded segment", 1448}, {"plain", 0}, {"last", 0}}, frames)
	i, ok := driver.Info()
	require.True(t, ok)
	assert.Equal(t, mac, i.MAC)
	c := driver.Counters()
	assert.EqualValues(t, 3, c.RxFrames)
	assert.EqualValues(t, 1, c.RxMalformed)
}
