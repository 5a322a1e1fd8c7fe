package stack

import (
	"encoding/binary"
	"net/netip"
	"time"

	"armos/servers/netd/wire"
)

// Run-time configuration (docs/dhcp.md). A stack may run unconfigured:
// Config.Addr the zero Prefix (netd -dhcp, before a lease). Unconfigured,
// it owns no address: it answers no ARP request, routes nothing but
// loopback and broadcasts, and of UDP it allows only what a DHCP client
// needs (RFC 2131 section 4.1, RFC 1122 section 3.3.6 and 3.2.1.3):
//
//   - an endpoint bound to 0.0.0.0 may send to the limited broadcast
//     255.255.255.255 from source address 0.0.0.0 (UDP.TxUnconfigured)
//     when it has SO_BROADCAST; nothing else leaves (ErrNoRoute);
//   - broadcasts are delivered as ever, and unicast UDP datagrams to
//     port DHCPClientPort are taken whatever their destination address
//     (IPv4.RxDHCPUnconfigured): a server that ignores the BROADCAST
//     flag unicasts its OFFER and ACK to the address it offers. Any
//     other unicast is RxNotForUs.

// DHCPClientPort is the DHCP client's UDP port (68).
const DHCPClientPort = 68

// Configured reports whether the interface has an address.
func (s *Stack) Configured() bool { return s.cfg.Addr.IsValid() }

// validConfig checks cfg (defaults filled in): an unconfigured cfg (no
// Addr) must have no gateway.
func validConfig(cfg Config) bool {
	a := cfg.Addr.Addr()
	switch {
	case cfg.MTU < MinMTU || cfg.MTU > MaxMTU,
		cfg.MAC == MAC{} || cfg.MAC[0]&1 != 0:
		return false
	case !cfg.Addr.IsValid():
		return !cfg.Gateway.IsValid()
	case !a.Is4() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == limitedBroadcast:
		return false
	case cfg.Gateway.IsValid() && (!cfg.Gateway.Is4() || !cfg.Addr.Contains(cfg.Gateway) || cfg.Gateway == a):
		return false
	}
	return true
}

// Reconfigure changes the address (and prefix), gateway and MTU at run
// time; MAC, Dev and ARPLifetime are kept (cfg's are ignored). A zero
// Addr removes the address (unconfigured). cfg.MTU 0 means DefaultMTU.
//
// What changes with it:
//   - a new address (another one, or the same with cfg.Probe after a
//     conflict) is probed first when cfg.Probe is set (RFC 5227; the ready
//     and conflict handlers hear the outcome), else used at once and
//     announced; the same address with another prefix, gateway or MTU is
//     changed in place, without probing again;
//   - the neighbour cache is flushed when the address or prefix changes
//     (entries of the old subnet; waiting packets counted in
//     ARP.PendingEvicted);
//   - endpoints bound to 0.0.0.0 keep working with the new address;
//     endpoints bound to the old address stay bound but receive nothing
//     more and their sends fail with ErrAddrNotAvailable (like Linux's
//     EADDRNOTAVAIL... its sockets keep the address they bound); the
//     owner closes them;
//   - the ready handler is dropped when the address changes: the caller
//     sets one (SetReadyHandler) to hear when the new one is in use;
//   - reassemblies in progress are kept (they are matched by addresses;
//     one for the old address is never completed and times out).
//
// It returns an *OpError wrapping ErrInvalidConfig for an invalid cfg,
// leaving the stack as it was.
func (s *Stack) Reconfigure(cfg Config) error {
	defer s.runLoopback()
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	cfg.MAC, cfg.Dev, cfg.ARPLifetime = s.cfg.MAC, s.cfg.Dev, s.cfg.ARPLifetime
	if !validConfig(cfg) {
		return opErr("reconfigure", netip.AddrPort{}, ErrInvalidConfig)
	}
	old := s.cfg
	s.cfg = cfg
	s.c.IPv4.Reconfigured++
	s.bcast = netip.Addr{}
	if cfg.Addr.IsValid() && cfg.Addr.Bits() <= 30 {
		s.bcast = directedBroadcast(cfg.Addr)
	}
	if old.Addr != cfg.Addr {
		s.FlushARP()
	}
	sameAddr := old.Addr.IsValid() && old.Addr.Addr() == cfg.Addr.Addr()
	if sameAddr && s.probe.state != addrConflict {
		return nil // the address stays in use (or goes on being probed)
	}
	s.probe = probeState{} // the ready handler too: the caller sets its own
	s.conflictMAC, s.lastDefend = MAC{}, time.Time{}
	switch {
	case !cfg.Addr.IsValid():
	case cfg.Probe:
		s.startProbing(s.clock.Now())
	default:
		s.Announce()
	}
	return nil
}

// dhcpUnicast reports whether ip (received while unconfigured, not to a
// broadcast address) is a whole UDP datagram to DHCPClientPort.
func (s *Stack) dhcpUnicast(ip wire.IPv4) bool {
	if ip.Protocol() != wire.IPProtocolUDP || ip.IsFragment() {
		return false
	}
	p := ip.Payload()
	return len(p) >= wire.UDPHeaderLen && binary.BigEndian.Uint16(p[2:4]) == DHCPClientPort
}
