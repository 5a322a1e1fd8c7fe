package tcptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	ipwire "armos/servers/netd/wire"
	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/wire"
)

// CheckOffloaded reports how seg, handed to SendOffloaded with mss,
// breaks the tcp.OffloadOutput contract, or nil: a TCP header that
// parses (its checksum aside), no SYN, RST or URG (they never go on a
// segment to cut), a payload longer than mss, and at most
// wire.MaxSegmentLen bytes in all.
func CheckOffloaded(seg []byte, mss int) error {
	if len(seg) < wire.HeaderLen {
		return errors.New("offloaded segment shorter than a TCP header")
	}
	thl := int(seg[12]>>4) * 4
	switch {
	case thl < wire.HeaderLen || thl > len(seg):
		return fmt.Errorf("offloaded segment: data offset %d of %d bytes", thl, len(seg))
	case len(seg) > wire.MaxSegmentLen:
		return fmt.Errorf("offloaded segment of %d bytes, more than %d", len(seg), wire.MaxSegmentLen)
	case mss <= 0 || len(seg)-thl <= mss:
		return fmt.Errorf("offloaded segment of %d data bytes for mss %d: not more than one MSS", len(seg)-thl, mss)
	case wire.Flags(seg[13])&(wire.FlagSYN|wire.FlagRST|wire.FlagURG) != 0:
		return fmt.Errorf("offloaded segment with flags %v", wire.Flags(seg[13]))
	}
	return nil
}

// Cut cuts an offloaded segment (tcp.OffloadOutput) the way netd does:
// into segments of at most mss data bytes, the header (options too) on
// each with the sequence number advanced, CWR on the first piece only,
// PSH and FIN on the last only, each checksummed for src -> dst. seg must
// pass CheckOffloaded.
func Cut(src, dst netip.Addr, seg []byte, mss int) [][]byte {
	thl := int(seg[12]>>4) * 4
	data := len(seg) - thl
	sq := binary.BigEndian.Uint32(seg[4:])
	var out [][]byte
	for off := 0; ; off += mss {
		end := min(off+mss, data)
		p := make([]byte, thl+end-off)
		copy(p, seg[:thl])
		copy(p[thl:], seg[thl+off:thl+end])
		binary.BigEndian.PutUint32(p[4:], sq+uint32(off))
		if end < data {
			p[13] &^= byte(wire.FlagFIN | wire.FlagPSH)
		}
		if off > 0 {
			p[13] &^= byte(wire.FlagCWR)
		}
		checksum(src, dst, p)
		out = append(out, p)
		if end >= data {
			return out
		}
	}
}

// checksum fills in seg's TCP checksum for src -> dst.
func checksum(src, dst netip.Addr, seg []byte) {
	seg[16], seg[17] = 0, 0
	sum := ipwire.PseudoHeaderChecksum(ipwire.IPProtocolTCP, src, dst, uint16(len(seg)))
	binary.BigEndian.PutUint16(seg[16:], ^ipwire.Checksum(seg, sum))
}

// SendOffloaded makes the Link a tcp.OffloadOutput: the segment is cut
// (Cut) and each piece sent as SendSegment sends one, faults and all —
// or, with Coalesce, sent whole with its checksum filled in. Stats.Offloaded
// counts the segments. It panics when the engine breaks the contract
// (CheckOffloaded): that is a bug, and the retransmissions an error
// would bring could hide it.
func (l *Link) SendOffloaded(src, dst netip.Addr, seg []byte, mss int) error {
	if err := CheckOffloaded(seg, mss); err != nil {
		panic(err)
	}
	l.Stats.Offloaded++
	if l.Coalesce {
		p := append([]byte(nil), seg...)
		checksum(src, dst, p)
		return l.SendSegment(src, dst, p)
	}
	for _, p := range Cut(src, dst, seg, mss) {
		if err := l.SendSegment(src, dst, p); err != nil {
			return err
		}
	}
	return nil
}

// plainOutput hides the Link's SendOffloaded: an Output that is not an
// OffloadOutput (Link.Plain).
type plainOutput struct{ l *Link }

func (o plainOutput) SendSegment(src, dst netip.Addr, seg []byte) error {
	return o.l.SendSegment(src, dst, seg)
}

// output is what NewStack gives an engine: the Link, or with Plain one
// that cannot take offloaded segments.
func (l *Link) output() tcp.Output {
	if l.Plain {
		return plainOutput{l}
	}
	return l
}

// Offloaded is a segment a Recorder took through SendOffloaded: its
// header's sequence number, flags and checksum field as the engine
// handed it over, the MSS and its pieces, each recorded in Segs as
// SendSegment records one.
type Offloaded struct {
	Seq    uint32
	Flags  wire.Flags
	Sum    uint16 // the checksum field (the engine need not fill it in)
	MSS    int
	Pieces int
	Len    int // the segment's data bytes
}

// SendOffloaded makes the Recorder a tcp.OffloadOutput: the segment is
// noted in Offloads and its pieces (Cut) recorded in Segs. A segment
// that breaks the contract (CheckOffloaded) sets Err and is dropped.
func (r *Recorder) SendOffloaded(src, dst netip.Addr, seg []byte, mss int) error {
	if err := CheckOffloaded(seg, mss); err != nil {
		if r.Err == nil {
			r.Err = err
		}
		return nil
	}
	pieces := Cut(src, dst, seg, mss)
	r.Offloads = append(r.Offloads, Offloaded{
		Seq: binary.BigEndian.Uint32(seg[4:]), Flags: wire.Flags(seg[13]), Sum: binary.BigEndian.Uint16(seg[16:]),
		MSS: mss, Pieces: len(pieces), Len: len(seg) - int(seg[12]>>4)*4,
	})
	for _, p := range pieces {
		if err := r.SendSegment(src, dst, p); err != nil {
			return err
		}
	}
	return nil
}
