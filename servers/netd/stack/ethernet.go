package stack

import (
	"armos/libipc/skbuff"
	"armos/servers/netd/wire"
)

// Input processes one received Ethernet frame: b.Bytes() starts with the
// Ethernet header (no FCS). Input takes ownership of b: the stack frees it,
// or keeps it on a UDP endpoint's receive queue until it is dequeued. Every
// frame is counted, and every frame that is not delivered is counted under
// its drop reason. Malformed input never panics.
func (s *Stack) Input(b *skbuff.Buf) {
	if b == nil {
		s.c.Link.RxNilBuffer++
		return
	}
	defer s.runLoopback()
	s.c.Link.RxFrames++
	s.c.Link.RxBytes += uint64(b.Len())
	_ = b.Mark(skbuff.LinkLayer)
	eth, err := wire.ParseEthernet(b.Bytes())
	if err != nil {
		s.c.Link.RxTruncated++
		freeBuf(b)
		return
	}
	dst, src := eth.Dst(), eth.Src()
	switch {
	case dst != s.cfg.MAC && !dst.IsBroadcast():
		s.c.Link.RxNotForUs++
		freeBuf(b)
		return
	case src == s.cfg.MAC:
		s.c.Link.RxOwnSource++
		freeBuf(b)
		return
	}
	typ := eth.Type()
	_, _ = b.Pull(wire.EthernetHeaderLen)
	switch typ {
	case wire.EtherTypeARP:
		s.arpInput(b)
	case wire.EtherTypeIPv4:
		s.ipInput(b, dst.IsBroadcast(), false)
	default:
		s.c.Link.RxUnknownType++
		freeBuf(b)
	}
}

// sendFrame prepends an Ethernet header to b (which holds an ARP or IPv4
// packet), pads it to the minimum frame size and transmits it. It takes
// ownership of b.
func (s *Stack) sendFrame(b *skbuff.Buf, dst MAC, typ wire.EtherType) error {
	h, err := b.Push(wire.EthernetHeaderLen)
	if err != nil {
		s.c.Link.TxHeaderOverflow++
		freeBuf(b)
		return ErrNoBuffer
	}
	_ = wire.EthernetRepr{Dst: dst, Src: s.cfg.MAC, Type: typ}.Emit(h)
	if short := wire.EthernetMinFrameLen - b.Len(); short > 0 {
		_, _ = b.Put(short) // Put zeroes the padding
	}
	b.Dev = s.cfg.Dev
	n := b.Len()
	if err := s.link.Transmit(b); err != nil {
		s.c.Link.TxErrors++
		return err
	}
	s.c.Link.TxFrames++
	s.c.Link.TxBytes += uint64(n)
	return nil
}
