package stack

import "time"

// ARPDeadlines returns the neighbour cache's earliest deadline as
// remembered (ok: one is pending) and as a scan of every entry finds it
// (zero: none), for tests of the memo.
func ARPDeadlines(s *Stack) (remembered time.Time, ok bool, scanned time.Time) {
	remembered, ok = s.arpNextDeadline()
	for i := range s.arp.slots {
		n := &s.arp.slots[i]
		if n.state != neighFree && (scanned.IsZero() || n.deadline.Before(scanned)) {
			scanned = n.deadline
		}
	}
	return remembered, ok, scanned
}
