package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(3, 10) // 3 at once, then one per 100 ms
	now := reasmT0
	for range 3 {
		require.True(t, b.take(now))
	}
	require.False(t, b.take(now), "burst exhausted")
	require.Equal(t, now.Add(100*time.Millisecond), b.nextToken(now))
	require.False(t, b.take(now.Add(99*time.Millisecond)))
	require.True(t, b.take(now.Add(100*time.Millisecond)))
	require.False(t, b.take(now.Add(150*time.Millisecond)))
	require.True(t, b.take(now.Add(200*time.Millisecond)), "partial intervals are not lost")

	now = now.Add(time.Hour)
	for range 3 {
		require.True(t, b.take(now))
	}
	require.False(t, b.take(now), "refill capped at burst")
}

func TestPeerLimiterTracksLeastRecentlyUsed(t *testing.T) {
	var p peerLimiter
	now := reasmT0
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}) }
	for range ICMPPeerBurst {
		require.True(t, p.allow(addr(0), now))
	}
	require.False(t, p.allow(addr(0), now), "burst used up")
	// Fill the rest of the table, then one more: addr(0), the least
	// recently used, is forgotten and starts afresh.
	for i := 1; i <= ICMPPeerTable; i++ {
		now = now.Add(time.Millisecond)
		require.True(t, p.allow(addr(i), now))
	}
	require.True(t, p.allow(addr(0), now), "forgotten peer starts with a full burst")
	require.True(t, p.allow(addr(ICMPPeerTable), now), "recent peer kept")
}
