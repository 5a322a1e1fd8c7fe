package stack_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

// goodUDP is a valid frame from peer to our port 7 (IPv4 header at
// wire.EthernetHeaderLen).
func goodUDP() []byte {
	return peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 7), []byte("payload!"))
}

// mutate returns a copy of goodUDP changed by fn; fixSum recomputes the IPv4
// header checksum afterwards, so that only the intended fault remains.
func mutate(fixSum bool, fn func(f []byte) []byte) []byte {
	f := fn(append([]byte(nil), goodUDP()...))
	if fixSum && len(f) >= wire.EthernetHeaderLen+20 {
		ip := f[wire.EthernetHeaderLen:]
		hl := int(ip[0]&0xf) * 4
		if hl >= 20 && hl <= len(ip) {
			ip[10], ip[11] = 0, 0
			c := ^wire.Checksum(ip[:hl], 0)
			ip[10], ip[11] = byte(c>>8), byte(c)
		}
	}
	return f
}

func TestMalformedFramesAreDroppedAndCounted(t *testing.T) {
	const e = wire.EthernetHeaderLen
	cases := []struct {
		name    string
		frame   []byte
		counter string
	}{
		{"empty frame", []byte{}, "link.RxTruncated"},
		{"truncated ethernet", goodUDP()[:13], "link.RxTruncated"},
		{"not our MAC", mutate(false, func(f []byte) []byte { f[5] ^= 1; return f }), "link.RxNotForUs"},
		{"our own source MAC", mutate(false, func(f []byte) []byte { copy(f[6:12], ourMAC[:]); return f }), "link.RxOwnSource"},
		{"unknown ethertype", mutate(false, func(f []byte) []byte { f[12], f[13] = 0x86, 0xdd; return f }), "link.RxUnknownType"},
		{"truncated ARP", peer.ARPRequest(ourAddr)[:e+20], "arp.RxMalformed"},
		{"truncated IPv4 header", goodUDP()[:e+19], "ipv4.RxTruncated"},
		{"IHL beyond frame", mutate(false, func(f []byte) []byte { f[e] = 0x4f; return f[:e+40] }), "ipv4.RxTruncated"},
		{"IPv4 version 6", mutate(true, func(f []byte) []byte { f[e] = 0x65; return f }), "ipv4.RxBadVersion"},
		{"IHL below 5", mutate(true, func(f []byte) []byte { f[e] = 0x44; return f }), "ipv4.RxBadHeaderLen"},
		{"bad header checksum", mutate(false, func(f []byte) []byte { f[e+10] ^= 0xff; return f }), "ipv4.RxBadChecksum"},
		{"total length below header", mutate(true, func(f []byte) []byte { f[e+2], f[e+3] = 0, 19; return f }), "ipv4.RxBadTotalLen"},
		{"total length beyond frame", mutate(true, func(f []byte) []byte { f[e+2], f[e+3] = 0x05, 0xdc; return f }), "ipv4.RxBadTotalLen"},
		{"not our address", mutate(true, func(f []byte) []byte { f[e+19] = 99; return f }), "ipv4.RxNotForUs"},
		{"multicast destination", mutate(true, func(f []byte) []byte { copy(f[e+16:e+20], []byte{224, 0, 0, 1}); return f }), "ipv4.RxNotForUs"},
		{"broadcast source", mutate(true, func(f []byte) []byte { copy(f[e+12:e+16], []byte{255, 255, 255, 255}); return f }), "ipv4.RxBadSource"},
		{"our own source address", mutate(true, func(f []byte) []byte { copy(f[e+12:e+16], []byte{10, 0, 2, 15}); return f }), "ipv4.RxBadSource"},
		{"this-network source", mutate(true, func(f []byte) []byte { copy(f[e+12:e+16], []byte{0, 0, 0, 0}); return f }), "ipv4.RxBadSource"},
		{"0/8 source", mutate(true, func(f []byte) []byte { copy(f[e+12:e+16], []byte{0, 1, 2, 3}); return f }), "ipv4.RxBadSource"},
		{"reserved source", mutate(true, func(f []byte) []byte { copy(f[e+12:e+16], []byte{240, 0, 0, 1}); return f }), "ipv4.RxBadSource"},
		{"loopback source from the wire", mutate(true, func(f []byte) []byte { copy(f[e+12:e+16], []byte{127, 0, 0, 1}); return f }), "ipv4.RxBadSource"},
		{"multicast source", mutate(true, func(f []byte) []byte { copy(f[e+12:e+16], []byte{224, 0, 0, 9}); return f }), "ipv4.RxBadSource"},
		{"truncated UDP", peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolUDP, []byte{1, 2, 3}), "udp.RxTruncated"},
		{"UDP length beyond IP", mutate(false, func(f []byte) []byte { f[e+20+5] = 200; return f }), "udp.RxBadLength"},
		{"bad UDP checksum", mutate(false, func(f []byte) []byte { f[len(f)-1] ^= 1; return f }), "udp.RxBadChecksum"},
		{"truncated ICMP", peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolICMP, []byte{8}), "icmp.RxTruncated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 0)
			ep := f.bind("0.0.0.0:7")
			before := f.s.Counters()
			require.NotPanics(t, func() { f.inject(tc.frame) })
			d := f.s.Counters().Sub(before)
			v, ok := d.Get(tc.counter)
			require.True(t, ok, tc.counter)
			assert.EqualValues(t, 1, v, "counter %s; all counters:\n%s", tc.counter, d)
			assert.EqualValues(t, 1, d.Link.RxFrames)
			assert.Zero(t, ep.Len(), "nothing delivered")
			f.quiet()
		})
	}
}

