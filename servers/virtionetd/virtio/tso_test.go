package virtio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var be = binary.BigEndian

// sum16 adds b as big-endian 16-bit words to sum (one's complement,
// folded).
func sum16(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(be.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// tcpFrame is an Ethernet frame of one IPv4 TCP segment as netd offloads
// it: an IPv4 header of ihl bytes (NOP options past 20), DF, its checksum
// valid; a TCP header of thl bytes; payload bytes of data; the TCP
// checksum field holding the pseudo-header sum over the TCP length.
func tcpFrame(ihl, thl, payload int) []byte {
	f := make([]byte, ethHdrLen+ihl+thl+payload)
	copy(f, []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x02, 0, 0, 0, 0, 1})
	be.PutUint16(f[12:], ethTypeIPv4)
	ip := f[ethHdrLen:]
	ip[0] = 0x40 | byte(ihl/4)
	be.PutUint16(ip[2:], uint16(len(ip)))
	be.PutUint16(ip[4:], 0x1234)
	be.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, ipProtoTCP
	copy(ip[12:], []byte{10, 0, 2, 15, 10, 0, 2, 2})
	for i := ipv4MinHdr; i < ihl; i++ {
		ip[i] = 1
	}
	be.PutUint16(ip[10:], ^sum16(ip[:ihl], 0))
	tcp := ip[ihl:]
	be.PutUint32(tcp[0:], 80<<16|40000)
	be.PutUint32(tcp[4:], 0x01020304)
	be.PutUint32(tcp[8:], 0x0a0b0c0d)
	tcp[12] = byte(thl/4) << 4
	tcp[13] = 0x18 // PSH, ACK
	be.PutUint16(tcp[14:], 65535)
	for i := tcpMinHdr; i < thl; i++ {
		tcp[i] = 1
	}
	for i := thl; i < len(tcp); i++ {
		tcp[i] = byte(i * 7)
	}
	pseudo := append(append([]byte(nil), ip[12:20]...), 0, ipProtoTCP, byte(len(tcp)>>8), byte(len(tcp)))
	be.PutUint16(tcp[16:], sum16(pseudo, 0))
	return f
}

func hdrLen(v uint32) int {
	if v == 2 {
		return modernHdr
	}
	return legacyHdr
}

// desc is the driver's transmit descriptor id: address and length.
func desc(n *NIC, id uint16) (uint64, uint32) {
	d := n.tx.queue.mem[16*int(id):]
	return le.Uint64(d), le.Uint32(d[8:])
}

func TestOffloadNegotiation(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		base := uint64(FeatureMAC | FeatureStatus)
		if v == 2 {
			base |= FeatureVersion1
		}
		cases := []struct {
			name string
			dev  *fakeDev
			cfg  Config
			want uint64 // besides base
		}{
			{"both offered", newFakeNet(v).offload(), Config{}, FeatureCSUM | FeatureHostTSO4},
			{"HOST_TSO4 without CSUM", func() *fakeDev {
				d := newFakeNet(v).offload()
				d.features &^= FeatureCSUM
				return d
			}(), Config{}, 0},
			{"CSUM without HOST_TSO4", newFakeNet(v), Config{}, 0},
			{"NoOffload", newFakeNet(v).offload(), Config{NoOffload: true}, 0},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := newRigOn(t, tc.dev, tc.cfg)
				want := base | tc.want
				assert.Equal(t, want, r.nic.Features(), "never GUEST_CSUM or GUEST_TSO4, never TSO4 without CSUM")
				assert.Equal(t, want, r.dev.driverFeat)
				small := 3*4096*2 + 2*DefaultQueueSize*BufSize
				if tc.want == 0 {
					assert.Zero(t, r.nic.TSOMax())
					assert.Nil(t, r.nic.tso, "no offload memory")
					assert.Equal(t, small, r.nic.DMABytes())
					require.ErrorIs(t, r.nic.SendTSO(tcpFrame(20, 20, 3000), 1460), ErrNoTSO)
					assert.EqualValues(t, 1, r.nic.Counters().TxBadOffload)
					assert.Empty(t, r.dev.sent)
				} else {
					assert.Equal(t, MaxTSO, r.nic.TSOMax())
					assert.Equal(t, small+TSOSlots*tsoSlotSize, r.nic.DMABytes())
					require.NoError(t, r.nic.SendTSO(tcpFrame(20, 20, 3000), 1460))
					assert.Len(t, r.dev.sent, 1)
					r.nic.Reset()
					assert.Equal(t, want, r.nic.Features(), "the same after a reset")
					assert.Equal(t, MaxTSO, r.nic.TSOMax())
				}
				require.NoError(t, r.nic.Send(frame(100, 1)), "plain frames either way")
				assert.Empty(t, r.dev.errors)
			})
		}
	})
}

