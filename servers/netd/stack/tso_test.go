package stack_test

import (
	"encoding/binary"
	"math"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack"
	"armos/servers/netd/wire"
)

// tcpSegment builds a TCP segment: a header of hlen bytes (options
// filled with NOPs) with seq and flags, then data.
func tcpSegment(hlen int, seq uint32, flags byte, data []byte) []byte {
	seg := make([]byte, hlen+len(data))
	binary.BigEndian.PutUint16(seg[0:], 40000)
	binary.BigEndian.PutUint16(seg[2:], 80)
	binary.BigEndian.PutUint32(seg[4:], seq)
	binary.BigEndian.PutUint32(seg[8:], 777)
	seg[12] = byte(hlen/4) << 4
	seg[13] = flags
	binary.BigEndian.PutUint16(seg[14:], 5000)
	for i := 20; i < hlen; i++ {
		seg[i] = 1 // NOP
	}
	copy(seg[hlen:], data)
	return seg
}

// tcpOf returns the TCP segment of a transmitted IPv4 frame, checking the
// IPv4 header: ours to dst, protocol 6, DF, a whole datagram.
func tcpOf(t *testing.T, frame []byte, dst netip.Addr) []byte {
	t.Helper()
	require.Greater(t, len(frame), wire.EthernetHeaderLen+20)
	ip := frame[wire.EthernetHeaderLen:]
	ihl := int(ip[0]&0xf) * 4
	require.Equal(t, byte(6), ip[9])
	require.Equal(t, uint16(0x4000), binary.BigEndian.Uint16(ip[6:])&0x7fff, "DF, not a fragment")
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if len(frame) > wire.EthernetMinFrameLen {
		require.Equal(t, len(ip), total)
	}
	require.LessOrEqual(t, total, len(ip), "short frames are padded")
	ip = ip[:total]
	require.Equal(t, uint16(0xffff), wire.Checksum(ip[:ihl], 0), "IPv4 header checksum")
	require.Equal(t, ourAddr.As4(), [4]byte(ip[12:16]))
	require.Equal(t, dst.As4(), [4]byte(ip[16:20]))
	return ip[ihl:]
}

// validTCP reports whether seg's checksum is right for ourAddr -> dst.
func validTCP(seg []byte, dst netip.Addr) bool {
	return wire.Checksum(seg, wire.PseudoHeaderChecksum(wire.IPProtocolTCP, ourAddr, dst, uint16(len(seg)))) == 0xffff
}

func pieceFlags(seg []byte) byte { return seg[13] }

// TestTSOCutInSoftware: with no device offload, an offloaded segment is
// cut into MSS pieces: the header (options too) on each, the sequence
// number advanced (across the 2^32 wrap), CWR on the first piece only,
// PSH and FIN on the last only, each checksummed.
func TestTSOCutInSoftware(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	f.link.GSOSizes = nil
	data := pattern(5000)
	const base = 0xfffff800
	seg := tcpSegment(32, base, 0x80|0x10|0x08|0x01, data) // CWR ACK PSH FIN
	require.NoError(t, f.s.SendDatagram(&stack.Datagram{Dst: peer.Addr, Protocol: 6, Payload: seg, TSO: 1448}))
	frames := f.link.Drain()
	require.Len(t, frames, 4)
	var got []byte
	for i, fr := range frames {
		p := tcpOf(t, fr, peer.Addr)
		require.True(t, validTCP(p, peer.Addr), "piece %d checksum", i)
		assert.Equal(t, seg[:4], p[:4], "ports")
		assert.Equal(t, uint32(base+1448*i), binary.BigEndian.Uint32(p[4:]), "piece %d sequence number", i)
		assert.Equal(t, seg[8:13], p[8:13], "ack and data offset")
		assert.Equal(t, seg[14:16], p[14:16], "window")
		assert.Equal(t, seg[20:32], p[20:32], "options")
		want := byte(0x10)
		if i == 0 {
			want |= 0x80
		}
		if i == 3 {
			want |= 0x08 | 0x01
		}
		assert.Equal(t, want, pieceFlags(p), "piece %d flags", i)
		got = append(got, p[32:]...)
	}
	assert.Equal(t, data, got)
	for _, g := range f.link.GSOSizes {
		assert.Zero(t, g)
	}
	assert.EqualValues(t, 1, f.counter("ipv4.TxTSOSoftware"))
	assert.EqualValues(t, 4, f.counter("ipv4.TxTSOPieces"))
	assert.Zero(t, f.counter("ipv4.TxTSO"))
}

