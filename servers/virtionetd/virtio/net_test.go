package virtio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rig is a NIC on a simulated device, recording what it delivers.
type rig struct {
	dev   *fakeDev
	nic   *NIC
	got   [][]byte
	links []bool
}

func newRig(t *testing.T, version uint32) *rig {
	t.Helper()
	return newRigOn(t, newFakeNet(version), Config{})
}

// newRigOn is a rig on device dev, the NIC set up with cfg (its Deliver
// and Link replaced by the rig's).
func newRigOn(t *testing.T, dev *fakeDev, cfg Config) *rig {
	t.Helper()
	r := &rig{dev: dev}
	cfg.Deliver = func(f []byte) { r.got = append(r.got, append([]byte(nil), f...)) }
	cfg.Link = func(up bool) { r.links = append(r.links, up) }
	nic, err := New(r.dev, r.dev.bus.alloc, cfg)
	require.NoError(t, err)
	r.nic = nic
	return r
}

func frame(n int, seed byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seed + byte(i)
	}
	return f
}

func versions(t *testing.T, f func(t *testing.T, version uint32)) {
	for _, v := range []uint32{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { f(t, v) })
	}
}

func TestSetUp(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		r := newRig(t, v)
		want := uint64(FeatureMAC | FeatureStatus)
		if v == 2 {
			want |= FeatureVersion1
		}
		assert.Equal(t, want, r.nic.Features(), "MAC, STATUS (and VERSION_1 when modern); never an offered feature it does not handle")
		assert.Equal(t, want, r.dev.driverFeat)
		assert.Equal(t, r.dev.mac, r.nic.MAC())
		assert.True(t, r.nic.LinkUp())
		assert.Equal(t, uint32(statusAcknowledge|statusDriver|statusDriverOK), r.dev.status&^statusFeaturesOK)
		if v == 2 {
			assert.NotZero(t, r.dev.status&statusFeaturesOK)
			assert.EqualValues(t, 1, r.dev.q[0].ready)
			assert.EqualValues(t, 1, r.dev.q[1].ready)
		}
		assert.EqualValues(t, DefaultQueueSize, r.dev.q[0].num)
		assert.EqualValues(t, DefaultQueueSize, r.dev.q[1].num)
		assert.Equal(t, DefaultQueueSize, r.nic.RxPosted(), "the receive ring starts full")
		assert.Equal(t, DefaultQueueSize, r.nic.TxFree())
		assert.Equal(t, 1, r.dev.notifies[queueRx], "the device is told of the receive buffers")
		assert.Empty(t, r.dev.errors)
	})
}

func TestSendAndReceive(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		r := newRig(t, v)
		// Three rounds of more frames than the ring holds: the rings
		// wrap, receive buffers go back to the device, transmit buffers
		// are reclaimed.
		var sent, received [][]byte
		for round := 0; round < 3; round++ {
			for i := 0; i < 300; i++ {
				f := frame(60+(i*7)%1455, byte(i+round))
				require.NoError(t, r.nic.Send(f))
				sent = append(sent, f)
				g := frame(42+(i*13)%1473, byte(3*i+round))
				if !r.dev.receive(g) {
					r.nic.Service()
					require.True(t, r.dev.receive(g), "a buffer came back after Service")
				}
				received = append(received, g)
			}
			r.nic.Service()
		}
		require.Equal(t, sent, r.dev.sent)
		require.Equal(t, received, r.got)
		c := r.nic.Counters()
		assert.EqualValues(t, 900, c.TxFrames)
		assert.EqualValues(t, 900, c.RxFrames)
		assert.Zero(t, c.Resets)
		assert.Equal(t, DefaultQueueSize, r.nic.RxPosted())
		assert.Empty(t, r.dev.errors)
	})
}

func TestTransmitRingFull(t *testing.T) {
	r := newRig(t, 1)
	hold := r.dev.q[queueTx]
	// A device that is slow to transmit: frames wait in the ring.
	r.dev.q[queueTx].num = 0 // nextAvail sees no queue: nothing consumed
	for i := 0; i < DefaultQueueSize; i++ {
		require.NoError(t, r.nic.Send(frame(100, byte(i))))
	}
	require.ErrorIs(t, r.nic.Send(frame(100, 0)), ErrRingFull)
	assert.EqualValues(t, 1, r.nic.Counters().TxRingFull)
	// The device catches up; the next Send reclaims.
	r.dev.q[queueTx].num = hold.num
	r.dev.transmit()
	require.Len(t, r.dev.sent, DefaultQueueSize)
	require.NoError(t, r.nic.Send(frame(100, 1)))
	assert.Equal(t, DefaultQueueSize-1, r.nic.TxFree())
}