// The header asks the device to cut the segment (or only to complete
// its checksum) and the frame follows it untouched, in one descriptor
// naming a slot.
func TestSendTSOHeader(t *testing.T) {
	cases := []struct {
		name     string
		frame    []byte
		mss      int
		wantHdr  []byte // the legacy 10 bytes; modern adds num_buffers 0
		wantKind uint8
	}{
		// hdr_len 14+24+32 = 70, gso_size 1448, csum_start 38, csum_offset 16.
		{"cut, with options", tcpFrame(24, 32, 5000), 1448, []byte{1, 1, 70, 0, 0xa8, 0x05, 38, 0, 16, 0}, gsoTCPv4},
		// The largest: 65,000 bytes of IPv4, mss 536.
		{"largest", tcpFrame(20, 20, MaxTSO-40), 536, []byte{1, 1, 54, 0, 0x18, 0x02, 34, 0, 16, 0}, gsoTCPv4},
		// Payload of one MSS or less: the checksum only.
		{"not cut", tcpFrame(20, 20, 1460), 1460, []byte{1, 0, 54, 0, 0, 0, 34, 0, 16, 0}, gsoNone},
		{"no payload", tcpFrame(20, 20, 0), 1460, []byte{1, 0, 54, 0, 0, 0, 34, 0, 16, 0}, gsoNone},
		{"largest headers", tcpFrame(60, 60, 2000), 1000, []byte{1, 1, 134, 0, 0xe8, 0x03, 74, 0, 16, 0}, gsoTCPv4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			versions(t, func(t *testing.T, v uint32) {
				r := newRigOn(t, newFakeNet(v).offload(), Config{})
				in := append([]byte(nil), tc.frame...)
				require.NoError(t, r.nic.SendTSO(in, tc.mss))
				require.Equal(t, tc.frame, in, "the caller's frame is not changed")
				want := tc.wantHdr
				if v == 2 {
					want = append(want[:len(want):len(want)], 0, 0)
				}
				require.Len(t, r.dev.hdrs, 1)
				assert.Equal(t, want, r.dev.hdrs[0])
				assert.Equal(t, tc.wantKind, r.dev.hdrs[0][hdrGSOType])
				require.Len(t, r.dev.sent, 1)
				assert.Equal(t, tc.frame, r.dev.sent[0], "the frame, byte for byte, after the header")
				d := r.dev.txDescs[0]
				slot := -1
				for i, m := range r.nic.tso.mem {
					if m.PA(0) == d.addr {
						slot = i
					}
				}
				assert.EqualValues(t, hdrLen(v)+len(tc.frame), d.length)
				if len(tc.frame) <= BufSize-hdrLen(v) {
					assert.Equal(t, -1, slot, "a frame that fits goes in a transmit buffer, no slot")
					assert.Zero(t, r.nic.tso.lent[d.id])
					assert.Len(t, r.nic.tso.free, TSOSlots)
				} else {
					require.NotEqual(t, -1, slot, "the descriptor names a slot")
					assert.Equal(t, slot+1, r.nic.tso.lent[d.id])
				}
				c := r.nic.Counters()
				assert.EqualValues(t, 1, c.TxTSOFrames)
				assert.EqualValues(t, len(tc.frame), c.TxTSOBytes)
				assert.EqualValues(t, 1, c.TxFrames, "an offloaded frame is a transmitted frame too")
				assert.EqualValues(t, len(tc.frame), c.TxBytes)
				assert.Empty(t, r.dev.errors)
			})
		})
	}
}

