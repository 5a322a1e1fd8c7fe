package stack

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSipHash24Vector: SipHash-2-4 of the 16 bytes 00..0f under the key
// 00..0f, the reference implementation's test vector for length 16.
func TestSipHash24Vector(t *testing.T) {
	k := [2]uint64{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	require.Equal(t, uint64(0x3f2acc7f57c29bdb), sipHash24(k, 0x0706050403020100, 0x0f0e0d0c0b0a0908))
}

// TestIPIDsPerDestination: datagrams to one destination get consecutive
// identifications; another destination's come from another counter, so
// sending to A tells B nothing (no global sequence); two stacks start
// from different keys.
func TestIPIDsPerDestination(t *testing.T) {
	var g ipIDGen
	g.init()
	src := netip.MustParseAddr("10.0.2.15")
	a, b := netip.MustParseAddr("10.0.2.2"), netip.MustParseAddr("10.0.2.3")
	for b2 := 3; g.bucket(src, a, 17) == g.bucket(src, b, 17); b2++ {
		b = netip.AddrFrom4([4]byte{10, 0, 2, byte(b2)}) // another bucket (1 in 2048 collide)
	}
	first := g.next(src, a, 17)
	for i := uint16(1); i < 100; i++ {
		require.Equal(t, first+i, g.next(src, a, 17))
	}
	bFirst := g.next(src, b, 17)
	require.Equal(t, bFirst+1, g.next(src, b, 17))
	require.Equal(t, first+100, g.next(src, a, 17), "B's datagrams did not move A's counter")

	var h ipIDGen
	h.init()
	require.NotEqual(t, g.key, h.key, "a key per start")
	same := 0
	for i := 0; i < 64; i++ {
		d := netip.AddrFrom4([4]byte{192, 168, 0, byte(i)})
		if g.bucket(src, d, 17) == h.bucket(src, d, 17) {
			same++
		}
	}
	require.Less(t, same, 8, "the buckets depend on the key")
}

func TestReadRandomFillsFromTheKernel(t *testing.T) {
	// Two draws of a start's worth of key and counters: a readRandom that
	// returned early, filled nothing or repeated itself would fail here.
	var a, b [16 + 2*ipIDBuckets]byte
	require.NoError(t, readRandom(a[:]))
	require.NoError(t, readRandom(b[:]))
	assert.NotEqual(t, a, b)
	zeros := 0
	for _, x := range a {
		if x == 0 {
			zeros++
		}
	}
	assert.Less(t, zeros, len(a)/16, "about 1 byte in 256 of random data is zero")
	require.NoError(t, readRandom(nil))
}
