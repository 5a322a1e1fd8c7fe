package libipc_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
)

// portBody is the body used in the documented golden example.
type portBody struct {
	Port uint16 `msgpack:"port"`
}

// echoReq / echoResp form the small test protocol used across these tests.
type echoReq struct {
	Text string `msgpack:"text"`
	N    int    `msgpack:"n"`
}

type echoResp struct {
	Text string `msgpack:"text"`
	N    int    `msgpack:"n"`
}

func TestHeaderGoldenBytes(t *testing.T) {
	cases := []struct {
		name string
		h    libipc.Header
		want []byte
	}{
		{"fixints", libipc.Header{Version: 1, Kind: libipc.KindRequest, Op: 3, ID: 7},
			[]byte{0x94, 0x01, 0x01, 0x03, 0x07}},
		{"uint8 op", libipc.Header{Version: 1, Kind: libipc.KindReply, Op: 200, ID: 0x7f},
			[]byte{0x94, 0x01, 0x02, 0xcc, 0xc8, 0x7f}},
		{"uint16 op, uint32 id", libipc.Header{Version: 1, Kind: libipc.KindError, Op: 0x1234, ID: 0x01020304},
			[]byte{0x94, 0x01, 0x03, 0xcd, 0x12, 0x34, 0xce, 0x01, 0x02, 0x03, 0x04}},
		{"uint16 id", libipc.Header{Version: 1, Kind: libipc.KindOneway, Op: 1, ID: 0x100},
			[]byte{0x94, 0x01, 0x04, 0x01, 0xcd, 0x01, 0x00}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := libipc.AppendHeader(nil, tc.h)
			assert.Equal(t, tc.want, got)
			h, body, err := libipc.ParseHeader(got)
			require.NoError(t, err)
			assert.Equal(t, tc.h, h)
			assert.Empty(t, body)
		})
	}
}

func TestMessageGoldenBytes(t *testing.T) {
	// The example documented on Header and in docs/ipc.md.
	want := []byte{0x94, 0x01, 0x01, 0x03, 0x07, 0x81, 0xa4, 'p', 'o', 'r', 't', 0x07}
	h := libipc.Header{Version: libipc.Version, Kind: libipc.KindRequest, Op: 3, ID: 7}
	got, err := libipc.AppendMessage(nil, h, &portBody{Port: 7})
	require.NoError(t, err)
	assert.Equal(t, want, got)

	var p portBody
	gotH, err := libipc.DecodeMessage(want, &p)
	require.NoError(t, err)
	assert.Equal(t, h, gotH)
	assert.Equal(t, uint16(7), p.Port)

	// Error bodies and empty bodies have fixed encodings too.
	eh := libipc.Header{Version: 1, Kind: libipc.KindError, Op: 3, ID: 7}
	got, err = libipc.AppendMessage(nil, eh, &libipc.ErrorBody{Code: libipc.ErrAddrInUse, Msg: "x"})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x94, 0x01, 0x03, 0x03, 0x07,
		0x82, 0xa4, 'c', 'o', 'd', 'e', 0x62, 0xa3, 'm', 's', 'g', 0xa1, 'x'}, got)
	got, err = libipc.AppendMessage(nil, h, &libipc.Empty{})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x94, 0x01, 0x01, 0x03, 0x07, 0x80}, got)
	got, err = libipc.AppendMessage(nil, h, nil)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x94, 0x01, 0x01, 0x03, 0x07, 0xc0}, got)
}

func TestParseHeaderAcceptsWideIntegers(t *testing.T) {
	// Another encoder may use non-minimal or signed forms; values still count.
	msg := []byte{0x94, 0xcc, 0x01, 0xd0, 0x01, 0xd1, 0x00, 0x03, 0xcf, 0, 0, 0, 0, 0, 0, 0, 7, 0xc0}
	h, body, err := libipc.ParseHeader(msg)
	require.NoError(t, err)
	assert.Equal(t, libipc.Header{Version: 1, Kind: libipc.KindRequest, Op: 3, ID: 7}, h)
	assert.Equal(t, []byte{0xc0}, body)
}

