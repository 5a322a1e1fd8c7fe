package stack

import (
	"net/netip"
	"slices"
	"strconv"
	"time"

	"armos/libipc/skbuff"
	"armos/servers/netd/wire"
)

// arpInput handles a received ARP packet (b starts at the ARP header) and
// frees b. It follows RFC 826's merge rule: a packet from a sender already in
// the cache updates that entry (this is how a gratuitous ARP moves an
// address); a request for our address also adds its sender, and is
// answered.
func (s *Stack) arpInput(b *skbuff.Buf) {
	defer freeBuf(b)
	s.c.ARP.RxPackets++
	a, err := wire.ParseARP(b.Bytes())
	if err != nil {
		s.c.ARP.RxMalformed++
		return
	}
	op := a.Op()
	switch op {
	case wire.ARPRequest:
		s.c.ARP.RxRequests++
	case wire.ARPReply:
		s.c.ARP.RxReplies++
	default:
		s.c.ARP.RxBadOpcode++
		return
	}
	ours := s.cfg.Addr.Addr()
	smac, sip, tip := a.SenderMAC(), a.SenderIP(), a.TargetIP()
	if s.probe.state == addrProbing && smac != s.cfg.MAC && (sip == ours || !sip.IsValid() || sip.IsUnspecified()) && (sip == ours || tip == ours) {
		s.probeConflict(smac) // someone has it, or probes for it too
		return
	}
	if s.probe.state == addrConflict {
		return // the address is not ours
	}
	if sip == ours && smac != s.cfg.MAC && !smac.IsMulticast() && !smac.IsZero() {
		s.addressConflict(smac)
		return
	}
	if smac.IsMulticast() || smac.IsZero() || sip == ours || s.isBroadcast(sip) || sip.IsMulticast() {
		// Someone claiming our address, or nonsense: learn nothing.
		s.c.ARP.RxBadSender++
		return
	}
	now := s.clock.Now()
	learnt := false
	if sip.IsValid() && !sip.IsUnspecified() {
		if n := s.arp.lookup(sip); n != nil {
			switch {
			case n.state == neighIncomplete:
				s.c.ARP.Resolved++
			case sip == tip:
				s.c.ARP.GratuitousUpdate++
			default:
				s.c.ARP.Refreshed++
			}
			s.arpConfirm(n, smac, now)
			learnt = true
		} else if tip == ours && op == wire.ARPRequest {
			// Like Linux (arp_accept=0): a request to us creates an
			// entry, an unsolicited reply does not; and only for a
			// sender on our subnet (we never send to others directly),
			// never at the cost of an entry in use or the gateway's.
			if !s.cfg.Addr.Contains(sip) {
				s.c.ARP.RxOffSubnet++
			} else if n, evicted, dropped := s.arp.insertUnsolicited(sip, s.cfg.Gateway, now); n == nil {
				s.c.ARP.NotCached++
			} else {
				s.countEviction(evicted, dropped)
				s.c.ARP.Learned++
				s.arpConfirm(n, smac, now)
				learnt = true
			}
		}
	}
	if tip != ours {
		if !learnt {
			s.c.ARP.RxNotForUs++
		}
		return
	}
	if op == wire.ARPRequest && !s.tentative() {
		// Answer, including RFC 5227 probes (sender 0.0.0.0).
		s.sendARP(wire.ARPReply, smac, smac, sip)
	}
}

// arpConfirm records that addr is at mac: it completes an incomplete entry
// (sending its queued packets), refreshes a reachable or probing one, and
// moves an entry whose MAC changed.
func (s *Stack) arpConfirm(n *neighbor, mac MAC, now time.Time) {
	s.arp.changed()
	n.mac = mac
	n.state = neighReachable
	n.deadline = now.Add(s.cfg.ARPLifetime)
	n.confirmed = now
	n.sent = 0
	n.used = false
	for b := s.arp.dequeue(n); b != nil; b = s.arp.dequeue(n) {
		n.used = true
		_ = s.sendFrame(b, mac, wire.EtherTypeIPv4)
	}
}

func (s *Stack) countEviction(evicted bool, dropped int) {
	if evicted {
		s.c.ARP.Evictions++
		s.c.ARP.PendingEvicted += uint64(dropped)
	}
}

// sendARP transmits an ARP packet from our address to target (at tmac in the
// packet, sent to the Ethernet address dst).
func (s *Stack) sendARP(op wire.ARPOp, dst, tmac MAC, target netip.Addr) {
	s.sendARPFrom(op, dst, tmac, s.cfg.Addr.Addr(), target)
}

