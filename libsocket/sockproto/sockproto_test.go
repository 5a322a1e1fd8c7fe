package sockproto

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"armos/libipc"
)

func TestAddrRoundTrip(t *testing.T) {
	for _, s := range []string{"192.0.2.1:7", "0.0.0.0:0", "255.255.255.255:65535", "[2001:db8::1]:53"} {
		ap := netip.MustParseAddrPort(s)
		b, err := msgpack.Marshal(&BindReq{Handle: 3, Addr: AddrFrom(ap)})
		require.NoError(t, err)
		var got BindReq
		require.NoError(t, msgpack.Unmarshal(b, &got))
		assert.Equal(t, ap, got.Addr.AddrPort(), s)
		assert.Equal(t, Handle(3), got.Handle)
	}
}

func TestAddrGoldenBytes(t *testing.T) {
	a := AddrFrom(netip.MustParseAddrPort("10.0.2.15:7"))
	b, err := msgpack.Marshal(&a)
	require.NoError(t, err)
	// uint64: 10.0.2.15 << 16 | 7.
	assert.Equal(t, []byte{0xcf, 0, 0, 0x0a, 0, 0x02, 0x0f, 0, 0x07}, b)

	a = AddrFrom(netip.MustParseAddrPort("0.0.0.0:7"))
	b, err = msgpack.Marshal(&a)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x07}, b, "0.0.0.0:7 is the integer 7")

	b, err = msgpack.Marshal(&Addr{})
	require.NoError(t, err)
	assert.Equal(t, []byte{0xc0}, b, "no address is nil")

	a = AddrFrom(netip.MustParseAddrPort("[2001:db8::1]:53"))
	b, err = msgpack.Marshal(&a)
	require.NoError(t, err)
	assert.Equal(t, append(append([]byte{0xc4, 18, 0x20, 0x01, 0x0d, 0xb8}, make([]byte, 11)...), 1, 0, 53), b)

	require.NoError(t, msgpack.Unmarshal([]byte{0xce, 0xc0, 0xa8, 0x1f, 0x90}, &a), "any integer form")
	assert.Equal(t, "0.0.192.168:8080", a.String())
	require.NoError(t, msgpack.Unmarshal([]byte{0xcf, 0, 0, 192, 168, 1, 1, 0x1f, 0x90}, &a))
	assert.Equal(t, "192.168.1.1:8080", a.String())
}

func TestAddrZeroAndNil(t *testing.T) {
	var a = AddrFrom(netip.MustParseAddrPort("1.2.3.4:5"))
	require.NoError(t, msgpack.Unmarshal([]byte{0xc0}, &a), "nil decodes as no address")
	assert.False(t, a.IsValid())
	assert.Equal(t, "none", a.String())
}

func TestAddrBadEncodings(t *testing.T) {
	var a Addr
	for name, b := range map[string][]byte{
		"short bin":      {0xc4, 5, 1, 2, 3, 4, 5},
		"truncated bin":  {0xc4, 18, 1, 2, 3},
		"negative":       {0xff},
		"over 48 bits":   {0xcf, 0, 1, 0, 0, 0, 0, 0, 0},
		"string":         {0xa1, 'x'},
		"truncated uint": {0xcf, 0, 0},
		"empty":          {},
	} {
		assert.Error(t, msgpack.Unmarshal(b, &a), name)
	}
	assert.ErrorIs(t, msgpack.Unmarshal([]byte{0xa1, 'x'}, &a), ErrBadAddr)
}

func TestAddrDecodeDoesNotAllocate(t *testing.T) {
	b, err := msgpack.Marshal(&RecvFromResp{From: AddrFrom(netip.MustParseAddrPort("10.0.2.2:5555"))})
	require.NoError(t, err)
	dec := msgpack.NewDecoder(nil)
	var r bytes.Reader
	var resp RecvFromResp
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(b)
		dec.Reset(&r)
		require.NoError(t, dec.Decode(&resp))
	})
	assert.Zero(t, allocs, "an IPv4 address decodes without allocating")
	assert.Equal(t, "10.0.2.2:5555", resp.From.String())
}

