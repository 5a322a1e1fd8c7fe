package stack

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var reasmT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testPayload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

func frag(p []byte, off, end int, more bool) *fragment {
	return &fragment{
		key:     reasmKey{src: netip.MustParseAddr("10.0.0.2"), dst: netip.MustParseAddr("10.0.0.1"), id: 7, proto: 17},
		offset:  off,
		more:    more,
		header:  make([]byte, 20),
		payload: p[off:end],
	}
}

func TestReassemblerOrders(t *testing.T) {
	p := testPayload(3000)
	pieces := [][3]int{{0, 1480, 1}, {1480, 2960, 1}, {2960, 3000, 0}}
	orders := map[string][]int{"in order": {0, 1, 2}, "reversed": {2, 1, 0}, "last first": {2, 0, 1}, "middle first": {1, 2, 0}}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			var r reassembler
			for k, idx := range order {
				pc := pieces[idx]
				res, done, _ := r.add(frag(p, pc[0], pc[1], pc[2] == 1), reasmT0)
				if k < len(order)-1 {
					require.Equal(t, reasmHeld, res)
					require.Nil(t, done)
					continue
				}
				require.Equal(t, reasmComplete, res)
				require.Equal(t, 3000, done.total)
				require.True(t, bytes.Equal(p, done.data[:done.total]))
				require.Equal(t, 20, done.headerLen)
			}
			assert.Empty(t, r.list)
			assert.Zero(t, r.mem, "memory returned after completion")
		})
	}
}

func TestReassemblerDuplicateAndOverlap(t *testing.T) {
	p := testPayload(2000)
	var r reassembler
	res, _, _ := r.add(frag(p, 0, 800, true), reasmT0)
	require.Equal(t, reasmHeld, res)
	res, _, _ = r.add(frag(p, 0, 800, true), reasmT0)
	require.Equal(t, reasmDuplicate, res, "exact duplicate")
	res, _, _ = r.add(frag(p, 8, 400, true), reasmT0)
	require.Equal(t, reasmDuplicate, res, "fragment inside received data")
	require.Len(t, r.list, 1)

	res, _, held := r.add(frag(p, 792, 1600, true), reasmT0)
	require.Equal(t, reasmOverlap, res, "partial overlap discards the datagram")
	require.Equal(t, 1, held)
	require.Empty(t, r.list)
	require.Zero(t, r.mem)
}

func TestReassemblerInconsistentEnds(t *testing.T) {
	p := testPayload(2000)
	var r reassembler
	_, _, _ = r.add(frag(p, 0, 800, true), reasmT0)
	res, _, _ := r.add(frag(p, 1600, 2000, false), reasmT0)
	require.Equal(t, reasmHeld, res)
	res, _, held := r.add(frag(p, 800, 1800, false), reasmT0)
	require.Equal(t, reasmInconsistent, res, "second last fragment with another end")
	require.Equal(t, 2, held)

	_, _, _ = r.add(frag(p, 800, 1600, true), reasmT0)
	res, _, _ = r.add(frag(p, 0, 400, false), reasmT0)
	require.Equal(t, reasmInconsistent, res, "last fragment ending before received data")
}

func TestReassemblerTrimsAndBounds(t *testing.T) {
	p := testPayload(70000)
	var r reassembler
	res, _, _ := r.add(frag(p, 0, 5, true), reasmT0)
	require.Equal(t, reasmBadFragment, res, "non-last fragment under 8 bytes is empty after trimming")

	res, _, _ = r.add(frag(p, 65528, 65536, false), reasmT0)
	require.Equal(t, reasmTooBig, res, "ping of death")

	// More datagrams than ReasmMaxDatagrams are refused.
	for i := range ReasmMaxDatagrams {
		f := frag(p, 0, 8, true)
		f.key.id = uint16(i)
		res, _, _ = r.add(f, reasmT0)
		require.Equal(t, reasmHeld, res)
	}
	f := frag(p, 0, 8, true)
	f.key.id = 9999
	res, _, _ = r.add(f, reasmT0)
	require.Equal(t, reasmNoMemory, res)
	require.Len(t, r.list, ReasmMaxDatagrams)
}

