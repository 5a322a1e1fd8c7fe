package tcptest_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/tcpd/tcp/tcptest"
	"armos/servers/tcpd/tcp/wire"
)

var (
	src = netip.MustParseAddr("10.0.0.1")
	dst = netip.MustParseAddr("10.0.0.2")
)

// offloaded builds a segment to cut: header r (its checksum left zero, as
// the engine hands it over) and n bytes of data.
func offloaded(t *testing.T, r wire.Repr, n int) []byte {
	t.Helper()
	b := make([]byte, r.HeaderLen()+n)
	for i := range n {
		b[r.HeaderLen()+i] = byte(i * 7)
	}
	require.NoError(t, r.EmitNoChecksum(b, src, dst))
	return b
}

// Cut gives each piece the header (options too) with the sequence number
// advanced, CWR on the first only, PSH and FIN on the last only, and a
// good checksum; the pieces' data is the segment's, in order.
func TestCut(t *testing.T) {
	for _, n := range []int{2001, 3000, 4500} {
		r := wire.Repr{SrcPort: 1, DstPort: 2, Seq: 0xffffff00, Ack: 77, Window: 900,
			Flags:   wire.FlagACK | wire.FlagPSH | wire.FlagFIN | wire.FlagCWR,
			Options: wire.Options{MSS: 1000}}
		seg := offloaded(t, r, n)
		require.NoError(t, tcptest.CheckOffloaded(seg, 1000))
		pieces := tcptest.Cut(src, dst, seg, 1000)
		require.Len(t, pieces, (n+999)/1000)
		var data []byte
		for i, p := range pieces {
			s, err := wire.Parse(p)
			require.NoError(t, err)
			require.NoError(t, s.VerifyChecksum(src, dst), "piece %d", i)
			got := s.Repr()
			assert.Equal(t, r.Seq+uint32(i*1000), got.Seq, "piece %d wraps with the sequence space", i)
			assert.Equal(t, r.Ack, got.Ack)
			assert.Equal(t, r.Window, got.Window)
			assert.Equal(t, r.Options, got.Options)
			want := wire.FlagACK
			if i == 0 {
				want |= wire.FlagCWR
			}
			if i == len(pieces)-1 {
				want |= wire.FlagPSH | wire.FlagFIN
				assert.Len(t, s.Payload(), n-1000*i)
			} else {
				assert.Len(t, s.Payload(), 1000)
			}
			assert.Equal(t, want, got.Flags, "piece %d", i)
			data = append(data, s.Payload()...)
		}
		assert.True(t, bytes.Equal(seg[r.HeaderLen():], data))
	}
}

// CheckOffloaded refuses what SendOffloaded must never be given.
func TestCheckOffloaded(t *testing.T) {
	ack := wire.Repr{Flags: wire.FlagACK}
	assert.NoError(t, tcptest.CheckOffloaded(offloaded(t, ack, 1001), 1000))
	assert.Error(t, tcptest.CheckOffloaded(offloaded(t, ack, 1000), 1000), "one MSS")
	assert.Error(t, tcptest.CheckOffloaded(offloaded(t, ack, 1001), 0))
	assert.Error(t, tcptest.CheckOffloaded(make([]byte, 19), 1))
	for _, f := range []wire.Flags{wire.FlagSYN, wire.FlagRST, wire.FlagURG} {
		assert.Error(t, tcptest.CheckOffloaded(offloaded(t, wire.Repr{Flags: f | wire.FlagACK}, 3000), 1000), "%v", f)
	}
	big := offloaded(t, ack, wire.MaxSegmentLen-wire.HeaderLen)
	assert.NoError(t, tcptest.CheckOffloaded(big, 1460))
	assert.Error(t, tcptest.CheckOffloaded(append(big, 0), 1460))
	bad := offloaded(t, ack, 3000)
	bad[12] = 0x40 // a data offset of 16 bytes
	assert.Error(t, tcptest.CheckOffloaded(bad, 1000))
}

// A Recorder records an offloaded segment's header fields and its pieces;
// a Link with Coalesce delivers it whole and checksummed.
func TestOffloadedThroughRecorderAndLink(t *testing.T) {
	rec := &tcptest.Recorder{}
	r := wire.Repr{Seq: 5, Flags: wire.FlagACK | wire.FlagPSH}
	require.NoError(t, rec.SendOffloaded(src, dst, offloaded(t, r, 2500), 1000))
	require.NoError(t, rec.Err)
	assert.Equal(t, []tcptest.Offloaded{{Seq: 5, Flags: r.Flags, MSS: 1000, Pieces: 3, Len: 2500}}, rec.Offloads)
	assert.Len(t, rec.Take(), 3)
	require.NoError(t, rec.SendOffloaded(src, dst, offloaded(t, r, 900), 1000))
	assert.Error(t, rec.Err)
	assert.Len(t, rec.Offloads, 1)

	for _, coalesce := range []bool{false, true} {
		l := tcptest.NewLink(tcptest.Faults{})
		l.Coalesce = coalesce
		var got [][]byte
		l.Tap = func(p tcptest.Packet) bool {
			got = append(got, p.Seg)
			return false
		}
		require.NoError(t, l.SendOffloaded(src, dst, offloaded(t, r, 2500), 1000))
		assert.Equal(t, uint64(1), l.Stats.Offloaded)
		if coalesce {
			require.Len(t, got, 1)
			s, err := wire.Parse(got[0])
			require.NoError(t, err)
			require.NoError(t, s.VerifyChecksum(src, dst))
			assert.Len(t, s.Payload(), 2500)
		} else {
			assert.Len(t, got, 3)
		}
		assert.Panics(t, func() { _ = l.SendOffloaded(src, dst, offloaded(t, r, 1000), 1000) })
	}
}
