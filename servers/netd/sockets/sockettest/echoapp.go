package sockettest

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"armos/libsocket"
)

// EchoApp is the handbook's exercise written against libsocket: a UDP echo
// server on port 7 of client c. It sends its socket on ready once bound (or
// closes ready if the bind fails, reporting the error to t) and returns when
// the socket fails, e.g. because it was closed.
func EchoApp(t testing.TB, c *libsocket.Client, ready chan<- *libsocket.Socket) {
	ctx := context.Background()
	s, err := c.ListenUDP(ctx, netip.AddrPortFrom(netip.IPv4Unspecified(), 7))
	if !assert.NoError(t, err) {
		close(ready)
		return
	}
	ready <- s
	buf := make([]byte, 2048)
	for {
		n, from, err := s.RecvFrom(ctx, buf)
		if err != nil {
			return
		}
		if _, err := s.SendTo(ctx, buf[:n], from); err != nil {
			return
		}
	}
}