// A reclaimed descriptor names its own buffer again and its slot is
// free; the next Send uses that buffer.
func TestTSOSlotReclaim(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		r := newRigOn(t, newFakeNet(v).offload(), Config{})
		f := tcpFrame(20, 20, 20000)
		require.NoError(t, r.nic.SendTSO(f, 1460))
		require.Len(t, r.dev.txDescs, 1)
		id := r.dev.txDescs[0].id
		addr, _ := desc(r.nic, id)
		assert.Equal(t, r.nic.tso.mem[r.nic.tso.lent[id]-1].PA(0), addr, "lent to a slot")
		assert.Len(t, r.nic.tso.free, TSOSlots-1)

		r.nic.Service() // reclaims
		assert.Len(t, r.nic.tso.free, TSOSlots)
		assert.Zero(t, r.nic.tso.lent[id])
		addr, _ = desc(r.nic, id)
		assert.Equal(t, r.nic.tx.bufPA(id), addr, "its own buffer again")
		assert.Equal(t, DefaultQueueSize, r.nic.TxFree())

		g := frame(300, 7)
		require.NoError(t, r.nic.Send(g))
		require.Len(t, r.dev.txDescs, 2)
		d := r.dev.txDescs[1]
		assert.Equal(t, id, d.id, "the descriptor freed last is used first")
		assert.Equal(t, r.nic.tx.bufPA(id), d.addr)
		assert.EqualValues(t, hdrLen(v)+len(g), d.length)
		assert.Equal(t, g, r.dev.sent[1])
		assert.Equal(t, make([]byte, hdrLen(v)), r.dev.hdrs[1], "a plain frame's header is zero")
		assert.Empty(t, r.dev.errors)
	})
}

func TestTSOSlotsFull(t *testing.T) {
	r := newRigOn(t, newFakeNet(1).offload(), Config{})
	r.dev.stalled = true
	var frames [][]byte
	for i := 0; i < TSOSlots; i++ {
		f := tcpFrame(20, 20, 3000+i)
		require.NoError(t, r.nic.SendTSO(f, 1460))
		frames = append(frames, f)
	}
	require.ErrorIs(t, r.nic.SendTSO(tcpFrame(20, 20, 3000), 1460), ErrRingFull)
	c := r.nic.Counters()
	assert.EqualValues(t, 1, c.TxTSOSlotsFull)
	assert.Zero(t, c.TxRingFull, "descriptors are left")
	assert.EqualValues(t, TSOSlots, c.TxTSOFrames)
	require.NoError(t, r.nic.Send(frame(100, 1)), "plain frames still go")
	frames = append(frames, frame(100, 1))

	// The device catches up; the next SendTSO reclaims.
	r.dev.stalled = false
	r.dev.transmit()
	f := tcpFrame(20, 20, 4000)
	require.NoError(t, r.nic.SendTSO(f, 1460))
	frames = append(frames, f)
	assert.Equal(t, frames, r.dev.sent)
	assert.Len(t, r.nic.tso.free, TSOSlots-1)
	assert.Empty(t, r.dev.errors)
}

// Descriptors run out before slots in a small ring: ring full, counted
// as such.
func TestTSODescriptorsFull(t *testing.T) {
	r := newRigOn(t, newFakeNet(2).offload(), Config{QueueSize: 4})
	r.dev.stalled = true
	for i := 0; i < 4; i++ {
		require.NoError(t, r.nic.SendTSO(tcpFrame(20, 20, 3000), 1460))
	}
	require.ErrorIs(t, r.nic.SendTSO(tcpFrame(20, 20, 3000), 1460), ErrRingFull)
	c := r.nic.Counters()
	assert.EqualValues(t, 1, c.TxRingFull)
	assert.Zero(t, c.TxTSOSlotsFull)
	assert.Len(t, r.nic.tso.free, TSOSlots-4)
}

