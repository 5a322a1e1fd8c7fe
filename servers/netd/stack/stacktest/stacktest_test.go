package stacktest

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc/skbuff"
	"armos/servers/netd/wire"
)

func TestFakeClockIsMonotonic(t *testing.T) {
	c := NewFakeClock()
	assert.Equal(t, FakeEpoch, c.Now())
	c.Advance(time.Second)
	c.Advance(-time.Hour)
	c.Set(FakeEpoch)
	assert.Equal(t, time.Second, c.Since())
	c.Set(FakeEpoch.Add(time.Minute))
	assert.Equal(t, time.Minute, c.Since())
}

func TestFragmentsRebuildThePacket(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	payload := bytes.Repeat([]byte("0123456789"), 100)
	pkt := IPv4(wire.IPv4Repr{Src: src, Dst: dst, Protocol: wire.IPProtocolUDP, ID: 9}, payload)
	frags := Fragments(pkt, 300)
	require.Len(t, frags, 4) // 280-byte chunks
	var got []byte
	for i, fr := range frags {
		ip, err := wire.ParseIPv4(fr)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(fr), 300)
		assert.Equal(t, i*280, ip.FragmentOffset())
		assert.Equal(t, i < 3, ip.MoreFragments())
		got = append(got, ip.Payload()...)
	}
	assert.Equal(t, payload, got)
}

func TestLinkRecordsFreesAndInjectsFaults(t *testing.T) {
	var l Link
	before := skbuff.Default.Stats()
	require.NoError(t, l.Transmit(Buf([]byte("frame one"))))
	l.Fault = func(f []byte) bool { return f[0] == 'x' }
	require.NoError(t, l.Transmit(Buf([]byte("xdropped"))))
	l.Down = true
	require.ErrorIs(t, l.Transmit(Buf([]byte("down"))), ErrLinkDown)
	after := skbuff.Default.Stats()
	assert.Equal(t, after.Gets-before.Gets, after.Frees-before.Frees, "every buffer freed")
	assert.Equal(t, 3, l.Transmitted)
	assert.Equal(t, 1, l.Dropped)
	assert.Equal(t, []byte("frame one"), l.Read())
	assert.Nil(t, l.Read())
}

func TestCheckersAcceptWhatBuildersBuild(t *testing.T) {
	h := Host{MAC: wire.MAC{2, 0, 0, 0, 0, 1}, Addr: netip.MustParseAddr("10.0.0.1")}
	us := wire.MAC{2, 0, 0, 0, 0, 2}
	dst := netip.MustParseAddrPort("10.0.0.2:7")
	Frame(t, h.UDPFrame(us, 99, dst, []byte("x")), DstMAC(us), SrcMAC(h.MAC),
		HasIPv4(h.Addr, dst.Addr(), wire.IPProtocolUDP, TTL(64), HasUDP(99, 7, []byte("x"))))
	Frame(t, h.EchoFrame(us, dst.Addr(), wire.ICMPv4Echo, 3, 4, []byte("p")),
		HasIPv4(h.Addr, dst.Addr(), wire.IPProtocolICMP, HasEcho(wire.ICMPv4Echo, 3, 4, []byte("p"))))
	Frame(t, h.ARPRequest(dst.Addr()), DstMAC(wire.BroadcastMAC), HasARP(wire.ARPRequest, h.MAC, h.Addr, wire.MAC{}, dst.Addr()))

	// A checker that does not hold fails the test.
	ft := &testing.T{}
	Frame(ft, h.UDPFrame(us, 99, dst, []byte("x")), HasUDP(99, 8, nil))
	assert.True(t, ft.Failed())
}
