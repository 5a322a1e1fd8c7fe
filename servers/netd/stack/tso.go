package stack

import (
	"encoding/binary"
	"sync"

	"armos/libipc/skbuff"
	"armos/servers/netd/wire"
)

// TCP segmentation offload. A protocol server (tcpd) hands netd one TCP
// segment carrying many MSS of data (Datagram.TSO is the MSS). When the
// link's device segments TCP itself (SetTSOMax, from the driver's
// link.LinkInfo), netd sends the segment as one frame with
// skbuff.Buf.GSOSize set and the TCP checksum field holding the
// pseudo-header sum (the device completes each piece's); otherwise netd
// cuts it here, each piece a complete segment with its own checksum.
// Either way a bulk transfer costs the protocol server and the IPC
// between it and netd one message per up to 64 KB instead of one per MSS
// (Linux's GSO: segment as late as possible).
//
// The pieces: the header is copied to each, the sequence number advanced
// by the data before it; PSH and FIN stay on the last piece only (CWR on
// the first only), as RFC 9293 and Linux's tcp_gso_segment have it.

// MaxTSOSegment is the largest offloaded TCP segment (header and data) the
// stack takes: its frame, with the Ethernet header and the frame message's
// envelope, fits one 64 KiB IPC message to the driver (link.MaxTSO less
// the IPv4 header).
const MaxTSOSegment = 65000 - wire.IPv4MinHeaderLen

// MaxTSOPieces bounds the segments one offload request is cut into: a
// 64 KB segment at Linux's smallest send MSS (48) is 1,354, so a server
// honouring any peer's MSS stays within it, and a broken one cannot make
// netd emit 65,000 one-byte segments for one message.
const MaxTSOPieces = 2048

// tcpFlagFIN, tcpFlagPSH and tcpFlagCWR are the TCP flags a cut segment
// keeps on one piece only.
const (
	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
)

// SetTSOMax sets the largest IPv4 datagram the link's device segments
// itself (0: none; netd then cuts offloaded segments). Safe to call from
// any goroutine (a NIC driver's description arrives on the link's).
func (s *Stack) SetTSOMax(n int) { s.tsoMax.Store(int64(n)) }

// TSOMax is what SetTSOMax set.
func (s *Stack) TSOMax() int { return int(s.tsoMax.Load()) }

// sendTSO sends d, a TCP segment to cut into d.TSO-byte pieces, along rt.
func (s *Stack) sendTSO(d *Datagram, rt route) error {
	seg := d.Payload
	if d.Protocol != 6 || len(seg) < 20 || len(seg) > MaxTSOSegment {
		s.c.IPv4.TxTSOBad++
		return ErrBadOffload
	}
	thl := int(seg[12]>>4) * 4
	if thl < 20 || thl > len(seg) || d.TSO < 1 || d.TSO > s.cfg.MTU || wire.IPv4MinHeaderLen+thl+d.TSO > s.cfg.MTU ||
		(len(seg)-thl+d.TSO-1)/d.TSO > MaxTSOPieces {
		s.c.IPv4.TxTSOBad++
		return ErrBadOffload
	}
	data := len(seg) - thl
	src := s.SourceAddr(d.Dst)
	o := ipOpts{ttl: d.TTL, tos: d.TOS, df: true}
	// The device cuts what has no CWR (virtio 5.1.6.2: CWR needs the ECN
	// feature, which virtionetd does not ask for); netd cuts the rest.
	if data > d.TSO && seg[13]&tcpFlagCWR == 0 && !rt.loopback && !rt.broadcast && wire.IPv4MinHeaderLen+len(seg) <= s.TSOMax() {
		b := d.Buf
		if b != nil && b.Headroom() >= InPlaceHeadroom && len(b.Bytes()) == len(seg) && &b.Bytes()[0] == &seg[0] {
			d.Buf = nil // sent from where it lies: the frame is built around it
			s.c.IPv4.TxInPlace++
		} else {
			b = getBigBuf()
			if err := b.Append(seg); err != nil {
				freeBuf(b)
				s.c.IPv4.TxNoBuffer++
				return ErrNoBuffer
			}
		}
		p := b.Bytes()
		binary.BigEndian.PutUint16(p[16:], wire.PseudoHeaderChecksum(wire.IPProtocolTCP, src, d.Dst, uint16(len(seg))))
		b.GSOSize = uint16(d.TSO)
		s.c.IPv4.TxTSO++
		return s.sendSegmentOpts(b, p, d.Dst, wire.IPProtocolTCP, rt, o)
	}
	if data > d.TSO {
		s.c.IPv4.TxTSOSoftware++
	}
	hdr := seg[:thl]
	flags := hdr[13]
	sq := binary.BigEndian.Uint32(hdr[4:])
	var firstErr error
	for off := 0; off < data || off == 0; off += d.TSO {
		end := min(off+d.TSO, data)
		b := skbuff.Get()
		if b.Append(hdr) != nil || b.Append(seg[thl+off:thl+end]) != nil {
			freeBuf(b)
			s.c.IPv4.TxNoBuffer++
			return ErrNoBuffer
		}
		p := b.Bytes()
		binary.BigEndian.PutUint32(p[4:], sq+uint32(off))
		f := flags
		if end < data {
			f &^= tcpFlagFIN | tcpFlagPSH
		}
		if off > 0 {
			f &^= tcpFlagCWR
		}
		p[13] = f
		p[16], p[17] = 0, 0
		binary.BigEndian.PutUint16(p[16:], ^wire.Checksum(p, wire.PseudoHeaderChecksum(wire.IPProtocolTCP, src, d.Dst, uint16(len(p)))))
		if data > d.TSO {
			s.c.IPv4.TxTSOPieces++
		}
		if err := s.sendSegmentOpts(b, p, d.Dst, wire.IPProtocolTCP, rt, o); err != nil && firstErr == nil {
			firstErr = err
		}
		if end == data {
			break
		}
	}
	return firstErr
}

// bigStorage is the storage of an offloaded frame's buffer: the largest
// segment, its IPv4 and Ethernet headers, and the pool's usual headroom.
const bigStorage = skbuff.DefaultHeadroom + MaxTSOSegment + wire.IPv4MaxHeaderLen + wire.EthernetHeaderLen

// bigFree keeps a few big storages for reuse (bounded: a frame waiting
// for ARP holds one; more than bigFreeMax idle ones go to the GC).
var (
	bigMu   sync.Mutex
	bigFree [][]byte
)

const bigFreeMax = 8

type bigOwner struct{}

// Release takes a big storage back.
func (bigOwner) Release(storage []byte) {
	bigMu.Lock()
	if len(bigFree) < bigFreeMax {
		bigFree = append(bigFree, storage)
	}
	bigMu.Unlock()
}

// getBigBuf returns an empty buffer over a big storage.
func getBigBuf() *skbuff.Buf {
	bigMu.Lock()
	var st []byte
	if n := len(bigFree); n > 0 {
		st = bigFree[n-1]
		bigFree = bigFree[:n-1]
	}
	bigMu.Unlock()
	if st == nil {
		st = make([]byte, bigStorage)
	}
	b, _ := skbuff.Default.View(st, skbuff.DefaultHeadroom, bigOwner{})
	return b
}
