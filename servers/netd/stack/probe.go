package stack

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"time"

	"armos/servers/netd/wire"
)

// Address conflict detection before use (RFC 5227 section 2.1): with
// Config.Probe, the configured address is tentative at first. The stack
// waits a random time up to ProbeWait, sends ProbeNum ARP probes (sender
// address 0.0.0.0) ProbeMin to ProbeMax apart, waits AnnounceWait, then
// announces the address AnnounceNum times AnnounceInterval apart and uses
// it. While tentative it answers no ARP request for the address, takes no
// datagram addressed to it and sends none (ErrTentative). Another host
// using the address, or probing for it at the same time, ends the attempt:
// the conflict handler hears it (AddressConflict.Probing) and the address
// is never used (Ready stays false).

// RFC 5227 section 1.1's constants.
const (
	ProbeWait        = time.Second
	ProbeNum         = 3
	ProbeMin         = time.Second
	ProbeMax         = 2 * time.Second
	AnnounceWait     = 2 * time.Second
	AnnounceNum      = 2
	AnnounceInterval = 2 * time.Second
)

// ErrTentative is returned for sends while the address is being probed.
var ErrTentative = errors.New("stack: the address is still being probed (RFC 5227)")

// addrState is where the address stands.
type addrState uint8

const (
	addrReady      addrState = iota // in use
	addrProbing                     // probes being sent
	addrAnnouncing                  // ours: announcements being sent (usable)
	addrConflict                    // someone else has it: never used
)

// probeState is the probing machinery.
type probeState struct {
	state   addrState
	next    time.Time // when the next probe or announcement is due
	sent    int       // probes or announcements sent in this state
	onReady func()
}

// startProbing makes the address tentative (New, with Config.Probe).
func (s *Stack) startProbing(now time.Time) {
	s.probe.state = addrProbing
	s.probe.next = now.Add(rand.N(ProbeWait))
}

// SetReadyHandler sets fn to run once the address is in use (at once if
// it already is). It runs on the stack's goroutine.
func (s *Stack) SetReadyHandler(fn func()) {
	s.probe.onReady = fn
	if fn != nil && s.Ready() {
		fn()
	}
}

// Ready reports whether the address is in use (probing is over).
func (s *Stack) Ready() bool {
	return s.probe.state == addrReady || s.probe.state == addrAnnouncing
}

// tentative reports whether the address may not be used yet (or ever).
func (s *Stack) tentative() bool {
	return s.probe.state == addrProbing || s.probe.state == addrConflict
}

// probeTick sends what is due.
func (s *Stack) probeTick(now time.Time) {
	p := &s.probe
	if p.state != addrProbing && p.state != addrAnnouncing || now.Before(p.next) {
		return
	}
	ours := s.cfg.Addr.Addr()
	switch p.state {
	case addrProbing:
		if p.sent < ProbeNum {
			s.c.ARP.Probes++
			s.sendARPFrom(wire.ARPRequest, wire.BroadcastMAC, MAC{}, netip.IPv4Unspecified(), ours)
			p.sent++
			if p.sent < ProbeNum {
				p.next = now.Add(ProbeMin + rand.N(ProbeMax-ProbeMin))
			} else {
				p.next = now.Add(AnnounceWait)
			}
			return
		}
		// No one answered: the address is ours.
		p.state, p.sent = addrAnnouncing, 0
		if p.onReady != nil {
			p.onReady()
		}
		fallthrough
	case addrAnnouncing:
		s.sendARP(wire.ARPRequest, wire.BroadcastMAC, MAC{}, ours)
		p.sent++
		p.next = now.Add(AnnounceInterval)
		if p.sent >= AnnounceNum {
			p.state = addrReady
		}
	}
}

// probeDeadline is when probeTick must run next.
func (s *Stack) probeDeadline() (time.Time, bool) {
	if s.probe.state == addrProbing || s.probe.state == addrAnnouncing {
		return s.probe.next, true
	}
	return time.Time{}, false
}

// probeConflict ends probing: another host (mac) uses the address or
// probes for it.
func (s *Stack) probeConflict(mac MAC) {
	s.probe.state = addrConflict
	s.c.ARP.ProbeConflicts++
	s.conflictMAC = mac
	if s.onConflict != nil {
		s.onConflict(AddressConflict{MAC: mac, Probing: true})
	}
}
