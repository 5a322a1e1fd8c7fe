package stack

import (
	"encoding/binary"
	"net/netip"

	"armos/libipc/skbuff"
	"armos/servers/netd/wire"
)

// ipInput handles a received IPv4 packet (b starts at the IPv4 header;
// l2bcast tells whether the frame was sent to the Ethernet broadcast
// address, looped that it comes from our own loopback) and takes ownership
// of b.
func (s *Stack) ipInput(b *skbuff.Buf, l2bcast, looped bool) {
	s.c.IPv4.RxPackets++
	_ = b.Mark(skbuff.NetworkLayer)
	ip, err := wire.ParseIPv4(b.Bytes())
	if err != nil {
		switch err {
		case wire.ErrBadVersion:
			s.c.IPv4.RxBadVersion++
		case wire.ErrBadHeaderLength:
			s.c.IPv4.RxBadHeaderLen++
		case wire.ErrBadLength:
			s.c.IPv4.RxBadTotalLen++
		case wire.ErrBadChecksum:
			s.c.IPv4.RxBadChecksum++
		default: // wire.ErrTruncated: the header, or the datagram?
			if _, herr := wire.ParseIPv4Header(b.Bytes()); herr == nil {
				s.c.IPv4.RxBadTotalLen++ // total length runs past the frame
			} else {
				s.c.IPv4.RxTruncated++
			}
		}
		freeBuf(b)
		return
	}
	_ = b.Trim(len(ip)) // drop Ethernet padding
	if s.tentative() && !looped {
		s.c.IPv4.RxTentative++ // the address is not ours (yet)
		freeBuf(b)
		return
	}
	src, dst := ip.Src(), ip.Dst()
	ours := s.cfg.Addr.Addr()
	// Martians (RFC 1812 5.3.7, Linux's martian checks): broadcast,
	// multicast, "this network" (0.0.0.0/8: netd is no DHCP server, so no
	// client's 0.0.0.0 is for it) and reserved (240.0.0.0/4) sources, and
	// from the wire our own or a loopback address (RFC 1122 3.2.1.3).
	if s.isBroadcast(src) || src.IsMulticast() || martianNet(src) || (!looped && (src == ours || src.IsLoopback())) {
		s.c.IPv4.RxBadSource++
		freeBuf(b)
		return
	}
	bcast := s.isBroadcast(dst)
	if !ours.IsValid() && !bcast && !looped && s.dhcpUnicast(ip) {
		s.c.IPv4.RxDHCPUnconfigured++ // taken: see configure.go
	} else if dst != ours && !bcast && !(looped && dst.IsLoopback()) {
		s.c.IPv4.RxNotForUs++
		freeBuf(b)
		return
	}
	if ip.IsFragment() {
		s.c.IPv4.RxFragments++
		s.fragmentInput(ip, bcast || l2bcast)
		freeBuf(b)
		return
	}
	hl := ip.HeaderLen()
	_, _ = b.Pull(hl)
	s.deliver(b, ip[:hl], b.Bytes(), bcast || l2bcast)
}

// martianNet reports sources no host may use: 0.0.0.0/8 and 240.0.0.0/4.
func martianNet(a netip.Addr) bool {
	b := a.As4()
	return b[0] == 0 || b[0] >= 240
}

// deliver hands a datagram to its protocol. hdr is its IPv4 header and
// payload what follows; both alias b if b is non-nil (deliver then owns b),
// or belong to a completed reassembly. bcast tells whether it was sent to a
// broadcast address at either layer.
func (s *Stack) deliver(b *skbuff.Buf, hdr wire.IPv4, payload []byte, bcast bool) {
	switch proto := hdr.Protocol(); proto {
	case wire.IPProtocolICMP:
		s.c.IPv4.RxDelivered++
		s.icmpInput(b, hdr, payload, bcast)
	case wire.IPProtocolUDP:
		s.c.IPv4.RxDelivered++
		s.udpInput(b, hdr, payload, bcast)
	default:
		h := s.protos[proto]
		if h == nil {
			s.c.IPv4.RxUnknownProtocol++
			s.icmpError(wire.ICMPv4DstUnreachable, wire.ICMPv4ProtoUnreachable, hdr, payload, bcast)
			freeBuf(b)
			return
		}
		s.c.IPv4.RxDelivered++
		s.pkt = IPPacket{
			Src: hdr.Src(), Dst: hdr.Dst(), Protocol: uint8(proto), TTL: hdr.TTL(), TOS: hdr.TOS(),
			Broadcast: bcast, Dev: s.cfg.Dev, MTU: s.cfg.MTU, Header: hdr.Header(), Payload: payload,
		}
		h.HandleIP(&s.pkt)
		s.pkt = IPPacket{}
		freeBuf(b)
	}
}