func TestEthernetPaddingIsTrimmed(t *testing.T) {
	f := newFixture(t, 0)
	ep := f.bind("0.0.0.0:7")
	frame := append(peer.UDPFrame(ourMAC, 4000, ap(ourAddr, 7), []byte("hi")), make([]byte, 20)...)
	f.inject(frame)
	buf := make([]byte, 100)
	n, _, err := ep.Dequeue(buf)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(buf[:n]))
}

func TestNilInputCounted(t *testing.T) {
	f := newFixture(t, 0)
	f.s.Input(nil)
	assert.EqualValues(t, 1, f.counter("link.RxNilBuffer"))
}

func TestNewValidatesConfig(t *testing.T) {
	link := &stacktest.Link{}
	good := stack.Config{MAC: ourMAC, Addr: subnet, Gateway: gwAddr}
	for name, mod := range map[string]func(c *stack.Config){
		"no address":          func(c *stack.Config) { c.Addr = netip.Prefix{} },
		"IPv6 address":        func(c *stack.Config) { c.Addr = netip.MustParsePrefix("fe80::1/64") },
		"multicast MAC":       func(c *stack.Config) { c.MAC[0] = 1 },
		"zero MAC":            func(c *stack.Config) { c.MAC = wire.MAC{} },
		"MTU below 68":        func(c *stack.Config) { c.MTU = 67 },
		"MTU beyond a buffer": func(c *stack.Config) { c.MTU = stack.MaxMTU + 1 },
		"gateway off subnet":  func(c *stack.Config) { c.Gateway = remote },
	} {
		c := good
		mod(&c)
		_, err := stack.New(c, link, nil)
		assert.ErrorIs(t, err, stack.ErrInvalidConfig, name)
	}
	s, err := stack.New(good, link, nil)
	require.NoError(t, err)
	assert.Equal(t, stack.DefaultMTU, s.Config().MTU)
	_, err = stack.New(good, nil, nil)
	assert.ErrorIs(t, err, stack.ErrInvalidConfig, "nil link")
}

func TestLinkErrorsCounted(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	f.link.Down = true
	ep := f.bind("0.0.0.0:1")
	err := ep.SendTo([]byte("x"), ap(peer.Addr, 2))
	require.ErrorIs(t, err, stacktest.ErrLinkDown)
	assert.EqualValues(t, 1, f.counter("link.TxErrors"))
	assert.EqualValues(t, 1, f.counter("udp.TxErrors"))
}

