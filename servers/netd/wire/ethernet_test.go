package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEthernetGolden(t *testing.T) {
	e, err := ParseEthernet(arpRequest)
	require.NoError(t, err)
	assert.Equal(t, BroadcastMAC, e.Dst())
	assert.True(t, e.Dst().IsBroadcast())
	assert.Equal(t, macA, e.Src())
	assert.Equal(t, EtherTypeARP, e.Type())
	assert.Equal(t, arpRequest[14:], e.Payload())

	e, err = ParseEthernet(echoRequest)
	require.NoError(t, err)
	assert.Equal(t, EthernetRepr{Dst: macB, Src: macA, Type: EtherTypeIPv4}, e.Repr())
	assert.Len(t, e.Payload(), 44)
}

func TestEmitEthernetGolden(t *testing.T) {
	b := make([]byte, EthernetHeaderLen)
	require.NoError(t, EthernetRepr{Dst: BroadcastMAC, Src: macA, Type: EtherTypeARP}.Emit(b))
	assert.Equal(t, arpRequest[:14], b)
	require.NoError(t, EthernetRepr{Dst: macA, Src: macB, Type: EtherTypeIPv4}.Emit(b))
	assert.Equal(t, echoReply[:14], b)
}

func TestEthernetErrors(t *testing.T) {
	_, err := ParseEthernet(arpRequest[:13])
	assert.ErrorIs(t, err, ErrTruncated)
	_, err = ParseEthernet(nil)
	assert.ErrorIs(t, err, ErrTruncated)
	e, err := ParseEthernet(arpRequest[:14])
	require.NoError(t, err, "a bare header is a valid (empty) frame")
	assert.Empty(t, e.Payload())
	assert.ErrorIs(t, EthernetRepr{}.Emit(make([]byte, 13)), ErrShortBuffer)
}

func TestMACStringAndParse(t *testing.T) {
	m := MAC{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}
	assert.Equal(t, "52:54:00:ab:cd:ef", m.String())
	assert.Equal(t, "ff:ff:ff:ff:ff:ff", BroadcastMAC.String())
	for _, s := range []string{"52:54:00:ab:cd:ef", "52-54-00-AB-CD-EF", "52:54:00:Ab:cD:eF"} {
		got, err := ParseMAC(s)
		require.NoError(t, err, s)
		assert.Equal(t, m, got, s)
	}
	for _, s := range []string{"", "52:54:00:ab:cd", "52:54:00:ab:cd:eg", "52:54-00:ab:cd:ef",
		"52.54.00.ab.cd.ef", "52:54:00:ab:cd:ef:", "5254:00ab:cdef::::"} {
		_, err := ParseMAC(s)
		assert.ErrorIs(t, err, ErrBadMAC, s)
	}
	assert.True(t, BroadcastMAC.IsMulticast())
	assert.True(t, MAC{0x01, 0x00, 0x5e, 0, 0, 1}.IsMulticast())
	assert.False(t, macA.IsMulticast())
	assert.True(t, MAC{}.IsZero())
	assert.False(t, macA.IsBroadcast())
}

func TestEtherTypeString(t *testing.T) {
	assert.Equal(t, "IPv4", EtherTypeIPv4.String())
	assert.Equal(t, "ARP", EtherTypeARP.String())
	assert.Equal(t, "IPv6", EtherTypeIPv6.String())
	assert.Equal(t, "802.1Q", EtherTypeVLAN.String())
	assert.Equal(t, "EtherType(0x88b5)", EtherType(0x88b5).String())
}

func FuzzEthernet(f *testing.F) {
	for _, s := range [][]byte{arpRequest, arpReply, echoRequest, udpToPort7, {}, arpRequest[:14]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEthernet(b)
		if err != nil {
			require.ErrorIs(t, err, ErrTruncated)
			return
		}
		r := e.Repr()
		_ = e.Payload()
		out := make([]byte, EthernetHeaderLen)
		require.NoError(t, r.Emit(out))
		require.Equal(t, []byte(e[:EthernetHeaderLen]), out)
		e2, err := ParseEthernet(out)
		require.NoError(t, err)
		require.Equal(t, r, e2.Repr())
		m, err := ParseMAC(r.Src.String())
		require.NoError(t, err)
		require.Equal(t, r.Src, m)
	})
}

func BenchmarkParseEthernet(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		e, _ := ParseEthernet(echoRequest)
		_ = e.Type()
	}
}

func BenchmarkEmitEthernet(b *testing.B) {
	out := make([]byte, EthernetHeaderLen)
	r := EthernetRepr{Dst: macB, Src: macA, Type: EtherTypeIPv4}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Emit(out)
	}
}
