package stack

import (
	"net/netip"
	"time"
)

// EchoReply reports an answered ping.
type EchoReply struct {
	From netip.Addr    // who answered
	ID   uint16        // echo identifier
	Seq  uint16        // echo sequence number
	RTT  time.Duration // from Ping to the reply's arrival, by the stack's clock
	Len  int           // payload bytes in the reply
	TTL  uint8         // TTL of the reply's IPv4 header
}

// pingEntry remembers when an echo request was sent.
type pingEntry struct {
	dst     netip.Addr
	id, seq uint16
	sent    time.Time
	live    bool
	bcast   bool // sent to a broadcast address: any host may answer, many times
}

// pingTable is a ring of the last PingOutstanding echo requests: a new ping
// overwrites the oldest entry (counted if it was still unanswered).
type pingTable struct {
	e    [PingOutstanding]pingEntry
	next int
}

// add records a request and reports whether it displaced an unanswered one.
func (t *pingTable) add(dst netip.Addr, id, seq uint16, now time.Time, bcast bool) (displaced bool) {
	e := &t.e[t.next]
	displaced = e.live && !e.bcast
	*e = pingEntry{dst: dst, id: id, seq: seq, sent: now, live: true, bcast: bcast}
	t.next = (t.next + 1) % len(t.e)
	return displaced
}

// match finds and forgets the request answered by a reply from src.
func (t *pingTable) match(src netip.Addr, id, seq uint16) (time.Time, bool) {
	for i := range t.e {
		e := &t.e[i]
		if e.live && e.id == id && e.seq == seq && (e.dst == src || e.bcast) {
			e.live = e.bcast
			return e.sent, true
		}
	}
	return time.Time{}, false
}

// SetEchoHandler sets fn to receive every echo reply that answers one of
// our pings (nil to stop). fn runs on the stack's goroutine, inside Input.
func (s *Stack) SetEchoHandler(fn func(EchoReply)) { s.onEcho = fn }
