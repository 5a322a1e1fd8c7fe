package agent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"armos/libsocket/adminproto"
	"armos/servers/dhcpc/client"
	"armos/servers/dhcpc/dhcp"
)

// TestConfigureRequest: what netd is told for a lease: a router outside
// the subnet is left out, an infinite lease has no expiry.
func TestConfigureRequest(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	l := client.Lease{Addr: netip.MustParsePrefix("10.0.2.15/24"), Router: netip.MustParseAddr("10.0.2.2"), MTU: 1400,
		DNS: []netip.Addr{netip.MustParseAddr("10.0.2.3")}, Server: netip.MustParseAddr("10.0.2.2"), Duration: time.Hour, Start: start}
	assert.Equal(t, &adminproto.Configure{Addr: "10.0.2.15/24", Gateway: "10.0.2.2", MTU: 1400,
		Lease: &adminproto.Lease{Server: "10.0.2.2", Seconds: 3600, Expiry: start.Add(time.Hour).Unix(), DNS: []string{"10.0.2.3"}}}, configureRequest(l))

	l.Router = netip.MustParseAddr("192.0.2.1")
	l.Duration = dhcp.Infinite
	r := configureRequest(l)
	assert.Empty(t, r.Gateway, "a router outside the subnet")
	assert.Zero(t, r.Lease.Expiry, "infinite")
}
