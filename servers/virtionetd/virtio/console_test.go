package virtio

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newConsoleRig is a Console on a simulated console device.
func newConsoleRig(t *testing.T, version uint32, queue int) (*fakeDev, *Console) {
	t.Helper()
	d := newFakeConsole(version)
	c, err := NewConsole(d, d.bus.alloc, ConsoleConfig{QueueSize: queue})
	require.NoError(t, err)
	return d, c
}

// pattern returns n bytes of a known stream from offset off: period 251
// (prime), so it never lines up with buffers or rings.
func pattern(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) % 251)
	}
	return b
}

// writeAll writes b, servicing the device whenever the ring is full (as
// the server does at each interrupt), and fails if no progress is made.
func writeAll(t *testing.T, c *Console, b []byte) {
	t.Helper()
	for len(b) > 0 {
		n := c.Write(b)
		if n == 0 {
			require.NotZero(t, c.Service(), "a full ring frees buffers at the interrupt")
			continue
		}
		b = b[n:]
	}
}

func TestConsoleSetUp(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		d, c := newConsoleRig(t, v, 0)
		var want uint64
		if v == 2 {
			want = FeatureVersion1
		}
		assert.Equal(t, want, c.Features(), "VERSION_1 when modern, and none of SIZE, MULTIPORT, EMERG_WRITE")
		assert.Equal(t, want, d.driverFeat)
		assert.Equal(t, uint32(statusAcknowledge|statusDriver|statusDriverOK), d.status&^statusFeaturesOK)
		if v == 2 {
			assert.NotZero(t, d.status&statusFeaturesOK)
			assert.EqualValues(t, 1, d.q[queueRx].ready)
			assert.EqualValues(t, 1, d.q[queueTx].ready)
		}
		assert.EqualValues(t, consoleRxEntries, d.q[queueRx].num, "receiveq0 is queue 0")
		assert.EqualValues(t, DefaultConsoleQueue, d.q[queueTx].num, "transmitq0 is queue 1")
		assert.Equal(t, consoleRxEntries, c.RxPosted(), "receive buffers offered")
		assert.Equal(t, DefaultConsoleQueue, c.TxFree())
		assert.Equal(t, 1, d.notifies[queueRx], "the device is told of the receive buffers")
		assert.Equal(t, (DefaultConsoleQueue+1+2+2)*pageSize, c.DMABytes(), "tx buffers, one rx page, two queues of two pages")
		assert.Empty(t, d.errors)
	})
}

// Writes of every size up to a few buffers, through a 16-entry ring many
// times over, arrive byte-exact and in order.
func TestConsoleWriteWraps(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		d, c := newConsoleRig(t, v, 16)
		off, writes := 0, 0
		for off < 40*16*ConsoleBufSize { // 40 wraps of the ring
			n := 1 + (writes*7919)%(3*ConsoleBufSize+17)
			writeAll(t, c, pattern(off, n))
			off += n
			writes++
		}
		require.Equal(t, pattern(0, off), d.stream)
		for i, b := range d.sent {
			require.LessOrEqual(t, len(b), ConsoleBufSize, "buffer %d", i)
		}
		k := c.Counters()
		assert.EqualValues(t, off, k.TxBytes)
		assert.EqualValues(t, len(d.sent), k.TxChunks)
		assert.Zero(t, k.Resets)
		assert.Zero(t, k.TxRingFull, "the device keeps up: Write reclaims before it runs short")
		c.Service()
		assert.Equal(t, 16, c.TxFree())
		assert.Zero(t, c.TxHeld())
		assert.Empty(t, d.errors)
	})
}

// One-byte writes past the 16-bit available and used indices' wrap.
func TestConsoleIndexWrap(t *testing.T) {
	d, c := newConsoleRig(t, 2, 8)
	const n = 70000
	for i := 0; i < n; i++ {
		require.Equal(t, 1, c.Write([]byte{byte(i % 251)}))
	}
	require.Equal(t, pattern(0, n), d.stream)
	assert.Equal(t, uint16(n%65536), d.q[queueTx].usedIdx)
	assert.Zero(t, c.Counters().Resets)
	assert.Empty(t, d.errors)
}

// A device that does not keep up: Write takes what fits, counts the full
// ring, and the rest goes once the interrupt's Service reclaims.
func TestConsoleRingFull(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		d, c := newConsoleRig(t, v, 0)
		d.stalled = true
		total := DefaultConsoleQueue*ConsoleBufSize + 1000
		all := pattern(0, total)
		n := c.Write(all)
		require.Equal(t, DefaultConsoleQueue*ConsoleBufSize, n, "every buffer filled")
		assert.Zero(t, c.TxFree())
		assert.Equal(t, DefaultConsoleQueue, c.TxHeld())
		require.Zero(t, c.Write(all[n:]), "nothing free, nothing reclaimed")
		assert.EqualValues(t, 2, c.Counters().TxRingFull)
		assert.Zero(t, c.Service(), "no interrupt, nothing done")

		d.stalled = false
		d.transmit() // the host catches up and interrupts
		require.NotZero(t, d.isr&intUsedBuffer)
		assert.Equal(t, DefaultConsoleQueue, c.Service(), "every buffer back")
		assert.Zero(t, d.isr, "interrupt acknowledged")
		require.Equal(t, 1000, c.Write(all[n:]))
		require.Equal(t, all, d.stream)
		assert.EqualValues(t, total, c.Counters().TxBytes)
		assert.Empty(t, d.errors)
	})
}

