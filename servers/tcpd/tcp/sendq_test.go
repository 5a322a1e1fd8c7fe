package tcp

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSendQueueOwnedPieces: bytes copied into the ring and pieces handed
// over in place make one queue in write order; views and peek read any
// stretch of it (views in the pieces it lies in, nil beyond
// maxSendViews of them), discard drops from the front and gives each
// owned piece back once, when it is used up, release gives back the rest;
// owned pieces are bounded in size (the queue's room) and number.
func TestSendQueueOwnedPieces(t *testing.T) {
	q := newSendQueue(100)
	var want []byte
	var gone []int
	own := func(id int, p []byte) bool {
		ok := q.writeOwned(p, func() { gone = append(gone, id) })
		if ok {
			want = append(want, p...)
		}
		return ok
	}
	cp := func(p []byte) {
		require.Equal(t, len(p), q.write(p))
		want = append(want, p...)
	}
	cp([]byte("ab"))
	require.True(t, own(1, []byte("CDEFG")))
	cp([]byte("hi"))
	cp([]byte("jk")) // joins the ring's run
	require.True(t, own(2, []byte("LMN")))
	require.False(t, own(3, nil))
	require.False(t, own(3, make([]byte, q.free()+1)), "larger than the room")
	require.Equal(t, len(want), q.len())
	require.Len(t, q.parts, 4)

	for off := 0; off <= len(want); off++ {
		for k := 0; off+k <= len(want); k++ {
			got := make([]byte, k)
			require.Equal(t, k, q.peek(off, got))
			require.Equal(t, want[off:off+k], got, "peek %d+%d", off, k)
			if v := q.views(off, k); v != nil {
				assert.Equal(t, want[off:off+k], bytes.Join(v, nil), "views %d+%d", off, k)
				assert.LessOrEqual(t, len(v), maxSendViews)
			} else {
				require.Positive(t, k)
			}
		}
	}
	assert.Equal(t, [][]byte{[]byte("b"), []byte("CDEFG"), []byte("hijk"), []byte("L")}, q.views(1, 11))

	q.discard(4) // "ab", then into the first piece
	want = want[4:]
	assert.Empty(t, gone)
	q.discard(3) // the rest of piece 1
	want = want[3:]
	assert.Equal(t, []int{1}, gone)
	got := make([]byte, q.len())
	q.peek(0, got)
	assert.Equal(t, want, got)

	for i := 0; i < maxOwnedParts-1; i++ {
		require.True(t, own(10+i, []byte{byte(i)}))
	}
	require.False(t, own(99, []byte{1}), "at most maxOwnedParts pieces")
	cp([]byte("z"))
	got = make([]byte, q.len())
	q.peek(0, got)
	assert.Equal(t, want, got)
	assert.Nil(t, q.views(0, q.len()), "more pieces than a gather takes")

	q.release()
	assert.Len(t, gone, 1+maxOwnedParts, "piece 1 earlier, the rest now")
	assert.Zero(t, q.len())
	assert.Zero(t, q.owned)
	q.release()
	assert.Len(t, gone, 1+maxOwnedParts, "given back once")
}
