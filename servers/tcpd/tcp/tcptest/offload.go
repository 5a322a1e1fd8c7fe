package tcptest

import (
	"encoding/binary"
	"net/netip"

	ipwire "armos/servers/netd/wire"
)

// Cut cuts an offloaded segment (tcp.OffloadOutput) the way netd does:
// into segments of at most mss data bytes, the header (options too) on
// each with the sequence number advanced, CWR on the first piece only,
// PSH and FIN on the last only, each checksummed for src -> dst.
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
			p[13] &^= 0x01 | 0x08 // FIN, PSH
		}
		if off > 0 {
			p[13] &^= 0x80 // CWR
		}
		p[16], p[17] = 0, 0
		sum := ipwire.PseudoHeaderChecksum(ipwire.IPProtocolTCP, src, dst, uint16(len(p)))
		binary.BigEndian.PutUint16(p[16:], ^ipwire.Checksum(p, sum))
		out = append(out, p)
		if end >= data {
			return out
		}
	}
}

// SendOffloaded makes the Link a tcp.OffloadOutput: the segment is cut
// (Cut) and each piece sent as SendSegment sends one, faults and all.
// Stats.Offloaded counts the segments.
func (l *Link) SendOffloaded(src, dst netip.Addr, seg []byte, mss int) error {
	l.Stats.Offloaded++
	for _, p := range Cut(src, dst, seg, mss) {
		if err := l.SendSegment(src, dst, p); err != nil {
			return err
		}
	}
	return nil
}

// Offloaded is a segment a Recorder took through SendOffloaded: its MSS
// and its pieces, each recorded in Segs as SendSegment records one.
type Offloaded struct {
	MSS    int
	Pieces int
	Len    int // the segment's data bytes
}

// SendOffloaded makes the Recorder a tcp.OffloadOutput: the segment is
// noted in Offloads and its pieces (Cut) recorded in Segs.
func (r *Recorder) SendOffloaded(src, dst netip.Addr, seg []byte, mss int) error {
	pieces := Cut(src, dst, seg, mss)
	r.Offloads = append(r.Offloads, Offloaded{MSS: mss, Pieces: len(pieces), Len: len(seg) - int(seg[12]>>4)*4})
	for _, p := range pieces {
		if err := r.SendSegment(src, dst, p); err != nil {
			return err
		}
	}
	return nil
}
