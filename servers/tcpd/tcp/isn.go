package tcp

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"
)

// Initial sequence numbers follow RFC 6528: ISN = M + F(local address and
// port, remote address and port, secret), where M is a 4-microsecond
// clock and F a keyed hash — here SHA-256 over a key derived from
// Config.Secret. Connections to different peers get unrelated ISNs, and a
// new incarnation of one 4-tuple starts above the old one as long as the
// clock moved.
//
// Ephemeral ports follow RFC 6056's algorithm 3 ("simple hash-based"):
// the search for a free port starts at an offset given by the same keyed
// hash of the local address and the remote address and port, plus a
// counter advanced by each search, so a peer cannot predict the ports
// used towards others.

// isnTick is M's resolution (RFC 6528: 4 µs).
const isnTick = 4 * time.Microsecond

// keyedHash returns 32 bits of SHA-256(key, domain, local, lport, remote,
// rport). It allocates nothing.
func (s *Stack) keyedHash(domain byte, local netip.Addr, lport uint16, remote netip.AddrPort) uint32 {
	var b [32 + 1 + 4 + 2 + 4 + 2]byte
	copy(b[:32], s.key[:])
	b[32] = domain
	l, r := local.As4(), remote.Addr().As4()
	copy(b[33:37], l[:])
	binary.BigEndian.PutUint16(b[37:39], lport)
	copy(b[39:43], r[:])
	binary.BigEndian.PutUint16(b[43:45], remote.Port())
	sum := sha256.Sum256(b[:])
	return binary.BigEndian.Uint32(sum[:4])
}

// isn returns the initial send sequence number for the connection t.
func (s *Stack) isn(t tuple) seq {
	m := uint32(s.clock.Now().UnixNano() / int64(isnTick))
	return seq(m + s.keyedHash('i', t.local.Addr(), t.local.Port(), t.remote))
}

// ephemeralPort picks a local port for a connection from local to remote:
// one no listener holds and that makes a 4-tuple not in use.
func (s *Stack) ephemeralPort(local netip.Addr, remote netip.AddrPort) (uint16, bool) {
	const n = EphemeralLast - EphemeralFirst + 1
	offset := s.keyedHash('p', local, 0, remote)
	for i := range uint32(n) {
		port := uint16(EphemeralFirst + (offset+s.nextEphemeral+i)%n)
		if s.listeners[port] != nil {
			continue
		}
		if s.conns[tuple{netip.AddrPortFrom(local, port), remote}] == nil {
			s.nextEphemeral += i + 1
			return port, true
		}
	}
	return 0, false
}
