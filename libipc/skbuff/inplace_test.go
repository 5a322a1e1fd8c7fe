package skbuff

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"armos/libipc/mpwrite"
)

// TestParseFrame: encoded Bufs parse in place to what DecodeMsgpack gives
// (bytes and GSO size), aliasing the encoding.
func TestParseFrame(t *testing.T) {
	b := Get()
	defer b.Free()
	require.NoError(t, b.Append([]byte("payload")))
	_, err := b.Push(14)
	require.NoError(t, err)
	b.Dev = 3
	for _, gso := range []uint16{0, 1448} {
		b.GSOSize = gso
		enc, err := msgpack.Marshal(b)
		require.NoError(t, err)
		frame, g, ok := ParseFrame(enc, MaxPacketSize)
		require.True(t, ok)
		assert.Equal(t, b.Bytes(), frame)
		assert.Equal(t, gso, g)
		frame[0] = 0xaa
		assert.Contains(t, string(enc), "\xaa", "in place")
	}
	enc, _ := msgpack.Marshal(b)
	_, _, ok := ParseFrame(enc, 10)
	assert.False(t, ok, "larger than the capacity")
	_, _, ok = ParseFrame(enc[:len(enc)-1], MaxPacketSize)
	assert.False(t, ok, "truncated")
}

// FuzzParseFrame: whatever ParseFrame accepts, DecodeMsgpack into a Buf
// of that capacity accepts with the same bytes and GSO size.
func FuzzParseFrame(f *testing.F) {
	b := Get()
	_ = b.Append([]byte("frame bytes"))
	enc, _ := msgpack.Marshal(b)
	f.Add(enc)
	b.GSOSize = 1460
	enc, _ = msgpack.Marshal(b)
	f.Add(enc)
	_ = b.Free()
	f.Fuzz(func(t *testing.T, body []byte) {
		frame, gso, ok := ParseFrame(body, MaxPacketSize)
		if !ok {
			return
		}
		got := Get()
		defer got.Free()
		require.NoError(t, msgpack.Unmarshal(body, got))
		require.Equal(t, string(got.Bytes()), string(frame))
		require.Equal(t, got.GSOSize, gso)
	})
}

// encodeInPlaceCase builds a Buf from the fuzzer's numbers (headroom,
// bytes, headers pushed and marked, some pulled back or trimmed, a GSO
// size) in a view of exactly capacity bytes, and requires EncodeInPlace
// to give head followed by msgpack's encoding of the Buf, or the room
// error when the encoding does not fit around the bytes.
func encodeInPlaceCase(t *testing.T, capacity, headroom, n, push, pull, trim int, gso, dev uint16, marks uint8, head []byte) {
	b, err := Default.View(make([]byte, capacity), min(headroom, capacity), nil)
	require.NoError(t, err)
	defer b.Free()
	p, err := b.Put(min(n, b.Tailroom()))
	require.NoError(t, err)
	for i := range p {
		p[i] = byte(i)
	}
	for l := Layer(0); l < numLayers; l++ {
		if marks&(1<<l) == 0 {
			continue
		}
		if _, err := b.Push(min(push, b.Headroom())); err == nil {
			require.NoError(t, b.Mark(l))
		}
	}
	_, _ = b.Pull(min(pull, b.Len()))
	_ = b.Trim(max(b.Len()-trim, 0))
	b.GSOSize, b.Dev = gso, DevID(dev)
	want, err := msgpack.Marshal(b)
	require.NoError(t, err)
	want = append(append([]byte{}, head...), want...)
	start := b.lowest()
	var post []byte
	if gso != 0 {
		post = mpwrite.Uint(nil, uint64(gso))
	}
	prefix := len(want) - len(head) - (b.tail - start) - len(post)
	got, err := b.EncodeInPlace(head)
	switch {
	case start < len(head)+prefix:
		require.ErrorIs(t, err, ErrNoHeadroom)
		return
	case b.tail+len(post) > capacity:
		require.ErrorIs(t, err, ErrNoTailroom)
		return
	}
	require.NoError(t, err)
	require.Equal(t, want, got)
	// It is the storage itself: the packet was not copied.
	require.Same(t, &b.store()[start], &got[len(head)+prefix], "in place")
}

