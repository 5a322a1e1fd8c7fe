package skbuff

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// frameMsg is how an IPC body might carry a packet.
type frameMsg struct {
	Seq uint32
	Pkt *Buf
}

func receivedFrame(t testing.TB) *Buf {
	b := NewPool(4).Get()
	require.NoError(t, b.Append([]byte("ETHERNETHDR!IPV4HEADER..UDPHDR..data")))
	b.Dev = 2
	require.NoError(t, b.Mark(LinkLayer))
	_, err := b.Pull(12)
	require.NoError(t, err)
	require.NoError(t, b.Mark(NetworkLayer))
	_, err = b.Pull(12)
	require.NoError(t, err)
	require.NoError(t, b.Mark(TransportLayer))
	return b
}

func TestMsgpackRoundTripKeepsBytesOffsetsAndMarks(t *testing.T) {
	src := receivedFrame(t)
	enc, err := msgpack.Marshal(&frameMsg{Seq: 9, Pkt: src})
	require.NoError(t, err)

	var got frameMsg
	got.Pkt = Get() // decode into a pooled buffer
	defer got.Pkt.Free()
	require.NoError(t, msgpack.Unmarshal(enc, &got))
	assert.Equal(t, uint32(9), got.Seq)
	assert.Equal(t, snapshot(src), snapshot(got.Pkt))
	l2, err := got.Pkt.Header(LinkLayer)
	require.NoError(t, err)
	assert.Equal(t, "ETHERNETHDR!IPV4HEADER..UDPHDR..data", string(l2), "pulled but marked headers cross IPC")
	// The receiver can push a header back in place, like the sender could.
	_, err = got.Pkt.Push(src.Headroom())
	assert.NoError(t, err)
}

// TestMsgpackGSOSize: a segmentation-offload size travels as an eighth
// element, only when set, so a frame without one encodes as before.
func TestMsgpackGSOSize(t *testing.T) {
	b := Get()
	defer b.Free()
	require.NoError(t, b.Append([]byte("frame")))
	plain, err := msgpack.Marshal(b)
	require.NoError(t, err)
	b.GSOSize = 1448
	withGSO, err := msgpack.Marshal(b)
	require.NoError(t, err)
	var plainFields, fields []any
	require.NoError(t, msgpack.Unmarshal(plain, &plainFields))
	require.Len(t, plainFields, encodedFields)
	require.NoError(t, msgpack.Unmarshal(withGSO, &fields))
	require.Len(t, fields, encodedFields+1)
	require.EqualValues(t, 1448, fields[encodedFields])

	got := Get()
	defer got.Free()
	require.NoError(t, msgpack.Unmarshal(withGSO, got))
	require.Equal(t, uint16(1448), got.GSOSize)
	require.Equal(t, "frame", string(got.Bytes()))
	require.NoError(t, msgpack.Unmarshal(plain, got))
	require.Zero(t, got.GSOSize, "decoding a plain frame clears it")
	got.GSOSize = 9
	require.NoError(t, got.Reset(DefaultHeadroom))
	require.Zero(t, got.GSOSize, "Reset clears it")
}

func TestMsgpackEncodingLayout(t *testing.T) {
	var b Buf
	require.NoError(t, b.Reserve(4))
	require.NoError(t, b.Append([]byte{0xde, 0xad}))
	b.Dev = 1
	require.NoError(t, b.Mark(NetworkLayer))
	enc, err := msgpack.Marshal(&b)
	require.NoError(t, err)
	// fixarray(7) dev=1 start=4 data=4 link=-1 net=4 trans=-1 bin8(2) de ad
	assert.Equal(t, []byte{0x97, 0x01, 0x04, 0x04, 0xff, 0x04, 0xff, 0xc4, 0x02, 0xde, 0xad}, enc)
}

func TestMsgpackMarkBeyondTrimIsSentUnset(t *testing.T) {
	b := Get()
	defer b.Free()
	require.NoError(t, b.Append([]byte("abcdef")))
	_, _ = b.Pull(5)
	require.NoError(t, b.Mark(TransportLayer))
	h, _ := b.Push(5)
	copy(h, "abcde")
	require.NoError(t, b.Trim(2))
	enc, err := msgpack.Marshal(b)
	require.NoError(t, err)
	var got Buf
	require.NoError(t, msgpack.Unmarshal(enc, &got))
	assert.Equal(t, "ab", string(got.Bytes()))
	_, ok := got.Offset(TransportLayer)
	assert.False(t, ok)
}

