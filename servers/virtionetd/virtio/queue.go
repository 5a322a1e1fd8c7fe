package virtio

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

var le = binary.LittleEndian

// queueLayout returns where the parts of a split virtqueue of size
// entries sit in its memory (spec 2.7): the descriptor table at 0, the
// available ring after it, the used ring on the next page boundary (the
// legacy interface's QueueAlign is a page), and the bytes it takes.
func queueLayout(size int) (availOff, usedOff, total int) {
	availOff = 16 * size
	usedOff = roundUp(availOff+6+2*size, pageSize)
	total = roundUp(usedOff+6+8*size, pageSize)
	return
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }

// queue is one split virtqueue. Descriptor i names buffer i of the
// queue's buffer area, so a used entry's id is the buffer's index (the
// network device's transmit queue lends a descriptor to a big
// segmentation-offload slot for one use: tso.go).
type queue struct {
	index    uint32 // the device's queue number
	size     uint16
	mem      []byte // desc, avail, used (queueLayout)
	pa       uint64 // device address of mem[0] (contiguous)
	availOff int
	usedOff  int

	availIdx uint16 // the next available index this driver publishes
	lastUsed uint16 // the used index consumed so far
	inflight []bool // by descriptor id: given to the device
	busy     int    // how many are
}

func newQueue(index uint32, size int, mem []byte, pa uint64) *queue {
	a, u, _ := queueLayout(size)
	return &queue{index: index, size: uint16(size), mem: mem, pa: pa, availOff: a, usedOff: u, inflight: make([]bool, size)}
}

// reset forgets every buffer and clears the rings (the device was reset).
func (q *queue) reset() {
	clear(q.mem)
	clear(q.inflight)
	q.availIdx, q.lastUsed, q.busy = 0, 0, 0
}

// setDesc writes descriptor id.
func (q *queue) setDesc(id uint16, addr uint64, length uint32, flags uint16) {
	d := q.mem[16*int(id):]
	le.PutUint64(d[0:], addr)
	le.PutUint32(d[8:], length)
	le.PutUint16(d[12:], flags)
	le.PutUint16(d[14:], 0)
}

// setLen changes descriptor id's length.
func (q *queue) setLen(id uint16, length uint32) { le.PutUint32(q.mem[16*int(id)+8:], length) }

// offer puts descriptor id in the available ring (not yet published).
func (q *queue) offer(id uint16) {
	le.PutUint16(q.mem[q.availOff+4+2*int(q.availIdx%q.size):], id)
	q.availIdx++
	q.inflight[id] = true
	q.busy++
}

// word returns the 32-bit word at off of the queue's memory, for atomic
// access (off is 4-aligned; mem is page-aligned).
func (q *queue) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&q.mem[off])) }

// publish makes the offered descriptors visible to the device: one
// release store of the available ring's flags and index.
func (q *queue) publish() { atomic.StoreUint32(q.word(q.availOff), uint32(q.availIdx)<<16) }

// usedIdx is the device's used index (an acquire load: the entries
// before it are written).
func (q *queue) usedIdx() uint16 { return uint16(atomic.LoadUint32(q.word(q.usedOff)) >> 16) }

// wantsNotify reports whether the device asks to be notified.
func (q *queue) wantsNotify() bool { return atomic.LoadUint32(q.word(q.usedOff))&usedNoNote == 0 }

// usedEntry returns used ring entry n.
func (q *queue) usedEntry(n uint16) (id, length uint32) {
	e := q.mem[q.usedOff+4+8*int(n%q.size):]
	return le.Uint32(e[0:]), le.Uint32(e[4:])
}

// fault is a broken rule of the device's side of a queue.
type fault int

const (
	faultNone  fault = iota
	faultIndex       // the used index ran ahead of what was given
	faultID          // a used entry names a descriptor not given
	faultLen         // a used entry's length exceeds its buffer
)

// pending checks the used index and returns how many entries are new;
// faultIndex when the device claims more than it holds.
func (q *queue) pending() (int, fault) {
	n := int(q.usedIdx() - q.lastUsed)
	if n > q.busy {
		return 0, faultIndex
	}
	return n, faultNone
}

