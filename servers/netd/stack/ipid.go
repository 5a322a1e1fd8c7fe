package stack

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// IPv4 identification (RFC 7739 section 5.3, what Linux does): not one
// sequential counter, which would let any peer count the datagrams netd
// sends to others (idle scans, traffic analysis), but ipIDBuckets
// counters, each starting at a random value, chosen for a datagram by a
// keyed hash (SipHash-2-4 with a key drawn at start) of its source,
// destination and protocol. Datagrams to one destination still get
// distinct, increasing identifications, as reassembly needs.

// ipIDBuckets is the number of identification counters.
const ipIDBuckets = 2048

// ipIDGen picks identifications.
type ipIDGen struct {
	key      [2]uint64
	counters [ipIDBuckets]uint16
}

// init draws the key and the counters' starting values.
func (g *ipIDGen) init() {
	var b [16 + 2*ipIDBuckets]byte
	if err := readRandom(b[:]); err != nil {
		panic("stack: no randomness for IP identifications: " + err.Error())
	}
	g.key[0] = binary.LittleEndian.Uint64(b[0:])
	g.key[1] = binary.LittleEndian.Uint64(b[8:])
	for i := range g.counters {
		g.counters[i] = binary.LittleEndian.Uint16(b[16+2*i:])
	}
}

// bucket returns the counter index for a datagram from src to dst.
func (g *ipIDGen) bucket(src, dst netip.Addr, proto uint8) int {
	s, d := src.As4(), dst.As4()
	m := uint64(binary.BigEndian.Uint32(s[:]))<<32 | uint64(binary.BigEndian.Uint32(d[:]))
	return int(sipHash24(g.key, m, uint64(proto)) % ipIDBuckets)
}

// next returns the identification for a datagram from src to dst.
func (g *ipIDGen) next(src, dst netip.Addr, proto uint8) uint16 {
	i := g.bucket(src, dst, proto)
	g.counters[i]++
	return g.counters[i]
}

// sipHash24 is SipHash-2-4 (Aumasson and Bernstein) of the 16-byte message
// m0 || m1 (two little-endian words) under key k.
func sipHash24(k [2]uint64, m0, m1 uint64) uint64 {
	v0 := k[0] ^ 0x736f6d6570736575
	v1 := k[1] ^ 0x646f72616e646f6d
	v2 := k[0] ^ 0x6c7967656e657261
	v3 := k[1] ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13) ^ v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16) ^ v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21) ^ v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17) ^ v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	for _, m := range [3]uint64{m0, m1, 16 << 56} { // the last word: the length, 16
		v3 ^= m
		round()
		round()
		v0 ^= m
	}
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