// TestReassemblerMemoryBound: memory is charged for what arrived (an
// 8-byte fragment at offset 64,000 costs 8 bytes and its bookkeeping, not
// 64 KB), and one source cannot hold more than ReasmMaxBytes: past it its
// own fragments are refused.
func TestReassemblerMemoryBound(t *testing.T) {
	p := testPayload(65000)
	var r reassembler
	for i := range 8 {
		f := frag(p, 64000, 64008, true)
		f.key.id = uint16(i)
		res, _, _ := r.add(f, reasmT0)
		require.Equal(t, reasmHeld, res)
	}
	require.Equal(t, 8*(8+reasmFragOverhead), r.mem)
	refused := 0
	for i := range 64 {
		f := frag(p, 8000, 16000, true) // 8,000 bytes each
		f.key.id = uint16(100 + i%50)
		res, _, _ := r.add(f, reasmT0)
		if res == reasmNoMemory {
			refused++
		}
		require.LessOrEqual(t, r.mem, ReasmMaxBytes)
	}
	require.Positive(t, refused)
}

// TestReassemblyFloodCannotStarveOthers: one peer keeps every slot and
// byte of reassembly full of bogus fragments that never complete; another
// peer's fragmented datagram still completes, by evicting the flooder's
// oldest, and the flooder's further fragments are refused rather than
// evicting the honest one.
func TestReassemblyFloodCannotStarveOthers(t *testing.T) {
	p := testPayload(65000)
	var r reassembler
	attacker, honest := netip.MustParseAddr("10.0.2.66"), netip.MustParseAddr("10.0.2.20")
	flood := func(n int) {
		for i := range n {
			f := frag(p, 8*(i%100), 8*(i%100)+1480, true)
			f.key.src, f.key.id = attacker, uint16(i)
			r.add(f, reasmT0)
		}
	}
	flood(10_000)
	require.LessOrEqual(t, r.mem, ReasmMaxBytes)
	// The honest peer's 8,000-byte datagram, six fragments, interleaved
	// with more flooding.
	var done *reassembly
	for k, off := 0, 0; off < 8000; k, off = k+1, off+1480 {
		end := min(off+1480, 8000)
		f := frag(p, off, end, end < 8000)
		f.key.src, f.key.id = honest, 7
		res, d, _ := r.add(f, reasmT0)
		require.NotEqual(t, reasmNoMemory, res, "fragment %d of the honest datagram", k)
		if res == reasmComplete {
			done = d
		}
		flood(500)
	}
	require.NotNil(t, done, "the honest datagram completed")
	require.Equal(t, p[:8000], done.data[:done.total])
	require.Positive(t, r.evicted, "room was made from the flooder's datagrams")
}

func TestReassemblerExpire(t *testing.T) {
	p := testPayload(2000)
	var r reassembler
	_, _, _ = r.add(frag(p, 0, 800, true), reasmT0)
	dl, ok := r.nextDeadline()
	require.True(t, ok)
	require.Equal(t, reasmT0.Add(ReasmTimeout), dl)

	var expired []*reassembly
	r.expire(reasmT0.Add(ReasmTimeout-time.Nanosecond), func(d *reassembly) { expired = append(expired, d) })
	require.Empty(t, expired)
	r.expire(reasmT0.Add(ReasmTimeout), func(d *reassembly) { expired = append(expired, d) })
	require.Len(t, expired, 1)
	require.Equal(t, 20, expired[0].headerLen, "first fragment's header kept for the ICMP error")
	require.Empty(t, r.list)
	require.Zero(t, r.mem)
	_, ok = r.nextDeadline()
	require.False(t, ok)
}