// A reset gives every slot back and every descriptor its own buffer.
func TestTSOReset(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		r := newRigOn(t, newFakeNet(v).offload(), Config{})
		r.dev.stalled = true
		for i := 0; i < 3; i++ {
			require.NoError(t, r.nic.SendTSO(tcpFrame(20, 20, 3000), 1460))
		}
		require.NoError(t, r.nic.Send(frame(100, 1)))
		r.nic.Reset()
		assert.EqualValues(t, 4, r.nic.Counters().TxLostInReset)
		assert.Len(t, r.nic.tso.free, TSOSlots)
		for id := 0; id < DefaultQueueSize; id++ {
			assert.Zero(t, r.nic.tso.lent[id])
			addr, _ := desc(r.nic, uint16(id))
			require.Equal(t, r.nic.tx.bufPA(uint16(id)), addr, "descriptor %d", id)
		}
		// Every slot is usable again, many times over.
		r.dev.stalled = false
		for i := 0; i < 3*TSOSlots; i++ {
			require.NoError(t, r.nic.SendTSO(tcpFrame(20, 20, 2000+i), 1000))
		}
		require.Len(t, r.dev.sent, 3*TSOSlots)
		assert.Equal(t, tcpFrame(20, 20, 2000+3*TSOSlots-1), r.dev.sent[3*TSOSlots-1])
		assert.Empty(t, r.dev.errors)
	})
}

// A device that breaks a rule while holding offloaded frames is reset;
// the slots come back.
func TestTSOMisbehavingDevice(t *testing.T) {
	r := newRigOn(t, newFakeNet(2).offload(), Config{})
	r.dev.stalled = true
	require.NoError(t, r.nic.SendTSO(tcpFrame(20, 20, 3000), 1460))
	q := &r.dev.q[queueTx]
	r.dev.pushUsed(q, 77, 0) // a descriptor not given
	r.nic.Service()
	c := r.nic.Counters()
	assert.EqualValues(t, 1, c.BadUsedID+c.BadUsedIndex)
	assert.EqualValues(t, 1, c.Resets)
	assert.Len(t, r.nic.tso.free, TSOSlots)
	r.dev.stalled = false
	require.NoError(t, r.nic.SendTSO(tcpFrame(20, 20, 3000), 1460))
	assert.Len(t, r.dev.sent, 1)
}

