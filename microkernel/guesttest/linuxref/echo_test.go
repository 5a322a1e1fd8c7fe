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