// sendARPFrom is sendARP with sender address sip (0.0.0.0 for a probe).
func (s *Stack) sendARPFrom(op wire.ARPOp, dst, tmac MAC, sip, target netip.Addr) {
	b := skbuff.Get()
	p, err := b.Put(wire.ARPLen)
	if err != nil {
		s.c.Link.TxNoBuffer++
		freeBuf(b)
		return
	}
	r := wire.ARPRepr{Op: op, SenderMAC: s.cfg.MAC, SenderIP: sip, TargetMAC: tmac, TargetIP: target}
	if !target.Is4() {
		r.TargetIP = netip.IPv4Unspecified()
	}
	_ = r.Emit(p)
	if op == wire.ARPReply {
		s.c.ARP.TxReplies++
	} else {
		s.c.ARP.TxRequests++
	}
	_ = s.sendFrame(b, dst, wire.EtherTypeARP)
}

// arpSolicit sends the next request for n if the global rate limit allows,
// and schedules the one after. A rate-limited request is retried when the
// next token is due, without using up one of n's retries.
func (s *Stack) arpSolicit(n *neighbor, now time.Time) {
	s.arp.changed()
	if !s.arpLimit.take(now) {
		s.c.ARP.RateLimited++
		n.deadline = s.arpLimit.nextToken(now)
		return
	}
	if n.state == neighProbe {
		// Like Linux's unicast probes: ask the neighbour we know.
		s.sendARP(wire.ARPRequest, n.mac, n.mac, n.addr)
	} else {
		s.sendARP(wire.ARPRequest, wire.BroadcastMAC, MAC{}, n.addr)
	}
	n.sent++
	n.deadline = now.Add(ARPRetransmit)
}

// resolveAndSend sends the IPv4 packet in b to the neighbour hop, resolving
// hop's Ethernet address first if needed (b then waits in hop's bounded
// queue). It takes ownership of b.
func (s *Stack) resolveAndSend(b *skbuff.Buf, hop netip.Addr) error {
	n := s.arp.lookup(hop)
	now := s.clock.Now()
	if n != nil && n.state != neighIncomplete {
		n.used = true
		n.lastUsed = now
		return s.sendFrame(b, n.mac, wire.EtherTypeIPv4)
	}
	fresh := n == nil
	if fresh {
		var evicted bool
		var dropped int
		n, evicted, dropped = s.arp.insert(hop, neighIncomplete, now)
		s.countEviction(evicted, dropped)
	}
	n.lastUsed = now
	switch d := s.arp.enqueue(n, b); {
	case d < 0:
		s.c.ARP.PendingOverflow++
	default:
		s.c.ARP.QueuedPackets++
		s.c.ARP.PendingOverflow += uint64(d)
	}
	if fresh {
		s.arpSolicit(n, now)
	}
	return nil
}

// arpTick runs the cache's timers.
func (s *Stack) arpTick(now time.Time) {
	for i := range s.arp.slots {
		n := &s.arp.slots[i]
		if n.state == neighFree || now.Before(n.deadline) {
			continue
		}
		switch n.state {
		case neighIncomplete:
			if n.sent >= ARPMaxRetries {
				s.c.ARP.ResolveFailed++
				s.c.ARP.PendingTimeout += uint64(s.arp.remove(n))
				continue
			}
		case neighReachable:
			s.c.ARP.Expired++
			if !n.used {
				s.arp.remove(n)
				continue
			}
			s.arp.changed()
			n.state, n.sent = neighProbe, 0
		case neighProbe:
			if n.sent >= ARPMaxRetries {
				s.c.ARP.ProbeFailed++
				s.arp.remove(n)
				continue
			}
		}
		s.arpSolicit(n, now)
	}
}

// arpNextDeadline returns the earliest ARP timer: the last scan's, unless
// an entry changed since.
func (s *Stack) arpNextDeadline() (time.Time, bool) {
	c := &s.arp
	if c.fresh {
		return c.next, c.hasNext
	}
	var t time.Time
	for i := range c.slots {
		n := &c.slots[i]
		if n.state != neighFree && (t.IsZero() || n.deadline.Before(t)) {
			t = n.deadline
		}
	}
	c.next, c.hasNext, c.fresh = t, !t.IsZero(), true
	return t, !t.IsZero()
}