// raw encodes arbitrary values as a msgpack array, for malformed inputs.
func raw(t *testing.T, vals ...any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	require.NoError(t, enc.EncodeArrayLen(len(vals)))
	for _, v := range vals {
		require.NoError(t, enc.Encode(v))
	}
	return buf.Bytes()
}

func TestMsgpackDecodeIsStrict(t *testing.T) {
	ok := raw(t, 1, 4, 4, -1, -1, -1, []byte{1, 2})
	var b Buf
	require.NoError(t, msgpack.Unmarshal(ok, &b), "the baseline must decode")

	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"oversize", raw(t, 1, 0, 0, -1, -1, -1, make([]byte, MaxPacketSize+1)), ErrOversize},
		{"start+len past end", raw(t, 1, 2000, 2000, -1, -1, -1, make([]byte, 49)), ErrOversize},
		{"data before start", raw(t, 1, 4, 3, -1, -1, -1, []byte{1, 2}), ErrBadOffset},
		{"data after tail", raw(t, 1, 4, 7, -1, -1, -1, []byte{1, 2}), ErrBadOffset},
		{"start past storage", raw(t, 1, MaxPacketSize+1, 0, -1, -1, -1, []byte{}), ErrBadOffset},
		{"mark before start", raw(t, 1, 4, 4, 3, -1, -1, []byte{1, 2}), ErrBadOffset},
		{"mark after tail", raw(t, 1, 4, 4, -1, 7, -1, []byte{1, 2}), ErrBadOffset},
		{"mark below -1", raw(t, 1, 4, 4, -1, -1, -2, []byte{1, 2}), ErrBadOffset},
		{"dev too large", raw(t, 70000, 4, 4, -1, -1, -1, []byte{1, 2}), ErrDecode},
		{"huge uint64", raw(t, uint64(1)<<63, 4, 4, -1, -1, -1, []byte{1, 2}), ErrDecode},
		{"too few fields", raw(t, 1, 4, 4, -1, -1, []byte{1, 2}), ErrBadFormat},
		{"too many fields", raw(t, 1, 4, 4, -1, -1, -1, []byte{1, 2}, 1400, 0), ErrBadFormat},
		{"gso size zero (never written)", raw(t, 1, 4, 4, -1, -1, -1, []byte{1, 2}, 0), ErrBadOffset},
		{"gso size too large", raw(t, 1, 4, 4, -1, -1, -1, []byte{1, 2}, 70000), ErrBadOffset},
		{"gso size not a number", raw(t, 1, 4, 4, -1, -1, -1, []byte{1, 2}, "x"), ErrBadFormat},
		{"nil field", raw(t, nil, 4, 4, -1, -1, -1, []byte{1, 2}), ErrBadFormat},
		{"string not bin", raw(t, 1, 4, 4, -1, -1, -1, "ab"), ErrBadFormat},
		{"float offset", raw(t, 1, 4.0, 4, -1, -1, -1, []byte{1, 2}), ErrBadFormat},
		{"nil bytes", raw(t, 1, 4, 4, -1, -1, -1, nil), ErrBadFormat},
		{"not an array", []byte{0x01}, ErrDecode},
		{"map not array", []byte{0x81, 0x01, 0x02}, ErrDecode},
		{"truncated bytes", ok[:len(ok)-1], ErrDecode},
		{"empty", nil, ErrDecode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := Get()
			defer b.Free()
			require.NoError(t, b.Append([]byte("stale")))
			b.Dev = 4
			err := msgpack.Unmarshal(tc.in, b)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
			assert.ErrorIs(t, err, ErrDecode)
			assert.Equal(t, 0, b.Len(), "a failed decode leaves the buffer empty")
			assert.Equal(t, DevID(0), b.Dev)
		})
	}
}

