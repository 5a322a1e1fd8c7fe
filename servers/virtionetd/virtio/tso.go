package virtio

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// TCP segmentation offload (spec 5.1.6.2: VIRTIO_NET_F_HOST_TSO4 with
// VIRTIO_NET_F_CSUM). netd hands the driver one Ethernet frame carrying
// an IPv4 TCP segment of up to MaxTSO bytes, its checksum field holding
// the pseudo-header sum (Linux's CHECKSUM_PARTIAL), and the payload size
// to cut it into; the driver puts the frame whole in one transmit
// descriptor behind a virtio-net header that asks the device to cut it
// and to complete every piece's checksum. The frame's bytes are not
// touched. (QEMU with a tap backend passes such a frame on to the host
// kernel whole, which is what makes a Linux guest's bulk transfers cheap.)
//
// Such a frame does not fit a 2 KiB transmit buffer. Rather than chain
// 33 of them, the driver keeps TSOSlots big buffers (slots), each one
// physically contiguous, and lends a free transmit descriptor to a slot
// while the device holds the frame: the descriptor names the slot until
// it is reclaimed, then its own buffer again. A reset gives every slot
// back (hold names the own buffers again).

const (
	// TSOSlots is how many big buffers there are (1 MiB of DMA memory,
	// allocated only when the device segments): the frames the device
	// holds, and the buffers lent out (LendSlot, LendShared) meanwhile.
	// They are one physically contiguous run, one shared-memory object
	// and one mapping, shared with netd whole.
	TSOSlots = 16
	// TSOSlotsSeparate is how many there are when no such run is free
	// (a fragmented memory, after a long run): each slot is then an
	// object and a mapping of its own, and a process has 15 mappings
	// (the queues and buffers take two; ten slots leave no room).
	TSOSlotsSeparate = 9
	// MaxTSO is the largest IPv4 datagram SendTSO takes: the same as
	// servers/netd/link.MaxTSO (an offloaded frame with its message's
	// envelope fits one 64 KiB IPC message), repeated here because this
	// package does not depend on netd.
	MaxTSO = 65000

	// tsoSlotSize is a slot: the virtio-net header and the frame in one
	// descriptor, physically contiguous. It holds either header, an
	// Ethernet header and a MaxTSO datagram.
	tsoSlotSize = 64 << 10

	ethHdrLen     = 14
	ethTypeIPv4   = 0x0800
	ipv4MinHdr    = 20
	ipProtoTCP    = 6
	tcpMinHdr     = 20
	tcpCsumOffset = 16   // the checksum field in the TCP header
	tcpFlagCWR    = 0x80 // in the TCP header's byte 13
)

// tsoSlots are the big transmit buffers of segmentation offload. A slot
// is free (in free), with the device (a transmit descriptor names it), or
// lent out (LendSlot: posted as an IPC receive buffer, say) until it
// comes back (ReturnSlot) or goes to the device with the frame it holds
// (SendTSOInSlot).
type tsoSlots struct {
	mem   []Mem     // slot i: tsoSlotSize bytes, contiguous
	bufs  [][]byte  // slot i's bytes (mem[i].Bytes(), kept)
	bases []uintptr // slot i's address here
	objs  []Mem     // the allocations: one holding every slot, or one per slot
	per   int       // slots per allocation
	free  []int     // the slots the driver holds
	lent  []int     // by transmit descriptor: 1 + the slot it names, 0 for its own buffer
	out   []bool    // by slot: lent out
	nout  int
	// by slot: lent to the peer's share (LendShared), and to which
	// peer (a number the driver chooses); nshared of them
	shared   []bool
	sharedTo []int
	nshared  int
}

// sliceMem is a part of an allocation: a slot of the contiguous run.
type sliceMem struct {
	m      Mem
	off, n int
}

func (m sliceMem) Bytes() []byte     { return m.m.Bytes()[m.off : m.off+m.n : m.off+m.n] }
func (m sliceMem) PA(off int) uint64 { return m.m.PA(m.off + off) }