// fragmentInput adds a fragment to its reassembly and delivers the datagram
// when it is complete.
func (s *Stack) fragmentInput(ip wire.IPv4, bcast bool) {
	f := fragment{
		key:     reasmKey{src: ip.Src(), dst: ip.Dst(), id: ip.ID(), proto: uint8(ip.Protocol())},
		offset:  ip.FragmentOffset(),
		more:    ip.MoreFragments(),
		header:  ip.Header(),
		payload: ip.Payload(),
	}
	res, d, held := s.reasm.add(&f, s.clock.Now())
	s.c.IPv4.ReasmFragsDropped += uint64(held + s.reasm.evictedFrags)
	s.c.IPv4.ReasmEvicted += uint64(s.reasm.evicted)
	s.reasm.evicted, s.reasm.evictedFrags = 0, 0
	switch res {
	case reasmHeld:
		return
	case reasmDuplicate:
		s.c.IPv4.ReasmDuplicate++
	case reasmOverlap:
		s.c.IPv4.ReasmOverlap++
	case reasmTooBig:
		s.c.IPv4.ReasmTooBig++
	case reasmInconsistent:
		s.c.IPv4.ReasmInconsistent++
	case reasmBadFragment:
		s.c.IPv4.ReasmBadFragment++
	case reasmNoMemory:
		s.c.IPv4.ReasmNoMemory++
	case reasmComplete:
		s.c.IPv4.Reassembled++
		hdr := wire.IPv4(d.header[:d.headerLen])
		// Make the header describe the whole datagram.
		binary.BigEndian.PutUint16(hdr[2:4], uint16(d.headerLen+d.total))
		binary.BigEndian.PutUint16(hdr[6:8], 0)
		binary.BigEndian.PutUint16(hdr[10:12], 0)
		binary.BigEndian.PutUint16(hdr[10:12], ^wire.Checksum(hdr, 0))
		s.deliver(nil, hdr, d.data[:d.total], bcast)
	}
}

// reasmExpired counts a reassembly that timed out and, if its first fragment
// arrived, tells the sender (ICMP time exceeded, fragment reassembly time
// exceeded, as Linux does).
func (s *Stack) reasmExpired(d *reassembly) {
	s.c.IPv4.ReasmTimeout++
	s.c.IPv4.ReasmFragsDropped += uint64(d.frags)
	if d.headerLen == 0 {
		return
	}
	hdr := wire.IPv4(d.header[:d.headerLen])
	end := 0
	if len(d.have) > 0 && d.have[0].start == 0 {
		end = d.have[0].end
	}
	s.icmpError(wire.ICMPv4TimeExceeded, wire.ICMPv4ReassemblyExceeded, hdr, d.prefix(end), hdr.Dst() != s.cfg.Addr.Addr())
}

// route is where a datagram to dst goes.
type route struct {
	hop       netip.Addr // neighbour to resolve (dst or the gateway)
	broadcast bool       // send to the Ethernet broadcast address
	loopback  bool       // dst is our own address
}

// route finds the route to dst.
func (s *Stack) route(dst netip.Addr) (route, error) {
	switch {
	case !dst.Is4() || dst.IsUnspecified():
		return route{}, ErrInvalidAddr
	case s.isBroadcast(dst):
		return route{broadcast: true}, nil
	case dst == s.cfg.Addr.Addr() || dst.IsLoopback():
		return route{loopback: true}, nil
	case dst.IsMulticast():
		// No IGMP: multicast is sent as Ethernet broadcast.
		return route{broadcast: true}, nil
	case s.cfg.Addr.Contains(dst):
		return route{hop: dst}, nil
	case s.cfg.Gateway.IsValid():
		return route{hop: s.cfg.Gateway}, nil
	}
	return route{}, ErrNoRoute
}

// newSegment returns space for an n-byte transport segment (header and
// data): in a fresh packet buffer when the datagram fits the MTU, or in the
// stack's scratch buffer when it must be fragmented (b is then nil).
func (s *Stack) newSegment(n int) (b *skbuff.Buf, seg []byte, err error) {
	if wire.IPv4MinHeaderLen+n <= s.cfg.MTU {
		b = skbuff.Get()
		seg, err = b.Put(n)
		if err != nil {
			freeBuf(b)
			s.c.IPv4.TxNoBuffer++
			return nil, nil, ErrNoBuffer
		}
		return b, seg, nil
	}
	if n > maxIPv4Len-wire.IPv4MinHeaderLen {
		s.c.IPv4.TxTooBig++
		return nil, nil, ErrMessageTooLong
	}
	if s.scratch == nil {
		s.scratch = make([]byte, maxIPv4Len)
	}
	return nil, s.scratch[:n], nil
}

// sendSegment sends a transport segment built by newSegment to dst along rt,
// fragmenting it when b is nil. It takes ownership of b.
func (s *Stack) sendSegment(b *skbuff.Buf, seg []byte, dst netip.Addr, proto wire.IPProtocol, rt route) error {
	return s.sendSegmentOpts(b, seg, dst, proto, rt, ipOpts{})
}

// ipOpts are the header fields a protocol server may choose (SendDatagram).
type ipOpts struct {
	ttl uint8 // 0: DefaultTTL
	tos uint8
	df  bool // the caller checked that the datagram fits the MTU
}