// FuzzReassembler feeds arbitrary fragment sequences (each 5 input bytes:
// offset in 8-byte units, length, flags) of one pattern payload, and checks
// that memory accounting stays exact and bounded and that any completed
// datagram is exactly the pattern.
// TestReassemblyBoundUsesFirstHeader: a first fragment with a 60-byte
// header and later fragments with 20-byte headers whose payload ends at
// 65,515 would rebuild a 65,575-byte datagram: refused, whichever
// fragment comes last (the bound is checked with the first fragment's
// header, as the datagram is rebuilt with it). 20 + 65,515 exactly fits.
func TestReassemblyBoundUsesFirstHeader(t *testing.T) {
	p := testPayload(maxIPv4Len)
	key := reasmKey{src: netip.MustParseAddr("10.0.0.2"), dst: netip.MustParseAddr("10.0.0.1"), id: 9, proto: 17}
	const total = maxIPv4Len - 20 // 65,515: fits a 20-byte header, not a 60-byte one
	frag := func(off, n, hl int, more bool) *fragment {
		return &fragment{key: key, offset: off, more: more, header: make([]byte, hl), payload: p[off : off+n]}
	}
	for _, firstLast := range []bool{false, true} {
		for _, hl := range []int{60, 20} {
			var r reassembler
			frags := []*fragment{frag(0, 32768, hl, true), frag(32768, total-32768, 20, false)}
			if firstLast {
				frags[0], frags[1] = frags[1], frags[0]
			}
			res, _, _ := r.add(frags[0], reasmT0)
			require.Equal(t, reasmHeld, res)
			res, done, _ := r.add(frags[1], reasmT0)
			if hl == 60 {
				require.Equal(t, reasmTooBig, res, "first header %d, first fragment last %v", hl, firstLast)
				require.Nil(t, done)
			} else {
				require.Equal(t, reasmComplete, res)
				require.Equal(t, maxIPv4Len, done.headerLen+done.total)
			}
			require.Empty(t, r.list)
			require.Zero(t, r.mem)
		}
	}
}

func FuzzReassembler(f *testing.F) {
	f.Add([]byte{0, 0, 100, 0, 1, 0, 100, 0, 50, 0})  // offset 0 len 100 MF, then...
	f.Add([]byte{0, 10, 0, 0, 0, 0, 0, 0x20, 0, 1})   // last first
	f.Add([]byte{0, 0, 0xff, 0, 1, 0, 8, 0, 0xff, 1}) // overlap
	f.Add([]byte{0x1f, 0xff, 0, 0x40, 0})             // past 65535
	f.Add([]byte{0, 0, 0, 0, 0})                      // empty last fragment
	p := testPayload(maxIPv4Len + 8*0x2000)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r reassembler
		now := reasmT0
		for len(data) >= 5 {
			off := (int(data[0])<<8 | int(data[1])) & 0x1fff * 8
			n := int(data[2])<<8 | int(data[3])
			flags := data[4]
			data = data[5:]
			fr := &fragment{
				key:     reasmKey{src: netip.MustParseAddr("10.0.0.2"), dst: netip.MustParseAddr("10.0.0.1"), id: uint16(flags >> 4), proto: 17},
				offset:  off,
				more:    flags&1 != 0,
				header:  make([]byte, []int{20, 24, 40, 60}[flags>>2&3]), // the header length varies per fragment
				payload: p[off : off+n],
			}
			if flags&2 != 0 {
				now = now.Add(ReasmTimeout)
				r.expire(now, func(*reassembly) {})
			}
			res, done, _ := r.add(fr, now)
			if res == reasmComplete {
				require.True(t, bytes.Equal(p[:done.total], done.data[:done.total]))
				require.LessOrEqual(t, done.headerLen+done.total, maxIPv4Len)
			}
			mem := 0
			for _, d := range r.list {
				mem += d.charge
				got := 0
				for _, p := range d.pieces {
					got += len(p.data)
				}
				require.Equal(t, got+len(d.pieces)*reasmFragOverhead, d.charge, "charged for what arrived")
				require.Equal(t, d.frags, len(d.pieces))
				for i := 1; i < len(d.have); i++ {
					require.Less(t, d.have[i-1].end, d.have[i].start, "spans sorted, disjoint, merged")
				}
			}
			require.Equal(t, mem, r.mem)
			require.LessOrEqual(t, r.mem, ReasmMaxBytes)
			require.LessOrEqual(t, len(r.list), ReasmMaxDatagrams)
		}
	})
}
