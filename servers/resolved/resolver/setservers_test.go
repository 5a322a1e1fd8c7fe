package resolver

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// SetServers: the next lookups go to the new servers only; the cache
// stays; a bad list changes nothing.
func TestServerSetServers(t *testing.T) {
	z1, z2 := newZone(a("one.test", 300, "10.0.0.1")), newZone(a("two.test", 300, "10.0.0.2"), a("one.test", 300, "10.9.9.9"))
	srv := newTestServer(t, Config{Servers: []netip.AddrPort{server1}}, map[netip.AddrPort]*zone{server1: z1, server2: z2})
	r, ctx := goResolver(t, srv)
	requireHost(ctx, t, r, "one.test", "10.0.0.1")
	require.Zero(t, z2.count())

	require.ErrorIs(t, srv.SetServers(nil), ErrConfig)
	require.ErrorIs(t, srv.SetServers([]netip.AddrPort{netip.AddrPortFrom(server2.Addr(), 0)}), ErrConfig)
	require.ErrorIs(t, srv.SetServers(make([]netip.AddrPort, MaxServers+1)), ErrConfig)
	require.Equal(t, []netip.AddrPort{server1}, srv.Servers(), "unchanged")

	require.NoError(t, srv.SetServers([]netip.AddrPort{server2}))
	require.Equal(t, []netip.AddrPort{server2}, srv.Servers())
	n1 := z1.count()
	requireHost(ctx, t, r, "two.test", "10.0.0.2")
	require.NotZero(t, z2.count(), "the new server asked")
	require.Equal(t, n1, z1.count(), "the old one not")
	n2 := z2.count()
	requireHost(ctx, t, r, "one.test", "10.0.0.1") // the cache stayed
	require.Equal(t, n2, z2.count(), "from the cache")
}
