package tcp_test

import (
	"errors"
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

// offloadMSS is the data of the largest offloaded segment at offloadMax
// and an MSS of 1460: 44 MSS (44*1460+20 = 64260 <= 64980 < 45*1460+20).
const offloadMSS = 44 * mss

// unit is one segment as the engine sent it: an offloaded one (its pieces
// are in the recorder's Segs) or one of at most an MSS.
type unit struct {
	seq       uint32
	n         int // data bytes
	flags     wire.Flags
	offloaded bool
}

// units returns what the engine sent since the last take, as it sent it:
// the recorder's pieces regrouped into their offloaded segments (from the
// offloads recorded since index *seen, which it advances).
func (f *fixture) units(seen *int) []unit {
	f.t.Helper()
	var out []unit
	offs := f.rec.Offloads[*seen:]
	*seen = len(f.rec.Offloads)
	segs := f.take()
	for i := 0; i < len(segs); {
		if len(offs) > 0 && segs[i].Repr.Seq == offs[0].Seq {
			o := offs[0]
			offs = offs[1:]
			require.LessOrEqual(f.t, i+o.Pieces, len(segs))
			out = append(out, unit{o.Seq, o.Len, o.Flags, true})
			i += o.Pieces
			continue
		}
		s := segs[i]
		out = append(out, unit{s.Repr.Seq, len(s.Payload), s.Repr.Flags, false})
		i++
	}
	require.Empty(f.t, offs, "offloaded segments whose pieces were not recorded")
	return out
}

// With segmentation offload the engine sends what the windows allow as
// one segment of whole MSS, through SendOffloaded with the connection's
// MSS and no checksum computed (its pieces, cut as netd cuts them, are
// what the recorder shows); an ACK of an offloaded segment opens cwnd by
// its size in slow start; the peer's window bounds a segment as any;
// timeouts resend one MSS; SetOffload(0) goes back to one MSS a segment.
func TestOffloadSegmentsAndSlowStart(t *testing.T) {
	f := newFixture(t, tcp.Config{Offload: offloadMax})
	c := f.active()
	assert.Equal(t, offloadMax, f.s.Offload())
	una := f.pAck
	f.write(c, strings.Repeat("o", 100*mss))
	require.Len(t, f.rec.Offloads, 1, "the initial window went as one offloaded segment")
	assert.Equal(t, tcptest.Offloaded{Seq: una, Flags: ACK, Sum: 0, MSS: mss, Pieces: 3, Len: 3 * mss}, f.rec.Offloads[0],
		"no PSH (more data follows), the checksum left to the cutter")
	pieces := f.take()
	require.Len(t, pieces, 3)
	for i, p := range pieces {
		assert.Equal(t, una+uint32(i*mss), p.Repr.Seq)
		assert.Len(t, p.Payload, mss)
	}
	// One ACK for the whole segment: cwnd grows by 3 MSS, not 1.
	f.pAck += 3 * mss
	f.send(ACK, "")
	assert.Equal(t, 6*mss, c.Info().Cwnd)
	require.Len(t, f.rec.Offloads, 2)
	assert.Equal(t, 6*mss, f.rec.Offloads[1].Len)
	assert.Len(t, f.take(), 6)
	cs := f.s.Counters()
	assert.EqualValues(t, 2, cs.TxOffloaded)
	assert.EqualValues(t, 9*mss, cs.TxOffloadedBytes)
	assert.EqualValues(t, 9*mss, cs.TxDataBytes)
	assert.EqualValues(t, 2+2, cs.TxSegments, "SYN, ACK and the two offloaded segments")
	assert.EqualValues(t, 3, c.Info().Stats.TxSegments, "SYN and the two offloaded segments")

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
	require.Len(t, re, 1)
	assert.Equal(t, f.pAck, re[0].Repr.Seq)
	assert.Len(t, re[0].Payload, mss)
	assert.Len(t, f.rec.Offloads, 3)

	// SetOffload(0): one MSS per segment again.
	f.s.SetOffload(0)
	assert.Zero(t, f.s.Offload())
	f.pAck += 2 * mss
	f.pWnd = 65535
	f.send(ACK, "")
	segs := f.take()
	assert.NotEmpty(t, segs)
	assert.Len(t, f.rec.Offloads, 3)
	for _, p := range segs {
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
	s.SetOffload(offloadMax)
	assert.Zero(t, s.Offload())
	f := newFixture(t, tcp.Config{})
	assert.Zero(t, f.s.Offload(), "off unless asked for")
	f.s.SetOffload(1000)
	assert.Zero(t, f.s.Offload(), "no larger than one segment")
	f.s.SetOffload(1480)
	assert.Zero(t, f.s.Offload(), "MTU-20 is one segment still")
	f.s.SetOffload(wire.MaxSegmentLen + 1)
	assert.Zero(t, f.s.Offload())
	f.s.SetOffload(1481)
	assert.Equal(t, 1481, f.s.Offload())
	f.s.SetOffload(wire.MaxSegmentLen)
	assert.Equal(t, wire.MaxSegmentLen, f.s.Offload())
	for _, bad := range []int{-1, 1400, 1480, wire.MaxSegmentLen + 1} {
		_, err = tcp.New(tcp.Config{Offload: bad}, plain, tcptest.NewLink(tcptest.Faults{}).Clock)
		assert.ErrorIs(t, err, tcp.ErrInvalidConfig, "%d", bad)
	}
	_, err = tcp.New(tcp.Config{MTU: 9000, Offload: 8980}, plain, tcptest.NewLink(tcptest.Faults{}).Clock)
	assert.ErrorIs(t, err, tcp.ErrInvalidConfig, "not above a 9000-byte MTU's segment")
}

// The largest offloaded segment is the most whole MSS whose segment,
// its 20-byte header included, fits the offload size — to the byte.
func TestOffloadSegmentSize(t *testing.T) {
	for _, c := range []struct {
		offload int
		want    []int // data of the segments sent, in MSS
	}{
		{5*mss + 20, []int{3, 5, 1}}, // cwnd 6 MSS after the first ACK: 5 MSS offloaded, one alone
		{5*mss + 19, []int{3, 4, 2}},
		{2*mss + 20, []int{2, 1, 2, 2, 1}}, // the ACK of 3 MSS counts 2 (one offloaded segment's data): cwnd 5 MSS
	} {
		t.Run(fmt.Sprint(c.offload), func(t *testing.T) {
			f := newFixture(t, tcp.Config{Offload: c.offload})
			conn := f.active()
			var seen int
			f.write(conn, strings.Repeat("z", 100*mss))
			got := f.units(&seen)
			f.pAck += 3 * mss
			f.send(ACK, "")
			got = append(got, f.units(&seen)...)
			var sizes []int
			for _, u := range got {
				assert.Zero(t, u.n%mss)
				assert.Equal(t, u.n > mss, u.offloaded, "offloaded exactly when more than one MSS")
				sizes = append(sizes, u.n/mss)
			}
			assert.Equal(t, c.want, sizes)
		})
	}
}

// Slow start with one ACK per offloaded segment (a receiver or host that
// coalesces): every ACK opens cwnd by what it acknowledges, up to one
// offloaded segment's data, so cwnd doubles every round trip, exactly,
// and a window of 1 MiB (a 1 Gb/s link with an 8 ms round trip) is
// reached in 8 round trips from the initial 3 MSS. RFC 5681's one SMSS
// per ACK would add one MSS per offloaded segment acknowledged: about
// one MSS a round trip while the window fits in one such segment, and
// hundreds of round trips to 1 MiB. Every segment is the largest
// offloaded one, 44 MSS, as soon as the window allows; an ACK of two at
// once (a stretch ACK) opens cwnd by one offloaded segment's data only.
func TestOffloadSlowStartGrowth(t *testing.T) {
	f := newFixture(t, tcp.Config{Offload: offloadMax, SendBuffer: tcp.MaxBuffer})
	f.pOpt = wire.Options{MSS: mss, HasWindowScale: true, WindowScale: 8} // a 16 MiB window
	c := f.active()
	f.write(c, strings.Repeat("g", tcp.MaxBuffer))
	var seen int
	sent := f.units(&seen)
	const target = 1 << 20
	rounds := 0
	for ; c.Info().Cwnd < target; rounds++ {
		require.Less(t, rounds, 20)
		start := c.Info().Cwnd
		flight := 0
		for _, u := range sent {
			assert.Equal(t, f.pAck+uint32(flight), u.seq, "in order")
			flight += u.n
			assert.LessOrEqual(t, u.n, offloadMSS)
			assert.Equal(t, u.n > mss, u.offloaded)
			assert.Equal(t, ACK, u.flags)
		}
		assert.Equal(t, start, flight, "round %d: the window is full", rounds)
		var next []unit
		for _, u := range sent { // one ACK per segment sent
			before := c.Info().Cwnd
			f.pAck = u.seq + uint32(u.n)
			f.send(ACK, "")
			assert.Equal(t, before+min(u.n, offloadMSS), c.Info().Cwnd, "round %d: cwnd += min(acked, 44 MSS)", rounds)
			next = append(next, f.units(&seen)...)
		}
		assert.Equal(t, 2*start, c.Info().Cwnd, "round %d: doubled", rounds)
		assert.Equal(t, 3*mss<<(rounds+1), c.Info().Cwnd)
		if start >= offloadMSS {
			full := 0
			for _, u := range next {
				if u.n == offloadMSS {
					full++
				}
			}
			assert.GreaterOrEqual(t, full, 2*start/offloadMSS-1, "round %d: largest segments", rounds)
		}
		sent = next
	}
	assert.Equal(t, 8, rounds)

	// A stretch ACK of two offloaded segments: one segment's data.
	require.GreaterOrEqual(t, len(sent), 2)
	require.Equal(t, offloadMSS, sent[0].n)
	require.Equal(t, offloadMSS, sent[1].n)
	before := c.Info().Cwnd
	f.pAck = sent[1].seq + uint32(sent[1].n)
	f.send(ACK, "")
	assert.Equal(t, before+offloadMSS, c.Info().Cwnd)

	cs := f.s.Counters()
	assert.Equal(t, uint64(len(f.rec.Offloads)), cs.TxOffloaded)
	var off uint64
	for _, o := range f.rec.Offloads {
		off += uint64(o.Len)
	}
	assert.Equal(t, off, cs.TxOffloadedBytes)
	assert.Equal(t, uint64(c.Info().SndMax-c.Info().ISS-1), cs.TxDataBytes)
	assert.Zero(t, cs.TxRetransSegs)
}

// After a timeout, a cumulative ACK for what the peer held (the hole
// filled by the one-MSS retransmission) opens cwnd by more than one MSS
// only up to ssthresh, then congestion avoidance takes over.
func TestOffloadSlowStartStopsAtSsthresh(t *testing.T) {
	f := newFixture(t, tcp.Config{Offload: offloadMax})
	c := f.active()
	var seen int
	f.write(c, strings.Repeat("s", 100*mss))
	for range 2 { // 3, then 6 MSS acknowledged: 12 MSS in flight
		for _, u := range f.units(&seen) {
			f.pAck = u.seq + uint32(u.n)
		}
		f.send(ACK, "")
	}
	sent := f.units(&seen)
	require.Equal(t, []unit{{f.pAck, 12 * mss, ACK, true}}, sent)
	f.advance(time.Second)
	i := c.Info()
	assert.Equal(t, mss, i.Cwnd)
	assert.Equal(t, 6*mss, i.Ssthresh)
	assert.Equal(t, []unit{{f.pAck, mss, ACK, false}}, f.units(&seen))

	f.pAck += 12 * mss // everything the peer held, at once
	f.send(ACK, "")
	assert.Equal(t, 6*mss, c.Info().Cwnd, "1 MSS + min(12 MSS, 44 MSS, ssthresh - cwnd)")
	assert.Equal(t, []unit{{f.pAck, 6 * mss, ACK, true}}, f.units(&seen), "new data, offloaded")
	f.pAck += 6 * mss
	f.send(ACK, "")
	assert.Equal(t, 7*mss, c.Info().Cwnd, "congestion avoidance: one MSS per window")
}

// Fast retransmit and partial ACKs resend one MSS, through SendSegment;
// only new data goes offloaded during recovery.
func TestOffloadFastRetransmitOneMSS(t *testing.T) {
	f := newFixture(t, tcp.Config{Offload: offloadMax})
	c := f.active()
	una := f.pAck
	var seen int
	f.write(c, strings.Repeat("r", 100*mss))
	f.units(&seen)
	f.pAck += 3 * mss
	f.send(ACK, "")
	require.Equal(t, []unit{{una + 3*mss, 6 * mss, ACK, true}}, f.units(&seen))
	for range 3 { // the segment at una+3 MSS is lost
		f.send(ACK, "")
	}
	assert.Equal(t, []unit{{una + 3*mss, mss, ACK, false}}, f.units(&seen), "the fast retransmission: one MSS")
	assert.True(t, c.Info().InRecovery)
	for range 4 { // each further duplicate lets one MSS of new data go
		f.send(ACK, "")
	}
	newData := f.units(&seen)
	require.Len(t, newData, 4)
	for i, u := range newData {
		assert.Equal(t, unit{una + uint32(9+i)*mss, mss, ACK, false}, u)
	}
	f.pAck = una + 5*mss // partial: the segment at una+5 MSS is lost too
	f.send(ACK, "")
	got := f.units(&seen)
	require.NotEmpty(t, got)
	assert.Equal(t, unit{una + 5*mss, mss, ACK, false}, got[0], "the next hole: one MSS")
	for _, u := range got[1:] {
		assert.GreaterOrEqual(t, u.seq, una+13*mss, "new data only")
	}
	f.pAck = c.Info().SndMax
	f.send(ACK, "")
	assert.False(t, c.Info().InRecovery)
	assert.EqualValues(t, 2, f.s.Counters().TxRetransSegs)
}

// After a timeout the go-back-N resends one MSS a segment until SND.MAX;
// new data after it goes offloaded again.
func TestOffloadGoBackNOneMSS(t *testing.T) {
	f := newFixture(t, tcp.Config{Offload: offloadMax})
	c := f.active()
	una := f.pAck
	var seen int
	f.write(c, strings.Repeat("b", 100*mss))
	f.units(&seen)
	f.pAck += 3 * mss
	f.send(ACK, "")
	require.Equal(t, []unit{{una + 3*mss, 6 * mss, ACK, true}}, f.units(&seen))
	f.advance(time.Second)
	assert.Equal(t, []unit{{una + 3*mss, mss, ACK, false}}, f.units(&seen))
	assert.Equal(t, 3*mss, c.Info().Ssthresh)

	f.pAck = una + 4*mss
	f.send(ACK, "")
	assert.Equal(t, 2*mss, c.Info().Cwnd)
	assert.Equal(t, []unit{{una + 4*mss, mss, ACK, false}, {una + 5*mss, mss, ACK, false}}, f.units(&seen))
	f.pAck = una + 6*mss
	f.send(ACK, "")
	assert.Equal(t, 3*mss, c.Info().Cwnd)
	assert.Equal(t, []unit{{una + 6*mss, mss, ACK, false}, {una + 7*mss, mss, ACK, false}, {una + 8*mss, mss, ACK, false}},
		f.units(&seen), "up to SND.MAX, one MSS each")
	f.pAck = una + 9*mss
	f.send(ACK, "")
	assert.Equal(t, 4*mss, c.Info().Cwnd, "congestion avoidance")
	assert.Equal(t, []unit{{una + 9*mss, 4 * mss, ACK, true}}, f.units(&seen), "new data: offloaded")
	assert.EqualValues(t, 6, f.s.Counters().TxRetransSegs)
	assert.EqualValues(t, 6*mss, f.s.Counters().TxRetransBytes)
}

// Nagle and silly-window avoidance bound an offloaded segment as any: its
// last piece of less than an MSS goes only if Nagle would let it go
// alone (all the data, nothing in flight, or TCP_NODELAY), else waits
// for an ACK. PSH and FIN end the segment (its last piece).
func TestOffloadNagleAndFlags(t *testing.T) {
	f := newFixture(t, tcp.Config{Offload: offloadMax})
	c := f.active()
	next := f.pAck
	var seen int
	expect := func(want ...unit) {
		t.Helper()
		for i := range want {
			want[i].seq = next
			next += uint32(want[i].n)
		}
		assert.Equal(t, want, f.units(&seen))
	}
	// Nothing in flight: 2.5 MSS go at once, PSH at the end.
	f.write(c, strings.Repeat("n", 2*mss+mss/2))
	expect(unit{n: 2*mss + mss/2, flags: ACK | PSH, offloaded: true})
	f.pAck = next
	f.send(ACK, "")
	assert.Equal(t, 3*mss+2*mss+mss/2, c.Info().Cwnd)
	// In flight: 2.5 MSS more send 2 MSS; the half waits for the ACK.
	f.write(c, strings.Repeat("n", mss))
	expect(unit{n: mss, flags: ACK | PSH})
	f.write(c, strings.Repeat("n", 2*mss+mss/2))
	expect(unit{n: 2 * mss, flags: ACK, offloaded: true})
	f.pAck = next
	f.send(ACK, "")
	expect(unit{n: mss / 2, flags: ACK | PSH})
	// With TCP_NODELAY the whole goes though something is in flight.
	c.SetNoDelay(true)
	f.write(c, strings.Repeat("n", 2*mss+mss/2))
	expect(unit{n: 2*mss + mss/2, flags: ACK | PSH, offloaded: true})
	c.SetNoDelay(false)
	f.pAck = next
	f.send(ACK, "")

	// Data queued behind cwnd and a FIN: the FIN rides on the last
	// offloaded segment, flagged on its last piece only.
	end := next + 30*mss + mss/3
	f.write(c, strings.Repeat("n", 30*mss+mss/3))
	require.NoError(t, c.CloseWrite())
	var all []unit
	for len(all) == 0 || all[len(all)-1].flags&FIN == 0 {
		got := f.units(&seen)
		require.NotEmpty(t, got)
		all = append(all, got...)
		f.pAck = got[len(got)-1].seq + uint32(got[len(got)-1].n)
		f.send(ACK, "")
	}
	last := all[len(all)-1]
	assert.True(t, last.offloaded)
	assert.Equal(t, ACK|PSH|FIN, last.flags)
	assert.Equal(t, end, last.seq+uint32(last.n), "the FIN after the last byte")
	pieces := f.take() // nothing since; the last offloaded segment's pieces:
	assert.Empty(t, pieces)
	o := f.rec.Offloads[len(f.rec.Offloads)-1]
	assert.Equal(t, (last.n+mss-1)/mss, o.Pieces)
	for _, u := range all[:len(all)-1] {
		assert.Equal(t, ACK, u.flags)
	}
}

// SetOffload turns offload on for connections already open: the scratch
// buffer grows to the offloaded segment.
func TestSetOffloadOn(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	var seen int
	f.write(c, strings.Repeat("x", 10*mss))
	assert.Len(t, f.units(&seen), 3)
	f.s.SetOffload(offloadMax)
	f.pAck += 3 * mss
	f.send(ACK, "")
	assert.Equal(t, 6*mss, c.Info().Cwnd, "the ACK of three segments counts whole with offload on")
	assert.Equal(t, []unit{{f.pAck, 6 * mss, ACK, true}}, f.units(&seen))
}

// An Output error on an offloaded segment counts as a lost segment:
// TxErrors, and the retransmission timer resends (one MSS).
func TestOffloadOutputError(t *testing.T) {
	out := &failingOffload{}
	clock := tcptest.NewLink(tcptest.Faults{}).Clock
	s, err := tcp.New(tcp.Config{Offload: offloadMax, Secret: []byte("x")}, out, clock)
	require.NoError(t, err)
	c, err := s.Connect(netip.AddrPortFrom(ourAddr, 5000), netip.AddrPortFrom(peerAddr, 80))
	require.NoError(t, err)
	syn := out.Take()
	require.Len(t, syn, 1)
	s.Input(peerAddr, ourAddr, tcptest.Segment(netip.AddrPortFrom(peerAddr, 80), netip.AddrPortFrom(ourAddr, 5000),
		wire.Repr{Seq: 1, Ack: syn[0].Repr.Seq + 1, Flags: SYN | ACK, Window: 65535, Options: wire.Options{MSS: mss}}, nil))
	_, err = c.Write(make([]byte, 10*mss))
	require.NoError(t, err)
	assert.EqualValues(t, 1, s.Counters().TxErrors)
	assert.Zero(t, s.Counters().TxOffloaded)
	out.Take()
	clock.Advance(time.Second)
	s.Tick()
	re := out.Take()
	require.Len(t, re, 1)
	assert.Len(t, re[0].Payload, mss)
}

// failingOffload is a Recorder whose SendOffloaded fails.
type failingOffload struct{ tcptest.Recorder }

func (*failingOffload) SendOffloaded(netip.Addr, netip.Addr, []byte, int) error {
	return errors.New("no room")
}

// Transfers of 0 B to 16 MiB arrive byte-exact under each fault with
// offload on, the pieces cut before the faults (as netd cuts them before
// the wire): no piece on the link is larger than one MSS, and most data
// goes offloaded.
func TestTransferUnderFaultsWithOffload(t *testing.T) {
	for _, fk := range faultKinds {
		for _, size := range []int{0, 1, 1 << 20, 16 << 20} {
			t.Run(fmt.Sprintf("%s/%d", fk.name, size), func(t *testing.T) {
				f := fk.f
				f.Seed = uint64(size) + 3
				largest := 0
				r := runTransferFrom(t, f, pattern(size, uint64(size)+1), tcp.Config{Offload: offloadMax}, 24*time.Hour,
					func(l *tcptest.Link, a, b *tcp.Stack) netip.AddrPort {
						l.Tap = func(p tcptest.Packet) bool {
							if s, err := wire.Parse(p.Seg); err == nil {
								largest = max(largest, len(s.Payload()))
							}
							return true
						}
						return netip.AddrPort{}
					})
				assert.LessOrEqual(t, largest, mss)
				assert.Equal(t, r.a.TxOffloaded, r.link.Offloaded)
				if size >= 1<<20 {
					assert.NotZero(t, r.a.TxOffloaded)
					if fk.name == "clean" {
						assert.Greater(t, r.a.TxOffloadedBytes, uint64(size)*9/10, "most data offloaded")
					}
				}
				t.Logf("link %+v; sender: offloaded %d (%d bytes), segments %d, retrans %d, fast %d, timeouts %d",
					r.link, r.a.TxOffloaded, r.a.TxOffloadedBytes, r.a.TxSegments, r.a.TxRetransSegs, r.a.FastRetransmits, r.a.Timeouts)
			})
		}
	}
}

// The same with a receiver that sees the offloaded segments whole (its
// host coalesced them, GRO): loss, corruption and the rest then hit whole
// offloaded segments.
func TestTransferUnderFaultsCoalesced(t *testing.T) {
	for _, fk := range faultKinds {
		t.Run(fk.name, func(t *testing.T) {
			f := fk.f
			f.Seed = 5
			l := tcptest.NewLink(f)
			l.Coalesce = true
			r := runTransferOn(t, l, pattern(4<<20, 5), tcp.Config{Offload: offloadMax}, 24*time.Hour, nil)
			assert.NotZero(t, r.a.TxOffloaded)
			assert.Equal(t, r.a.TxOffloaded, r.link.Offloaded)
			t.Logf("link %+v; sender: offloaded %d, segments %d, retrans %d, timeouts %d; receiver: ACKs %d",
				r.link, r.a.TxOffloaded, r.a.TxSegments, r.a.TxRetransSegs, r.a.Timeouts, r.b.TxACKs)
		})
	}
}

// Offload asked for on an Output that is not an OffloadOutput, or not
// asked for: every segment one MSS at most, nothing offloaded.
func TestTransferWithoutOffload(t *testing.T) {
	for _, c := range []struct {
		name  string
		plain bool
		cfg   tcp.Config
	}{
		{"plain output", true, tcp.Config{Offload: offloadMax}},
		{"offload off", false, tcp.Config{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := tcptest.NewLink(tcptest.Faults{Delay: 5 * time.Millisecond, Loss: 0.01, Seed: 9})
			l.Plain = c.plain
			largest := 0
			r := runTransferOn(t, l, pattern(1<<20, 9), c.cfg, time.Hour,
				func(l *tcptest.Link, a, b *tcp.Stack) netip.AddrPort {
					assert.Zero(t, a.Offload())
					l.Tap = func(p tcptest.Packet) bool {
						if s, err := wire.Parse(p.Seg); err == nil {
							largest = max(largest, len(s.Payload()))
						}
						return true
					}
					return netip.AddrPort{}
				})
			assert.Equal(t, mss-12, largest, "one MSS less the timestamps option (RFC 6691)")
			assert.Zero(t, r.a.TxOffloaded)
			assert.Zero(t, r.link.Offloaded)
		})
	}
}

// Over a 1 Gb/s link with an 8 ms round trip (a bandwidth-delay product
// of 1 MiB) and a receiver that acknowledges each offloaded segment once
// (GRO), slow start reaches the product in the handshake and 8 doublings
// from 3 MSS (768 MSS), about 10 round trips with the segments'
// serialization. Without offload (and an ACK every second segment, so
// cwnd grows by half each round trip) it takes about 15: logged, for
// comparison.
func TestOffloadSlowStartFillsTheLink(t *testing.T) {
	const rtt, rate = 8 * time.Millisecond, 125 << 20
	bdp := int(rate * rtt / time.Second)
	for _, c := range []struct {
		name     string
		offload  int
		coalesce bool
	}{
		{"offload, GRO receiver", offloadMax, true},
		{"no offload", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := tcptest.NewLink(tcptest.Faults{Delay: rtt / 2, Rate: rate, QueueBytes: 16 << 20})
			l.Coalesce = c.coalesce
			var first, reached time.Time
			r := runTransferOn(t, l, pattern(32<<20, 3), tcp.Config{Offload: c.offload, SendBuffer: tcp.MaxBuffer, RecvBuffer: tcp.MaxBuffer},
				time.Hour, func(l *tcptest.Link, a, b *tcp.Stack) netip.AddrPort {
					l.Tap = func(p tcptest.Packet) bool {
						if first.IsZero() {
							first = l.Clock.Now()
						}
						for _, i := range a.Conns() {
							if i.Cwnd >= bdp && reached.IsZero() {
								reached = l.Clock.Now()
							}
						}
						return true
					}
					return netip.AddrPort{}
				})
			require.False(t, reached.IsZero())
			took := reached.Sub(first)
			t.Logf("cwnd reached %d bytes after %v (%.1f round trips); 32 MiB in %v; sender %+v", bdp, took,
				float64(took)/float64(rtt), r.fake-tcp.DefaultTimeWait, r.a)
			if c.offload > 0 {
				assert.LessOrEqual(t, took, 11*rtt)
			}
		})
	}
}

// gatherOut is the recorder as a GatherOutput: it joins the pieces and
// records the segment as SendOffloaded would, counting the gathered
// segments and those whose payload wrapped around the send buffer.
type gatherOut struct {
	*tcptest.Recorder
	gathered, wrapped int
}

func (g *gatherOut) SendOffloadedGather(src, dst netip.Addr, hdr []byte, data [][]byte, mss int) error {
	g.gathered++
	if len(data) > 1 {
		g.wrapped++
	}
	seg := append([]byte(nil), hdr...)
	for _, d := range data {
		seg = append(seg, d...)
	}
	return g.Recorder.SendOffloaded(src, dst, seg, mss)
}

// With a GatherOutput the engine hands an offloaded segment's payload
// over as it lies in the send buffer, in two pieces where the buffer
// wraps: a stream of four send buffers arrives byte-exact, every
// offloaded segment went through the gather (and some wrapped), and the
// segments of an MSS or less still go through SendSegment.
func TestOffloadGatherSendsFromTheSendBuffer(t *testing.T) {
	var g *gatherOut
	f := newFixtureWith(t, tcp.Config{Offload: offloadMax}, func(r *tcptest.Recorder) tcp.Output {
		g = &gatherOut{Recorder: r}
		return g
	})
	f.pOpt = wire.Options{MSS: mss, HasWindowScale: true, WindowScale: 8}
	c := f.active()
	base := f.pAck
	total := 4 * f.s.Config().SendBuffer
	stream := make([]byte, total)
	for i := range stream {
		stream[i] = byte(i*13 + i>>10)
	}
	written, got, small := 0, 0, 0
	for rounds := 0; got < total; rounds++ {
		require.Less(t, rounds, 2000)
		if written < total {
			n, err := c.Write(stream[written:])
			if err != nil {
				require.ErrorIs(t, err, tcp.ErrWouldBlock)
			}
			written += n
		}
		segs := f.take()
		for _, s := range segs {
			require.Equal(t, stream[got:got+len(s.Payload)], s.Payload, "at byte %d", got)
			got += len(s.Payload)
		}
		f.pAck = base + uint32(got)
		f.send(ACK, "")
	}
	for _, o := range f.rec.Offloads {
		if o.Len <= mss {
			small++
		}
	}
	assert.Zero(t, small, "offloaded segments are over an MSS")
	assert.Equal(t, len(f.rec.Offloads), g.gathered, "every offloaded segment was gathered")
	assert.Positive(t, g.wrapped, "some wrapped around the send buffer")
}

// With two of the largest offloaded segments in flight, new data the
// application wrote that makes less than one waits for more (or for the
// flight to drop under two): a transfer's segments stay the largest
// instead of locking at whatever an ACK freed. A FIN, or less in
// flight, sends at once; each wait is counted (TxHeld).
func TestOffloadHoldsForFullSegments(t *testing.T) {
	f := newFixture(t, tcp.Config{Offload: offloadMax, SendBuffer: tcp.MaxBuffer})
	f.pOpt = wire.Options{MSS: mss, HasWindowScale: true, WindowScale: 8}
	c := f.active()
	var seen int
	// Grow cwnd past four of the largest segments: slow start, every
	// segment acknowledged, until all 400 MSS are.
	f.write(c, strings.Repeat("h", 400*mss))
	for c.Info().SendQueued > 0 {
		sent := f.units(&seen)
		require.NotEmpty(t, sent)
		for _, u := range sent {
			f.pAck = u.seq + uint32(u.n)
			f.send(ACK, "")
		}
	}
	require.Empty(t, f.units(&seen))
	require.Greater(t, c.Info().Cwnd, 4*offloadMSS)
	held := f.s.Counters().TxHeld

	next := f.pAck
	expect := func(why string, want ...unit) {
		t.Helper()
		for i := range want {
			want[i].seq = next
			next += uint32(want[i].n)
			want[i].offloaded = want[i].n > mss
		}
		assert.Equal(t, want, f.units(&seen), why)
	}
	// Nothing in flight: two full segments go, the half behind them waits.
	f.write(c, strings.Repeat("h", 2*offloadMSS+offloadMSS/2))
	expect("two full segments, the rest held", unit{n: offloadMSS, flags: ACK}, unit{n: offloadMSS, flags: ACK})
	assert.Equal(t, held+1, f.s.Counters().TxHeld)
	// The next write makes a full segment: it goes, the rest waits.
	f.write(c, strings.Repeat("h", offloadMSS/2+3*mss))
	expect("a full segment", unit{n: offloadMSS, flags: ACK})
	// An ACK of two leaves one in flight: the held 3 MSS go.
	f.pAck += 2 * offloadMSS
	f.send(ACK, "")
	expect("the flight under two segments", unit{n: 3 * mss, flags: ACK | PSH})
	// Two in flight again: a FIN is not held.
	f.write(c, strings.Repeat("h", offloadMSS))
	expect("a full segment", unit{n: offloadMSS, flags: ACK | PSH})
	f.write(c, strings.Repeat("h", 5*mss))
	assert.Empty(t, f.units(&seen), "held")
	require.NoError(t, c.CloseWrite())
	expect("the FIN goes with the held data", unit{n: 5 * mss, flags: ACK | PSH | FIN})
	assert.Equal(t, held+3, f.s.Counters().TxHeld)
}