// newTSOSlots allocates the slots for a transmit queue of descs
// descriptors, all free: TSOSlots in one contiguous run, or else
// TSOSlotsSeparate one by one.
func newTSOSlots(alloc Alloc, descs int) (*tsoSlots, error) {
	s := &tsoSlots{lent: make([]int, descs)}
	if run, err := alloc(TSOSlots*tsoSlotSize, true); err == nil {
		s.objs, s.per = []Mem{run}, TSOSlots
		for i := 0; i < TSOSlots; i++ {
			s.mem = append(s.mem, sliceMem{m: run, off: i * tsoSlotSize, n: tsoSlotSize})
		}
	} else {
		s.per = 1
		for i := 0; i < TSOSlotsSeparate; i++ {
			m, err := alloc(tsoSlotSize, true)
			if err != nil {
				return nil, fmt.Errorf("virtio: segmentation offload slot %d of %d (Config.NoOffload goes without): %w", i+1, TSOSlotsSeparate, err)
			}
			s.mem = append(s.mem, m)
			s.objs = append(s.objs, m)
		}
	}
	for _, m := range s.mem {
		b := m.Bytes()[:tsoSlotSize:tsoSlotSize]
		s.bufs = append(s.bufs, b)
		s.bases = append(s.bases, uintptr(unsafe.Pointer(&b[0])))
	}
	n := len(s.mem)
	s.out, s.shared, s.sharedTo = make([]bool, n), make([]bool, n), make([]int, n)
	s.reset()
	return s, nil
}

// reset makes every slot free and every descriptor name its own buffer
// again in the books (the device was reset: it holds nothing, and the
// transmit queue's hold rewrote the descriptors).
func (s *tsoSlots) reset() {
	s.free = s.free[:0]
	for i := len(s.mem) - 1; i >= 0; i-- {
		if !s.out[i] && !s.shared[i] { // a lent slot stays lent
			s.free = append(s.free, i)
		}
	}
	clear(s.lent)
}

// slotOf returns the slot b lies in (all of it) and b's offset there.
func (s *tsoSlots) slotOf(b []byte) (slot, off int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	p := uintptr(unsafe.Pointer(&b[0]))
	for i, base := range s.bases {
		if p >= base && p-base+uintptr(len(b)) <= tsoSlotSize {
			return i, int(p - base), true
		}
	}
	return 0, 0, false
}

// LendSlotsMax is how many slots LendSlot lends at most at once (a
// posting endpoint's two posted buffers and a spare): the rest stay for
// the device.
const LendSlotsMax = 3

// LendSlot lends a free offload slot out, whole (tsoSlotSize bytes), or
// returns nil when the device does not segment or LendSlotsMax are out
// already or none is free. virtionetd posts lent slots as the receive
// buffers of its channel from netd (libipc.PostSource), so that the
// kernel copies a frame message straight into device memory; the slot
// comes back with ReturnSlot, or goes to the device with the frame it
// holds (SendTSOInSlot).
func (n *NIC) LendSlot() []byte {
	s := n.tso
	if s == nil || s.nout >= LendSlotsMax {
		return nil
	}
	if len(s.free) == 0 {
		n.reclaim()
	}
	if len(s.free) == 0 {
		return nil
	}
	i := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	s.out[i] = true
	s.nout++
	return s.bufs[i]
}

// SlotOwns reports whether b lies in an offload slot.
func (n *NIC) SlotOwns(b []byte) bool {
	if n.tso == nil {
		return false
	}
	_, _, ok := n.tso.slotOf(b)
	return ok
}

// ReturnSlot takes back the lent slot b lies in (any part of it): free
// again. It reports false, changing nothing, when b lies in no slot lent
// out (not lent, or already given to the device).
func (n *NIC) ReturnSlot(b []byte) bool {
	s := n.tso
	if s == nil {
		return false
	}
	i, _, ok := s.slotOf(b)
	if !ok || !s.out[i] {
		return false
	}
	s.out[i] = false
	s.nout--
	s.free = append(s.free, i)
	return true
}