func TestSendTSOMalformed(t *testing.T) {
	good := func() []byte { return tcpFrame(20, 20, 3000) }
	cases := []struct {
		name  string
		frame []byte
		mss   int
		err   error
	}{
		{"empty", nil, 1460, ErrBadOffload},
		{"Ethernet only", good()[:ethHdrLen], 1460, ErrBadOffload},
		{"not IPv4 (IPv6 type)", func() []byte { f := good(); be.PutUint16(f[12:], 0x86dd); return f }(), 1460, ErrBadOffload},
		{"VLAN tagged", func() []byte { f := good(); be.PutUint16(f[12:], 0x8100); return f }(), 1460, ErrBadOffload},
		{"IP version 6", func() []byte { f := good(); f[14] = 0x65; return f }(), 1460, ErrBadOffload},
		{"not TCP", func() []byte { f := good(); f[14+9] = 17; return f }(), 1460, ErrBadOffload},
		{"IHL 4", func() []byte { f := good(); f[14] = 0x44; return f }(), 1460, ErrBadOffload},
		{"IHL 0", func() []byte { f := good(); f[14] = 0x40; return f }(), 1460, ErrBadOffload},
		{"truncated", good()[:3000], 1460, ErrBadOffload},
		{"truncated IPv4 header", good()[:ethHdrLen+19], 1460, ErrBadOffload},
		{"total length short", func() []byte { f := good(); be.PutUint16(f[16:], uint16(len(f)-ethHdrLen-1)); return f }(), 1460, ErrBadOffload},
		{"total length long", func() []byte { f := good(); be.PutUint16(f[16:], uint16(len(f)-ethHdrLen+1)); return f }(), 1460, ErrBadOffload},
		{"trailing bytes", append(good(), 0), 1460, ErrBadOffload},
		{"fragment (MF)", func() []byte { f := good(); f[14+6] |= 0x20; return f }(), 1460, ErrBadOffload},
		{"fragment (offset)", func() []byte { f := good(); f[14+7] = 1; return f }(), 1460, ErrBadOffload},
		{"IPv4 header past the frame", func() []byte {
			f := tcpFrame(20, 20, 0)[:ethHdrLen+20+10]
			f[14] = 0x4f
			be.PutUint16(f[16:], uint16(len(f)-ethHdrLen))
			return f
		}(), 1460, ErrBadOffload},
		{"TCP header cut short", func() []byte {
			f := tcpFrame(20, 20, 0)[:ethHdrLen+20+19]
			be.PutUint16(f[16:], uint16(len(f)-ethHdrLen))
			return f
		}(), 1460, ErrBadOffload},
		{"data offset 4", func() []byte { f := good(); f[34+12] = 0x40; return f }(), 1460, ErrBadOffload},
		{"data offset past the frame", func() []byte {
			f := tcpFrame(20, 20, 20)
			f[34+12] = 0xf0 // 60 bytes of header in 40
			return f
		}(), 1460, ErrBadOffload},
		{"mss 0", good(), 0, ErrBadOffload},
		{"mss negative", good(), -1460, ErrBadOffload},
		{"mss 65536", good(), 65536, ErrBadOffload},
		{"CWR on a segment to cut", func() []byte { f := good(); f[34+13] |= tcpFlagCWR; return f }(), 1460, ErrBadOffload},
		{"oversize", tcpFrame(20, 20, MaxTSO-40+1), 1460, ErrOversize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRigOn(t, newFakeNet(2).offload(), Config{})
			avail := r.nic.tx.availIdx
			require.ErrorIs(t, r.nic.SendTSO(tc.frame, tc.mss), tc.err)
			c := r.nic.Counters()
			if tc.err == ErrOversize {
				assert.EqualValues(t, 1, c.TxOversize)
			} else {
				assert.EqualValues(t, 1, c.TxBadOffload)
			}
			assert.Zero(t, c.TxFrames+c.TxTSOFrames)
			assert.Equal(t, avail, r.nic.tx.availIdx, "nothing offered")
			assert.Zero(t, r.dev.notifies[queueTx])
			assert.Empty(t, r.dev.sent)
			assert.Len(t, r.nic.tso.free, TSOSlots)
			assert.Equal(t, DefaultQueueSize, r.nic.TxFree())
		})
	}
	// What is not refused: CWR on a segment not cut, the largest mss.
	r := newRigOn(t, newFakeNet(1).offload(), Config{})
	f := tcpFrame(20, 20, 1000)
	f[34+13] |= tcpFlagCWR
	require.NoError(t, r.nic.SendTSO(f, 1460))
	require.NoError(t, r.nic.SendTSO(tcpFrame(20, 20, 3000), 65535))
	assert.Equal(t, byte(gsoNone), r.dev.hdrs[1][hdrGSOType])
	assert.Empty(t, r.dev.errors)
}

// sentinel fills the slots before FuzzSendTSO's call: what the driver
// did not write keeps it.
var sentinel = bytes.Repeat([]byte{0xa5}, tsoSlotSize)

