package libsocket_test

import (
	"context"
	"net/netip"

	"armos/servers/netd/sockets/sockettest"
)

var (
	bg       = context.Background()
	anyPort  = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	echoPort = netip.AddrPortFrom(netip.IPv4Unspecified(), 7)
	peerAddr = netip.AddrPortFrom(sockettest.PeerIP, 5555)
	ourEcho  = netip.AddrPortFrom(sockettest.OurIP, 7)
)
