package mm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestASIDSpaceKeepsTagsWithinAGeneration(t *testing.T) {
	var s ASIDSpace
	require.Equal(t, ErrInvalid, s.Init(1))
	require.Equal(t, ErrInvalid, s.Init(MaxASIDs+1))
	require.Equal(t, OK, s.Init(256))
	var a, b ASIDTag
	ia, flush := s.Use(&a)
	require.False(t, flush)
	require.Equal(t, uint16(1), ia, "ASID 0 is the kernel's")
	ib, _ := s.Use(&b)
	require.Equal(t, uint16(2), ib)
	again, flush := s.Use(&a)
	require.Equal(t, ia, again, "a current tag keeps its ASID")
	require.False(t, flush)
}

// TestASIDSpaceRollover exhausts a small space: the next request starts a
// new generation (flush once), and stale tags get fresh, distinct ASIDs.
func TestASIDSpaceRollover(t *testing.T) {
	var s ASIDSpace
	require.Equal(t, OK, s.Init(4)) // ASIDs 1..3 for processes
	tags := make([]ASIDTag, 5)
	for i := 0; i < 3; i++ {
		_, flush := s.Use(&tags[i])
		require.False(t, flush)
	}
	id, flush := s.Use(&tags[3])
	require.True(t, flush, "the fourth process forces a rollover")
	require.Equal(t, uint16(1), id)
	require.Equal(t, uint64(2), s.Generation())
	require.Equal(t, uint64(1), s.Rollovers())
	seen := map[uint16]bool{id: true}
	for _, i := range []int{0, 1} { // stale tags from generation 1
		id, flush := s.Use(&tags[i])
		require.False(t, flush)
		require.False(t, seen[id], "ASIDs within a generation are distinct")
		seen[id] = true
	}
	_, flush = s.Use(&tags[2])
	require.True(t, flush, "and the space rolls over again")
}

func TestASIDSpaceNeverHandsOutZero(t *testing.T) {
	var s ASIDSpace
	require.Equal(t, OK, s.Init(2))
	for i := 0; i < 10; i++ {
		var tag ASIDTag
		id, _ := s.Use(&tag)
		require.NotZero(t, id)
	}
}