// FuzzSendTSO: whatever frame and mss netd sends, SendTSO neither
// panics nor writes outside the slot it takes: the frame goes whole,
// behind a header the device accepts, or it is refused, counted, and
// nothing is offered.
func FuzzSendTSO(f *testing.F) {
	f.Add(tcpFrame(20, 20, 3000), 1460, byte(0))
	f.Add(tcpFrame(24, 32, 100), 1460, byte(1))
	f.Add(tcpFrame(60, 60, 10), 1, byte(3))
	f.Add(tcpFrame(20, 20, MaxTSO-40), 65535, byte(1))
	f.Add(tcpFrame(20, 20, 0)[:40], 536, byte(6))
	f.Add([]byte{}, 0, byte(0))
	f.Fuzz(func(t *testing.T, frame []byte, mss int, mode byte) {
		// Modes help the fuzzer past the first checks.
		if mode&2 != 0 && len(frame) >= ethHdrLen+4 {
			be.PutUint16(frame[ethHdrLen+2:], uint16(len(frame)-ethHdrLen))
		}
		if mode&4 != 0 && len(frame) >= ethHdrLen {
			be.PutUint16(frame[12:], ethTypeIPv4)
		}
		d := newFakeNet(1 + uint32(mode&1)).offload()
		nic, err := New(d, d.bus.alloc, Config{QueueSize: 16})
		require.NoError(t, err)
		for _, m := range nic.tso.mem {
			copy(m.Bytes(), sentinel)
		}
		in := append([]byte(nil), frame...)
		avail := nic.tx.availIdx
		err = nic.SendTSO(frame, mss)
		require.True(t, bytes.Equal(in, frame), "the frame is not changed")
		c := nic.Counters()
		untouched := func(b []byte) bool { return bytes.Equal(b, sentinel[:len(b)]) }
		if err != nil {
			require.True(t, errors.Is(err, ErrBadOffload) && c.TxBadOffload == 1 || errors.Is(err, ErrOversize) && c.TxOversize == 1,
				"%v, counters %+v", err, c)
			require.Equal(t, avail, nic.tx.availIdx, "nothing offered")
			require.Empty(t, d.sent)
			for _, m := range nic.tso.mem {
				require.True(t, untouched(m.Bytes()))
			}
			return
		}
		require.EqualValues(t, 1, c.TxTSOFrames)
		require.Len(t, d.sent, 1)
		require.Equal(t, frame, d.sent[0])
		require.Empty(t, d.errors)
		desc := d.txDescs[0]
		require.EqualValues(t, nic.hdr+len(frame), desc.length)
		require.LessOrEqual(t, int(desc.length), tsoSlotSize)
		slot := -1
		for i, m := range nic.tso.mem {
			if m.PA(0) == desc.addr {
				slot = i
				require.True(t, untouched(m.Bytes()[desc.length:]), "nothing past the frame")
			} else {
				require.True(t, untouched(m.Bytes()), "nothing in another slot")
			}
		}
		if len(frame) <= BufSize-nic.hdr {
			require.Equal(t, -1, slot, "a frame that fits goes in a transmit buffer")
		} else {
			require.NotEqual(t, -1, slot)
		}
		// The header, checked against the frame independently.
		ihl := int(frame[ethHdrLen]&15) * 4
		thl := int(frame[ethHdrLen+ihl+12]>>4) * 4
		h := d.hdrs[0]
		require.EqualValues(t, hdrNeedsCsum, h[hdrFlags])
		require.EqualValues(t, ethHdrLen+ihl+thl, le.Uint16(h[hdrHdrLen:]))
		require.EqualValues(t, ethHdrLen+ihl, le.Uint16(h[hdrCsumStart:]))
		require.EqualValues(t, 16, le.Uint16(h[hdrCsumOffset:]))
		if len(frame)-ethHdrLen-ihl-thl > mss {
			require.EqualValues(t, gsoTCPv4, h[hdrGSOType])
			require.EqualValues(t, mss, le.Uint16(h[hdrGSOSize:]))
		} else {
			require.EqualValues(t, gsoNone, h[hdrGSOType])
			require.Zero(t, le.Uint16(h[hdrGSOSize:]))
		}
	})
}

