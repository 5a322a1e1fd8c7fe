package stack

import (
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
