package stack

import "net/netip"

// BindUDP binds a UDP endpoint to addr. addr's address must be our interface
// address or unspecified (0.0.0.0: every local address, including
// broadcasts); port 0 picks a free ephemeral port in
// [EphemeralFirst, EphemeralLast]. Since the interface has one address, a
// port is bound at most once: a second Bind of the port fails with an
// *OpError wrapping ErrAddrInUse (no SO_REUSEADDR).
func (s *Stack) BindUDP(addr netip.AddrPort) (*UDPEndpoint, error) {
	a := addr.Addr()
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	if !a.Is4() {
		return nil, opErr("bind", addr, ErrInvalidAddr)
	}
	if !a.IsUnspecified() && a != s.cfg.Addr.Addr() {
		return nil, opErr("bind", addr, ErrAddrNotAvailable)
	}
	port := addr.Port()
	if port == 0 {
		p, ok := s.ephemeralPort()
		if !ok {
			return nil, opErr("bind", addr, ErrNoEphemeralPorts)
		}
		port = p
	} else if _, busy := s.udp[port]; busy {
		return nil, opErr("bind", addr, ErrAddrInUse)
	}
	ep := &UDPEndpoint{
		s:     s,
		local: netip.AddrPortFrom(a, port),
		limit: UDPDefaultQueueLen,
	}
	s.udp[port] = ep
	return ep, nil
}

// ephemeralPort returns a free port from the ephemeral range, searching on
// from where the last search stopped (so a port just released is not reused
// at once).
func (s *Stack) ephemeralPort() (uint16, bool) {
	const n = EphemeralLast - EphemeralFirst + 1
	for range n {
		p := uint16(EphemeralFirst + s.nextEphemeral%n)
		s.nextEphemeral = (s.nextEphemeral + 1) % n
		if _, busy := s.udp[p]; !busy {
			return p, true
		}
	}
	return 0, false
}

// UDPEndpoints returns the bound endpoints' local addresses and queue
// lengths, for `netstat`, in no particular order.
func (s *Stack) UDPEndpoints() []UDPEndpointInfo {
	out := make([]UDPEndpointInfo, 0, len(s.udp))
	for _, ep := range s.udp {
		out = append(out, UDPEndpointInfo{Local: ep.local, Remote: ep.remote, Queued: ep.n, QueueLen: ep.limit, Stats: ep.stats})
	}
	return out
}

// UDPEndpointInfo describes a bound endpoint for `netstat`.
type UDPEndpointInfo struct {
	Local    netip.AddrPort
	Remote   netip.AddrPort
	Queued   int
	QueueLen int
	Stats    EndpointStats
}