// TestTSOToTheDevice: when the link's device segments TCP, the segment
// leaves as one frame with its GSO size, and its checksum field holds the
// pseudo-header sum, so the device's completion (the sum from the TCP
// header on, complemented) gives the right checksum. What does not need
// cutting, what is too large for the device and what goes to ourselves
// is not offloaded.
func TestTSOToTheDevice(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	f.link.GSOSizes = nil
	f.s.SetTSOMax(65000)
	data := pattern(40000)
	seg := tcpSegment(20, 1, 0x18, data)
	require.NoError(t, f.s.SendDatagram(&stack.Datagram{Dst: peer.Addr, Protocol: 6, Payload: seg, TSO: 1460}))
	frames := f.link.Drain()
	require.Len(t, frames, 1)
	require.Equal(t, []uint16{1460}, f.link.GSOSizes)
	p := tcpOf(t, frames[0], peer.Addr)
	require.Equal(t, len(seg), len(p))
	assert.Equal(t, wire.PseudoHeaderChecksum(wire.IPProtocolTCP, ourAddr, peer.Addr, uint16(len(seg))), binary.BigEndian.Uint16(p[16:]))
	done := append([]byte(nil), p...)
	binary.BigEndian.PutUint16(done[16:], ^wire.Checksum(done, 0))
	assert.True(t, validTCP(done, peer.Addr), "the device's completion is the segment's checksum")
	assert.Equal(t, data, p[20:])
	assert.EqualValues(t, 1, f.counter("ipv4.TxTSO"))

	// One MSS or less: a plain segment, checksummed here.
	f.link.GSOSizes = nil
	require.NoError(t, f.s.SendDatagram(&stack.Datagram{Dst: peer.Addr, Protocol: 6, Payload: tcpSegment(20, 1, 0x18, data[:1460]), TSO: 1460}))
	p = tcpOf(t, f.next(), peer.Addr)
	assert.True(t, validTCP(p, peer.Addr))
	assert.Equal(t, []uint16{0}, f.link.GSOSizes)

	// With CWR (the device would need ECN): cut here.
	require.NoError(t, f.s.SendDatagram(&stack.Datagram{Dst: peer.Addr, Protocol: 6, Payload: tcpSegment(20, 1, 0x90, data[:3000]), TSO: 1460}))
	assert.Len(t, f.link.Drain(), 3)
	assert.EqualValues(t, 1, f.counter("ipv4.TxTSOSoftware"))

	// Larger than the device takes: cut here.
	f.s.SetTSOMax(20000)
	require.NoError(t, f.s.SendDatagram(&stack.Datagram{Dst: peer.Addr, Protocol: 6, Payload: seg, TSO: 1460}))
	assert.Len(t, f.link.Drain(), (40000+1459)/1460)
	assert.EqualValues(t, 1, f.counter("ipv4.TxTSO"))
	assert.EqualValues(t, 2, f.counter("ipv4.TxTSOSoftware"))
}

// TestTSOToOurselves: an offloaded segment to our own address reaches the
// owner of protocol 6 as MSS pieces, never as one oversize datagram.
func TestTSOToOurselves(t *testing.T) {
	f := newFixture(t, 0)
	f.s.SetTSOMax(65000)
	o := &owner{}
	require.NoError(t, f.s.RegisterProtocol(6, o))
	require.NoError(t, f.s.SendDatagram(&stack.Datagram{Dst: ourAddr, Protocol: 6, Payload: tcpSegment(20, 9, 0x10, pattern(3000)), TSO: 1000}))
	require.Len(t, o.pkts, 3)
	for _, p := range o.pkts {
		assert.Len(t, p.Payload, 1020)
		assert.True(t, wire.Checksum(p.Payload, wire.PseudoHeaderChecksum(wire.IPProtocolTCP, ourAddr, ourAddr, uint16(len(p.Payload)))) == 0xffff)
	}
}

