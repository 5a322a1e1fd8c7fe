package tcptest_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
)

var (
	addrA = netip.MustParseAddr("10.1.0.1")
	addrB = netip.MustParseAddr("10.1.0.2")
)

// send runs a 256 KiB transfer over a link with faults f and returns the
// link's counts and the simulated time it took.
func send(t *testing.T, f tcptest.Faults) (tcptest.LinkStats, time.Duration) {
	l := tcptest.NewLink(f)
	a := l.NewStack(addrA, tcp.Config{})
	b := l.NewStack(addrB, tcp.Config{})
	ln, err := b.Listen(netip.AddrPortFrom(addrB, 9), 1)
	require.NoError(t, err)
	c, err := a.Connect(netip.AddrPortFrom(addrA, 0), netip.AddrPortFrom(addrB, 9))
	require.NoError(t, err)
	data := make([]byte, 256<<10)
	sent, got := 0, 0
	var cb *tcp.Conn
	buf := make([]byte, 8192)
	start := l.Clock.Now()
	require.True(t, l.Run(time.Hour, func() bool {
		n, _ := c.Write(data[sent:])
		sent += n
		if cb == nil {
			cb, _ = ln.Accept()
		}
		for cb != nil {
			n, err := cb.Read(buf)
			got += n
			if errors.Is(err, tcp.ErrWouldBlock) || n == 0 {
				break
			}
		}
		return got == len(data)
	}))
	// Every segment handed to the link, and every duplicate it made, is
	// delivered, dropped for a reason, or still in flight.
	s := l.Stats
	assert.Equal(t, s.Sent+s.Duplicated, s.Delivered+s.Lost+s.QueueDrops+s.Tapped+uint64(l.InFlight()))
	return s, l.Clock.Now().Sub(start)
}

// The same seed gives the same run, segment for segment; another seed
// another run.
func TestLinkDeterministic(t *testing.T) {
	f := tcptest.Faults{Loss: 0.03, Duplicate: 0.03, Reorder: 0.03, Corrupt: 0.03,
		Delay: 10 * time.Millisecond, Jitter: 3 * time.Millisecond, Rate: 1 << 20, QueueBytes: 32 << 10, Seed: 42}
	s1, d1 := send(t, f)
	s2, d2 := send(t, f)
	assert.Equal(t, s1, s2)
	assert.Equal(t, d1, d2)
	for _, n := range []uint64{s1.Lost, s1.Duplicated, s1.Reordered, s1.Corrupted} {
		assert.NotZero(t, n)
	}
	f.Seed++
	s3, _ := send(t, f)
	assert.NotEqual(t, s1, s3)
}

// Delay and rate: a segment arrives after the propagation delay plus its
// serialization time.
func TestLinkDelayAndRate(t *testing.T) {
	l := tcptest.NewLink(tcptest.Faults{Delay: 7 * time.Millisecond, Rate: 1000})
	var at []time.Duration
	start := l.Clock.Now()
	s := l.NewStack(addrB, tcp.Config{})
	require.NoError(t, l.SendSegment(addrA, addrB, make([]byte, 20)))
	require.NoError(t, l.SendSegment(addrA, addrB, make([]byte, 20)))
	for l.InFlight() > 0 {
		l.Step()
		at = append(at, l.Clock.Now().Sub(start))
	}
	// 20 bytes at 1000 B/s take 20 ms each; the second waits for the first.
	assert.Equal(t, []time.Duration{27 * time.Millisecond, 47 * time.Millisecond}, at)
	assert.Equal(t, uint64(2), s.Counters().RxSegments)
}
