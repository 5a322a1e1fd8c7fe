// Package echo is the UDP echo service of the handbook's networking exercise
// (chapter 36, exercise 2; RFC 862): bind UDP port 7 and send every datagram
// back, unchanged, to the address it came from.
//
// The service is written against net.PacketConn, so the same code runs
// inside armos (over libsocket's PacketConn adapter talking to netd), in
// hosted netd (the same adapter over libipc's in-memory transport) and, in
// its unit tests, over a Linux UDP socket on loopback. Where the conn can
// read several datagrams per call (libsocket's ReadBatch, one IPC round
// trip for all that are queued), it does.
package echo

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"armos/libsocket"
)

// Port is the well-known UDP echo port (RFC 862).
const Port = 7

// MaxDatagram is the largest UDP payload IPv4 can carry (65535 - 20 - 8); the
// receive buffer has this size so no datagram is ever truncated.
const MaxDatagram = 65507

// Stats counts what a Server did. Read it with Server.Stats.
type Stats struct {
	Echoed      uint64 // datagrams sent back
	Bytes       uint64 // payload bytes sent back
	WriteErrors uint64 // datagrams that could not be sent back (lost, counted)
}

// Server echoes datagrams on one PacketConn. Create it with New, then Run.
type Server struct {
	conn                       net.PacketConn
	echoed, bytes, writeErrors atomic.Uint64

	gaps *gapTracker // nil unless TrackGaps
}

// TrackGaps makes Run keep the n longest gaps between consecutive replies
// (by this process's clock: under -icount, guest time), to show from
// inside how long a restart of the servers below kept the service from
// answering. Call it before Run.
func (s *Server) TrackGaps(n int) {
	if n > 0 {
		s.gaps = &gapTracker{max: n}
	}
}

// Gaps returns the longest gaps TrackGaps kept, shortest first (call it
// after Run).
func (s *Server) Gaps() []time.Duration {
	if s.gaps == nil {
		return nil
	}
	out := slices.Clone(s.gaps.h)
	slices.Sort(out)
	return out
}

// gapTracker keeps the max longest gaps between calls of reply in a
// min-heap (the shortest kept on top, replaced by a longer one).
type gapTracker struct {
	max  int
	last time.Time
	h    []time.Duration
}

func (g *gapTracker) reply(now time.Time) {
	if !g.last.IsZero() {
		g.add(now.Sub(g.last))
	}
	g.last = now
}

func (g *gapTracker) add(d time.Duration) {
	if len(g.h) < g.max {
		g.h = append(g.h, d)
		for i := len(g.h) - 1; i > 0 && g.h[(i-1)/2] > g.h[i]; i = (i - 1) / 2 {
			g.h[i], g.h[(i-1)/2] = g.h[(i-1)/2], g.h[i]
		}
		return
	}
	if d <= g.h[0] {
		return
	}
	g.h[0] = d
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(g.h) && g.h[l] < g.h[m] {
			m = l
		}
		if r < len(g.h) && g.h[r] < g.h[m] {
			m = r
		}
		if m == i {
			return
		}
		g.h[i], g.h[m] = g.h[m], g.h[i]
		i = m
	}
}

// New returns a server that will echo on conn. The caller keeps ownership of
// conn (Run does not close it).
func New(conn net.PacketConn) *Server { return &Server{conn: conn} }

// Stats returns a snapshot of the counters; safe to call while Run runs.
func (s *Server) Stats() Stats {
	return Stats{Echoed: s.echoed.Load(), Bytes: s.bytes.Load(), WriteErrors: s.writeErrors.Load()}
}

// Run echoes datagrams until ctx ends (then it returns nil) or reading fails
// (then it returns the error). A datagram that cannot be sent back is counted
// in WriteErrors and the service carries on: UDP promises no delivery, and one
// unreachable client must not stop the service for the others.
func (s *Server) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		// Wake a blocked ReadFrom; Run's caller still owns the conn.
		_ = s.conn.SetReadDeadline(time.Unix(1, 0))
	})
	defer stop()
	// Both libsocket's PacketConn and Go's *net.UDPConn have the netip
	// forms, which allocate nothing per datagram (net.Addr does).
	ap, fast := s.conn.(addrPortConn)
	if bc, ok := s.conn.(batchConn); ok && fast {
		return s.runBatch(ctx, bc)
	}
	buf := make([]byte, MaxDatagram)
	for {
		var n int
		var err error
		var from net.Addr
		var fromAP netip.AddrPort
		if fast {
			n, fromAP, err = ap.ReadFromUDPAddrPort(buf)
		} else {
			n, from, err = s.conn.ReadFrom(buf)
		}
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
		if fast {
			_, err = ap.WriteToUDPAddrPort(buf[:n], fromAP)
		} else {
			_, err = s.conn.WriteTo(buf[:n], from)
		}
		if err != nil {
			s.writeErrors.Add(1)
			continue
		}
		s.echoed.Add(1)
		s.bytes.Add(uint64(n))
		if s.gaps != nil {
			s.gaps.reply(time.Now())
		}
	}
}

// Batch is how many datagrams Run reads per call where the conn can read
// several (each into its own MaxDatagram buffer: 8 of them are 512 KiB of
// address space, of which only the pages datagrams touch become resident).
const Batch = 8

// runBatch is Run's loop over a conn that reads and writes batches: each
// read takes every datagram queued (up to Batch), and they are sent back in
// order, in one round trip when they fit.
func (s *Server) runBatch(ctx context.Context, bc batchConn) error {
	bufs := make([][]byte, Batch)
	for i := range bufs {
		bufs[i] = make([]byte, MaxDatagram)
	}
	res := make([]libsocket.RecvResult, Batch)
	outs := make([][]byte, Batch)
	tos := make([]netip.AddrPort, Batch)
	for {
		k, err := bc.ReadBatch(bufs, res)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
		for i := range k {
			outs[i], tos[i] = bufs[i][:res[i].N], res[i].From
		}
		// Sent back in as few round trips as fit; a datagram that cannot
		// be sent is counted and skipped, and the rest still go.
		for i := 0; i < k; {
			n, err := bc.WriteBatch(outs[i:k], tos[i:k])
			for _, b := range outs[i : i+n] {
				s.echoed.Add(1)
				s.bytes.Add(uint64(len(b)))
				if s.gaps != nil {
					s.gaps.reply(time.Now())
				}
			}
			i += n
			if err != nil {
				s.writeErrors.Add(1)
				i++
			}
		}
	}
}

// batchConn reads and writes several datagrams per call (libsocket's
// PacketConn).
type batchConn interface {
	ReadBatch(bufs [][]byte, res []libsocket.RecvResult) (int, error)
	WriteBatch(bufs [][]byte, addrs []netip.AddrPort) (int, error)
}

// addrPortConn is a PacketConn with netip.AddrPort reads and writes.
type addrPortConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// Run echoes datagrams on conn until ctx ends; see Server.Run.
func Run(ctx context.Context, conn net.PacketConn) error { return New(conn).Run(ctx) }
