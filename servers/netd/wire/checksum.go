package wire

import (
	"encoding/binary"
	"net/netip"
)

// Checksum returns the 16-bit ones' complement sum (RFC 1071) of b added to
// initial, folded but not complemented. The checksum field of a header is the
// complement of the sum over the header with that field zero:
//
//	binary.BigEndian.PutUint16(h[10:], ^Checksum(h, 0))
//
// and a received header verifies when Checksum over it (field included) is
// 0xffff.
//
// The sum is incremental: Checksum(b2, Checksum(b1, 0)) equals the sum over
// b1 followed by b2, provided b1 has an even length (an odd final byte is
// padded with a zero byte, as RFC 1071 specifies for the end of the data).
// This is how the UDP checksum adds the pseudo-header to the datagram.
func Checksum(b []byte, initial uint16) uint16 {
	s := uint64(initial)
	// Sum 32-bit big-endian words into a 64-bit accumulator; since
	// 2^16 = 1 (mod 2^16-1), folding that sum gives the 16-bit ones'
	// complement sum (RFC 1071 section 2, "parallel summation").
	for len(b) >= 8 {
		w := binary.BigEndian.Uint64(b)
		s += w>>32 + w&0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return fold(s)
}

// fold reduces a wide ones' complement accumulator to 16 bits.
func fold(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// CombineChecksums adds two partial sums (as returned by Checksum) in ones'
// complement arithmetic.
func CombineChecksums(a, b uint16) uint16 {
	return fold(uint64(a) + uint64(b))
}

// UpdateChecksum returns header checksum hc updated for one 16-bit field
// changing from old to new, without re-summing the header (RFC 1624, eqn. 3:
// HC' = ~(~HC + ~m + m')). Use it, for example, after rewriting a TTL or an
// address in place.
func UpdateChecksum(hc, old, new uint16) uint16 {
	return ^fold(uint64(^hc) + uint64(^old) + uint64(new))
}

// PseudoHeaderChecksum returns the partial sum of the IPv4 pseudo-header used
// by UDP (RFC 768) and TCP: source and destination address, zero, protocol,
// and the transport length. src and dst must be IPv4 addresses; other
// addresses contribute zero.
func PseudoHeaderChecksum(proto IPProtocol, src, dst netip.Addr, length uint16) uint16 {
	var s uint64
	if src.Is4() {
		a := src.As4()
		s += uint64(binary.BigEndian.Uint16(a[0:])) + uint64(binary.BigEndian.Uint16(a[2:]))
	}
	if dst.Is4() {
		a := dst.As4()
		s += uint64(binary.BigEndian.Uint16(a[0:])) + uint64(binary.BigEndian.Uint16(a[2:]))
	}
	s += uint64(proto) + uint64(length)
	return fold(s)
}