// SendTSOInSlot is SendTSO for a frame that lies in a lent slot (a frame
// message received into it), with at least the virtio-net header's room
// before it there: the header is written in front of the frame and the
// device reads both from where they lie, the slot with the device until
// it is done (then free). It reports false, doing nothing, when the frame
// does not lie so (send it with SendTSO); else SendTSO's errors, the slot
// then back with the driver (free).
func (n *NIC) SendTSOInSlot(frame []byte, mss int) (bool, error) {
	s := n.tso
	if s == nil {
		return false, nil
	}
	i, off, ok := s.slotOf(frame)
	if !ok || !s.out[i] || off < n.hdr {
		return false, nil
	}
	err := n.sendTSO(frame, mss, i, off)
	if err != nil {
		n.ReturnSlot(frame)
	}
	return true, err
}

// Slots lent to a peer's share (servers/netd/link.SlotShare). The driver
// hands its peer (netd) the slots' memory once (SlotMem) and lends it
// slots by number (LendShared); netd posts a lent slot as a receive
// buffer for a protocol server's segments, builds the frame in it, and
// gives it back by asking for the frame at an offset in it to be sent
// (SendShared): a segment goes from tcpd's message to the device with
// one copy, the kernel's into the slot. A slot comes back from the peer
// only that way or when the peer is gone (ReturnShared).

// SlotCount is how many offload slots there are (0 without the
// offload): their numbers are 0..SlotCount()-1.
func (n *NIC) SlotCount() int {
	if n.tso == nil {
		return 0
	}
	return len(n.tso.mem)
}

// SlotMem returns slot i's memory.
func (n *NIC) SlotMem(i int) Mem { return n.tso.mem[i] }

// SlotObjects returns the allocations the slots lie in, to share with
// the peer, and how many slots each holds (slot i is in allocation
// i/per, at (i%per)*SlotSize).
func (n *NIC) SlotObjects() (objs []Mem, per int) {
	if n.tso == nil {
		return nil, 0
	}
	return n.tso.objs, n.tso.per
}

// SlotSize is a slot's bytes.
const SlotSize = tsoSlotSize

// SharedReserve is how many free slots LendShared leaves with the driver:
// for the offloaded frames that come in netd's messages (SendTSO,
// SendTSOInSlot) while the peer holds its share.
const SharedReserve = 2

// LendShared lends free slots to peer until it holds max (reclaiming
// finished transmissions first when none is free) and returns the slots
// newly lent as a bit mask (bit i: slot i); 0 when none.
func (n *NIC) LendShared(peer, max int) uint64 {
	s := n.tso
	if s == nil || n.TSOMax() == 0 {
		return 0
	}
	if s.nshared < max && len(s.free) <= SharedReserve {
		n.reclaim()
	}
	var mask uint64
	for s.nshared < max && len(s.free) > SharedReserve {
		i := s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
		s.shared[i], s.sharedTo[i] = true, peer
		s.nshared++
		mask |= 1 << i
	}
	return mask
}

// Unlend takes back from peer the slots of mask that LendShared lent it
// (the peer was never told of them: the message lending them did not
// go): free again.
func (n *NIC) Unlend(peer int, mask uint64) {
	s := n.tso
	if s == nil {
		return
	}
	for i := range s.mem {
		if mask&(1<<i) != 0 && s.shared[i] && s.sharedTo[i] == peer {
			s.shared[i] = false
			s.nshared--
			s.free = append(s.free, i)
		}
	}
}

// ReturnShared takes back every slot lent to peer (it is gone): free.
func (n *NIC) ReturnShared(peer int) {
	n.Unlend(peer, ^uint64(0))
}