// take consumes the next used entry, checking it against a buffer of
// capacity bytes: the descriptor id and the length it reports.
func (q *queue) take(capacity uint32) (uint16, uint32, fault) {
	id, length := q.usedEntry(q.lastUsed)
	if id >= uint32(q.size) || !q.inflight[id] {
		return 0, 0, faultID
	}
	if length > capacity {
		return 0, 0, faultLen
	}
	q.lastUsed++
	q.inflight[id] = false
	q.busy--
	return uint16(id), length, faultNone
}

// bufQueue is a queue with its own buffers: descriptor i names buffer
// i, bufSize bytes at base of mem (a buffer never straddles a page, so
// mem need not be contiguous), unless its user points it elsewhere for
// one use and back (setDesc, bufPA) when it is reclaimed. A receive queue offers every
// buffer (fill) and gives each back after use (recycle); a transmit
// queue keeps the buffers the device does not hold on a free stack
// (hold, get, put, reclaim).
type bufQueue struct {
	*queue
	mem     Mem
	base    int
	bufSize int
	free    []uint16 // transmit: buffers the driver holds
}

func newBufQueue(q *queue, mem Mem, base, bufSize int) *bufQueue {
	return &bufQueue{queue: q, mem: mem, base: base, bufSize: bufSize}
}

// buf returns buffer id.
func (b *bufQueue) buf(id uint16) []byte {
	off := b.base + int(id)*b.bufSize
	return b.mem.Bytes()[off : off+b.bufSize]
}

// bufPA is buffer id's device address.
func (b *bufQueue) bufPA(id uint16) uint64 { return b.mem.PA(b.base + int(id)*b.bufSize) }

// fill, for a receive queue after a reset: every descriptor names its
// buffer, device-writable, and is offered (published by the caller).
func (b *bufQueue) fill() {
	for i := 0; i < int(b.size); i++ {
		b.setDesc(uint16(i), b.bufPA(uint16(i)), uint32(b.bufSize), descWrite)
		b.offer(uint16(i))
	}
}

// hold, for a transmit queue after a reset: every descriptor names its
// buffer, device-readable, and every buffer is free.
func (b *bufQueue) hold() {
	b.free = b.free[:0]
	for i := 0; i < int(b.size); i++ {
		b.setDesc(uint16(i), b.bufPA(uint16(i)), 0, 0)
		b.free = append(b.free, uint16(int(b.size)-1-i))
	}
}

// get takes a free buffer; ok false when the device holds them all.
func (b *bufQueue) get() (id uint16, buf []byte, ok bool) {
	if len(b.free) == 0 {
		return 0, nil, false
	}
	id = b.free[len(b.free)-1]
	b.free = b.free[:len(b.free)-1]
	return id, b.buf(id), true
}

// put offers buffer id (from get) holding n bytes; the caller publishes.
func (b *bufQueue) put(id uint16, n int) {
	b.setLen(id, uint32(n))
	b.offer(id)
}

// reclaim takes back the transmit buffers the device is done with (a
// transmit entry's length means nothing), stopping at a fault. done, when
// not nil, is called with each descriptor taken back, before it is free.
func (b *bufQueue) reclaim(done func(id uint16)) fault {
	k, f := b.pending()
	for ; f == faultNone && k > 0; k-- {
		var id uint16
		id, _, f = b.take(^uint32(0))
		if f == faultNone {
			if done != nil {
				done(id)
			}
			b.free = append(b.free, id)
		}
	}
	return f
}

// recycle hands every buffer the device filled to fn (its id and the
// length the device wrote, checked against the buffer), offers it again
// at once and, when any was, publishes and notifies through t: the ring
// stays full. It stops at a fault, which it returns (the caller resets
// the device, so nothing is published).
func (b *bufQueue) recycle(t *transport, fn func(id uint16, length uint32)) fault {
	k, f := b.pending()
	offered := false
	for ; f == faultNone && k > 0; k-- {
		var id uint16
		var length uint32
		if id, length, f = b.take(uint32(b.bufSize)); f == faultNone {
			fn(id, length)
			b.offer(id)
			offered = true
		}
	}
	if f == faultNone && offered {
		t.kick(b.queue)
	}
	return f
}
