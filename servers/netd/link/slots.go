package link

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"armos/libipc"
	"armos/libipc/mpread"
	"armos/libipc/mpwrite"
)

// Transmit slots shared by a NIC driver with netd. A driver whose device
// segments TCP keeps big transmit buffers (slots, 64 KiB of device memory
// each). It shares their memory with netd once per connection (OpSlots:
// one shared-memory descriptor per slot) and then lends slots by number
// (OpLend). netd posts the slots it holds as the receive buffers of its
// protocol servers' channels (a SlotShare is a libipc.PostSource), so the
// kernel copies tcpd's segment straight into device memory; netd builds
// the frame around it there and, instead of sending the frame, asks the
// driver to send it from where it lies (OpTxSlot). The slot is the
// driver's again from that message on; the driver lends it again once the
// device is done with it. A downloaded byte is then copied once between
// tcpd and the device, where it was copied twice.
//
// Ownership is strict: netd writes a slot only while it is lent to it, and
// the driver hands a slot to the device only after netd gave it back (or
// is gone: its end of the channel closed, which happens when it dies, and
// the kernel writes no buffer a dead process posted).

const (
	// OpSlots (driver → netd, one-way): SlotsMsg, carrying the
	// shared-memory objects of slots First.. as caps (at most
	// libipc.MaxCaps per message).
	OpSlots libipc.Op = 3
	// OpLend (driver → netd, one-way): the slots of a bit mask are netd's.
	OpLend libipc.Op = 4
	// OpTxSlot (netd → driver, one-way): send the frame at an offset in a
	// slot netd holds; the slot is the driver's again.
	OpTxSlot libipc.Op = 5
)

// MaxSlots bounds the slots of a share (bit numbers of a lend mask).
const MaxSlots = 16

// SlotHeadroom is the room netd leaves in a slot before a frame it asks
// the driver to send from there: the driver writes its device header
// (virtio-net's is 10 or 12 bytes) into it.
const SlotHeadroom = 16

// SlotsMsg is OpSlots' body.
type SlotsMsg struct {
	First int `msgpack:"first"` // the number of the first cap's first slot
	Size  int `msgpack:"size"`  // every slot's bytes
	Per   int `msgpack:"per"`   // slots per cap, one after another (0: 1)
}

// TxSlot is OpTxSlot's body: the frame at Off (Len bytes) in slot Slot,
// with its GSO size (0: one frame, no segmentation).
type TxSlot struct {
	Slot, Off, Len int
	GSO            uint16
}

// appendTxSlot appends t's message: the header and a msgpack array of
// four unsigned integers.
func appendTxSlot(b []byte, t TxSlot) []byte {
	b = libipc.AppendHeader(b, libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway, Op: OpTxSlot})
	b = mpwrite.ArrayHeader(b, 4)
	b = mpwrite.Uint(b, uint64(t.Slot))
	b = mpwrite.Uint(b, uint64(t.Off))
	b = mpwrite.Uint(b, uint64(t.Len))
	return mpwrite.Uint(b, uint64(t.GSO))
}

// ParseTxSlot reads OpTxSlot's body; false when it is not four unsigned
// integers in range (a slot below MaxSlots, offset and length within a
// message, a GSO size of 16 bits) and nothing after them.
func ParseTxSlot(body []byte) (TxSlot, bool) {
	n, p, ok := mpread.ArrayHeader(body)
	if !ok || n != 4 {
		return TxSlot{}, false
	}
	var v [4]uint64
	for i := range v {
		if v[i], p, ok = mpread.Uint(p); !ok {
			return TxSlot{}, false
		}
	}
	if len(p) != 0 || v[0] >= MaxSlots || v[1] > libipc.MaxMessageSize || v[2] > libipc.MaxMessageSize || v[3] > 0xffff {
		return TxSlot{}, false
	}
	return TxSlot{Slot: int(v[0]), Off: int(v[1]), Len: int(v[2]), GSO: uint16(v[3])}, true
}

// appendLend appends OpLend's message for mask.
func appendLend(b []byte, mask uint64) []byte {
	b = libipc.AppendHeader(b, libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway, Op: OpLend})
	return mpwrite.Uint(b, mask)
}

