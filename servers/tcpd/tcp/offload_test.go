package tcp_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
	"armos/servers/tcpd/tcp/wire"
)

// offloadMax is what netd offers (stack.MaxTSOSegment).
const offloadMax = 64980

// With segmentation offload the engine sends what the windows allow as
// one segment of whole MSS (its pieces, cut as netd cuts them, are what
// the recorder shows), and slow start counts an ACK of an offloaded
// segment as the ACKs of its pieces would have been counted.
func TestOffloadSegmentsAndSlowStart(t *testing.T) {
	f := newFixture(t, tcp.Config{Offload: offloadMax})
	c := f.active()
	f.write(c, strings.Repeat("o", 100*mss))
	require.Len(t, f.rec.Offloads, 1, "the initial window went as one offloaded segment")
	assert.Equal(t, tcptest.Offloaded{MSS: mss, Pieces: 3, Len: 3 * mss}, f.rec.Offloads[0])
	pieces := f.take()
	require.Len(t, pieces, 3)
	for i, p := range pieces {
		assert.Equal(t, f.pAck+uint32(i*mss), p.Repr.Seq)
		assert.Len(t, p.Payload, mss)
	}
	// One ACK for the whole segment: cwnd grows by 3 MSS, not 1.
	f.pAck += 3 * mss
	f.send(ACK, "")
	assert.Equal(t, 6*mss, c.Info().Cwnd)
	require.Len(t, f.rec.Offloads, 2)
	assert.Equal(t, 6*mss, f.rec.Offloads[1].Len)
	assert.Len(t, f.take(), 6)
	assert.EqualValues(t, 2, f.s.Counters().TxOffloaded)
	assert.EqualValues(t, 9*mss, f.s.Counters().TxOffloadedBytes)
	assert.EqualValues(t, 9*mss, f.s.Counters().TxDataBytes)

	// The peer's window bounds a segment like any other: 2.5 MSS open
	// sends 2 MSS offloaded and, with Nagle, nothing more.
	f.pAck += 6 * mss
	f.pWnd = 2*mss + mss/2
	f.send(ACK, "")
	require.Len(t, f.rec.Offloads, 3)
	assert.Equal(t, 2*mss, f.rec.Offloads[2].Len)
	assert.Len(t, f.take(), 2)

	// Retransmissions are one MSS: a timeout sends the first
	// unacknowledged MSS alone.
	f.advance(time.Second + time.Millisecond)
	re := f.take()
	require.NotEmpty(t, re)
	assert.Len(t, re[0].Payload, mss)
	assert.Len(t, f.rec.Offloads, 3)

	// SetOffload(0): one MSS per segment again.
	f.s.SetOffload(0)
	f.pAck += 2 * mss
	f.pWnd = 65535
	f.send(ACK, "")
	assert.Len(t, f.rec.Offloads, 3)
	for _, p := range f.take() {
		assert.LessOrEqual(t, len(p.Payload), mss)
	}
}

// An Output that cannot take offloaded segments, or an offload size that
// does not exceed one segment, leaves every segment one MSS.
func TestOffloadNeedsAnOffloadOutput(t *testing.T) {
	var plain tcp.OutputFunc = func(src, dst netip.Addr, seg []byte) error { return nil }
	s, err := tcp.New(tcp.Config{Offload: offloadMax}, plain, tcptest.NewLink(tcptest.Faults{}).Clock)
	require.NoError(t, err)
	assert.Zero(t, s.Offload())
	f := newFixture(t, tcp.Config{})
	f.s.SetOffload(1000)
	assert.Zero(t, f.s.Offload(), "no larger than one segment")
	f.s.SetOffload(wire.MaxSegmentLen + 1)
	assert.Zero(t, f.s.Offload())
	_, err = tcp.New(tcp.Config{Offload: 1400}, plain, tcptest.NewLink(tcptest.Faults{}).Clock)
	assert.ErrorIs(t, err, tcp.ErrInvalidConfig)
}

// Transfers of 0 B to 16 MiB arrive byte-exact under each fault with
// offload on, the pieces cut before the faults (as netd cuts them before
// the wire).
func TestTransferUnderFaultsWithOffload(t *testing.T) {
	for _, fk := range faultKinds {
		for _, size := range []int{0, 1, 1 << 20, 16 << 20} {
			t.Run(fmt.Sprintf("%s/%d", fk.name, size), func(t *testing.T) {
				f := fk.f
				f.Seed = uint64(size) + 3
				r := runTransfer(t, f, pattern(size, uint64(size)+1), tcp.Config{Offload: offloadMax}, 24*time.Hour)
				if size >= 1<<20 {
					assert.NotZero(t, r.a.TxOffloaded)
					assert.Equal(t, r.a.TxOffloaded, r.link.Offloaded)
				}
			})
		}
	}
}
