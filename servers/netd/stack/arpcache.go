package stack

import (
	"net/netip"
	"time"

	"armos/libipc/skbuff"
)

// neighState is the state of an ARP cache entry.
//
//	            request sent                 reply
//	(absent) ---------------> incomplete ------------> reachable
//	                             | ARPMaxRetries          | ARPEntryLifetime
//	                             v unanswered             v (entry was used)
//	                          (removed,               probe ---reply---> reachable
//	                      queued packets dropped)     | ARPMaxRetries unanswered
//	                                                  v
//	                                               (removed)
//
// A reachable entry that was not used during its lifetime is removed when it
// expires instead of being probed.
type neighState uint8

const (
	neighFree       neighState = iota // slot unused
	neighIncomplete                   // request sent, no reply yet; packets queue
	neighReachable                    // mapping valid until deadline
	neighProbe                        // lifetime over; re-requesting, old mapping still used
)

func (s neighState) String() string {
	switch s {
	case neighIncomplete:
		return "incomplete"
	case neighReachable:
		return "reachable"
	case neighProbe:
		return "probe"
	}
	return "free"
}

// neighbor is one ARP cache entry.
type neighbor struct {
	addr  netip.Addr
	mac   MAC
	state neighState
	// deadline is the expiry time (reachable) or when the next request is
	// due (incomplete, probe).
	deadline time.Time
	// sent counts requests sent during the current resolution or probe.
	sent int
	// used records that a packet was sent through the entry since it was
	// last confirmed: only used entries are probed at expiry.
	used bool
	// confirmed is when the mapping was last learnt or confirmed (or, for an
	// incomplete entry, created); the oldest entry is evicted first.
	confirmed time.Time
	// lastUsed is when a packet was last sent through the entry (or it
	// was created for one): recent traffic protects it (ARPKeepRecent).
	lastUsed time.Time
	// pending holds packets (IPv4 datagrams with room for the Ethernet
	// header) waiting for resolution. Bounded by ARPPendingPerAddr.
	pending skbuff.Queue
}

// arpCache is the neighbour table: a fixed array of ARPCacheSize slots and
// an index by address. Entries are never allocated after New.
type arpCache struct {
	slots    [ARPCacheSize]neighbor
	index    map[netip.Addr]int
	npending int // packets queued across all entries (≤ ARPPendingTotal)

	// next is the earliest deadline of the entries, and whether there is
	// one, as of the last scan; fresh is false once an entry's deadline or
	// state may have changed since (every change calls changed). The scan
	// of all slots ran twice per packet otherwise (Stack.NextDeadline).
	next    time.Time
	hasNext bool
	fresh   bool
}

// changed notes that an entry's deadline or state changed.
func (c *arpCache) changed() { c.fresh = false }

func (c *arpCache) init() {
	c.index = make(map[netip.Addr]int, ARPCacheSize)
}

// lookup returns the entry for addr, or nil.
func (c *arpCache) lookup(addr netip.Addr) *neighbor {
	i, ok := c.index[addr]
	if !ok {
		return nil
	}
	return &c.slots[i]
}

// insert returns a fresh entry for addr in state st, evicting the oldest
// entry if the cache is full. evicted reports whether an entry was evicted,
// dropped how many queued packets went with it. addr must not be present.
func (c *arpCache) insert(addr netip.Addr, st neighState, now time.Time) (n *neighbor, evicted bool, dropped int) {
	slot := -1
	for i := range c.slots {
		if c.slots[i].state == neighFree {
			slot = i
			break
		}
	}
	if slot < 0 {
		slot = c.victim()
		dropped = c.remove(&c.slots[slot])
		evicted = true
	}
	n = &c.slots[slot]
	n.addr = addr
	n.mac = MAC{}
	c.changed()
	n.state = st
	n.deadline = now
	n.sent = 0
	n.used = false
	n.confirmed = now
	n.pending.Init(ARPPendingPerAddr)
	c.index[addr] = slot
	return n, evicted, dropped
}

// insertUnsolicited is insert for an entry nobody asked for (the sender
// of a request to us): a full cache gives up only an entry that is not
// protected — not the gateway's, not one that carried traffic in the
// last ARPKeepRecent — else it returns nil (answer, but do not cache:
// what Linux's gc thresholds amount to). 128 spoofed requests cannot
// evict the gateway.
func (c *arpCache) insertUnsolicited(addr, gateway netip.Addr, now time.Time) (n *neighbor, evicted bool, dropped int) {
	if len(c.index) < ARPCacheSize {
		return c.insert(addr, neighReachable, now)
	}
	slot := -1
	for i := range c.slots {
		e := &c.slots[i]
		if e.state == neighFree || e.state == neighIncomplete || e.addr == gateway || now.Sub(e.lastUsed) < ARPKeepRecent {
			continue // incomplete entries have traffic waiting
		}
		if slot < 0 || e.confirmed.Before(c.slots[slot].confirmed) {
			slot = i
		}
	}
	if slot < 0 {
		return nil, false, 0
	}
	dropped = c.remove(&c.slots[slot])
	n, _, _ = c.insert(addr, neighReachable, now)
	return n, true, dropped
}

// victim picks the slot to evict from a full cache: the least recently
// confirmed complete entry, or failing that the oldest incomplete one (so
// resolved neighbours, which carry traffic, are kept longest).
func (c *arpCache) victim() int {
	best, bestInc := -1, -1
	for i := range c.slots {
		n := &c.slots[i]
		switch n.state {
		case neighReachable, neighProbe:
			if best < 0 || n.confirmed.Before(c.slots[best].confirmed) {
				best = i
			}
		case neighIncomplete:
			if bestInc < 0 || n.confirmed.Before(c.slots[bestInc].confirmed) {
				bestInc = i
			}
		}
	}
	if best >= 0 {
		return best
	}
	return bestInc
}

// remove frees n's slot and its queued packets, returning how many packets
// were dropped.
func (c *arpCache) remove(n *neighbor) int {
	dropped := n.pending.Drain()
	c.npending -= dropped
	delete(c.index, n.addr)
	*n = neighbor{}
	c.changed()
	return dropped
}

// enqueue queues b on n, dropping n's oldest packet if n's queue or the
// global pending budget is full (as Linux drops the oldest of arp_queue).
// It returns how many packets were dropped to make room (0 or 1), or -1 if
// b itself could not be queued (it is then freed).
func (c *arpCache) enqueue(n *neighbor, b *skbuff.Buf) int {
	dropped := 0
	if n.pending.Len() >= ARPPendingPerAddr || (c.npending >= ARPPendingTotal && n.pending.Len() > 0) {
		if old := n.pending.Dequeue(); old != nil {
			_ = old.Free()
			c.npending--
			dropped++
		}
	}
	if c.npending >= ARPPendingTotal || n.pending.Enqueue(b) != nil {
		_ = b.Free()
		return -1
	}
	c.npending++
	return dropped
}

// dequeue removes n's oldest pending packet, or returns nil.
func (c *arpCache) dequeue(n *neighbor) *skbuff.Buf {
	b := n.pending.Dequeue()
	if b != nil {
		c.npending--
	}
	return b
}

// len returns the number of entries in use.
func (c *arpCache) len() int { return len(c.index) }
