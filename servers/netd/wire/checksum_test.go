package wire

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naiveSum is the textbook RFC 1071 loop, 16 bits at a time, as a reference.
func naiveSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// RFC 1071 section 3, "Numerical Examples": the bytes 00 01 f2 03 f4 f5 f6 f7
// sum to ddf2 (with carries folded), so the checksum is 220d.
func TestChecksumRFC1071Example(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	assert.Equal(t, uint16(0xddf2), Checksum(b, 0))
	assert.Equal(t, uint16(0x220d), ^Checksum(b, 0))
	assert.Equal(t, uint16(0xddf2), Checksum(b[4:], Checksum(b[:4], 0)), "incremental")
	assert.Equal(t, uint16(0xddf2), CombineChecksums(Checksum(b[:2], 0), Checksum(b[2:], 0)))
}

func TestChecksumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		require.Equal(t, naiveSum(b), Checksum(b, 0), "len %d", n)
		split := n / 2 &^ 1 // an even split point
		require.Equal(t, naiveSum(b), Checksum(b[split:], Checksum(b[:split], 0)), "len %d", n)
	}
	allOnes := make([]byte, 1500)
	for i := range allOnes {
		allOnes[i] = 0xff
	}
	assert.Equal(t, uint16(0xffff), Checksum(allOnes, 0))
	assert.Equal(t, uint16(0), Checksum(nil, 0))
	assert.Equal(t, uint16(0x0100), Checksum([]byte{1}, 0), "odd byte padded with zero")
}

func TestUpdateChecksumMatchesRecompute(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		h := make([]byte, 20)
		for i := range h {
			h[i] = byte(rng.Uint32())
		}
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], ^Checksum(h, 0))
		field := 2 * rng.IntN(10)
		if field == 10 {
			continue
		}
		old := binary.BigEndian.Uint16(h[field:])
		nw := uint16(rng.Uint32())
		binary.BigEndian.PutUint16(h[field:], nw)
		updated := UpdateChecksum(binary.BigEndian.Uint16(h[10:]), old, nw)
		binary.BigEndian.PutUint16(h[10:], updated)
		require.Equal(t, uint16(0xffff), Checksum(h, 0), "updated checksum verifies")
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	// 10.99.0.1 -> 10.99.0.2, UDP, length 20: 0a63+0001+0a63+0002+0011+0014.
	assert.Equal(t, uint16(0x14ee), PseudoHeaderChecksum(IPProtocolUDP, ipA, ipB, 20))
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Checksum(buf, 0)
	}
}
