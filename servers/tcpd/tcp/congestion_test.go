package tcp_test

import (
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

const mss = 1460

// Slow start: the initial window is 3 segments (RFC 5681 3.1) and each
// ACK of new data opens it by one segment.
func TestSlowStart(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	assert.Equal(t, 3*mss, c.Info().Cwnd)
	f.write(c, strings.Repeat("s", 20*mss))
	assert.Len(t, f.take(), 3)
	f.pAck += mss
	f.send(ACK, "")
	assert.Equal(t, 4*mss, c.Info().Cwnd)
	assert.Len(t, f.take(), 2, "one segment acknowledged, one more allowed")
}

// Fast retransmit and NewReno fast recovery, step by step (RFC 5681 3.2,
// RFC 6582 3.2): three duplicate ACKs retransmit the first segment and
// set ssthresh to half the flight; further duplicates inflate cwnd; a
// partial ACK retransmits the next hole; the full ACK deflates cwnd.
func TestFastRetransmitNewReno(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	una := f.pAck
	f.write(c, strings.Repeat("r", 8*mss))
	segs := f.take()
	require.Len(t, segs, 3)
	for range 2 {
		f.send(ACK, "")
	}
	f.expectNone()
	assert.Equal(t, uint64(2), f.s.Counters().RxDupACKs)
	assert.Equal(t, uint64(0), f.s.Counters().FastRetransmits)
	f.send(ACK, "") // the third duplicate
	segs = f.take()
	require.Len(t, segs, 3, "the retransmission, then two new segments the window allows")
	assert.Equal(t, una, segs[0].Repr.Seq)
	assert.Len(t, segs[0].Payload, mss)
	assert.Equal(t, una+3*mss, segs[1].Repr.Seq)
	i := c.Info()
	assert.True(t, i.InRecovery)
	assert.Equal(t, max(3*mss/2, 2*mss), i.Ssthresh)
	assert.Equal(t, i.Ssthresh+3*mss, i.Cwnd)
	assert.Equal(t, uint64(1), f.s.Counters().FastRetransmits)

	f.send(ACK, "") // a fourth duplicate inflates cwnd by one segment
	assert.Equal(t, i.Cwnd+mss, c.Info().Cwnd)
	assert.Len(t, f.take(), 1)

	// Partial ACK: the first segment arrived, the second was lost too.
	cwnd := c.Info().Cwnd
	f.pAck = una + mss
	f.send(ACK, "")
	segs = f.take()
	require.NotEmpty(t, segs)
	assert.Equal(t, una+mss, segs[0].Repr.Seq, "the next hole at once")
	assert.Equal(t, cwnd-mss+mss, c.Info().Cwnd, "deflated by the MSS acknowledged, plus one MSS")
	assert.True(t, c.Info().InRecovery)
	assert.Equal(t, uint64(1), f.s.Counters().PartialACKs)

	// Full ACK: everything sent before recovery began.
	f.pAck = una + 3*mss
	f.send(ACK, "")
	i = c.Info()
	assert.False(t, i.InRecovery)
	assert.LessOrEqual(t, i.Cwnd, i.Ssthresh)
	assert.Equal(t, uint64(0), f.s.Counters().Timeouts)
}

// A retransmission timeout collapses cwnd to one segment and halves
// ssthresh — once per series of timeouts (RFC 5681 3.1).
func TestTimeoutCollapsesWindow(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.write(c, strings.Repeat("t", 3*mss))
	f.take()
	f.advance(time.Second)
	i := c.Info()
	assert.Equal(t, mss, i.Cwnd)
	assert.Equal(t, max(3*mss/2, 2*mss), i.Ssthresh)
	require.Len(t, f.take(), 1, "one segment: the loss window")
	f.advance(2 * time.Second)
	require.Len(t, f.take(), 1)
	assert.Equal(t, i.Ssthresh, c.Info().Ssthresh, "held on the second timeout")
	// The go-back-N: each ACK now lets the next segments go again.
	f.pAck += mss
	f.send(ACK, "")
	assert.Len(t, f.take(), 2, "slow start: cwnd 2 segments")
}

// After an idle period longer than the RTO, cwnd restarts from the
// initial window (RFC 5681 4.1).
func TestIdleRestart(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	for range 4 {
		f.write(c, strings.Repeat("i", 3*mss))
		for _, s := range f.take() {
			f.pAck = s.Repr.Seq + uint32(len(s.Payload))
			f.send(ACK, "")
		}
	}
	assert.Greater(t, c.Info().Cwnd, 3*mss)
	f.advance(10 * time.Second)
	f.write(c, strings.Repeat("i", 10*mss))
	assert.Len(t, f.take(), 3)
	assert.Equal(t, 3*mss, c.Info().Cwnd)
}

// dropData returns a Tap that drops the first transmission of the n-th,
// m-th... data segments from src.
func dropData(src netip.Addr, which ...int) func(tcptest.Packet) bool {
	count := 0
	seen := map[uint32]bool{}
	return func(p tcptest.Packet) bool {
		s, err := wire.Parse(p.Seg)
		if err != nil || p.Src != src || len(s.Payload()) == 0 || seen[s.Seq()] {
			return true
		}
		seen[s.Seq()] = true
		count++
		for _, w := range which {
			if count == w {
				return false
			}
		}
		return true
	}
}

// One segment lost in a long transfer is repaired by fast retransmit,
// with no timeout; two lost in one window by fast retransmit and a
// partial ACK (NewReno), still with no timeout.
func TestFastRetransmitTwoStacks(t *testing.T) {
	for _, c := range []struct {
		name     string
		drop     []int
		partials uint64
	}{
		{"one", []int{40}, 0},
		{"two in a window", []int{40, 43}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := tcptest.NewLink(tcptest.Faults{Delay: 10 * time.Millisecond, Seed: 7})
			l.Tap = dropData(addrA, c.drop...)
			a := l.NewStack(addrA, tcp.Config{})
			b := l.NewStack(addrB, tcp.Config{})
			ln, err := b.Listen(netip.AddrPortFrom(addrB, 80), 1)
			require.NoError(t, err)
			ca, err := a.Connect(netip.AddrPortFrom(addrA, 0), netip.AddrPortFrom(addrB, 80))
			require.NoError(t, err)
			data := pattern(200<<10, 3)
			sent := 0
			var cb *tcp.Conn
			var got []byte
			buf := make([]byte, 64<<10)
			require.True(t, l.Run(time.Minute, func() bool {
				n, _ := ca.Write(data[sent:])
				sent += n
				if cb == nil {
					cb, _ = ln.Accept()
				}
				if cb != nil {
					n, _ := cb.Read(buf)
					got = append(got, buf[:n]...)
				}
				return len(got) == len(data)
			}))
			assert.Equal(t, data, got)
			counters := a.Counters()
			assert.Equal(t, uint64(1), counters.FastRetransmits)
			assert.Equal(t, c.partials, counters.PartialACKs)
			assert.Equal(t, uint64(0), counters.Timeouts)
			assert.Equal(t, uint64(len(c.drop)), counters.TxRetransSegs)
			assert.Equal(t, uint64(len(c.drop)), l.Stats.Tapped)
		})
	}
}
