package tcp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack/stacktest"
	ipwire "armos/servers/netd/wire"
	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
	"armos/servers/tcpd/tcp/wire"
)

// FuzzSegments runs a script of segments, clock advances, API calls and
// ICMP errors against one engine with a listener, and after every step
// checks the engine's invariants (the counters' identities, the table,
// snd.una <= snd.nxt <= snd.max, buffers and windows within their bounds,
// a timer whenever something waits) and that everything it sent parses
// with a good checksum.
//
// Segments are built relative to the connection they target — sequence
// numbers near its RCV.NXT, acknowledgments near its SND.UNA — so that
// short scripts reach every state instead of bouncing off the sequence
// check.
func FuzzSegments(f *testing.F) {
	// Active open, data both ways, close.
	f.Add([]byte{
		opConnect, 0,
		opSegment, 0, byte(SYN | ACK), 0, 0, 1, 0, 255, 0, 0x80,
		opAPI, 0, apiWrite, 20,
		opSegment, 0, byte(ACK | PSH), 0, 0, 21, 0, 255, 10, 0,
		opAdvance, 3,
		opAPI, 0, apiRead, 0,
		opAPI, 0, apiClose, 0,
		opSegment, 0, byte(ACK | FIN), 0, 0, 22, 0, 255, 0, 0,
		opAdvance, 7,
	})
	// Passive open, zero window, probes, keep-alive, reset.
	f.Add([]byte{
		opSegment, 4, byte(SYN), 0, 0, 0, 0, 255, 0, 0x81,
		opSegment, 4, byte(ACK), 1, 0, 1, 0, 0, 0, 0,
		opAPI, 1, apiAccept, 0,
		opAPI, 1, apiWrite, 255,
		opAdvance, 4, opAdvance, 4, opAdvance, 5,
		opSegment, 4, byte(ACK), 0, 0, 100, 0, 255, 0, 0,
		opAPI, 1, apiKeepAlive, 1,
		opAdvance, 7,
		opSegment, 4, byte(RST), 0, 0, 0, 0, 0, 0, 0,
	})
	// Simultaneous open and close, an ICMP error, garbage.
	f.Add([]byte{
		opConnect, 0,
		opSegment, 0, byte(SYN), 0, 0, 0, 0, 255, 0, 0x83,
		opSegment, 0, byte(SYN | ACK), 0xff, 0, 1, 0, 255, 0, 0,
		opAPI, 0, apiCloseWrite, 0,
		opSegment, 0, byte(FIN | ACK), 0, 0, 0, 0, 255, 0, 0,
		opICMP, 3,
		opRaw, 24, 0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 5, 0xb4,
		opAdvance, 6,
	})
	// Segmentation offload with a small MSS: a write goes as one segment
	// of many pieces, partly acknowledged; offload off again.
	f.Add([]byte{
		opAPI, 0, apiOffload, 200,
		opConnect, 0,
		opSegment, 0, byte(SYN | ACK), 0, 0, 1, 0, 255, 0, 0x8a,
		opAPI, 0, apiWrite, 255,
		opSegment, 0, byte(ACK), 0, 0, 20, 1, 255, 0, 0,
		opAPI, 0, apiWrite, 255,
		opAdvance, 4,
		opAPI, 0, apiOffload, 0,
		opSegment, 0, byte(ACK), 0, 0, 40, 1, 255, 0, 0,
		opAPI, 0, apiCloseWrite, 0,
		opAdvance, 7,
	})
	// Timestamps and SACK offered and used: data out of order with SACK
	// blocks back, a timestamp gone back (PAWS), a timeout.
	f.Add([]byte{
		opConnect, 0,
		opSegment, 0, byte(SYN | ACK), 0, 0, 1, 0, 255, 0, 0x97,
		opAPI, 0, apiWrite, 40,
		opSegment, 0, byte(ACK), 8, 0, 0, 0, 255, 4, 0x45,
		opSegment, 0, byte(ACK), 0, 0, 10, 0, 255, 4, 0x75,
		opSegment, 0, byte(ACK | PSH), 0, 0, 10, 0, 255, 4, 0x40,
		opAdvance, 5,
		opSegment, 0, byte(ACK), 0, 0, 0, 0, 255, 1, 0x46,
	})
	// A tail loss probe of new data, and recovery from its SACK.
	f.Add([]byte{
		opConnect, 0,
		opSegment, 0, byte(SYN | ACK), 0, 0, 1, 0, 255, 0, 0x97,
		opAPI, 0, apiWrite, 255,
		opSegment, 0, byte(ACK), 0, 0, 4, 1, 255, 0, 0x44,
		opAdvance, 3,
		opSegment, 0, byte(ACK), 0, 0, 0, 0, 255, 50, 0x64,
		opAdvance, 3,
		opSegment, 0, byte(ACK), 0, 0, 100, 1, 255, 0, 0x44,
		opAdvance, 7,
	})
	f.Fuzz(func(t *testing.T, script []byte) {
		runScript(t, script)
	})
}