// TestEncodeInPlace: the usual frame, with and without a GSO size, is
// the envelope and msgpack's encoding byte for byte; without headroom or
// (with a GSO size) tailroom it says so and writes nothing it returns.
func TestEncodeInPlace(t *testing.T) {
	head := []byte{0x94, 1, 2, 3, 0}
	for _, gso := range []uint16{0, 1448} {
		encodeInPlaceCase(t, 2048, DefaultHeadroom, 1000, 14, 0, 0, gso, 2, 0b111, head)
		encodeInPlaceCase(t, 70000, DefaultHeadroom, 65000, 14, 0, 0, gso, 1, 0b011, head)
	}
	b, err := Default.View(make([]byte, 100), 4, nil)
	require.NoError(t, err)
	require.NoError(t, b.Append([]byte("abc")))
	_, err = b.EncodeInPlace(head)
	require.ErrorIs(t, err, ErrNoHeadroom)
	b.Free()
	b, err = Default.View(make([]byte, 100), 60, nil)
	require.NoError(t, err)
	_, err = b.Put(40)
	require.NoError(t, err)
	b.GSOSize = 1460
	_, err = b.EncodeInPlace(head)
	require.ErrorIs(t, err, ErrNoTailroom)
	b.Free()
	_, err = b.EncodeInPlace(head)
	require.ErrorIs(t, err, ErrFreed)
}

func FuzzEncodeInPlace(f *testing.F) {
	f.Add(uint32(2048), uint16(128), uint32(1000), uint8(14), uint8(0), uint8(0), uint16(0), uint16(1), uint8(7), []byte{0x94, 1, 2, 3, 0})
	f.Add(uint32(70000), uint16(128), uint32(65000), uint8(20), uint8(10), uint8(3), uint16(1448), uint16(1), uint8(3), []byte{0x94, 1, 1, 5, 0})
	f.Fuzz(func(t *testing.T, capacity uint32, headroom uint16, n uint32, push, pull, trim uint8, gso, dev uint16, marks uint8, head []byte) {
		encodeInPlaceCase(t, int(capacity%(1<<17)), int(headroom), int(n%(1<<17)), int(push), int(pull), int(trim), gso, dev, marks, head)
	})
}

// FuzzParseMsgpack: whatever Buf.ParseMsgpack accepts, DecodeMsgpack
// accepts into a Buf of the same capacity with the same state (device,
// headroom, bytes, marks, GSO size); what it declines leaves the Buf as
// it was.
func FuzzParseMsgpack(f *testing.F) {
	b := Get()
	_ = b.Append([]byte("frame bytes"))
	_, _ = b.Push(14)
	_ = b.Mark(LinkLayer)
	enc, _ := msgpack.Marshal(b)
	f.Add(enc, uint16(0))
	b.GSOSize = 1460
	enc, _ = msgpack.Marshal(b)
	f.Add(enc, uint16(100))
	_ = b.Free()
	f.Fuzz(func(t *testing.T, body []byte, shrink uint16) {
		capacity := MaxPacketSize - int(shrink)%MaxPacketSize
		got, err := Default.View(make([]byte, capacity), DefaultHeadroom%(capacity+1), nil)
		require.NoError(t, err)
		defer got.Free()
		_, _ = got.Put(3)
		before := got.state()
		if !got.ParseMsgpack(body) {
			require.Equal(t, before, got.state(), "declined: the Buf as it was")
			return
		}
		want, err := Default.View(make([]byte, capacity), 0, nil)
		require.NoError(t, err)
		defer want.Free()
		require.NoError(t, msgpack.Unmarshal(body, want))
		require.Equal(t, want.state(), got.state())
		require.Equal(t, string(want.Bytes()), string(got.Bytes()))
	})
}

// state is what a decode sets, for comparisons.
func (b *Buf) state() [7]int {
	return [7]int{int(b.Dev), int(b.GSOSize), b.data, b.tail, b.mark[0], b.mark[1], b.mark[2]}
}

// TestParseMsgpackDecodesFrames: netd's frames decode by hand through
// libipc (Buf is a BodyParser) to what the general decoder gives.
func TestParseMsgpackDecodesFrames(t *testing.T) {
	src := Get()
	defer src.Free()
	require.NoError(t, src.Append([]byte("a received frame")))
	src.Dev, src.GSOSize = 2, 1448
	require.NoError(t, src.Mark(NetworkLayer))
	enc, err := msgpack.Marshal(src)
	require.NoError(t, err)
	got := Get()
	defer got.Free()
	require.True(t, got.ParseMsgpack(enc))
	require.Equal(t, src.state(), got.state())
	require.Equal(t, src.Bytes(), got.Bytes())
	require.False(t, got.ParseMsgpack(enc[:len(enc)-1]), "truncated")
	require.Equal(t, src.state(), got.state(), "unchanged by what it declined")
}