func TestMalformedInput(t *testing.T) {
	good := []byte{0x94, 0x01, 0x01, 0x03, 0x07, 0x82, 0xa4, 't', 'e', 'x', 't', 0xa2, 'h', 'i', 0xa1, 'n', 0x05}
	var ok echoReq
	_, err := libipc.DecodeMessage(good, &ok)
	require.NoError(t, err)
	require.Equal(t, echoReq{Text: "hi", N: 5}, ok)

	n := libipc.MaxMessageSize // a bin 32 of this many bytes makes the message too large
	big := append([]byte{0x94, 0x01, 0x01, 0x03, 0x07, 0xc6, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, make([]byte, n)...)
	cases := []struct {
		name   string
		msg    []byte
		reason libipc.Reason
		code   libipc.Code
	}{
		{"empty", nil, libipc.ReasonTruncated, libipc.ErrMalformed},
		{"not an array", []byte{0x81, 0x01, 0x01}, libipc.ReasonBadHeader, libipc.ErrMalformed},
		{"array of 3", []byte{0x93, 0x01, 0x01, 0x03}, libipc.ReasonBadHeader, libipc.ErrMalformed},
		{"truncated envelope", good[:3], libipc.ReasonTruncated, libipc.ErrMalformed},
		{"truncated uint16", []byte{0x94, 0x01, 0x01, 0xcd, 0x01}, libipc.ReasonTruncated, libipc.ErrMalformed},
		{"string op", []byte{0x94, 0x01, 0x01, 0xa1, 'x', 0x07, 0xc0}, libipc.ReasonBadHeader, libipc.ErrMalformed},
		{"negative id", []byte{0x94, 0x01, 0x01, 0x03, 0xff, 0xc0}, libipc.ReasonBadHeader, libipc.ErrMalformed},
		{"op over uint16", []byte{0x94, 0x01, 0x01, 0xce, 0, 1, 0, 0, 0x07, 0xc0}, libipc.ReasonBadHeader, libipc.ErrMalformed},
		{"version 2", []byte{0x94, 0x02, 0x01, 0x03, 0x07, 0xc0}, libipc.ReasonBadVersion, libipc.ErrBadVersion},
		{"kind 0", []byte{0x94, 0x01, 0x00, 0x03, 0x07, 0xc0}, libipc.ReasonBadKind, libipc.ErrMalformed},
		{"kind 5", []byte{0x94, 0x01, 0x05, 0x03, 0x07, 0xc0}, libipc.ReasonBadKind, libipc.ErrMalformed},
		{"no body", good[:5], libipc.ReasonTruncated, libipc.ErrMalformed},
		{"truncated body", good[:len(good)-1], libipc.ReasonTruncated, libipc.ErrMalformed},
		{"truncated string", good[:13], libipc.ReasonTruncated, libipc.ErrMalformed},
		{"trailing garbage", append(append([]byte{}, good...), 0x00), libipc.ReasonTrailing, libipc.ErrMalformed},
		{"two bodies", append(append([]byte{}, good...), good[5:]...), libipc.ReasonTrailing, libipc.ErrMalformed},
		{"wrong type", []byte{0x94, 0x01, 0x01, 0x03, 0x07, 0x81, 0xa1, 'n', 0xa1, 'x'}, libipc.ReasonWrongType, libipc.ErrMalformed},
		{"unknown field", []byte{0x94, 0x01, 0x01, 0x03, 0x07, 0x81, 0xa1, 'z', 0x01}, libipc.ReasonWrongType, libipc.ErrMalformed},
		{"body not a map", []byte{0x94, 0x01, 0x01, 0x03, 0x07, 0xa1, 'x'}, libipc.ReasonWrongType, libipc.ErrMalformed},
		{"reserved code 0xc1", []byte{0x94, 0x01, 0x01, 0x03, 0x07, 0xc1}, libipc.ReasonWrongType, libipc.ErrMalformed},
		{"huge array length", []byte{0x94, 0x01, 0x01, 0x03, 0x07, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, libipc.ReasonTruncated, libipc.ErrMalformed},
		{"too deep", append([]byte{0x94, 0x01, 0x01, 0x03, 0x07}, deepArray(100)...), libipc.ReasonTooLarge, libipc.ErrTooLarge},
		{"oversize", big, libipc.ReasonTooLarge, libipc.ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v echoReq
			_, err := libipc.DecodeMessage(tc.msg, &v)
			require.Error(t, err)
			var fe *libipc.FrameError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.reason, fe.Reason, "error: %v", err)
			assert.ErrorIs(t, err, tc.code)
			assert.Equal(t, tc.code, libipc.CodeOf(err))
			assert.NotEmpty(t, err.Error())
		})
	}
}

func TestFrameErrorOffsetAndOp(t *testing.T) {
	msg := []byte{0x94, 0x01, 0x01, 0x03, 0x07, 0x81, 0xa1, 'n', 0xa1, 'x', 0x00}
	_, err := libipc.DecodeMessage(msg, &echoReq{})
	var fe *libipc.FrameError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, libipc.ReasonTrailing, fe.Reason)
	assert.Equal(t, libipc.Op(3), fe.Op)
	assert.Equal(t, len(msg)-1, fe.Offset, "offset points at the first trailing byte")
}

func TestEncodeTooLarge(t *testing.T) {
	h := libipc.Header{Version: 1, Kind: libipc.KindOneway, Op: 1}
	_, err := libipc.AppendMessage(nil, h, make([]byte, libipc.MaxMessageSize))
	assert.ErrorIs(t, err, libipc.ErrTooLarge)
	b, err := libipc.AppendMessage(nil, h, make([]byte, libipc.MaxMessageSize-16))
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b), libipc.MaxMessageSize)
}

func TestEncodeUnsupportedType(t *testing.T) {
	h := libipc.Header{Version: 1, Kind: libipc.KindOneway, Op: 1}
	_, err := libipc.AppendMessage(nil, h, make(chan int))
	assert.Error(t, err)
}

func TestCodeErrors(t *testing.T) {
	assert.Equal(t, "libipc: peer closed", libipc.ErrPeerClosed.Error())
	assert.Equal(t, "libipc: error code 4000", libipc.Code(4000).Error())
	remote := &libipc.RemoteError{Op: 2, Code: libipc.ErrAddrInUse, Msg: "port 7 in use"}
	assert.ErrorIs(t, remote, libipc.ErrAddrInUse)
	assert.NotErrorIs(t, remote, libipc.ErrPeerClosed)
	assert.Contains(t, remote.Error(), "port 7 in use")
	assert.Equal(t, libipc.ErrInternal, libipc.CodeOf(errors.New("boom")))
	assert.Equal(t, libipc.Code(0), libipc.CodeOf(nil))
}

// deepArray returns n nested one-element arrays around a nil.
func deepArray(n int) []byte {
	b := make([]byte, 0, n+1)
	for i := 0; i < n; i++ {
		b = append(b, 0x91)
	}
	return append(b, 0xc0)
}
