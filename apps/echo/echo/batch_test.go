package echo_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/apps/echo/echo"
	"armos/servers/netd/sockets/sockettest"
)

// TestEchoReadsBatchesOverLibsocket: over libsocket's PacketConn (hosted
// netd, the in-memory transport) the server reads what is queued in
// batches and sends the answers back in batches, every datagram, in order,
// to its sender.
func TestEchoReadsBatchesOverLibsocket(t *testing.T) {
	h := sockettest.New(t)
	pc, err := h.Client().ListenPacket(context.Background(), netip.AddrPortFrom(netip.IPv4Unspecified(), echo.Port))
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	srv := echo.New(pc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	to := netip.AddrPortFrom(sockettest.OurIP, echo.Port)
	// One echo first, so that the peer's address is resolved (netd holds
	// only a few datagrams while ARP is pending).
	h.SendUDP(netip.AddrPortFrom(sockettest.PeerIP, 6999), to, []byte("warm"))
	require.Equal(t, "warm", string(h.Expect().Payload))

	const n = 40 // within the socket's receive queue and the harness's
	for i := range n {
		h.SendUDP(netip.AddrPortFrom(sockettest.PeerIP, uint16(7000+i%5)), to, []byte(fmt.Sprintf("echo %03d", i)))
	}
	for i := range n {
		d := h.Expect()
		assert.Equal(t, fmt.Sprintf("echo %03d", i), string(d.Payload))
		assert.Equal(t, uint16(7000+i%5), d.Dst.Port())
		assert.Equal(t, to, d.Src)
	}
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, uint64(n+1), srv.Stats().Echoed)
	st := h.Service().Stats()
	assert.Positive(t, st.Batched, "some datagrams were read in batches")
	assert.Positive(t, st.BatchSent, "and sent back in batches")
	assert.Zero(t, st.BatchSendsCut)
}
