package resolver

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