func TestErrnoSentinels(t *testing.T) {
	wrapped := fmt.Errorf("bind 0.0.0.0:7: %w", EADDRINUSE)
	assert.ErrorIs(t, wrapped, EADDRINUSE)
	assert.NotErrorIs(t, wrapped, EAGAIN)
	assert.Equal(t, "address already in use", EADDRINUSE.Error())
	assert.Equal(t, "errno 4242", Errno(4242).Error())
	assert.False(t, Errno(4242).Known())
	assert.True(t, ETIMEDOUT.Known())

	assert.True(t, ETIMEDOUT.Timeout())
	assert.True(t, EAGAIN.Timeout())
	assert.False(t, EBADF.Timeout())
	assert.True(t, errors.Is(ETIMEDOUT, os.ErrDeadlineExceeded))
	assert.False(t, errors.Is(EAGAIN, os.ErrDeadlineExceeded))
}

func TestOpAndOptNames(t *testing.T) {
	assert.Equal(t, "recvfrom", OpRecvFrom.String())
	assert.Equal(t, "op(0)", Op(0).String())
	assert.False(t, Op(0).Valid())
	assert.False(t, opEnd.Valid())
	for op := OpSocket; op < opEnd; op++ {
		assert.NotEmpty(t, opNames[op], "every op has a name")
	}
	for o := OptRecvQueue; o < optEnd; o++ {
		assert.NotEmpty(t, optNames[o], "every option has a name")
	}
	assert.Equal(t, "broadcast", OptBroadcast.String())
	assert.True(t, OptRecvDrops.ReadOnly())
	assert.False(t, OptBroadcast.ReadOnly())
	assert.True(t, ValidFlags(MsgDontWait))
	assert.False(t, ValidFlags(0x1))
}

// FuzzAddrDecode checks that arbitrary bytes never panic the address decoder,
// and that whatever decodes re-encodes to a value that decodes the same.
func FuzzAddrDecode(f *testing.F) {
	f.Add([]byte{0xcf, 0, 0, 0x0a, 0, 0x02, 0x0f, 0, 0x07})
	f.Add([]byte{0x07})
	f.Add([]byte{0xc0})
	f.Add(append([]byte{0xc4, 18}, make([]byte, 18)...))
	f.Add([]byte{0xc4, 7, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{0xd3, 0xff, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Addr
		if msgpack.Unmarshal(b, &a) != nil {
			return
		}
		enc, err := msgpack.Marshal(&a)
		require.NoError(t, err)
		var again Addr
		require.NoError(t, msgpack.Unmarshal(enc, &again))
		require.Equal(t, a, again)
	})
}

func TestErrnoAsLibipcCode(t *testing.T) {
	assert.Equal(t, libipc.ErrAddrInUse, libipc.CodeOf(EADDRINUSE), "a server can Fail(errno)")
	assert.Equal(t, libipc.ErrAddrInUse, libipc.CodeOf(fmt.Errorf("bind: %w", EADDRINUSE)))
	assert.ErrorIs(t, EADDRINUSE, libipc.ErrAddrInUse)
	assert.Equal(t, ETIMEDOUT, ErrnoOf(libipc.ErrTimeout))
	assert.Equal(t, libipc.ErrClosed, EBADF.Code())
}

// The largest send and the largest receive reply fit in one IPC message,
// even with the largest header values and an IPv6 address.
func TestMaxDatagramFits(t *testing.T) {
	v6 := AddrFrom(netip.MustParseAddrPort("[2001:db8::1]:65535"))
	h := libipc.Header{Version: libipc.Version, Kind: libipc.KindRequest, Op: 0xffff, ID: 0xffffffff}
	data := make([]byte, MaxDatagram)
	for _, body := range []any{
		&SendToReq{Handle: 0xffffffff, To: v6, Flags: 0xffffffff, Data: data},
		&RecvFromResp{From: v6, Data: data, Size: 1 << 62, Truncated: true},
	} {
		b, err := libipc.AppendMessage(nil, h, body)
		require.NoError(t, err, "%T", body)
		assert.LessOrEqual(t, len(b)-len(data), MaxOverhead, "%T: overhead within the bound", body)
	}
	_, err := libipc.AppendMessage(nil, h, &SendToReq{Data: make([]byte, libipc.MaxMessageSize)})
	assert.ErrorIs(t, err, libipc.ErrTooLarge, "the bound is real")
}