// parseLend reads OpLend's body: one unsigned integer, a mask of slots
// below MaxSlots.
func parseLend(body []byte) (uint64, bool) {
	m, rest, ok := mpread.Uint(body)
	if !ok || len(rest) != 0 || m>>MaxSlots != 0 {
		return 0, false
	}
	return m, true
}

// SendSlots shares slots first..first+len(caps)*per-1 with the peer (a
// driver's side): caps are the shared-memory objects they lie in, per
// slots of size bytes each, moved (at most libipc.MaxCaps).
func (c *Chan) SendSlots(first, size, per int, caps []libipc.Cap) error {
	msg, err := libipc.AppendMessage(nil, libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway, Op: OpSlots},
		&SlotsMsg{First: first, Size: size, Per: per})
	if err != nil {
		return fmt.Errorf("link: encode slots: %w", err)
	}
	if err := c.ep.TrySend(libipc.Message{Data: msg, Caps: caps}); err != nil {
		return fmt.Errorf("link: send slots: %w", err)
	}
	return nil
}

// SendLend lends the slots of mask to the peer (a driver's side). When it
// fails the peer holds none of them.
func (c *Chan) SendLend(mask uint64) error {
	var b [24]byte
	if err := c.ep.TrySend(libipc.Message{Data: appendLend(b[:0], mask)}); err != nil {
		return fmt.Errorf("link: lend slots: %w", err)
	}
	return nil
}

// OnTxSlot sets the function called, on the reader's goroutine (inside
// ReadBuf or ReadFrameInPlace), with each OpTxSlot the peer sends (a
// driver's side). Without one they are counted as malformed.
func (c *Chan) OnTxSlot(fn func(TxSlot)) { c.onTxSlot = fn }

// UseShare makes the link take the slots a driver shares into share
// (OpSlots, mapped with mapSlot: a slot's cap and size to its memory;
// OpLend) and send a frame that lies in one of share's slots with
// OpTxSlot instead of copying it (netd's side). Call it before the first
// read.
func (c *Chan) UseShare(share *SlotShare, mapSlot func(cap libipc.Cap, size int) ([]byte, error)) {
	c.share, c.mapSlot = share, mapSlot
}

// takeSlotMsg handles the slot messages in next: true when m was one
// (then handled: its caps taken or closed).
func (c *Chan) takeSlotMsg(h libipc.Header, body []byte, caps []libipc.Cap) bool {
	switch {
	case h.Op == OpSlots && c.share != nil:
		var sm SlotsMsg
		if err := libipc.DecodeBody(body, &sm); err != nil || c.share.add(sm.First, sm.Size, max(sm.Per, 1), caps, c.mapSlot) != nil {
			c.rxBad.Add(1)
		}
	case h.Op == OpLend && c.share != nil:
		mask, ok := parseLend(body)
		if !ok {
			c.rxBad.Add(1)
		} else {
			c.share.lend(mask)
		}
	case h.Op == OpTxSlot && c.onTxSlot != nil:
		t, ok := ParseTxSlot(body)
		if !ok {
			c.rxBad.Add(1)
		} else {
			c.onTxSlot(t)
		}
	default:
		return false
	}
	for _, h := range caps {
		h.Close() // closed or already taken (then ErrClosed)
	}
	return true
}

// sendInSlot sends frame b with OpTxSlot when it lies in a slot of the
// share that netd holds, with the driver's header room before it; false
// when it does not (send it as usual).
func (c *Chan) sendInSlot(frame []byte, gso uint16) bool {
	if len(frame) == 0 {
		return false
	}
	t, ok := c.share.take(frame)
	if !ok {
		return false
	}
	t.GSO = gso
	var b [48]byte
	if err := c.ep.TrySend(libipc.Message{Data: appendTxSlot(b[:0], t)}); err != nil {
		// The driver never got it: still netd's, and the frame goes
		// the usual way (which counts a full queue or a gone peer).
		c.share.untake(t.Slot)
		return false
	}
	c.tx.Add(1)
	return true
}

