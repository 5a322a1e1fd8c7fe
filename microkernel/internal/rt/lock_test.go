package rt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The kernel lock (lock.go).

// TestLocked: a locked section runs with the lock held and leaves it
// free; taking it again inside panics (the rule is checked, not assumed).
func TestLocked(t *testing.T) {
	resetKernel(t, 16)
	count := klock.count
	ran := false
	Locked(func() {
		ran = true
		require.True(t, klock.held)
	})
	require.True(t, ran)
	require.False(t, klock.held)
	require.Equal(t, count+1, klock.count)

	t.Cleanup(func() { klock.held = false })
	require.PanicsWithValue(t, "rt: Locked called while the kernel lock is held", func() {
		Locked(func() { Locked(func() {}) })
	})
	klock.held = false
	Locked(func() {})
	require.False(t, klock.held)
}