// TestTSORefused: what is not a TCP segment netd can cut is refused and
// counted, and nothing is sent.
func TestTSORefused(t *testing.T) {
	f := newFixture(t, 0)
	f.learn(peer)
	good := tcpSegment(20, 1, 0x10, pattern(3000))
	badOffset := append([]byte(nil), good...)
	badOffset[12] = 4 << 4
	pastEnd := tcpSegment(20, 1, 0x10, nil)
	pastEnd[12] = 15 << 4
	for name, d := range map[string]stack.Datagram{
		"not TCP":                   {Dst: peer.Addr, Protocol: 253, Payload: good, TSO: 1000},
		"shorter than a TCP header": {Dst: peer.Addr, Protocol: 6, Payload: good[:19], TSO: 1000},
		"data offset below 5":       {Dst: peer.Addr, Protocol: 6, Payload: badOffset, TSO: 1000},
		"header past the end":       {Dst: peer.Addr, Protocol: 6, Payload: pastEnd, TSO: 1000},
		"pieces over the MTU":       {Dst: peer.Addr, Protocol: 6, Payload: good, TSO: 1461},
		"negative size":             {Dst: peer.Addr, Protocol: 6, Payload: good, TSO: -1},
		"overflowing size":          {Dst: peer.Addr, Protocol: 6, Payload: good, TSO: math.MaxInt},
		"too many pieces":           {Dst: peer.Addr, Protocol: 6, Payload: tcpSegment(20, 1, 0x10, make([]byte, stack.MaxTSOPieces+1)), TSO: 1},
		"over the largest segment":  {Dst: peer.Addr, Protocol: 6, Payload: make([]byte, stack.MaxTSOSegment+1), TSO: 1000},
	} {
		require.ErrorIs(t, f.s.SendDatagram(&d), stack.ErrBadOffload, name)
	}
	f.quiet()
	assert.EqualValues(t, 9, f.counter("ipv4.TxTSOBad"))
}

// FuzzTSO: any segment bytes and size never panic; either the request is
// refused (counted) or the frames sent carry exactly the segment's data,
// in order, each a valid segment within the MTU (or one offloaded frame).
func FuzzTSO(f *testing.F) {
	f.Add(tcpSegment(20, 1, 0x18, pattern(3000)), 1000, false)
	f.Add(tcpSegment(60, 0xffffffff, 0x19, pattern(100)), 1, true)
	f.Add(tcpSegment(24, 5, 0x10, pattern(9000)), 1460, true)
	f.Fuzz(func(t *testing.T, seg []byte, mss int, device bool) {
		if mss == 0 {
			return // not an offload request
		}
		fx := newFixture(t, 0)
		fx.learn(peer)
		fx.link.GSOSizes = nil
		if device {
			fx.s.SetTSOMax(65000)
		}
		err := fx.s.SendDatagram(&stack.Datagram{Dst: peer.Addr, Protocol: 6, Payload: seg, TSO: mss})
		frames := fx.link.Drain()
		if err != nil {
			require.ErrorIs(t, err, stack.ErrBadOffload)
			require.Empty(t, frames)
			require.EqualValues(t, 1, fx.counter("ipv4.TxTSOBad"))
			return
		}
		thl := int(seg[12]>>4) * 4
		var data []byte
		for i, fr := range frames {
			p := tcpOf(t, fr, peer.Addr)
			require.Equal(t, seg[20:thl], p[20:thl], "options copied")
			if fx.link.GSOSizes[i] == 0 {
				require.LessOrEqual(t, len(fr)-wire.EthernetHeaderLen, 1500)
				require.LessOrEqual(t, len(p)-thl, mss)
				require.True(t, validTCP(p, peer.Addr))
			} else {
				require.Len(t, frames, 1)
				require.EqualValues(t, mss, fx.link.GSOSizes[i])
			}
			data = append(data, p[thl:]...)
		}
		require.Equal(t, string(seg[thl:]), string(data))
	})
}
