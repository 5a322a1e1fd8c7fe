package tcptest

import (
	"fmt"
	"net/netip"

	"armos/servers/tcpd/tcp/wire"
)

// Sent is a segment an engine sent, parsed.
type Sent struct {
	Src, Dst netip.Addr
	Seg      wire.Segment // a copy
	Repr     wire.Repr
	Payload  []byte
}

// String formats the segment like tcpdump, with its payload length.
func (s Sent) String() string {
	return fmt.Sprintf("%v > %v: %v len %d", s.Src, s.Dst, s.Repr, len(s.Payload))
}

// Recorder is a tcp.Output that keeps every segment, for tests that play
// the peer: they inject segments with Stack.Input and read the answers
// here. A segment that does not parse or whose checksum is wrong is
// recorded with an empty Repr and Err set.
type Recorder struct {
	Segs     []Sent
	Offloads []Offloaded // segments taken through SendOffloaded (their pieces are in Segs)
	Err      error       // the first malformed segment's error
}

// SendSegment records seg.
func (r *Recorder) SendSegment(src, dst netip.Addr, seg []byte) error {
	b := append([]byte(nil), seg...)
	s, err := wire.Parse(b)
	if err == nil {
		err = s.VerifyChecksum(src, dst)
	}
	if err != nil {
		if r.Err == nil {
			r.Err = err
		}
		r.Segs = append(r.Segs, Sent{Src: src, Dst: dst})
		return nil
	}
	r.Segs = append(r.Segs, Sent{Src: src, Dst: dst, Seg: s, Repr: s.Repr(), Payload: s.Payload()})
	return nil
}

// Take returns the segments recorded since the last Take and forgets them.
func (r *Recorder) Take() []Sent {
	s := r.Segs
	r.Segs = nil
	return s
}

// Segment builds a segment from src to dst with header r (ports taken from
// the addresses) and payload, checksummed.
func Segment(src, dst netip.AddrPort, r wire.Repr, payload []byte) []byte {
	r.SrcPort, r.DstPort = src.Port(), dst.Port()
	b := make([]byte, r.HeaderLen()+len(payload))
	copy(b[r.HeaderLen():], payload)
	if err := r.Emit(b, src.Addr(), dst.Addr()); err != nil {
		panic(err)
	}
	return b
}