// SlotShare is netd's side of a driver's shared slots: which it holds
// (lent, not yet sent), which are in use (posted as a receive buffer, or
// holding a segment), and which of those are free to post. It is a
// libipc.PostSource for the channels of protocol servers
// (KernelEndpoint.SetPostSourceMixed). A slot is posted only while netd
// holds it and nothing uses it; a driver that restarts shares new slots,
// and the old ones stay mapped until nothing uses them.
type SlotShare struct {
	mu    sync.Mutex
	cur   []*sharedSlot // this connection's, by number
	old   []*sharedSlot // an earlier connection's, still in use
	free  []int         // numbers of cur's slots held and unused
	unmap func([]byte)
	// lo and hi bound every slot's address (cur and old, and some
	// unmapped since): Owns answers most buffers without the lock
	lo, hi atomic.Uintptr

	lent, sent, posted, badLends, mapErrs, retired, noRoom, missedBig atomic.Uint64
}

// sharedSlot is one slot as netd sees it.
type sharedSlot struct {
	mem  []byte
	base uintptr
	m    *slotMapping
	ours bool // lent to netd and not sent back
	used bool // handed out (PostBuf) and not yet put back
}

// slotMapping is one mapped object and how many of its slots are still
// the share's.
type slotMapping struct {
	mem  []byte
	live int
}

// NewSlotShare returns an empty share; unmap lets go of a slot's memory
// once no connection's slot uses it (nil: nothing to do).
func NewSlotShare(unmap func([]byte)) *SlotShare { return &SlotShare{unmap: unmap} }

// SlotShareStats counts what a share did.
type SlotShareStats struct {
	Slots    int    // slots of the current connection
	Held     int    // of those, lent to netd now
	Lent     uint64 // slots lent (OpLend)
	Sent     uint64 // frames sent from a slot (OpTxSlot)
	Posted   uint64 // slots handed out to post
	BadLends uint64 // lends of a slot netd held already, or of no slot
	MapErrs  uint64 // slots shared that could not be mapped (the share is then left unused)
	Retired  uint64 // slots of an earlier connection let go
	NoRoom   uint64 // frames in a slot without the driver's header room before them (sent the usual way)
	Missed   uint64 // large frames (over 16 KiB) not in a slot netd holds while it shares slots (sent the usual way)
}

// Stats returns the share's counters.
func (s *SlotShare) Stats() SlotShareStats {
	s.mu.Lock()
	st := SlotShareStats{Slots: len(s.cur)}
	for _, x := range s.cur {
		if x.ours {
			st.Held++
		}
	}
	s.mu.Unlock()
	st.Lent, st.Sent, st.Posted, st.BadLends = s.lent.Load(), s.sent.Load(), s.posted.Load(), s.badLends.Load()
	st.MapErrs, st.Retired, st.NoRoom, st.Missed = s.mapErrs.Load(), s.retired.Load(), s.noRoom.Load(), s.missedBig.Load()
	return st
}

// add maps the slots first.. of the current connection from caps, per
// slots of size bytes in each.
func (s *SlotShare) add(first, size, per int, caps []libipc.Cap, mapSlot func(libipc.Cap, int) ([]byte, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if first != len(s.cur) || per < 1 || per > MaxSlots || first+len(caps)*per > MaxSlots || size <= 0 || size > libipc.MaxMessageSize || mapSlot == nil {
		s.mapErrs.Add(uint64(len(caps)))
		return fmt.Errorf("link: slots %d.. (%d per object) of %d bytes after %d: %w", first, per, size, len(s.cur), ErrBadSlots)
	}
	for _, h := range caps {
		mem, err := mapSlot(h, size*per)
		if err != nil || len(mem) < size*per {
			s.mapErrs.Add(1)
			// The numbers after it cannot be added either: the
			// share stops at the slots mapped so far.
			return fmt.Errorf("link: mapping slots from %d: %w", len(s.cur), err)
		}
		m := &slotMapping{mem: mem, live: per}
		for k := range per {
			b := mem[k*size : (k+1)*size : (k+1)*size]
			x := &sharedSlot{mem: b, base: uintptr(unsafe.Pointer(&b[0])), m: m}
			s.cur = append(s.cur, x)
			s.widen(x)
		}
	}
	return nil
}

// widen makes lo and hi take in slot x (under mu).
func (s *SlotShare) widen(x *sharedSlot) {
	if lo := s.lo.Load(); lo == 0 || x.base < lo {
		s.lo.Store(x.base)
	}
	if end := x.base + uintptr(len(x.mem)); end > s.hi.Load() {
		s.hi.Store(end)
	}
}

// lend makes the slots of mask netd's.
func (s *SlotShare) lend(mask uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; mask != 0 && i < MaxSlots; i, mask = i+1, mask>>1 {
		if mask&1 == 0 {
			continue
		}
		if i >= len(s.cur) || s.cur[i].ours {
			s.badLends.Add(1)
			continue
		}
		x := s.cur[i]
		x.ours = true
		s.lent.Add(1)
		if !x.used {
			s.free = append(s.free, i)
		}
	}
}

// Retire lets go of the current connection's slots (the driver is gone):
// none is posted again, and each is unmapped once nothing uses it.
func (s *SlotShare) Retire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.cur {
		x.ours = false
		if x.used {
			s.old = append(s.old, x)
		} else {
			s.drop(x)
		}
	}
	s.cur, s.free = nil, s.free[:0]
}

