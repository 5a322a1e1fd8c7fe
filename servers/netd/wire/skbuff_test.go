package wire

import (
	"testing"

	"armos/libipc/skbuff"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sendUDP builds a UDP/IPv4/Ethernet frame in a Buf the way netd's send path
// does: payload first, then each header pushed in front and emitted in place.
func sendUDP(b *skbuff.Buf, payload []byte) error {
	if err := b.Append(payload); err != nil {
		return err
	}
	if _, err := b.Push(UDPHeaderLen); err != nil {
		return err
	}
	// The UDP checksum covers the payload: emit over the whole datagram.
	if err := (UDPRepr{SrcPort: 40000, DstPort: 7}).Emit(b.Bytes(), ipA, ipB); err != nil {
		return err
	}
	ipr := IPv4Repr{Src: ipA, Dst: ipB, Protocol: IPProtocolUDP, TTL: 64, ID: 0xb0bb,
		DontFragment: true, PayloadLen: b.Len()}
	h, err := b.Push(ipr.HeaderLen())
	if err != nil {
		return err
	}
	if err := ipr.Emit(h); err != nil {
		return err
	}
	if h, err = b.Push(EthernetHeaderLen); err != nil {
		return err
	}
	return EthernetRepr{Dst: macB, Src: macA, Type: EtherTypeIPv4}.Emit(h)
}

// recvUDP walks a received frame up the layers with Pull, returning the
// datagram's payload.
func recvUDP(b *skbuff.Buf) ([]byte, error) {
	eth, err := ParseEthernet(b.Bytes())
	if err != nil || eth.Type() != EtherTypeIPv4 {
		return nil, err
	}
	if _, err := b.Pull(EthernetHeaderLen); err != nil {
		return nil, err
	}
	_ = b.Mark(skbuff.NetworkLayer)
	ip, err := ParseIPv4(b.Bytes())
	if err != nil {
		return nil, err
	}
	if err := b.Trim(len(ip)); err != nil {
		return nil, err
	}
	if _, err := b.Pull(ip.HeaderLen()); err != nil {
		return nil, err
	}
	u, err := ParseUDP(b.Bytes())
	if err != nil {
		return nil, err
	}
	if err := u.VerifyChecksum(ip.Src(), ip.Dst()); err != nil {
		return nil, err
	}
	return u.Payload(), nil
}

func TestSkbuffSendPathBuildsLinuxFrame(t *testing.T) {
	b := skbuff.Get()
	defer b.Free()
	require.NoError(t, sendUDP(b, []byte("hello armos\n")))
	assert.Equal(t, udpToPort7, b.Bytes())
}

func TestSkbuffReceivePath(t *testing.T) {
	b := skbuff.Get()
	defer b.Free()
	padded := make([]byte, EthernetMinFrameLen)
	copy(padded, udpToPort7)
	require.NoError(t, b.Append(padded))
	got, err := recvUDP(b)
	require.NoError(t, err)
	assert.Equal(t, "hello armos\n", string(got))
	ipHdr, err := b.Header(skbuff.NetworkLayer)
	require.NoError(t, err)
	assert.Equal(t, udpToPort7[EthernetHeaderLen:], ipHdr, "the pulled IPv4 header is still reachable, padding trimmed")
}

// TestZeroAllocs pins the design promise: parsing, accessors and emitting
// allocate nothing, and neither does a whole send or receive through a pooled
// Buf.
func TestZeroAllocs(t *testing.T) {
	ipUDP, udpPayload := layers(t, udpToPort7)
	_, icmpPayload := layers(t, echoRequest)
	arpPayload := arpRequest[EthernetHeaderLen:]
	out := make([]byte, 128)
	echo := append([]byte(nil), icmpPayload...)
	cases := map[string]func(){
		"ParseEthernet": func() { e, _ := ParseEthernet(echoRequest); _ = e.Repr() },
		"ParseARP":      func() { a, _ := ParseARP(arpPayload); _ = a.Repr() },
		"ParseIPv4":     func() { p, _ := ParseIPv4(ipUDP); _ = p.Repr() },
		"ParseUDP": func() {
			u, _ := ParseUDP(udpPayload)
			_ = u.VerifyChecksum(ipA, ipB)
			_ = u.Repr()
		},
		"ParseICMPv4":  func() { m, _ := ParseICMPv4(icmpPayload); _ = m.Repr(); _, _ = m.Original() },
		"EmitEthernet": func() { _ = EthernetRepr{Dst: macA, Src: macB, Type: EtherTypeARP}.Emit(out) },
		"EmitARP":      func() { _ = arpReplyRepr.Emit(out) },
		"EmitIPv4":     func() { _ = echoRequestIPRepr.Emit(out) },
		"EmitUDP":      func() { _ = UDPRepr{SrcPort: 1, DstPort: 2}.Emit(out[:40], ipA, ipB) },
		"EmitICMPv4":   func() { _ = ICMPv4Repr{Type: ICMPv4EchoReply, Ident: 1}.Emit(echo) },
		"Checksum":     func() { _ = Checksum(udpToPort7, PseudoHeaderChecksum(IPProtocolUDP, ipA, ipB, 20)) },
		"SendUDP": func() {
			b := skbuff.Get()
			_ = sendUDP(b, udpPayload[8:])
			_ = b.Free()
		},
		"RecvUDP": func() {
			b := skbuff.Get()
			_ = b.Append(udpToPort7)
			_, _ = recvUDP(b)
			_ = b.Free()
		},
	}
	skbuff.Get().Free() // warm the pool
	for name, fn := range cases {
		assert.Zero(t, testing.AllocsPerRun(200, fn), name)
	}
}

func BenchmarkSendUDPFrame(b *testing.B) {
	payload := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf := skbuff.Get()
		_ = sendUDP(buf, payload)
		_ = buf.Free()
	}
}

func BenchmarkRecvUDPFrame(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		buf := skbuff.Get()
		_ = buf.Append(udpToPort7)
		_, _ = recvUDP(buf)
		_ = buf.Free()
	}
}