// SendShared sends the frame of length size at off in slot i, which peer
// holds (LendShared): with gso, as SendTSO from where it lies (the
// virtio-net header written in the room before it, the slot with the
// device until it is done); without, copied as Send does, the slot then
// free. The slot is the driver's again either way. Errors: ErrBadSlot
// (counted) when peer does not hold slot i or the frame does not lie in
// it behind the header's room, else SendTSO's or Send's.
func (n *NIC) SendShared(peer, i, off, size int, gso uint16) error {
	s := n.tso
	if s == nil || i < 0 || i >= len(s.mem) || !s.shared[i] || s.sharedTo[i] != peer {
		n.c.TxBadSlot++
		return ErrBadSlot
	}
	s.shared[i] = false
	s.nshared--
	if off < n.hdr || size <= 0 || off > tsoSlotSize || size > tsoSlotSize-off {
		s.free = append(s.free, i)
		n.c.TxBadSlot++
		return ErrBadSlot
	}
	frame := s.bufs[i][off : off+size]
	if gso == 0 {
		err := n.Send(frame)
		s.free = append(s.free, i)
		return err
	}
	n.c.TxShared++
	if err := n.sendTSO(frame, int(gso), i, off); err != nil {
		s.free = append(s.free, i)
		return err
	}
	return nil
}

// bytes is the DMA memory the slots take.
func (s *tsoSlots) bytes() int {
	n := 0
	for _, m := range s.objs {
		n += len(m.Bytes())
	}
	return n
}

// TSOMax is the largest IPv4 datagram (an Ethernet frame less its 14-byte
// header) SendTSO takes, or 0 when the device does not segment TCP (not
// offered, Config.NoOffload, or CSUM not offered with HOST_TSO4).
func (n *NIC) TSOMax() int {
	if n.tso == nil || n.t.feat&FeatureHostTSO4 == 0 {
		return 0
	}
	return min(MaxTSO, tsoSlotSize-n.hdr-ethHdrLen)
}

// SendTSO transmits one Ethernet frame carrying an IPv4 TCP segment for
// the device to cut into segments of at most mss payload bytes, each
// with its checksum completed. The frame is Ethernet (type 0x0800, no
// FCS), IPv4 (its total length the rest of the frame, not a fragment),
// TCP, with the TCP checksum field holding the pseudo-header sum over
// the whole TCP length, folded and not complemented; the driver does not
// change a byte of it. It is copied behind a virtio-net header into a
// free slot, which a free transmit descriptor names until the device is
// done with it; finished buffers are reclaimed first when no descriptor
// or slot is free. A segment whose payload fits mss goes as one frame
// whose checksum the device completes (GSO_NONE).
//
// Errors (each counted, nothing sent): ErrNoTSO when the device does not
// segment (TSOMax is 0); ErrBadOffload when the frame is not as above, mss
// is outside 1..65535, or a segment to cut has CWR set (the device did
// not offer VIRTIO_NET_F_HOST_ECN, which that needs: spec 5.1.6.2);
// ErrOversize when the datagram exceeds TSOMax; ErrRingFull when no
// descriptor or no slot is free after reclaiming.
func (n *NIC) SendTSO(frame []byte, mss int) error {
	return n.sendTSO(frame, mss, -1, 0)
}

// sendTSO is SendTSO's work: with slot -1 the frame is copied behind the
// header into a free slot; else it lies at off in slot, lent out, the
// header's room before it, and the slot goes to the device as it is.
func (n *NIC) sendTSO(frame []byte, mss, slot, off int) error {
	limit := n.TSOMax()
	if limit == 0 {
		n.c.TxBadOffload++
		return ErrNoTSO
	}
	h, ok := parseTSO(frame, mss)
	if !ok {
		n.c.TxBadOffload++
		return ErrBadOffload
	}
	if len(frame)-ethHdrLen > limit {
		n.c.TxOversize++
		return ErrOversize
	}
	if slot < 0 && len(frame) <= BufSize-n.hdr {
		// It fits a transmit buffer of its own: no slot needed (the
		// slots may all be out, lent or with the device).
		if err := n.sendInBuf(frame, h); err != nil {
			return err
		}
		n.countTSO(len(frame))
		return nil
	}
	if len(n.tx.free) == 0 || (slot < 0 && len(n.tso.free) == 0) {
		n.reclaim()
	}
	if len(n.tx.free) == 0 {
		n.c.TxRingFull++
		return ErrRingFull
	}
	if slot < 0 {
		if len(n.tso.free) == 0 {
			n.c.TxTSOSlotsFull++
			return ErrRingFull
		}
		slot, off = n.tso.free[len(n.tso.free)-1], n.hdr
		n.tso.free = n.tso.free[:len(n.tso.free)-1]
		copy(n.tso.bufs[slot][off:], frame)
	} else {
		if n.tso.out[slot] {
			n.tso.out[slot] = false
			n.tso.nout--
		}
		n.c.TxInSlot++
	}
	id, _, _ := n.tx.get()
	n.tso.lent[id] = slot + 1
	m := n.tso.mem[slot]
	h.put(m.Bytes()[off-n.hdr : off])
	n.tx.setDesc(id, m.PA(off-n.hdr), uint32(n.hdr+len(frame)), 0)
	n.tx.offer(id)
	n.t.kick(n.tx.queue)
	n.countTSO(len(frame))
	return nil
}

