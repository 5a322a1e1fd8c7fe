package linuxref

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echoServer serves UDP echo on loopback, skipping (not answering) the
// datagrams for which drop returns true, and answering each one twice
// when dup is set.
func echoServer(t *testing.T, drop func(i int) bool, dup bool) netip.AddrPort {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for i := 0; ; i++ {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if drop(i) {
				continue
			}
			_, _ = c.WriteToUDPAddrPort(buf[:n], from)
			if dup {
				_, _ = c.WriteToUDPAddrPort(buf[:n], from)
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestEchoTimesEveryDatagram(t *testing.T) {
	addr := echoServer(t, func(int) bool { return false }, false)
	st, err := Echo(addr, 50, 64, 0)
	require.NoError(t, err)
	require.Len(t, st.RTTs, 50)
	require.Zero(t, st.Lost)
	require.Zero(t, st.Stale)
	for _, d := range st.RTTs {
		require.Positive(t, d)
	}
}

func TestEchoCountsLostAndStaleReplies(t *testing.T) {
	addr := echoServer(t, func(i int) bool { return i == 2 }, true)
	st, err := Echo(addr, 5, 64, 50*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, 1, st.Lost)
	require.Len(t, st.RTTs, 4)
	require.Positive(t, st.Stale, "duplicate replies are seen as stale, not as answers")
}

func TestEchoOnlyToLoopback(t *testing.T) {
	_, err := Echo(netip.MustParseAddrPort("10.0.2.15:7"), 1, 64, 0)
	require.ErrorIs(t, err, ErrNotLoopback)
	_, err = Echo(netip.MustParseAddrPort("127.0.0.1:7"), 1, 4, 0)
	require.ErrorContains(t, err, "out of range")
}

func TestQuantile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	require.Equal(t, time.Duration(5), Quantile(ds, 0.5))
	require.Equal(t, time.Duration(10), Quantile(ds, 0.99))
	require.Equal(t, time.Duration(1), Quantile(ds, 0))
	require.Equal(t, time.Duration(10), Quantile(ds, 1))
	require.Equal(t, time.Duration(5), ds[0], "the input is not reordered")
	require.Zero(t, Quantile(nil, 0.5))
}

func TestEchoWindowAnswersEveryDatagram(t *testing.T) {
	for _, window := range []int{1, 16} {
		addr := echoServer(t, func(int) bool { return false }, false)
		st, err := EchoWindow(addr, 500, 64, window, 0)
		require.NoError(t, err)
		require.Len(t, st.RTTs, 500)
		require.Zero(t, st.Lost)
		require.Zero(t, st.Stale)
		require.Positive(t, st.Elapsed)
		require.Greater(t, st.Rate(), 0.0)
		for _, d := range st.RTTs {
			require.Positive(t, d)
			require.LessOrEqual(t, d, st.Elapsed)
		}
	}
}

// TestEchoWindowKeepsWindowInFlight: a server that holds datagrams until
// it has window of them sees exactly window at once (never more), and the
// run completes only because the sender keeps that many in flight.
func TestEchoWindowKeepsWindowInFlight(t *testing.T) {
	const window = 8
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	maxBatch := make(chan int, 1)
	go func() {
		type dg struct {
			p    []byte
			from netip.AddrPort
		}
		var held []dg
		most := 0
		defer func() { maxBatch <- most }()
		for {
			buf := make([]byte, 2048)
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil { // the run is over: the sender has stopped
				return
			}
			held = append(held, dg{buf[:n], from})
			most = max(most, len(held))
			if len(held) == window {
				for _, d := range held {
					_, _ = c.WriteToUDPAddrPort(d.p, d.from)
				}
				held = held[:0]
			}
		}
	}()
	st, err := EchoWindow(c.LocalAddr().(*net.UDPAddr).AddrPort(), 10*window, 64, window, 0)
	require.NoError(t, err)
	require.Len(t, st.RTTs, 10*window)
	require.Zero(t, st.Lost)
	require.Equal(t, window, <-maxBatch)
}

// TestEchoWindowCountsLostAndGoesOn: lost datagrams are given up on after
// the wait, their slots reused, and the run finishes; duplicates and late
// answers are stale.
func TestEchoWindowCountsLostAndGoesOn(t *testing.T) {
	for _, window := range []int{1, 4} {
		addr := echoServer(t, func(i int) bool { return i%10 == 3 }, true)
		st, err := EchoWindow(addr, 50, 64, window, 50*time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, 5, st.Lost, "window %d", window)
		require.Len(t, st.RTTs, 45)
		require.Positive(t, st.Stale, "duplicates are stale")
		require.GreaterOrEqual(t, st.Elapsed, 50*time.Millisecond)
	}
}

func TestEchoWindowAllLost(t *testing.T) {
	addr := echoServer(t, func(int) bool { return true }, false)
	st, err := EchoWindow(addr, 6, 64, 3, 20*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, 6, st.Lost)
	require.Empty(t, st.RTTs)
	require.Zero(t, st.Rate())
}

func TestEchoWindowOnlyToLocalAddresses(t *testing.T) {
	for _, a := range []string{"8.8.8.8:7", "100.64.0.1:7", "[2001:db8::1]:7", "0.0.0.0:7"} {
		_, err := EchoWindow(netip.MustParseAddrPort(a), 1, 64, 1, 0)
		require.ErrorIs(t, err, ErrNotLocal, a)
	}
	_, err := EchoWindow(netip.MustParseAddrPort("127.0.0.1:7"), 1, 4, 1, 0)
	require.ErrorContains(t, err, "out of range")
	_, err = EchoWindow(netip.MustParseAddrPort("10.99.0.2:7"), 1, 64, 0, 0)
	require.ErrorContains(t, err, "must be positive")
}

// TestEchoWindowRefused: nothing listening is an error (ICMP port
// unreachable on the connected socket), not a wait for every datagram.
func TestEchoWindowRefused(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	addr := c.LocalAddr().(*net.UDPAddr).AddrPort()
	require.NoError(t, c.Close())
	_, err = EchoWindow(addr, 100, 64, 4, 5*time.Second)
	require.Error(t, err)
}