// drop lets go of a slot nothing uses any more, and of its mapping with
// its last slot (under mu).
func (s *SlotShare) drop(x *sharedSlot) {
	s.retired.Add(1)
	x.m.live--
	if x.m.live == 0 && s.unmap != nil {
		s.unmap(x.m.mem)
	}
}

// find returns the slot b lies in (from its start), its number in cur
// (-1: an old one), and b's offset in it (under mu).
func (s *SlotShare) find(b []byte) (x *sharedSlot, num, off int) {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for i, y := range s.cur {
		if p >= y.base && p-y.base+uintptr(len(b)) <= uintptr(len(y.mem)) {
			return y, i, int(p - y.base)
		}
	}
	for _, y := range s.old {
		if p >= y.base && p-y.base+uintptr(len(b)) <= uintptr(len(y.mem)) {
			return y, -1, int(p - y.base)
		}
	}
	return nil, 0, 0
}

// PostBuf implements libipc.PostSource: a slot netd holds that nothing
// uses, whole, or nil.
func (s *SlotShare) PostBuf() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) == 0 {
		return nil
	}
	i := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	x := s.cur[i]
	x.used = true
	s.posted.Add(1)
	return x.mem
}

// PutBuf implements libipc.PostSource: the slot b lies in is unused again
// (free to post if netd still holds it; unmapped if its connection is
// gone).
func (s *SlotShare) PutBuf(b []byte) {
	if len(b) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x, num, _ := s.find(b[:1])
	if x == nil || !x.used {
		return
	}
	x.used = false
	switch {
	case num < 0:
		for i, y := range s.old {
			if y == x {
				s.old = append(s.old[:i], s.old[i+1:]...)
				break
			}
		}
		s.drop(x)
	case x.ours:
		s.free = append(s.free, num)
	}
}

// Owns implements libipc.PostSource: whether b starts in one of the
// share's slots.
func (s *SlotShare) Owns(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(&b[0]))
	if p < s.lo.Load() || p >= s.hi.Load() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x, _, _ := s.find(b[:1])
	return x != nil
}

// take gives the slot frame lies in back to the driver for sending: it
// must be a slot of the current connection that netd holds and uses,
// with SlotHeadroom before the frame. The slot stays in use (its buffer
// is put back as usual) but is the driver's.
func (s *SlotShare) take(frame []byte) (TxSlot, bool) {
	p := uintptr(unsafe.Pointer(&frame[0]))
	if p < s.lo.Load() || p >= s.hi.Load() {
		s.missed(frame)
		return TxSlot{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x, num, off := s.find(frame)
	if x == nil || num < 0 || !x.ours || !x.used {
		s.missed(frame)
		return TxSlot{}, false
	}
	if off < SlotHeadroom {
		s.noRoom.Add(1)
		return TxSlot{}, false
	}
	x.ours = false
	s.sent.Add(1)
	return TxSlot{Slot: num, Off: off, Len: len(frame)}, true
}

// missed counts a large frame (an offloaded segment's) that does not lie
// in a slot netd holds: it goes the usual way, copied again.
func (s *SlotShare) missed(frame []byte) {
	if len(frame) > missedAbove {
		s.missedBig.Add(1)
	}
}

// missedAbove is the frame size from which a frame sent the usual way is
// counted as a miss: larger than any frame an MTU allows.
const missedAbove = 16 << 10

// untake undoes take: the message giving slot num back did not go.
func (s *SlotShare) untake(num int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if num < len(s.cur) && !s.cur[num].ours {
		s.cur[num].ours = true
		s.sent.Add(^uint64(0))
		if !s.cur[num].used {
			s.free = append(s.free, num)
		}
	}
}
