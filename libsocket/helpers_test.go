package libsocket_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"armos/libsocket"
	"armos/servers/netd/sockets/sockettest"
)

var (
	bg       = context.Background()
	anyPort  = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	echoPort = netip.AddrPortFrom(netip.IPv4Unspecified(), 7)
	peerAddr = netip.AddrPortFrom(sockettest.PeerIP, 5555)
	ourEcho  = netip.AddrPortFrom(sockettest.OurIP, 7)
)

// echoApp is a UDP echo server on port 7 written against libsocket; it
// sends its socket on ready and returns when the socket fails.
func echoApp(t testing.TB, c *libsocket.Client, ready chan<- *libsocket.Socket) {
	s, err := c.ListenUDP(bg, echoPort)
	if !assert.NoError(t, err) {
		close(ready)
		return
	}
	ready <- s
	buf := make([]byte, 2048)
	for {
		n, from, err := s.RecvFrom(bg, buf)
		if err != nil {
			return
		}
		if _, err := s.SendTo(bg, buf[:n], from); err != nil {
			return
		}
	}
}