// countTSO counts an offloaded frame of size bytes sent.
func (n *NIC) countTSO(size int) {
	n.c.TxFrames++
	n.c.TxBytes += uint64(size)
	n.c.TxTSOFrames++
	n.c.TxTSOBytes += uint64(size)
}

// txDone is called for each transmit descriptor reclaimed: one lent to
// a slot names its own buffer again, and the slot is free.
func (n *NIC) txDone(id uint16) {
	if n.tso == nil || n.tso.lent[id] == 0 {
		return
	}
	n.tso.free = append(n.tso.free, n.tso.lent[id]-1)
	n.tso.lent[id] = 0
	n.tx.setDesc(id, n.tx.bufPA(id), 0, 0)
}

// netHdr is a transmit virtio-net header's fields (spec 5.1.6).
type netHdr struct {
	flags, gsoType                         uint8
	hdrLen, gsoSize, csumStart, csumOffset uint16
}

// put writes h into b, the header's bytes (10 or 12: num_buffers, in
// the modern header, is zero).
func (h netHdr) put(b []byte) {
	clear(b)
	b[hdrFlags] = h.flags
	b[hdrGSOType] = h.gsoType
	le.PutUint16(b[hdrHdrLen:], h.hdrLen)
	le.PutUint16(b[hdrGSOSize:], h.gsoSize)
	le.PutUint16(b[hdrCsumStart:], h.csumStart)
	le.PutUint16(b[hdrCsumOffset:], h.csumOffset)
}

// parseTSO checks frame and mss for SendTSO (see there) and returns the
// header that offloads it: the device completes the TCP checksum (from
// the TCP header to the end, stored at its checksum field) and, when the
// payload exceeds mss, cuts the segment (GSO_TCPV4, hdr_len the three
// headers). A segment not cut carries no gso_size, as Linux's driver
// sends it.
func parseTSO(frame []byte, mss int) (netHdr, bool) {
	be := binary.BigEndian
	if mss < 1 || mss > 0xffff || len(frame) < ethHdrLen+ipv4MinHdr || be.Uint16(frame[12:]) != ethTypeIPv4 {
		return netHdr{}, false
	}
	ip := frame[ethHdrLen:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < ipv4MinHdr || int(be.Uint16(ip[2:])) != len(ip) ||
		be.Uint16(ip[6:])&0x3fff != 0 || ip[9] != ipProtoTCP || ihl+tcpMinHdr > len(ip) {
		return netHdr{}, false
	}
	tcp := ip[ihl:]
	thl := int(tcp[12]>>4) * 4
	if thl < tcpMinHdr || thl > len(tcp) {
		return netHdr{}, false
	}
	h := netHdr{flags: hdrNeedsCsum, gsoType: gsoNone, hdrLen: uint16(ethHdrLen + ihl + thl),
		csumStart: uint16(ethHdrLen + ihl), csumOffset: tcpCsumOffset}
	if len(tcp)-thl > mss {
		if tcp[13]&tcpFlagCWR != 0 {
			return netHdr{}, false
		}
		h.gsoType, h.gsoSize = gsoTCPv4, uint16(mss)
	}
	return h, true
}