func TestRegisteredProtocolReceivesAndSends(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	var got []stack.IPPacket
	h := stack.ProtocolFunc(func(p *stack.IPPacket) {
		c := *p
		c.Payload = append([]byte(nil), p.Payload...)
		c.Header = nil
		got = append(got, c)
	})
	require.ErrorIs(t, f.s.RegisterProtocol(uint8(wire.IPProtocolUDP), h), stack.ErrProtocolInUse)
	require.ErrorIs(t, f.s.RegisterProtocol(uint8(wire.IPProtocolICMP), h), stack.ErrProtocolInUse)
	require.NoError(t, f.s.RegisterProtocol(uint8(wire.IPProtocolTCP), h))
	require.ErrorIs(t, f.s.RegisterProtocol(uint8(wire.IPProtocolTCP), h), stack.ErrProtocolInUse)

	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolTCP, []byte("segment")))
	require.Len(t, got, 1)
	assert.Equal(t, stack.IPPacket{Src: peer.Addr, Dst: ourAddr, Protocol: 6, TTL: 64, MTU: 1500, Payload: []byte("segment")}, got[0])

	require.NoError(t, f.s.SendIP(peer.Addr, uint8(wire.IPProtocolTCP), []byte("answer")))
	l := stacktest.Frame(t, f.next(), stacktest.DstMAC(peer.MAC), stacktest.HasIPv4(ourAddr, peer.Addr, wire.IPProtocolTCP))
	assert.Equal(t, "answer", string(l.IP.Payload()))

	assert.True(t, f.s.UnregisterProtocol(uint8(wire.IPProtocolTCP)))
	assert.False(t, f.s.UnregisterProtocol(uint8(wire.IPProtocolTCP)))
	f.inject(peer.IPFrame(ourMAC, ourAddr, wire.IPProtocolTCP, []byte("segment")))
	stacktest.Frame(t, f.next(), stacktest.HasICMP(wire.ICMPv4DstUnreachable, wire.ICMPv4ProtoUnreachable))
}

func TestCountersTable(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	out := f.s.Counters().String()
	assert.Contains(t, out, "arp:\n")
	assert.Contains(t, out, "RxRequests")
	assert.NotContains(t, out, "RxBadChecksum", "zero counters are left out")
	rows := f.s.Counters().Rows()
	var layers []string
	for _, r := range rows {
		if len(layers) == 0 || layers[len(layers)-1] != r.Layer {
			layers = append(layers, r.Layer)
		}
	}
	assert.Equal(t, []string{"link", "arp", "ipv4", "icmp", "udp"}, layers)
	_, ok := f.s.Counters().Get("nope.Nothing")
	assert.False(t, ok)
}

func TestIPv4OptionsAreSkipped(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	ep := f.bind("0.0.0.0:7")
	pkt := stacktest.IPv4(wire.IPv4Repr{Src: peer.Addr, Dst: ourAddr, Protocol: wire.IPProtocolUDP, Options: []byte{1, 1, 1, 0}},
		stacktest.UDP(ap(peer.Addr, 4000), ap(ourAddr, 7), []byte("opts")))
	f.inject(stacktest.Ethernet(ourMAC, peer.MAC, wire.EtherTypeIPv4, pkt))
	buf := make([]byte, 16)
	n, _, err := ep.Dequeue(buf)
	require.NoError(t, err)
	assert.Equal(t, "opts", string(buf[:n]))

	// A closed port's error quotes the header with its options.
	pkt = stacktest.IPv4(wire.IPv4Repr{Src: peer.Addr, Dst: ourAddr, Protocol: wire.IPProtocolUDP, Options: []byte{1, 1, 1, 0}},
		stacktest.UDP(ap(peer.Addr, 4000), ap(ourAddr, 8), []byte("opts")))
	f.inject(stacktest.Ethernet(ourMAC, peer.MAC, wire.EtherTypeIPv4, pkt))
	stacktest.Frame(t, f.next(), stacktest.HasICMP(wire.ICMPv4DstUnreachable, wire.ICMPv4PortUnreachable), stacktest.Quotes(pkt))
}
