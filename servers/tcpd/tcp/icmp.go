package tcp

import (
	"encoding/binary"
	"net/netip"

	ipwire "armos/servers/netd/wire"
)

// ICMP errors (RFC 9293 3.9, RFC 1122 4.2.3.9, RFC 5461, RFC 5927).
//
// netd hands tcpd the ICMP errors that quote a TCP segment. An error is
// believed only if it quotes a connection's 4-tuple and a sequence number
// it has sent and not had acknowledged (RFC 5927 4.1); others are
// counted and ignored. Then:
//
//   - "fragmentation needed" (type 3 code 4) lowers the send MSS to the
//     next-hop MTU less 40 (RFC 1191; not below MinMSS) and resends from
//     SND.UNA at the new size — not a congestion signal;
//   - hard errors (protocol or port unreachable, administratively
//     prohibited) end a connection attempt (SYN-SENT, or SYN-RECEIVED
//     after a simultaneous open) with ErrConnRefused or
//     ErrHostUnreachable; a listener's half-open connection is dropped;
//   - everything else, and hard errors on a synchronized connection, is
//     soft: remembered, and reported as the connection's error if it
//     times out (RFC 5461 recommends not aborting established
//     connections; Linux does the same unless IP_RECVERR is set).
//
// Source quench is ignored (RFC 6633), as are redirects and parameter
// problems.

// ICMPError handles one ICMPv4 message (header and body, as received) that
// netd delivers because it quotes a TCP segment.
func (s *Stack) ICMPError(msg []byte) {
	defer s.flush()
	s.c.ICMPErrors++
	m, err := ipwire.ParseICMPv4(msg)
	if err != nil {
		s.c.ICMPIgnored++
		return
	}
	orig, err := m.Original()
	if err != nil || orig.Protocol() != ipwire.IPProtocolTCP || len(orig.Payload()) < 8 {
		s.c.ICMPIgnored++
		return
	}
	q := orig.Payload()
	t := tuple{
		netip.AddrPortFrom(orig.Src(), binary.BigEndian.Uint16(q[0:2])),
		netip.AddrPortFrom(orig.Dst(), binary.BigEndian.Uint16(q[2:4])),
	}
	c := s.conns[t]
	sq := seq(binary.BigEndian.Uint32(q[4:8]))
	if c == nil || sq.lt(c.sndUna) || !sq.lt(c.sndMax) {
		s.c.ICMPIgnored++
		return
	}
	c.icmpError(m.Type(), m.Code(), m.MTU())
}

// icmpError applies a validated ICMP error to c.
func (c *Conn) icmpError(typ ipwire.ICMPv4Type, code ipwire.ICMPv4Code, mtu uint16) {
	s := c.s
	var err error
	hard := false
	switch {
	case typ == ipwire.ICMPv4DstUnreachable && code == ipwire.ICMPv4FragmentationNeeded:
		c.pathMTU(int(mtu))
		return
	case typ == ipwire.ICMPv4DstUnreachable:
		switch code {
		case ipwire.ICMPv4ProtoUnreachable, ipwire.ICMPv4PortUnreachable:
			err, hard = ErrConnRefused, true
		case ipwire.ICMPv4NetProhibited, ipwire.ICMPv4HostProhibited, ipwire.ICMPv4AdminProhibited:
			err, hard = ErrHostUnreachable, true
		case ipwire.ICMPv4NetUnreachable, ipwire.ICMPv4DstNetUnknown, ipwire.ICMPv4NetUnreachableTOS:
			err = ErrNetUnreachable
		default:
			err = ErrHostUnreachable
		}
	case typ == ipwire.ICMPv4TimeExceeded:
		err = ErrHostUnreachable
	default:
		s.c.ICMPIgnored++
		return
	}
	if hard && !c.synAcked {
		s.c.ICMPHard++
		if c.passive {
			c.destroy()
			return
		}
		c.fail(err)
		return
	}
	s.c.ICMPSoft++
	c.softErr = err
}

// pathMTU lowers the send MSS for a next-hop MTU (RFC 1191) and resends
// what is outstanding at the new size. An MTU of 0 (a router older than
// RFC 1191) or one that would not lower the MSS is ignored.
func (c *Conn) pathMTU(mtu int) {
	mss := max(mtu-40-c.optionsLen(), MinMSS)
	if mtu == 0 || mss >= c.sndMSS {
		c.s.c.ICMPIgnored++
		return
	}
	c.s.c.PMTUUpdates++
	c.sndMSS = mss
	c.cwnd = max(c.cwnd, mss)
	if c.synAcked && c.sndMax != c.sndUna && !c.persisting {
		c.sndNxt = c.sndUna
		c.output()
	}
}
