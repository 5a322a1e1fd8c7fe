package sockets

import (
	"net/netip"
	"time"

	"armos/libipc"
	"armos/libsocket/sockproto"
	"armos/servers/netd/stack"
)

// Ping (sockproto.OpPing): a client asks netd to send one ICMP echo
// request and answers when the echo reply arrives (a deferred reply), or
// with ETIMEDOUT. Each ping gets an ICMP identifier of its own, so replies
// find their request; at most sockproto.MaxPings wait at once (ENOBUFS
// beyond, counted as errors).

// pendingPing is a ping waiting for its echo reply.
type pendingPing struct {
	r        *libipc.Request
	dst      netip.Addr
	seq      uint16
	deadline time.Time
}

func (s *Service) opPing(r *libipc.Request) {
	var req sockproto.PingReq
	if !s.decode(r, &req) {
		return
	}
	ap, e := checkAddr(req.Dst)
	switch {
	case e != 0:
		s.fail(r, e)
		return
	case req.Size > sockproto.MaxPingSize || req.Timeout < 0 || req.Timeout > sockproto.MaxPingTimeout:
		s.fail(r, sockproto.EINVAL)
		return
	case len(s.pings) >= sockproto.MaxPings:
		s.fail(r, sockproto.ENOBUFS)
		return
	}
	timeout := time.Duration(req.Timeout)
	if timeout == 0 {
		timeout = time.Duration(sockproto.MaxPingTimeout)
	}
	id := s.nextPingID
	for s.pings[id] != nil {
		id++
	}
	s.nextPingID = id + 1
	data := s.scratch[:req.Size]
	for i := range data {
		data[i] = byte(i)
	}
	if err := s.st.Ping(ap.Addr(), id, req.Seq, data); err != nil {
		s.failErr(r, err)
		return
	}
	s.pings[id] = &pendingPing{r: r, dst: ap.Addr(), seq: req.Seq, deadline: s.clock.Now().Add(timeout)}
	s.stats.pings.Add(1)
}

// echoReply is the stack's echo handler: the ping it answers is replied.
func (s *Service) echoReply(er stack.EchoReply) {
	p := s.pings[er.ID]
	if p == nil || p.seq != er.Seq {
		return
	}
	delete(s.pings, er.ID)
	s.stats.pings.Add(^uint64(0))
	s.stats.pingReplies.Add(1)
	s.reply(p.r, &sockproto.PingResp{
		From: sockproto.AddrFrom(netip.AddrPortFrom(er.From, 0)), Seq: er.Seq,
		RTT: int64(er.RTT), Len: uint32(er.Len), TTL: er.TTL,
	})
}

// expirePings answers the pings whose time is up with ETIMEDOUT.
func (s *Service) expirePings(now time.Time) {
	for id, p := range s.pings {
		if !p.deadline.After(now) {
			delete(s.pings, id)
			s.stats.pings.Add(^uint64(0))
			s.stats.pingTimeouts.Add(1)
			s.fail(p.r, sockproto.ETIMEDOUT)
		}
	}
}

// nextPingDeadline is the earliest deadline of a waiting ping.
func (s *Service) nextPingDeadline() (time.Time, bool) {
	var next time.Time
	for _, p := range s.pings {
		if next.IsZero() || p.deadline.Before(next) {
			next = p.deadline
		}
	}
	return next, !next.IsZero()
}
