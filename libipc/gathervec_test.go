package libipc

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/abi"
)

// TestGatherVec: a gathered send's stretches are the encoding's bytes
// and the pieces in order, without the empty ones between pieces that
// follow each other (a payload in several pieces: a TCP header and five
// stretches of a send buffer take eight, not thirteen); what does not
// fit abi.MaxGather is 0, for the caller to join.
func TestGatherVec(t *testing.T) {
	enc := []byte("HEADdataTAIL")
	p := func(off int, s string) Piece { return Piece{Off: off, Data: []byte(s)} }
	var vec [abi.MaxGather][]byte
	for _, tc := range []struct {
		pieces []Piece
		n      int
	}{
		{[]Piece{p(4, "x")}, 3},
		{[]Piece{p(0, "x")}, 2},
		{[]Piece{p(12, "x")}, 2},
		{[]Piece{p(8, "h"), p(8, "a"), p(8, "b"), p(8, "c"), p(8, "d"), p(8, "e")}, 8},
		{[]Piece{p(8, "h"), p(8, "a"), p(8, "b"), p(8, "c"), p(8, "d"), p(8, "e"), p(8, "f")}, 0},
		{[]Piece{p(1, "a"), p(2, "b"), p(3, "c"), p(4, "d")}, 0},
		{[]Piece{p(4, ""), p(4, "x")}, 3},
	} {
		n := gatherVec(&vec, enc, tc.pieces)
		require.Equal(t, tc.n, n, "%v", tc.pieces)
		if n == 0 {
			continue
		}
		for _, v := range vec[:n] {
			assert.NotEmpty(t, v)
		}
		assert.Equal(t, JoinPieces(nil, enc, tc.pieces), bytes.Join(vec[:n], nil))
	}
}