// Write reclaims by itself when it runs short: a lost interrupt only
// delays a writer until its next attempt.
func TestConsoleReclaimWithoutInterrupt(t *testing.T) {
	d, c := newConsoleRig(t, 1, 4)
	d.stalled = true
	require.Equal(t, 4*ConsoleBufSize, c.Write(pattern(0, 5*ConsoleBufSize)))
	d.stalled = false
	d.transmit()
	d.isr = 0 // the interrupt is lost
	require.Equal(t, ConsoleBufSize, c.Write(pattern(4*ConsoleBufSize, ConsoleBufSize)))
	require.Equal(t, pattern(0, 5*ConsoleBufSize), d.stream)
}

// The device asks not to be notified: buffers are published, no notify
// is written; it still finds them.
func TestConsoleNotifySuppressed(t *testing.T) {
	d, c := newConsoleRig(t, 2, 0)
	d.setNoNotify(&d.q[queueTx], true)
	require.Equal(t, 100, c.Write(pattern(0, 100)))
	assert.Zero(t, d.notifies[queueTx])
	d.transmit()
	assert.Equal(t, pattern(0, 100), d.stream)
	d.setNoNotify(&d.q[queueTx], false)
	require.Equal(t, 5, c.Write(pattern(100, 5)))
	assert.Equal(t, 1, d.notifies[queueTx])
	assert.Equal(t, pattern(0, 105), d.stream)
}

// Input is counted and dropped; its buffers go back at once.
func TestConsoleInputDiscarded(t *testing.T) {
	versions(t, func(t *testing.T, v uint32) {
		d, c := newConsoleRig(t, v, 0)
		for i := 0; i < 3*consoleRxEntries; i++ {
			if !d.receive([]byte("typed on the host\n")) {
				c.Service()
				require.True(t, d.receive([]byte("typed on the host\n")), "a buffer came back after Service")
			}
		}
		c.Service()
		k := c.Counters()
		assert.EqualValues(t, 3*consoleRxEntries, k.RxChunks)
		assert.EqualValues(t, 3*consoleRxEntries*18, k.RxBytes)
		assert.Equal(t, consoleRxEntries, c.RxPosted())
		assert.Zero(t, k.Resets)
		assert.Empty(t, d.errors)
	})
}

// A device that breaks the rules is reset and counted, the bytes it held
// are counted as lost, and it works again.
func TestConsoleMisbehavingDevice(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(d *fakeDev)
		count  func(c ConsoleCounters) uint64
	}{
		{"tx used index runs ahead", func(d *fakeDev) {
			q := &d.q[queueTx]
			d.setUsedIdx(q, q.usedIdx+4)
		}, func(c ConsoleCounters) uint64 { return c.BadUsedIndex }},
		{"tx used id out of range", func(d *fakeDev) {
			d.pushUsed(&d.q[queueTx], 4096, 0)
		}, func(c ConsoleCounters) uint64 { return c.BadUsedID }},
		{"tx used id not given", func(d *fakeDev) {
			d.pushUsed(&d.q[queueTx], 50, 0) // three buffers are out: 0, 1, 2
		}, func(c ConsoleCounters) uint64 { return c.BadUsedID }},
		{"rx used index runs ahead", func(d *fakeDev) {
			q := &d.q[queueRx]
			d.setUsedIdx(q, q.usedIdx+consoleRxEntries+1)
		}, func(c ConsoleCounters) uint64 { return c.BadUsedIndex }},
		{"rx oversize length", func(d *fakeDev) {
			q := &d.q[queueRx]
			id, _, _, _, _ := d.nextAvail(q)
			d.pushUsed(q, uint32(id), consoleRxBufSize+1)
		}, func(c ConsoleCounters) uint64 { return c.BadUsedLen }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			versions(t, func(t *testing.T, v uint32) {
				d, c := newConsoleRig(t, v, 0)
				d.stalled = true
				require.Equal(t, 10000, c.Write(pattern(0, 10000)), "three buffers the device holds")
				tc.break_(d)
				c.Service()
				k := c.Counters()
				assert.EqualValues(t, 1, tc.count(k))
				assert.EqualValues(t, 1, k.Resets)
				assert.EqualValues(t, 10000, k.TxLostInReset)
				assert.Zero(t, k.RxChunks, "nothing counted from a bad entry")
				// Working again after the reset.
				d.stalled = false
				assert.Equal(t, DefaultConsoleQueue, c.TxFree())
				assert.Equal(t, consoleRxEntries, c.RxPosted())
				require.Equal(t, 5000, c.Write(pattern(10000, 5000)))
				assert.Equal(t, pattern(10000, 5000), d.stream, "only what came after the reset")
				require.True(t, d.receive([]byte("x")))
				c.Service()
				assert.EqualValues(t, 1, c.Counters().RxChunks)
				assert.Empty(t, d.errors)
			})
		})
	}
}

