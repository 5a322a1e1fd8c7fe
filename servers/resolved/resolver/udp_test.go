package resolver

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/resolved/dns"
)

// Each try gets a socket of its own on a random port; what arrives on it is
// delivered with its attempt; Done and Close close the sockets.
func TestUDPTransport(t *testing.T) {
	echo, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer echo.Close()
	var mu sync.Mutex
	ports := map[int]bool{}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			ports[from.(*net.UDPAddr).Port] = true
			mu.Unlock()
			echo.WriteTo(buf[:n], from)
		}
	}()
	type got struct {
		a    Attempt
		from netip.AddrPort
		msg  string
	}
	ch := make(chan got, 16)
	tr := NewUDPTransport(NetListen, func(a Attempt, from netip.AddrPort, msg []byte) { ch <- got{a, from, string(msg)} })
	server := echo.LocalAddr().(*net.UDPAddr).AddrPort()
	for i := Attempt(1); i <= 8; i++ {
		require.NoError(t, tr.Send(i, server, []byte{byte(i)}))
	}
	seen := map[Attempt]bool{}
	for range 8 {
		select {
		case g := <-ch:
			require.Equal(t, string([]byte{byte(g.a)}), g.msg, "delivered with its own attempt")
			require.Equal(t, server.Port(), g.from.Port())
			seen[g.a] = true
		case <-time.After(5 * time.Second):
			t.Fatal("no echo")
		}
	}
	require.Len(t, seen, 8)
	mu.Lock()
	require.Len(t, ports, 8, "a port per try")
	mu.Unlock()
	require.Equal(t, 8, tr.Open())
	tr.Done(1)
	tr.Done(1)
	require.Equal(t, 7, tr.Open())
	require.NoError(t, tr.Close())
	require.Zero(t, tr.Open())
	require.ErrorIs(t, tr.Send(9, server, []byte{9}), ErrClosed)
}

// ServePacket over a real UDP socket, admitting loopback clients only.
func TestServePacketLoopbackOnly(t *testing.T) {
	srv := newTestServer(t, Config{}, map[netip.AddrPort]*zone{server1: newZone(a("h.test", 60, "10.0.0.6"))})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.ServePacket(pc, LoopbackOnly)
	c, err := net.Dial("udp", pc.LocalAddr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(query(5, "h.test", dns.TypeA, 0))
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	require.NoError(t, err)
	m, err := dns.Parse(buf[:n])
	require.NoError(t, err)
	require.Len(t, m.Answers, 1)

	require.True(t, LoopbackOnly(netip.MustParseAddrPort("[::1]:5")))
	require.True(t, LoopbackOnly(netip.MustParseAddrPort("[::ffff:127.0.0.2]:5")))
	require.False(t, LoopbackOnly(netip.MustParseAddrPort("10.0.2.2:5")))

	// A filter refusing everyone: dropped before the engine, counted.
	pc2, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.ServePacket(pc2, func(netip.AddrPort) bool { return false })
	c2, err := net.Dial("udp", pc2.LocalAddr().String())
	require.NoError(t, err)
	defer c2.Close()
	c2.Write(query(6, "h.test", dns.TypeA, 0))
	require.Eventually(t, func() bool { return srv.Counters().Clients.DropNotAllowed == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, uint64(1), srv.Counters().Clients.Queries)
}
