package skbuff

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetReturnsEmptyBufWithDefaultHeadroom(t *testing.T) {
	b := Get()
	defer b.Free()
	assert.Equal(t, 0, b.Len())
	assert.Equal(t, DefaultHeadroom, b.Headroom())
	assert.Equal(t, MaxPacketSize-DefaultHeadroom, b.Tailroom())
	assert.Equal(t, DevID(0), b.Dev)
	// Ethernet + maximal IPv4 + UDP must fit in the default headroom.
	assert.GreaterOrEqual(t, DefaultHeadroom, 14+60+8)
}

// TestBuildAndParseLayers walks a datagram down the stack (Put payload, Push
// each header) and back up (Pull each header), like netd does.
func TestBuildAndParseLayers(t *testing.T) {
	b := Get()
	defer b.Free()
	require.NoError(t, b.Append([]byte("hello")))
	udp, err := b.Push(8)
	require.NoError(t, err)
	copy(udp, "UUUUUUUU")
	require.NoError(t, b.Mark(TransportLayer))
	ip, err := b.Push(20)
	require.NoError(t, err)
	for i := range ip {
		ip[i] = 'I'
	}
	require.NoError(t, b.Mark(NetworkLayer))
	eth, err := b.Push(14)
	require.NoError(t, err)
	for i := range eth {
		eth[i] = 'E'
	}
	assert.Equal(t, 14+20+8+5, b.Len())
	assert.Equal(t, DefaultHeadroom-42, b.Headroom())
	assert.Equal(t, "EEEEEEEEEEEEEEIIIIIIIIIIIIIIIIIIIIUUUUUUUUhello", string(b.Bytes()))

	h, err := b.Pull(14)
	require.NoError(t, err)
	assert.Equal(t, "EEEEEEEEEEEEEE", string(h))
	_, err = b.Pull(20)
	require.NoError(t, err)
	off, ok := b.Offset(NetworkLayer)
	require.True(t, ok)
	assert.Equal(t, -20, off, "network header was pulled: it lies before the front")
	nh, err := b.Header(NetworkLayer)
	require.NoError(t, err)
	assert.Equal(t, "IIIIIIIIIIIIIIIIIIIIUUUUUUUUhello", string(nh))
	_, err = b.Pull(8)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(b.Bytes()))
	_, ok = b.Offset(LinkLayer)
	assert.False(t, ok)
	_, err = b.Header(LinkLayer)
	assert.ErrorIs(t, err, ErrNoMark)
}

func TestMisuseReturnsErrorAndLeavesBufUnchanged(t *testing.T) {
	cases := []struct {
		name string
		op   func(b *Buf) error
		want error
	}{
		{"push beyond headroom", func(b *Buf) error { _, err := b.Push(DefaultHeadroom + 1); return err }, ErrNoHeadroom},
		{"push negative", func(b *Buf) error { _, err := b.Push(-1); return err }, ErrNegative},
		{"pull beyond length", func(b *Buf) error { _, err := b.Pull(11); return err }, ErrShort},
		{"pull negative", func(b *Buf) error { _, err := b.Pull(-3); return err }, ErrNegative},
		{"put beyond end", func(b *Buf) error { _, err := b.Put(MaxPacketSize); return err }, ErrNoTailroom},
		{"put negative", func(b *Buf) error { _, err := b.Put(-1); return err }, ErrNegative},
		{"append beyond end", func(b *Buf) error { return b.Append(make([]byte, MaxPacketSize)) }, ErrNoTailroom},
		{"trim longer", func(b *Buf) error { return b.Trim(11) }, ErrShort},
		{"trim negative", func(b *Buf) error { return b.Trim(-1) }, ErrNegative},
		{"reserve non-empty", func(b *Buf) error { return b.Reserve(10) }, ErrNotEmpty},
		{"mark bad layer", func(b *Buf) error { return b.Mark(Layer(9)) }, ErrBadLayer},
		{"header bad layer", func(b *Buf) error { _, err := b.Header(Layer(9)); return err }, ErrBadLayer},
		{"reset too large", func(b *Buf) error { return b.Reset(MaxPacketSize + 1) }, ErrNoTailroom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := Get()
			defer b.Free()
			require.NoError(t, b.Append([]byte("0123456789")))
			b.Dev = 3
			before := snapshot(b)
			assert.ErrorIs(t, tc.op(b), tc.want)
			assert.Equal(t, before, snapshot(b))
		})
	}
}