// A lent slot (LendSlot) is the driver's no more until it comes back
// (ReturnSlot) or goes to the device with a frame received into it
// (SendTSOInSlot): the header is written in front of the frame and the
// descriptor names both where they lie, without a copy; the slot is free
// once the device is done. A frame outside a lent slot, or without the
// header's room before it, is not taken; a refused one gives the slot
// back. At most LendSlotsMax are out, and a reset leaves them out.
func TestLentSlots(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		r := newRigOn(t, newFakeNet(v).offload(), Config{})
		var lent [][]byte
		for range LendSlotsMax {
			b := r.nic.LendSlot()
			require.Len(t, b, tsoSlotSize)
			lent = append(lent, b)
		}
		require.Nil(t, r.nic.LendSlot(), "at most LendSlotsMax out")
		assert.Len(t, r.nic.tso.free, TSOSlots-LendSlotsMax)
		assert.True(t, r.nic.SlotOwns(lent[0][100:200]))
		assert.False(t, r.nic.SlotOwns(make([]byte, 10)))

		// A frame received at offset 40 of a lent slot.
		f := tcpFrame(20, 20, 30000)
		copy(lent[0][40:], f)
		in := lent[0][40 : 40+len(f)]
		took, err := r.nic.SendTSOInSlot(in, 1448)
		require.True(t, took)
		require.NoError(t, err)
		require.Len(t, r.dev.sent, 1)
		assert.Equal(t, f, r.dev.sent[0], "the frame as it lay in the slot")
		d := r.dev.txDescs[0]
		slot, off, ok := r.nic.tso.slotOf(in)
		require.True(t, ok)
		assert.Equal(t, r.nic.tso.mem[slot].PA(off-hdrLen(v)), d.addr, "header and frame where they lie")
		assert.EqualValues(t, hdrLen(v)+len(f), d.length)
		assert.EqualValues(t, 1, r.nic.Counters().TxInSlot)
		assert.False(t, r.nic.ReturnSlot(in), "with the device now, not lent")
		r.nic.Service()
		assert.Len(t, r.nic.tso.free, TSOSlots-LendSlotsMax+1, "free once the device is done")

		// Not taken: outside a slot, no room for the header, not lent.
		took, _ = r.nic.SendTSOInSlot(append([]byte(nil), f...), 1448)
		assert.False(t, took)
		copy(lent[1], f)
		took, _ = r.nic.SendTSOInSlot(lent[1][:len(f)], 1448)
		assert.False(t, took, "no room for the header before it")
		took, _ = r.nic.SendTSOInSlot(lent[0][40:40+len(f)], 1448)
		assert.False(t, took, "that slot is no longer lent")

		// Refused (a bad mss): the slot is back with the driver.
		copy(lent[2][64:], f)
		took, err = r.nic.SendTSOInSlot(lent[2][64:64+len(f)], 0)
		assert.True(t, took)
		assert.ErrorIs(t, err, ErrBadOffload)
		assert.False(t, r.nic.ReturnSlot(lent[2]), "returned already")

		r.nic.Reset()
		assert.Len(t, r.nic.tso.free, TSOSlots-(LendSlotsMax-2), "those still lent stay out")
		assert.True(t, r.nic.ReturnSlot(lent[1][5:9]))
		for _, b := range lent[3:] {
			assert.True(t, r.nic.ReturnSlot(b))
		}
		assert.Len(t, r.nic.tso.free, TSOSlots)
		assert.Zero(t, r.nic.tso.nout)
		assert.Empty(t, r.dev.errors)
	})
}