func TestOversizeFrame(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		r := newRig(t, v)
		hdr := legacyHdr
		if v == 2 {
			hdr = modernHdr
		}
		require.NoError(t, r.nic.Send(frame(BufSize-hdr, 1)))
		require.ErrorIs(t, r.nic.Send(frame(BufSize-hdr+1, 1)), ErrOversize)
		assert.EqualValues(t, 1, r.nic.Counters().TxOversize)
	})
}

// A device that breaks the rules is reset and counted, and nothing it
// named outside what it was given is read.
func TestMisbehavingDevice(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(d *fakeDev)
		count  func(c Counters) uint64
	}{
		{"used index runs ahead", func(d *fakeDev) {
			q := &d.q[queueRx]
			d.setUsedIdx(q, q.usedIdx+DefaultQueueSize+1)
		}, func(c Counters) uint64 { return c.BadUsedIndex }},
		{"used id out of range", func(d *fakeDev) {
			q := &d.q[queueRx]
			d.nextAvail(q)
			d.pushUsed(q, 999, 64)
		}, func(c Counters) uint64 { return c.BadUsedID }},
		{"used id never given", func(d *fakeDev) {
			q := &d.q[queueTx]
			d.pushUsed(q, 3, 0) // no transmit buffer is out
		}, func(c Counters) uint64 { return c.BadUsedIndex + c.BadUsedID }},
		{"oversize length", func(d *fakeDev) {
			q := &d.q[queueRx]
			id, _, _, _, _ := d.nextAvail(q)
			d.pushUsed(q, uint32(id), 1<<20)
		}, func(c Counters) uint64 { return c.BadUsedLen }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			versions(t, func(t *testing.T, v uint32) {
				r := newRig(t, v)
				tc.break_(r.dev)
				r.nic.Service()
				c := r.nic.Counters()
				assert.EqualValues(t, 1, tc.count(c))
				assert.EqualValues(t, 1, c.Resets)
				assert.Empty(t, r.got, "nothing delivered from a bad entry")
				// The device works again after the reset.
				require.True(t, r.dev.receive(frame(64, 9)))
				r.nic.Service()
				require.Len(t, r.got, 1)
				require.NoError(t, r.nic.Send(frame(64, 3)))
				require.Len(t, r.dev.sent, 1)
				assert.Equal(t, DefaultQueueSize, r.nic.RxPosted())
			})
		})
	}
}

func TestShortReceiveCounted(t *testing.T) {
	r := newRig(t, 2)
	q := &r.dev.q[queueRx]
	id, _, _, _, _ := r.dev.nextAvail(q)
	r.dev.pushUsed(q, uint32(id), modernHdr-1)
	r.nic.Service()
	assert.EqualValues(t, 1, r.nic.Counters().RxShort)
	assert.Empty(t, r.got)
	assert.Equal(t, DefaultQueueSize, r.nic.RxPosted(), "the buffer went back")
}

func TestLinkChange(t *testing.T) {
	r := newRig(t, 1)
	r.dev.setLink(false)
	r.nic.Service()
	assert.False(t, r.nic.LinkUp())
	r.dev.setLink(true)
	r.nic.Service()
	assert.True(t, r.nic.LinkUp())
	assert.Equal(t, []bool{false, true}, r.links)
	assert.EqualValues(t, 2, r.nic.Counters().LinkChanges)
	assert.Zero(t, r.dev.isr, "interrupts acknowledged")
}

func TestNeedsReset(t *testing.T) {
	r := newRig(t, 2)
	r.dev.status |= statusNeedsReset
	r.dev.isr |= intConfigChange
	r.nic.Service()
	c := r.nic.Counters()
	assert.EqualValues(t, 1, c.NeedsReset)
	assert.EqualValues(t, 1, c.Resets)
	assert.Zero(t, r.dev.status&statusNeedsReset)
	require.True(t, r.dev.receive(frame(64, 1)))
	r.nic.Service()
	assert.Len(t, r.got, 1)
}