func TestPushAndPutReturnZeroedCappedSlices(t *testing.T) {
	p := NewPool(4)
	b := p.Get()
	dirty := make([]byte, 300)
	for i := range dirty {
		dirty[i] = 0xAA
	}
	require.NoError(t, b.Append(dirty))
	_, err := b.Push(DefaultHeadroom)
	require.NoError(t, err)
	h, _ := b.Pull(DefaultHeadroom)
	for i := range h {
		h[i] = 0xBB
	}
	require.NoError(t, b.Free())

	b = p.Get() // same storage, previous packet's bytes still in it
	defer b.Free()
	hdr, err := b.Push(20)
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 20), hdr, "pushed header must not leak old bytes")
	assert.Equal(t, 20, cap(hdr))
	pl, err := b.Put(30)
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 30), pl, "put payload must not leak old bytes")
	assert.Equal(t, 30, cap(pl))
	assert.Equal(t, b.Len(), cap(b.Bytes()))
}

func TestReserveAndResetSetHeadroom(t *testing.T) {
	var b Buf // the zero Buf is usable
	_, err := b.Push(1)
	assert.ErrorIs(t, err, ErrNoHeadroom)
	require.NoError(t, b.Reserve(64))
	_, err = b.Push(64)
	require.NoError(t, err)
	require.NoError(t, b.Mark(LinkLayer))
	b.Dev = 2
	require.NoError(t, b.Reset(10))
	assert.Equal(t, 10, b.Headroom())
	assert.Equal(t, 0, b.Len())
	assert.Equal(t, DevID(0), b.Dev)
	_, ok := b.Offset(LinkLayer)
	assert.False(t, ok)
	assert.ErrorIs(t, b.Free(), ErrNotPooled)
}

func TestTrimDropsTrailingBytes(t *testing.T) {
	b := Get()
	defer b.Free()
	require.NoError(t, b.Append([]byte("payload+padding")))
	require.NoError(t, b.Trim(7))
	assert.Equal(t, "payload", string(b.Bytes()))
	require.NoError(t, b.Append([]byte("!")))
	assert.Equal(t, "payload!", string(b.Bytes()))
}

func TestHeaderAfterTrimPastMarkIsShort(t *testing.T) {
	b := Get()
	defer b.Free()
	require.NoError(t, b.Append([]byte("abcdef")))
	_, _ = b.Pull(4)
	require.NoError(t, b.Mark(TransportLayer))
	_, _ = b.Push(4)
	require.NoError(t, b.Trim(2))
	_, err := b.Header(TransportLayer)
	assert.ErrorIs(t, err, ErrShort)
}

func TestCopyFrom(t *testing.T) {
	src := Get()
	defer src.Free()
	require.NoError(t, src.Append([]byte("ipheaderpayload")))
	require.NoError(t, src.Mark(NetworkLayer))
	_, _ = src.Pull(8)
	src.Dev = 5
	dst := Get()
	defer dst.Free()
	require.NoError(t, dst.CopyFrom(src))
	assert.Equal(t, snapshot(src), snapshot(dst))
	h, err := dst.Header(NetworkLayer)
	require.NoError(t, err)
	assert.Equal(t, "ipheaderpayload", string(h))
}

func TestCloneCopiesIntoANewPooledBuf(t *testing.T) {
	p := NewPool(4)
	src := p.Get()
	require.NoError(t, src.Append([]byte("frame")))
	src.Dev = 1
	c, err := src.Clone()
	require.NoError(t, err)
	assert.NotSame(t, src, c)
	assert.Equal(t, snapshot(src), snapshot(c))
	c.Bytes()[0] = 'F'
	assert.Equal(t, "frame", string(src.Bytes()), "the clone does not share storage")
	require.NoError(t, c.Free())
	require.NoError(t, src.Free())
	assert.Equal(t, uint64(2), p.Stats().Frees, "the clone came from the same pool")
	_, err = src.Clone()
	assert.ErrorIs(t, err, ErrFreed)

	var unpooled Buf
	c, err = unpooled.Clone()
	require.NoError(t, err)
	assert.NoError(t, c.Free(), "a clone of an unpooled Buf comes from Default")
}

// state is the observable state of a Buf, for comparisons.
type state struct {
	Dev                  DevID
	GSOSize              uint16
	Headroom, Len        int
	Link, Network, Trans int
	Bytes                string
}

func snapshot(b *Buf) state {
	off := func(l Layer) int {
		o, ok := b.Offset(l)
		if !ok {
			return -9999
		}
		return o
	}
	return state{b.Dev, b.GSOSize, b.Headroom(), b.Len(), off(LinkLayer), off(NetworkLayer), off(TransportLayer), string(b.Bytes())}
}