// msgpack-go handles a nil itself, before DecodeMsgpack runs, by zeroing the
// target: the result is an empty Buf that no longer belongs to a pool. This
// pins that behaviour (documented on DecodeMsgpack) so a library change shows.
func TestMsgpackNilDecodesToZeroBuf(t *testing.T) {
	b := NewPool(1).Get()
	require.NoError(t, b.Append([]byte("x")))
	require.NoError(t, msgpack.Unmarshal([]byte{0xc0}, b))
	assert.Equal(t, 0, b.Len())
	assert.ErrorIs(t, b.Free(), ErrNotPooled)
}

func TestMsgpackFreedBuf(t *testing.T) {
	b := NewPool(1).Get()
	require.NoError(t, b.Free())
	_, err := msgpack.Marshal(b)
	assert.ErrorIs(t, err, ErrFreed)
	assert.ErrorIs(t, msgpack.Unmarshal(raw(t, 1, 4, 4, -1, -1, -1, []byte{1}), b), ErrFreed)
}

func FuzzDecode(f *testing.F) {
	src := receivedFrame(f)
	seed, err := msgpack.Marshal(src)
	require.NoError(f, err)
	f.Add(seed)
	empty, _ := msgpack.Marshal(new(Buf))
	f.Add(empty)
	f.Add([]byte{0x97, 0x01, 0x04, 0x04, 0xff, 0x04, 0xff, 0xc4, 0x02, 0xde, 0xad})
	f.Add([]byte{0x97, 0xcd, 0xff, 0xff, 0xcd, 0x07, 0xff, 0xcd, 0x08, 0x00, 0xff, 0xff, 0xff, 0xc4, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		var b Buf
		if err := msgpack.Unmarshal(in, &b); err != nil {
			require.ErrorIs(t, err, ErrDecode)
			require.Equal(t, 0, b.Len())
			return
		}
		// The window is the one the input describes: the front at the
		// encoded data offset, the end at start + len(bytes).
		var raw []any
		require.NoError(t, msgpack.Unmarshal(in, &raw), "it decoded as a Buf, so it is an array or nil")
		if raw == nil { // nil decodes to the zero Buf (TestMsgpackNilDecodesToZeroBuf)
			require.Equal(t, 0, b.Len())
			require.Equal(t, 0, b.Headroom())
			return
		}
		require.Contains(t, []int{encodedFields, encodedFields + 1}, len(raw))
		start, data := asInt(t, raw[1]), asInt(t, raw[2])
		payload, _ := raw[6].([]byte)
		require.Equal(t, data, b.Headroom(), "the front is the encoded data offset")
		require.Equal(t, start+len(payload)-data, b.Len(), "the end is start + the bytes")
		require.LessOrEqual(t, b.Headroom()+b.Len(), MaxPacketSize)
		for l := LinkLayer; l < numLayers; l++ {
			_, _ = b.Header(l)
		}
		// Decoded buffers re-encode to something that decodes to the same state.
		enc, err := msgpack.Marshal(&b)
		require.NoError(t, err)
		var again Buf
		require.NoError(t, msgpack.Unmarshal(enc, &again))
		require.Equal(t, snapshot(&b), snapshot(&again))
	})
}

// asInt converts a decoded msgpack integer.
func asInt(t *testing.T, v any) int {
	t.Helper()
	switch n := v.(type) {
	case int8:
		return int(n)
	case int16:
		return int(n)
	case int32:
		return int(n)
	case int64:
		return int(n)
	case uint8:
		return int(n)
	case uint16:
		return int(n)
	case uint32:
		return int(n)
	case uint64:
		return int(n)
	}
	t.Fatalf("not an integer: %T %v", v, v)
	return 0
}

func BenchmarkEncode(b *testing.B) {
	src := receivedFrame(b)
	var out bytes.Buffer
	enc := msgpack.NewEncoder(&out)
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		_ = src.EncodeMsgpack(enc)
	}
}

func BenchmarkDecode(b *testing.B) {
	src := receivedFrame(b)
	_ = src.Append(make([]byte, 1400))
	in, _ := msgpack.Marshal(src)
	rd := bytes.NewReader(in)
	dec := msgpack.NewDecoder(rd)
	dst := Get()
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		rd.Reset(in)
		dec.Reset(rd)
		_ = dst.DecodeMsgpack(dec)
	}
}