// sendSegmentOpts is sendSegment with header options.
func (s *Stack) sendSegmentOpts(b *skbuff.Buf, seg []byte, dst netip.Addr, proto wire.IPProtocol, rt route, o ipOpts) error {
	if s.tentative() && !rt.loopback {
		s.c.IPv4.TxTentative++
		freeBuf(b)
		return ErrTentative
	}
	s.c.IPv4.TxPackets++
	src := s.SourceAddr(dst)
	ttl := o.ttl
	if ttl == 0 {
		ttl = DefaultTTL
	}
	r := wire.IPv4Repr{Src: src, Dst: dst, Protocol: proto, TTL: ttl, TOS: o.tos, DontFragment: o.df && b != nil,
		ID: s.ipID.next(src, dst, uint8(proto))}
	if b != nil {
		r.PayloadLen = len(seg)
		return s.sendPacket(b, &r, rt)
	}
	s.c.IPv4.TxFragmented++
	chunk := (s.cfg.MTU - wire.IPv4MinHeaderLen) &^ 7
	var firstErr error
	for off := 0; off < len(seg); off += chunk {
		end := min(off+chunk, len(seg))
		fb := skbuff.Get()
		if err := fb.Append(seg[off:end]); err != nil {
			freeBuf(fb)
			s.c.IPv4.TxNoBuffer++
			return ErrNoBuffer
		}
		r.FragmentOffset, r.MoreFragments, r.PayloadLen = off, end < len(seg), end-off
		s.c.IPv4.TxFragments++
		if err := s.sendPacket(fb, &r, rt); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// sendPacket prepends the IPv4 header r to b and sends it along rt.
func (s *Stack) sendPacket(b *skbuff.Buf, r *wire.IPv4Repr, rt route) error {
	h, err := b.Push(r.HeaderLen())
	if err != nil {
		freeBuf(b)
		s.c.IPv4.TxNoBuffer++
		return ErrNoBuffer
	}
	if err := r.Emit(h); err != nil {
		freeBuf(b)
		s.c.IPv4.TxTooBig++
		return err
	}
	switch {
	case rt.loopback:
		return s.loopback(b)
	case rt.broadcast:
		return s.sendFrame(b, wire.BroadcastMAC, wire.EtherTypeIPv4)
	}
	return s.resolveAndSend(b, rt.hop)
}

// SourceAddr returns the source address of datagrams the stack sends to dst:
// 127.0.0.1 for loopback destinations (127.0.0.0/8), else the interface
// address (0.0.0.0 while unconfigured).
func (s *Stack) SourceAddr(dst netip.Addr) netip.Addr {
	if dst.IsLoopback() {
		return localhost
	}
	if !s.cfg.Addr.IsValid() {
		return netip.IPv4Unspecified() // unconfigured: DHCP's 0.0.0.0 (configure.go)
	}
	return s.cfg.Addr.Addr()
}

var localhost = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// SendIP sends payload (a complete transport segment, checksummed by the
// caller against SourceAddr(dst)) to dst as IP protocol proto,
// fragmenting it if needed. It is how a protocol server registered with
// RegisterProtocol transmits.
func (s *Stack) SendIP(dst netip.Addr, proto uint8, payload []byte) error {
	defer s.runLoopback()
	rt, err := s.route(dst)
	if err != nil {
		s.c.IPv4.TxNoRoute++
		return opErr("sendip", netip.AddrPortFrom(dst, 0), err)
	}
	b, seg, err := s.newSegment(len(payload))
	if err != nil {
		return opErr("sendip", netip.AddrPortFrom(dst, 0), err)
	}
	copy(seg, payload)
	if err := s.sendSegment(b, seg, dst, wire.IPProtocol(proto), rt); err != nil {
		return opErr("sendip", netip.AddrPortFrom(dst, 0), err)
	}
	return nil
}

// loopback queues a datagram we sent to our own address; runLoopback
// delivers it once the current call into the stack is done (so an endpoint
// answering itself cannot recurse without bound). It takes ownership of b.
func (s *Stack) loopback(b *skbuff.Buf) error {
	if err := s.loopQ.Enqueue(b); err != nil {
		s.c.IPv4.TxLoopbackDrop++
		freeBuf(b)
		return ErrNoBuffer
	}
	s.c.IPv4.TxLoopback++
	return nil
}

// runLoopback delivers the looped datagrams queued so far. Every API entry
// point calls it on its way out. Datagrams queued while it runs (an endpoint
// answering itself) wait for the next call, which NextDeadline makes due at
// once, so a loop of replies cannot monopolise the owner's event loop.
func (s *Stack) runLoopback() {
	if s.inLoopback {
		return
	}
	s.inLoopback = true
	for n := s.loopQ.Len(); n > 0; n-- {
		s.ipInput(s.loopQ.Dequeue(), false, true)
	}
	s.inLoopback = false
}
