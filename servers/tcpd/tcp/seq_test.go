package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Comparisons hold across the 2^32 wrap: 0xffffff00 is before 0x100.
func TestSeqWrap(t *testing.T) {
	a, b := seq(0xffffff00), seq(0x100)
	assert.True(t, a.lt(b))
	assert.True(t, a.le(b))
	assert.False(t, a.gt(b))
	assert.False(t, a.ge(b))
	assert.True(t, b.gt(a))
	assert.True(t, b.ge(a))
	assert.Equal(t, 0x200, b.sub(a))
	assert.Equal(t, -0x200, a.sub(b))
	assert.Equal(t, b, a.add(0x200))
	assert.Equal(t, a, b.add(-0x200))
	assert.Equal(t, seq(0), seq(0xffffffff).add(1))
	assert.True(t, a.le(a) && a.ge(a) && !a.lt(a) && !a.gt(a))
	assert.Equal(t, b, maxSeq(a, b))
	assert.Equal(t, b, maxSeq(b, a))

	// in: a window straddling the wrap.
	lo := seq(0xfffffff0)
	assert.True(t, lo.in(lo, 0x20))
	assert.True(t, seq(0xffffffff).in(lo, 0x20))
	assert.True(t, seq(0).in(lo, 0x20))
	assert.True(t, seq(0xf).in(lo, 0x20))
	assert.False(t, seq(0x10).in(lo, 0x20))
	assert.False(t, seq(0xffffffef).in(lo, 0x20))
	assert.False(t, lo.in(lo, 0), "empty window")

	// Half the space away is the limit of meaningful comparison.
	assert.True(t, seq(0).lt(seq(0x7fffffff)))
	assert.True(t, seq(0).gt(seq(0x80000001)))
}

func TestRing(t *testing.T) {
	r := newRing(10000)
	assert.Equal(t, 10000, r.free())
	assert.Equal(t, 0, r.peek(0, make([]byte, 4)))
	data := make([]byte, 25000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	// Push data through in uneven pieces so the ring wraps many times.
	out := make([]byte, 0, len(data))
	in := 0
	buf := make([]byte, 3333)
	for len(out) < len(data) {
		in += r.write(data[in:min(in+4567, len(data))])
		assert.LessOrEqual(t, r.len(), 10000)
		p := make([]byte, 11)
		k := r.peek(r.len()/2, p)
		require.Equal(t, data[len(out)+r.len()/2:len(out)+r.len()/2+k], p[:k])
		out = append(out, buf[:r.read(buf)]...)
	}
	assert.Equal(t, data, out)
	assert.LessOrEqual(t, len(r.b), 10000, "storage never beyond the limit")

	// writeAt past the queue, then commit: out-of-order bytes wait in place
	// and survive a reallocation.
	r = newRing(100000)
	r.writeAt(5000, []byte("later"))
	r.writeAt(0, make([]byte, 5000))
	r.writeAt(9000, []byte("much later")) // grows storage past 8192
	r.commit(5005)
	p := make([]byte, 5)
	assert.Equal(t, 5, r.peek(5000, p))
	assert.Equal(t, "later", string(p))
	r.discard(5005)
	r.commit(9010 - 5005)
	p = make([]byte, 20)
	assert.Equal(t, 10, r.peek(9000-5005, p))
	assert.Equal(t, "much later", string(p[:10]))
	r.release()
	assert.Equal(t, 0, r.len())
	assert.Equal(t, 100000, r.free())
}

func TestAssembler(t *testing.T) {
	var a assembler
	assert.True(t, a.add(10, 20))
	assert.True(t, a.add(30, 40))
	assert.True(t, a.add(20, 25)) // touches the first
	assert.Equal(t, []span{{10, 25}, {30, 40}}, a.s[:a.n])
	assert.True(t, a.add(5, 35)) // swallows both
	assert.Equal(t, []span{{5, 40}}, a.s[:a.n])
	assert.Equal(t, 35, a.bytes())
	// In-order data up to 3: nothing joins. Up to 5: the span joins.
	assert.Equal(t, 3, a.advance(3))
	assert.Equal(t, []span{{2, 37}}, a.s[:a.n])
	assert.Equal(t, 37, a.advance(2))
	assert.Equal(t, 0, a.n)

	// The bound: maxOutOfOrder separate runs, then refusals; merging
	// still works when full.
	for i := range maxOutOfOrder {
		require.True(t, a.add(10*i+5, 10*i+8))
	}
	assert.False(t, a.add(1000, 1001))
	assert.True(t, a.add(6, 7), "inside a span")
	assert.True(t, a.add(8, 15), "joins two spans")
	assert.Equal(t, maxOutOfOrder-1, a.n)
	a.reset()
	assert.Equal(t, 0, a.bytes())
}

func TestWindowShiftAndIW(t *testing.T) {
	assert.Equal(t, uint8(0), windowShift(65535))
	assert.Equal(t, uint8(1), windowShift(65536))
	assert.Equal(t, uint8(3), windowShift(256<<10))
	assert.Equal(t, uint8(14), windowShift(1<<40))
	assert.Equal(t, 4*536, initialWindow(536))
	assert.Equal(t, 3*1460, initialWindow(1460))
	assert.Equal(t, 2*8960, initialWindow(8960))
}
