package wire

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	arpRequestRepr = ARPRepr{Op: ARPRequest, SenderMAC: macA, SenderIP: ipA, TargetIP: ipB}
	arpReplyRepr   = ARPRepr{Op: ARPReply, SenderMAC: macB, SenderIP: ipB, TargetMAC: macA, TargetIP: ipA}
)

func TestParseARPGolden(t *testing.T) {
	a, err := ParseARP(arpRequest[EthernetHeaderLen:])
	require.NoError(t, err)
	assert.Equal(t, ARPRequest, a.Op())
	assert.Equal(t, macA, a.SenderMAC())
	assert.Equal(t, ipA, a.SenderIP())
	assert.True(t, a.TargetMAC().IsZero())
	assert.Equal(t, ipB, a.TargetIP())
	assert.Equal(t, arpRequestRepr, a.Repr())

	a, err = ParseARP(arpReply[EthernetHeaderLen:])
	require.NoError(t, err)
	assert.Equal(t, arpReplyRepr, a.Repr())
}

// A frame padded to the Ethernet minimum (as a real NIC delivers it) parses to
// the same 28 bytes.
func TestParseARPPadded(t *testing.T) {
	padded := make([]byte, EthernetMinFrameLen)
	copy(padded, arpReply)
	a, err := ParseARP(padded[EthernetHeaderLen:])
	require.NoError(t, err)
	assert.Len(t, a, ARPLen)
	assert.Equal(t, arpReplyRepr, a.Repr())
}

func TestEmitARPGolden(t *testing.T) {
	b := make([]byte, ARPLen)
	require.NoError(t, arpRequestRepr.Emit(b))
	assert.Equal(t, arpRequest[EthernetHeaderLen:], b)
	require.NoError(t, arpReplyRepr.Emit(b))
	assert.Equal(t, arpReply[EthernetHeaderLen:], b)
}

func TestARPErrors(t *testing.T) {
	p := arpRequest[EthernetHeaderLen:]
	_, err := ParseARP(p[:ARPLen-1])
	assert.ErrorIs(t, err, ErrTruncated)
	for _, tc := range []struct {
		name string
		off  int
		val  byte
	}{
		{"hardware type", 1, 6}, // IEEE 802
		{"protocol type", 2, 0x86},
		{"hardware length", 4, 8},
		{"protocol length", 5, 16},
	} {
		bad := append([]byte(nil), p...)
		bad[tc.off] = tc.val
		_, err := ParseARP(bad)
		assert.ErrorIs(t, err, ErrUnsupported, tc.name)
	}
	r := arpRequestRepr
	assert.ErrorIs(t, r.Emit(make([]byte, ARPLen-1)), ErrShortBuffer)
	r.TargetIP = netip.MustParseAddr("fe80::1")
	assert.ErrorIs(t, r.Emit(make([]byte, ARPLen)), ErrBadAddress)
	r.TargetIP = netip.Addr{}
	assert.ErrorIs(t, r.Emit(make([]byte, ARPLen)), ErrBadAddress)
}

func TestARPOpString(t *testing.T) {
	assert.Equal(t, "request", ARPRequest.String())
	assert.Equal(t, "reply", ARPReply.String())
	assert.Equal(t, "ARPOp(9)", ARPOp(9).String())
}

func FuzzARP(f *testing.F) {
	f.Add(arpRequest[EthernetHeaderLen:])
	f.Add(arpReply[EthernetHeaderLen:])
	f.Add(make([]byte, ARPLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseARP(b)
		if err != nil {
			require.True(t, err == ErrTruncated || err == ErrUnsupported, "unexpected error %v", err)
			return
		}
		r := a.Repr()
		out := make([]byte, ARPLen)
		require.NoError(t, r.Emit(out))
		require.Equal(t, []byte(a), out)
		a2, err := ParseARP(out)
		require.NoError(t, err)
		require.Equal(t, r, a2.Repr())
	})
}

func BenchmarkParseARP(b *testing.B) {
	p := arpReply[EthernetHeaderLen:]
	b.ReportAllocs()
	for b.Loop() {
		a, _ := ParseARP(p)
		_ = a.SenderIP()
		_ = a.SenderMAC()
	}
}

func BenchmarkEmitARP(b *testing.B) {
	out := make([]byte, ARPLen)
	b.ReportAllocs()
	for b.Loop() {
		_ = arpReplyRepr.Emit(out)
	}
}