func TestSharedSlots(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		r := newRigOn(t, newFakeNet(v).offload(), Config{})
		const peer, other = 1, 2
		require.Equal(t, TSOSlots, r.nic.SlotCount())
		mask := r.nic.LendShared(peer, 4)
		require.Equal(t, 4, bits.OnesCount64(mask), "four slots lent")
		assert.Len(t, r.nic.tso.free, TSOSlots-4)
		assert.Zero(t, r.nic.LendShared(peer, 4), "the peer holds its four")
		var held []int
		for i := range TSOSlots {
			if mask&(1<<i) != 0 {
				held = append(held, i)
			}
		}

		// The peer built an offloaded frame at offset 40 of its first slot.
		f := tcpFrame(20, 20, 30000)
		s0 := held[0]
		copy(r.nic.SlotMem(s0).Bytes()[40:], f)
		require.NoError(t, r.nic.SendShared(peer, s0, 40, len(f), 1448))
		require.Len(t, r.dev.sent, 1)
		assert.Equal(t, f, r.dev.sent[0], "the frame as it lay in the slot")
		d := r.dev.txDescs[0]
		assert.Equal(t, r.nic.tso.mem[s0].PA(40-hdrLen(v)), d.addr, "header and frame where they lie")
		c := r.nic.Counters()
		assert.EqualValues(t, 1, c.TxShared)
		assert.EqualValues(t, 1, c.TxInSlot)
		assert.ErrorIs(t, r.nic.SendShared(peer, s0, 40, len(f), 1448), ErrBadSlot, "sent back already")
		assert.Len(t, r.nic.tso.free, TSOSlots-4, "with the device until it is done")
		r.nic.Service()
		assert.Len(t, r.nic.tso.free, TSOSlots-3, "free once the device is done")
		assert.Equal(t, 1, bits.OnesCount64(r.nic.LendShared(peer, 4)), "and lent again")

		// Refused: another peer's slot, no room for the header, past the
		// slot's end; those of the peer it names come back free.
		s1, s2, s3 := held[1], held[2], held[3]
		assert.ErrorIs(t, r.nic.SendShared(other, s1, 40, len(f), 1448), ErrBadSlot)
		assert.ErrorIs(t, r.nic.SendShared(peer, s1, 2, len(f), 1448), ErrBadSlot)
		assert.ErrorIs(t, r.nic.SendShared(peer, s2, 40, tsoSlotSize, 1448), ErrBadSlot)
		assert.ErrorIs(t, r.nic.SendShared(peer, -1, 40, 100, 0), ErrBadSlot)
		assert.EqualValues(t, 5, r.nic.Counters().TxBadSlot, "with the one sent back twice")

		// A frame without segmentation is copied; the slot is free at once.
		small := tcpFrame(20, 20, 100)
		copy(r.nic.SlotMem(s3).Bytes()[64:], small)
		require.NoError(t, r.nic.SendShared(peer, s3, 64, len(small), 0))
		assert.Equal(t, small, r.dev.sent[len(r.dev.sent)-1])

		// A reset keeps what the peer holds; its going gives everything back.
		r.nic.Reset()
		assert.Equal(t, 1, r.nic.tso.nshared)
		r.nic.Unlend(other, ^uint64(0))
		assert.Equal(t, 1, r.nic.tso.nshared, "not the other peer's")
		r.nic.ReturnShared(peer)
		assert.Zero(t, r.nic.tso.nshared)
		assert.Len(t, r.nic.tso.free, TSOSlots)
		assert.Empty(t, r.dev.errors)
	})
}

// The slots are one contiguous run, shared as one object; when memory has
// no such run, TSOSlotsSeparate slots of their own, each shared alone,
// which send from where they lie all the same.
func TestSlotsSeparateWithoutARun(t *testing.T) {
	r := newRigOn(t, newFakeNet(2).offload(), Config{})
	objs, per := r.nic.SlotObjects()
	require.Len(t, objs, 1)
	assert.Equal(t, TSOSlots, per)
	assert.Equal(t, TSOSlots, r.nic.SlotCount())
	assert.Equal(t, TSOSlots*SlotSize, r.nic.tso.bytes())

	dev := newFakeNet(2).offload()
	noRun := func(size int, contiguous bool) (Mem, error) {
		if contiguous && size == TSOSlots*SlotSize {
			return nil, errors.New("no run that long")
		}
		return dev.bus.alloc(size, contiguous)
	}
	nic, err := New(dev, noRun, Config{Deliver: func([]byte) {}, Link: func(bool) {}})
	require.NoError(t, err)
	objs, per = nic.SlotObjects()
	require.Len(t, objs, TSOSlotsSeparate)
	assert.Equal(t, 1, per)
	require.Equal(t, TSOSlotsSeparate, nic.SlotCount())
	mask := nic.LendShared(1, TSOSlotsSeparate)
	assert.Equal(t, TSOSlotsSeparate-SharedReserve, bits.OnesCount64(mask), "the reserve stays with the driver")
	i := bits.TrailingZeros64(mask)
	f := tcpFrame(20, 20, 30000)
	copy(nic.SlotMem(i).Bytes()[32:], f)
	require.NoError(t, nic.SendShared(1, i, 32, len(f), 1448))
	require.Len(t, dev.sent, 1)
	assert.Equal(t, f, dev.sent[0])
	assert.Equal(t, nic.SlotMem(i).PA(32-hdrLen(2)), dev.txDescs[0].addr)
}