func TestRefusedDevices(t *testing.T) {
	d := newFakeNet(2)
	d.features &^= FeatureVersion1
	_, err := New(d, d.bus.alloc, Config{})
	require.ErrorIs(t, err, ErrRefused)
	assert.NotZero(t, d.status&statusFailed)

	d = newFakeNet(1)
	d.queueMax = 128
	_, err = New(d, d.bus.alloc, Config{})
	require.ErrorIs(t, err, ErrSmallQueue)
	_, err = New(d, d.bus.alloc, Config{QueueSize: 128})
	require.NoError(t, err, "a smaller ring when asked")

	_, err = New(notNet{d}, d.bus.alloc, Config{})
	require.ErrorIs(t, err, ErrNotNet)
	_, err = New(noMagic{d}, d.bus.alloc, Config{})
	require.ErrorIs(t, err, ErrNotVirtio)
	_, err = New(newFakeNet(1), d.bus.alloc, Config{QueueSize: 100})
	require.Error(t, err)
}

type notNet struct{ *fakeDev }

func (n notNet) Read32(off uint32) uint32 {
	if off == regDeviceID {
		return 2
	}
	return n.fakeDev.Read32(off)
}

type noMagic struct{ *fakeDev }

func (n noMagic) Read32(off uint32) uint32 {
	if off == regMagic {
		return 0
	}
	return n.fakeDev.Read32(off)
}

func TestNoMACFeature(t *testing.T) {
	d := newFakeNet(1)
	d.features &^= FeatureMAC | FeatureStatus
	nic, err := New(d, d.bus.alloc, Config{})
	require.NoError(t, err)
	m := nic.MAC()
	assert.NotEqual(t, [6]byte{}, m)
	assert.Equal(t, byte(2), m[0]&3, "unicast and locally administered")
	assert.True(t, nic.LinkUp(), "no status: up")
}

func TestQueueLayout(t *testing.T) {
	a, u, total := queueLayout(256)
	assert.Equal(t, 4096, a)
	assert.Equal(t, 8192, u)
	assert.Equal(t, 3*4096, total)
}

// FuzzDeviceWrites: whatever a device writes into the used rings (the
// input: queue, used index, entries), the driver neither panics nor
// delivers more than it gave, and its books balance afterwards: with
// segmentation offload, every slot is free or lent to a descriptor the
// device holds, and every descriptor the driver holds names its own
// buffer.
func FuzzDeviceWrites(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 0, 64, 0, 0, 0})
	f.Add([]byte{1, 255, 7, 0, 0, 0, 0, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{0, 3, 1, 0, 0, 0, 0, 8, 0, 0}, 5))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := newFakeNet(uint32(1 + len(in)%2))
		if len(in)%4 >= 2 {
			d.offload()
		}
		delivered := 0
		nic, err := New(d, d.bus.alloc, Config{QueueSize: 16, Deliver: func(f []byte) {
			delivered++
			require.LessOrEqual(t, len(f), BufSize)
		}})
		require.NoError(t, err)
		for i := 0; i < 4; i++ {
			_ = nic.Send(frame(60, byte(i)))
			if nic.tso != nil {
				require.NoError(t, nic.SendTSO(tcpFrame(20, 20, 3000+i), 1460))
			}
		}
		for len(in) >= 10 {
			q := &d.q[in[0]&1]
			if q.num != 0 && q.use != 0 {
				e := d.bus.at(q.use+4+8*uint64(uint32(binary.LittleEndian.Uint16(in[2:]))%q.num), 8)
				copy(e, in[2:10])
				d.setUsedIdx(q, q.usedIdx+uint16(in[1]%20))
				q.usedIdx += uint16(in[1] % 20)
			}
			nic.Service()
			require.Equal(t, 16, nic.TxFree()+nic.tx.busy, "transmit buffers: free or with the device")
			require.Equal(t, 16, nic.RxPosted(), "the receive ring stays full")
			if nic.tso != nil {
				lent := 0
				for id, s := range nic.tso.lent {
					if s != 0 {
						lent++
						require.True(t, nic.tx.inflight[id], "a slot lent to descriptor %d the device does not hold", id)
					}
				}
				require.Equal(t, TSOSlots, len(nic.tso.free)+lent, "slots: free or lent")
				for _, id := range nic.tx.free {
					addr, _ := desc(nic, id)
					require.Equal(t, nic.tx.bufPA(id), addr, "free descriptor %d names its own buffer", id)
				}
			}
			in = in[10:]
		}
		require.LessOrEqual(t, uint64(delivered), nic.Counters().RxFrames)
	})
}