func TestConsoleNeedsReset(t *testing.T) {
	d, c := newConsoleRig(t, 2, 0)
	d.stalled = true
	require.Equal(t, 300, c.Write(pattern(0, 300)))
	d.status |= statusNeedsReset
	d.isr |= intConfigChange
	assert.Equal(t, 1, c.Service(), "the held buffer is free again")
	k := c.Counters()
	assert.EqualValues(t, 1, k.NeedsReset)
	assert.EqualValues(t, 1, k.Resets)
	assert.EqualValues(t, 300, k.TxLostInReset)
	d.stalled = false
	require.Equal(t, 7, c.Write(pattern(0, 7)))
	assert.Equal(t, pattern(0, 7), d.stream)
}

// A configuration change (a resize, were SIZE taken) is acknowledged
// and otherwise ignored; the configuration space is never read.
func TestConsoleConfigChange(t *testing.T) {
	d, c := newConsoleRig(t, 1, 0)
	d.isr |= intConfigChange
	c.Service()
	assert.Zero(t, d.isr)
	assert.EqualValues(t, 1, c.Counters().ConfigChanges)
	assert.Zero(t, c.Counters().Resets)
	assert.Empty(t, d.errors, "no register outside the transport's touched")
}

func TestConsoleRefused(t *testing.T) {
	d := newFakeConsole(2)
	d.features &^= FeatureVersion1
	_, err := NewConsole(d, d.bus.alloc, ConsoleConfig{})
	require.ErrorIs(t, err, ErrRefused)
	assert.NotZero(t, d.status&statusFailed)

	d = newFakeConsole(1)
	_, err = NewConsole(d, d.bus.alloc, ConsoleConfig{QueueSize: 256})
	require.ErrorIs(t, err, ErrSmallQueue, "QEMU's queues hold 128")
	_, err = NewConsole(d, d.bus.alloc, ConsoleConfig{QueueSize: 3})
	require.Error(t, err)

	n := newFakeNet(1)
	_, err = NewConsole(n, n.bus.alloc, ConsoleConfig{})
	require.ErrorIs(t, err, ErrNotConsole)
	_, err = New(d, d.bus.alloc, Config{})
	require.ErrorIs(t, err, ErrNotNet, "and the NIC driver refuses a console")
	_, err = NewConsole(noMagic{d}, d.bus.alloc, ConsoleConfig{})
	require.ErrorIs(t, err, ErrNotVirtio)
}

// FuzzConsoleDeviceWrites: whatever a device writes into the used rings
// (the input: queue, used index step, entry, whether the device is
// stalled, a write's size), between writes of the driver, the driver
// neither panics nor loses count of its buffers, its receive ring stays
// full, and every buffer the device read is a run of what was written.
func FuzzConsoleDeviceWrites(f *testing.F) {
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 200, 0})
	f.Add([]byte{0, 3, 1, 0, 0, 0, 64, 0, 0, 0, 9, 1})
	f.Add(bytes.Repeat([]byte{1, 2, 7, 0, 0, 0, 0, 16, 0, 0, 255, 15}, 5))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := newFakeConsole(uint32(1 + len(in)%2))
		c, err := NewConsole(d, d.bus.alloc, ConsoleConfig{QueueSize: 8})
		require.NoError(t, err)
		off := 0
		for len(in) >= 12 {
			d.stalled = in[11]&1 != 0
			n := 1 + int(binary.LittleEndian.Uint16(in[10:]))%(3*ConsoleBufSize)
			off += c.Write(pattern(off, n))
			q := &d.q[in[0]&1]
			if q.num != 0 && q.use != 0 {
				e := d.bus.at(q.use+4+8*uint64(uint32(binary.LittleEndian.Uint16(in[2:]))%q.num), 8)
				copy(e, in[2:10])
				q.usedIdx += uint16(in[1] % 12)
				d.setUsedIdx(q, q.usedIdx)
			}
			c.Service()
			require.Equal(t, 8, c.TxFree()+c.TxHeld(), "transmit buffers: free or with the device")
			require.Equal(t, consoleRxEntries, c.RxPosted(), "the receive ring stays full")
			in = in[12:]
		}
		k := c.Counters()
		require.EqualValues(t, off, k.TxBytes, "every byte a Write took is counted")
		require.LessOrEqual(t, k.TxLostInReset, k.TxBytes)
		require.LessOrEqual(t, k.RxBytes, k.RxChunks*consoleRxBufSize)
		// The device saw runs of the stream: each buffer a piece of the
		// pattern at some offset.
		for _, b := range d.sent {
			if len(b) > 1 {
				for i := 1; i < len(b); i++ {
					require.Equal(t, byte((int(b[i-1])+1)%251), b[i])
				}
			}
		}
	})
}
