package sockets

import (
	"net/netip"
	"time"

	"armos/libipc"
)

// The grace period of a restarted netd: for a short while after it starts,
// a bind to a named port is served only if it is a replay (a libsocket
// client restoring its socket, sockproto.BindReq.Replay); any other waits
// until the period ends. The clients of the netd that died reconnect and
// replay within it, so their ports go back to them before a rival can take
// one. A netd that was not restarted has no grace period.

// DefaultGrace is the grace period netd gives after a restart.
const DefaultGrace = time.Second

// graceBind is a bind waiting for the end of the grace period.
type graceBind struct {
	r    *libipc.Request
	sk   *socket
	addr netip.AddrPort
}

// SetGrace starts a grace period of d from now (call it before Run).
func (s *Service) SetGrace(d time.Duration) {
	if d > 0 {
		s.graceUntil = s.clock.Now().Add(d)
	}
}

// inGrace reports whether the grace period runs.
func (s *Service) inGrace() bool {
	return !s.graceUntil.IsZero() && s.clock.Now().Before(s.graceUntil)
}

// endGrace serves the binds that waited, once the period is over.
func (s *Service) endGrace() {
	if s.graceUntil.IsZero() || s.inGrace() {
		return
	}
	s.graceUntil = time.Time{}
	waiting := s.graceBinds
	s.graceBinds = nil
	for _, g := range waiting {
		s.stats.graceBinds.Add(1)
		s.finishBind(g.r, g.sk, g.addr)
	}
}

// graceDeadline is when the tick must run to end the grace period.
func (s *Service) graceDeadline() (time.Time, bool) {
	return s.graceUntil, !s.graceUntil.IsZero()
}

// closed reports whether the socket was closed (its handle gone).
func (sk *socket) closed() bool { return sk.cl.socks[sk.h] != sk }