// Script operations and their arguments.
const (
	opSegment = iota // target, flags, seq delta, seq scale, ack delta, ack scale, window, length/8, options
	opAdvance        // duration index
	opAPI            // handle, call, argument
	opConnect        // peer port index
	opICMP           // kind
	opRaw            // length, bytes
	numOps
)

// API calls of opAPI.
const (
	apiWrite = iota
	apiRead
	apiCloseWrite
	apiClose
	apiAbort
	apiNoDelay
	apiKeepAlive
	apiAccept
	apiListenerClose
	apiOffload    // Stack.SetOffload: 0, or 1480 + 256*argument (too large past 65515: off)
	apiWriteOwned // Conn.WriteOwned of 256*argument bytes
	numAPI
)

var (
	fuzzAdvances = []time.Duration{0, time.Millisecond, 10 * time.Millisecond, 200 * time.Millisecond,
		time.Second, 5 * time.Second, time.Minute, 3 * time.Hour}
	fuzzScales = []int{1, 100, 10000, 1 << 30}
	fuzzPorts  = []uint16{40000, 40001, 40002, 40003}
)

// script reads a fuzz input byte by byte, zeros once it runs out.
type script struct {
	b []byte
}

func (s *script) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func runScript(t *testing.T, b []byte) {
	clock := stacktest.NewFakeClock()
	rec := &tcptest.Recorder{}
	s, err := tcp.New(tcp.Config{SendBuffer: 8192, RecvBuffer: 8192, SynBacklog: 3, Secret: []byte("fuzz")}, rec, clock)
	require.NoError(t, err)
	us := netip.AddrPortFrom(ourAddr, 80)
	ln, err := s.Listen(us, 2)
	require.NoError(t, err)
	var conns []*tcp.Conn
	tsVal := uint32(1 << 20) // the peers' timestamp clock
	owned := 0               // pieces WriteOwned holds
	payload := make([]byte, 255*8)
	for i := range payload {
		payload[i] = byte(i)
	}
	buf := make([]byte, 4096)
	sc := &script{b: b}
	for steps := 0; len(sc.b) > 0 && steps < 200; steps++ {
		switch sc.next() % numOps {
		case opSegment:
			target := int(sc.next())
			flags := wire.Flags(sc.next())
			sd, ss := int(int8(sc.next())), fuzzScales[sc.next()%4]
			ad, as := int(int8(sc.next())), fuzzScales[sc.next()%4]
			wnd := uint16(sc.next()) * 257
			n := int(sc.next()) * 8
			opt := sc.next()
			peer := netip.AddrPortFrom(peerAddr, fuzzPorts[target%len(fuzzPorts)])
			local := us
			var rcvNxt, sndUna uint32 = 1000, 0
			if target%8 < 4 && len(conns) > 0 {
				c := conns[target/8%len(conns)]
				i := c.Info()
				peer, local, rcvNxt, sndUna = c.RemoteAddr(), c.LocalAddr(), i.RcvNxt, i.SndUna
			}
			r := wire.Repr{Seq: rcvNxt + uint32(sd*ss), Ack: sndUna + uint32(ad*as), Flags: flags, Window: wnd}
			switch {
			case opt&0x80 != 0: // a SYN's options, SACK and timestamps offered with 0x10
				r.Options = wire.Options{MSS: uint16(opt&0x3f) * 64, HasWindowScale: opt&0x40 != 0, WindowScale: opt & 0xf,
					SACKPermitted: opt&0x10 != 0, HasTimestamps: opt&0x10 != 0, TSVal: tsVal}
			case opt&0x40 != 0: // timestamps moving on or back (PAWS), SACK blocks with 0x20
				tsVal += uint32(int(opt&0xf)-4) * 1000
				r.Options = wire.Options{HasTimestamps: true, TSVal: tsVal, TSEcr: uint32(opt) * 997}
				if opt&0x20 != 0 {
					r.Options.NSACK = 1 + int(opt&0x10)/0x10
					for i := range r.Options.NSACK {
						r.Options.SACK[i] = wire.SACKBlock{Left: sndUna + uint32(1+i*200), Right: sndUna + uint32(1+i*200+n)}
					}
					if opt&0x08 != 0 { // hostile: anywhere, up to 2^31 and more wide
						l := sndUna + uint32(sd)<<24
						r.Options.SACK[0] = wire.SACKBlock{Left: l, Right: l + uint32(n+1)<<22}
					}
				}
			}
			s.Input(peer.Addr(), local.Addr(), tcptest.Segment(peer, local, r, payload[:n]))
		case opAdvance:
			clock.Advance(fuzzAdvances[sc.next()%8])
			for {
				d, ok := s.NextDeadline()
				if !ok || d.After(clock.Now()) {
					break
				}
				s.Tick()
			}
		case opAPI:
			h, call, arg := int(sc.next()), sc.next()%numAPI, int(sc.next())
			if call == apiAccept {
				if c, err := ln.Accept(); err == nil {
					conns = append(conns, c)
				}
				break
			}
			if call == apiListenerClose {
				_ = ln.Close()
				break
			}
			if call == apiOffload {
				s.SetOffload(min(arg, 1) * (1480 + 256*arg))
				break
			}
			if len(conns) == 0 {
				break
			}
			c := conns[h%len(conns)]
			switch call {
			case apiWrite:
				_, _ = c.Write(payload[:arg*8])
			case apiWriteOwned:
				p := make([]byte, arg*256)
				given := false
				if took, _ := c.WriteOwned(p, func() {
					require.False(t, given, "an owned piece given back twice")
					given = true
					owned--
				}); took {
					owned++
				}
			case apiRead:
				_, _ = c.Read(buf[:arg*16])
			case apiCloseWrite:
				_ = c.CloseWrite()
			case apiClose:
				_ = c.Close()
			case apiAbort:
				c.Abort()
			case apiNoDelay:
				c.SetNoDelay(arg&1 != 0)
			case apiKeepAlive:
				c.SetKeepAlive(arg&1 != 0)
			}
		case opConnect:
			peer := netip.AddrPortFrom(peerAddr, fuzzPorts[sc.next()%4])
			if c, err := s.Connect(netip.AddrPortFrom(ourAddr, 0), peer); err == nil {
				conns = append(conns, c)
			}
		case opICMP:
			kind := sc.next()
			if len(rec.Segs) > 0 && rec.Segs[len(rec.Segs)-1].Seg != nil {
				last := rec.Segs[len(rec.Segs)-1]
				codes := []ipwire.ICMPv4Code{0, 1, 3, 4, 13}
				msg := icmpAbout(last, ipwire.ICMPv4DstUnreachable, codes[kind%5], uint16(kind)*8)
				if kind&0x80 != 0 {
					msg = icmpAbout(last, ipwire.ICMPv4TimeExceeded, 0, 0)
				}
				s.ICMPError(msg)
			}
		case opRaw:
			n := int(sc.next())
			raw := make([]byte, 0, n)
			for range n {
				raw = append(raw, sc.next())
			}
			s.Input(peerAddr, ourAddr, raw)
		}
		require.NoError(t, s.CheckInvariants(), "step %d", steps)
		require.NoError(t, rec.Err, "a segment we sent does not parse (or breaks the offload contract)")
		for _, o := range rec.Offloads {
			require.LessOrEqual(t, wire.HeaderLen+o.Len, s.Offload(), "an offloaded segment larger than allowed")
		}
		rec.Offloads = rec.Offloads[:0]
		if len(rec.Segs) > 64 {
			rec.Segs = rec.Segs[len(rec.Segs)-1:]
		}
	}
	// Whatever happened, time ends every connection the user closed.
	for _, c := range conns {
		c.Abort()
	}
	require.Zero(t, owned, "every piece WriteOwned took was given back once its connection ended")
	clock.Advance(24 * time.Hour)
	for {
		d, ok := s.NextDeadline()
		if !ok || d.After(clock.Now()) {
			break
		}
		s.Tick()
	}
	require.NoError(t, s.CheckInvariants())
	_, pending := s.NextDeadline()
	require.False(t, pending && len(s.Conns()) == 0, "a timer without a connection")
}