// ARPEntry describes one neighbour cache entry, for the `arp` command.
type ARPEntry struct {
	Addr    netip.Addr
	MAC     MAC           // zero while incomplete
	State   string        // "incomplete", "reachable" or "probe"
	Expires time.Duration // reachable: time left; otherwise time to the next request
	Queued  int           // packets waiting for resolution
}

// String formats the entry like a line of `arp -n`:
// "10.0.2.2 at 52:55:0a:00:02:02 reachable 59s".
func (e ARPEntry) String() string {
	mac := "(incomplete)"
	if e.State != "incomplete" {
		mac = e.MAC.String()
	}
	s := e.Addr.String() + " at " + mac + " " + e.State + " " + e.Expires.Round(time.Second).String()
	if e.Queued > 0 {
		s += " queued " + strconv.Itoa(e.Queued)
	}
	return s
}

// ARPTable returns the neighbour cache sorted by address.
func (s *Stack) ARPTable() []ARPEntry {
	now := s.clock.Now()
	out := make([]ARPEntry, 0, s.arp.len())
	for i := range s.arp.slots {
		n := &s.arp.slots[i]
		if n.state == neighFree {
			continue
		}
		out = append(out, ARPEntry{Addr: n.addr, MAC: n.mac, State: n.state.String(), Expires: n.deadline.Sub(now), Queued: n.pending.Len()})
	}
	slices.SortFunc(out, func(a, b ARPEntry) int { return a.Addr.Compare(b.Addr) })
	return out
}

// FlushARP empties the neighbour cache (an operator's `arp flush`):
// entries are learnt again from traffic; packets waiting for a resolution
// are dropped and counted (ARP.PendingEvicted). It returns the entries
// flushed.
func (s *Stack) FlushARP() int {
	n := 0
	for i := range s.arp.slots {
		if e := &s.arp.slots[i]; e.state != neighFree {
			s.c.ARP.PendingEvicted += uint64(s.arp.remove(e))
			n++
		}
	}
	return n
}

// Address conflicts (RFC 5227 section 2.4): an ARP packet from another
// Ethernet address claiming ours is counted and remembered (ConflictMAC);
// the first in ARPDefendInterval is defended with one announcement, so
// neighbours that believed the other host switch back; a second one
// inside the interval is not defended again (no ARP storm between two
// hosts) but reported through the conflict handler, for the operator (and
// a DHCP client, which would decline the lease).

// ARPDefendInterval is RFC 5227's DEFEND_INTERVAL.
const ARPDefendInterval = 10 * time.Second

// AddressConflict describes another host claiming our address.
type AddressConflict struct {
	MAC      MAC  // the other host's Ethernet address
	Defended bool // we announced our address in answer
	Probing  bool // found while probing (RFC 5227 2.1): the address is not used
}

// SetConflictHandler sets fn to hear of every conflict (nil to stop). It
// runs on the stack's goroutine.
func (s *Stack) SetConflictHandler(fn func(AddressConflict)) { s.onConflict = fn }

// ConflictMAC returns the Ethernet address of the last host that claimed
// our address (zero if none has).
func (s *Stack) ConflictMAC() MAC { return s.conflictMAC }

func (s *Stack) addressConflict(mac MAC) {
	now := s.clock.Now()
	s.c.ARP.Conflicts++
	s.conflictMAC = mac
	c := AddressConflict{MAC: mac}
	if s.lastDefend.IsZero() || now.Sub(s.lastDefend) >= ARPDefendInterval {
		s.lastDefend = now
		s.c.ARP.Defended++
		s.sendARP(wire.ARPRequest, wire.BroadcastMAC, MAC{}, s.cfg.Addr.Addr())
		c.Defended = true
	}
	if s.onConflict != nil {
		s.onConflict(c)
	}
}

// Announce broadcasts a gratuitous ARP request for our address (sender and
// target both our address), so neighbours update their caches: netd calls
// it at start and after a restart. It is subject to the request rate limit.
func (s *Stack) Announce() {
	if !s.cfg.Addr.IsValid() {
		return // unconfigured: nothing to announce
	}
	if !s.arpLimit.take(s.clock.Now()) {
		s.c.ARP.RateLimited++
		return
	}
	s.sendARP(wire.ARPRequest, wire.BroadcastMAC, MAC{}, s.cfg.Addr.Addr())
}

// isBroadcast reports whether a is the limited broadcast address or our
// subnet's directed broadcast.
func (s *Stack) isBroadcast(a netip.Addr) bool {
	return a == limitedBroadcast || (s.bcast.IsValid() && a == s.bcast)
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
