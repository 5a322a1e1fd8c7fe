package skbuff

import "errors"

// MaxPacketSize is the storage size of every Buf a Pool hands out with Get
// (the handbook's MAX_PACKET_SIZE). It holds a 1514-byte Ethernet frame plus
// DefaultHeadroom with room to spare. A view (Pool.View) has the size of
// the storage it was given.
const MaxPacketSize = 2048

// DefaultHeadroom is the headroom a Buf from Get starts with. It covers the
// largest header stack netd prepends to a UDP datagram:
//
//	virtio-net header   12
//	Ethernet II         14 (+4 for an 802.1Q tag)
//	IPv4 with options   60 (IHL = 15)
//	UDP                  8
//	                    98 -> rounded up to 128 to keep the payload aligned.
const DefaultHeadroom = 128

// DevID names a network device (an interface index). Zero is "no device".
type DevID uint16

// Layer names a protocol layer whose header start can be marked in a Buf.
type Layer uint8

// The layers a Buf can mark.
const (
	LinkLayer Layer = iota
	NetworkLayer
	TransportLayer
	numLayers
)

// String returns the layer's name.
func (l Layer) String() string {
	switch l {
	case LinkLayer:
		return "link"
	case NetworkLayer:
		return "network"
	case TransportLayer:
		return "transport"
	}
	return "layer?"
}

// Errors returned by Buf operations. They are sentinel values: compare with
// errors.Is (or ==); returning them allocates nothing.
var (
	ErrNoHeadroom = errors.New("skbuff: not enough headroom")
	ErrNoTailroom = errors.New("skbuff: not enough tailroom")
	ErrShort      = errors.New("skbuff: fewer bytes in buffer than requested")
	ErrNegative   = errors.New("skbuff: negative length")
	ErrNotEmpty   = errors.New("skbuff: reserve on a non-empty buffer")
	ErrFreed      = errors.New("skbuff: use of a freed buffer")
	ErrNoMark     = errors.New("skbuff: layer not marked")
	ErrBadLayer   = errors.New("skbuff: unknown layer")
)

// noMark is the stored value of an unset layer mark.
const noMark = -1

// Buf is a packet buffer: a view of storage it does not own, with a window
// of valid bytes [data, tail) inside it (see the package documentation for
// the layout). The storage is a pool's (Get: MaxPacketSize bytes carved from
// the pool's slabs) or someone else's (Pool.View: a device's DMA buffer, an
// IPC message or shared-memory region), given back to its Owner when the
// Buf is freed.
//
// The zero Buf is usable: it is empty with zero headroom (call Reserve first if
// headers will be pushed), and gets MaxPacketSize bytes of storage of its own
// when first written. Buffers meant for the packet path come from Get.
// A Buf is not safe for concurrent use; it has exactly one owner at a time.
// Do not copy a Buf by value (go vet's copylocks check reports it): pass *Buf,
// and declare IPC message fields as *Buf (msgpack refuses a Buf by value).
type Buf struct {
	_ noCopy

	// Dev is the device the packet arrived on (receive) or leaves through
	// (transmit). Zero means unspecified.
	Dev DevID

	// GSOSize, when not zero, says the packet is an Ethernet frame
	// carrying one IPv4 TCP segment larger than the link's MTU, which the
	// device (or the software fallback) cuts into segments of at most
	// GSOSize payload bytes (TCP segmentation offload; Linux's
	// skb_shinfo gso_size). Its TCP checksum field holds the
	// pseudo-header sum (folded, not complemented) for the whole
	// segment's length, to be completed per segment.
	GSOSize uint16

	data, tail int
	// mark[l] is the storage offset where layer l's header starts, or
	// noMark. Stored +1 so that the zero value means "unset".
	mark [numLayers]int

	pool   *Pool // owning pool, nil if not pooled
	owner  Owner // the storage's owner for a view (nil: the pool's or the GC's)
	free   bool  // on its pool's free list (or dropped by it)
	queued bool  // linked into a Queue
	next   *Buf  // Queue link

	storage []byte // the bytes this Buf is a view of; nil until first used
}

// store returns the storage, giving a zero Buf MaxPacketSize bytes of its
// own on first use.
func (b *Buf) store() []byte {
	if b.storage == nil {
		b.storage = make([]byte, MaxPacketSize)
	}
	return b.storage
}

// Cap is the size of b's storage: headroom + Len + tailroom.
func (b *Buf) Cap() int {
	if b.storage == nil {
		return MaxPacketSize
	}
	return len(b.storage)
}

// Reset empties b and gives it n bytes of headroom, clearing Dev and the layer
// marks. n outside [0, MaxPacketSize] is ErrNoTailroom / ErrNegative.
func (b *Buf) Reset(n int) error {
	if b.free {
		return ErrFreed
	}
	if n < 0 {
		return ErrNegative
	}
	if n > b.Cap() {
		return ErrNoTailroom
	}
	b.Dev, b.GSOSize = 0, 0
	b.data, b.tail = n, n
	b.mark = [numLayers]int{}
	return nil
}

// Reserve sets the headroom of an empty buffer to n bytes (data = tail = n).
// It returns ErrNotEmpty if b holds data, since moving the window would
// silently change the packet.
func (b *Buf) Reserve(n int) error {
	if b.free {
		return ErrFreed
	}
	if b.tail != b.data {
		return ErrNotEmpty
	}
	if n < 0 {
		return ErrNegative
	}
	if n > b.Cap() {
		return ErrNoTailroom
	}
	b.data, b.tail = n, n
	return nil
}

// Push prepends n bytes to the packet and returns them (zeroed) for the caller
// to write a header into. The returned slice has capacity n, so writing past
// it cannot reach the rest of the packet.
func (b *Buf) Push(n int) ([]byte, error) {
	if b.free {
		return nil, ErrFreed
	}
	if n < 0 {
		return nil, ErrNegative
	}
	if n > b.data {
		return nil, ErrNoHeadroom
	}
	b.data -= n
	h := b.store()[b.data : b.data+n : b.data+n]
	clear(h)
	return h, nil
}

// Pull consumes n bytes from the front of the packet (a header that has been
// parsed) and returns them. The bytes stay in storage, so a Mark taken before
// the Pull still finds them.
func (b *Buf) Pull(n int) ([]byte, error) {
	if b.free {
		return nil, ErrFreed
	}
	if n < 0 {
		return nil, ErrNegative
	}
	if n > b.tail-b.data {
		return nil, ErrShort
	}
	h := b.store()[b.data : b.data+n : b.data+n]
	b.data += n
	return h, nil
}

// Put appends n bytes to the packet and returns them (zeroed) for the caller to
// fill. The returned slice has capacity n.
func (b *Buf) Put(n int) ([]byte, error) {
	p, err := b.grow(n)
	clear(p)
	return p, err
}

// grow is Put without the zeroing: for a caller that writes every byte.
func (b *Buf) grow(n int) ([]byte, error) {
	if b.free {
		return nil, ErrFreed
	}
	if n < 0 {
		return nil, ErrNegative
	}
	if n > b.Cap()-b.tail {
		return nil, ErrNoTailroom
	}
	p := b.store()[b.tail : b.tail+n : b.tail+n]
	b.tail += n
	return p, nil
}

// Append copies p to the end of the packet. On ErrNoTailroom nothing is
// copied. (The room is not zeroed first: p covers it. An offloaded
// segment of 63 KB cost netd a clear and a copy of it.)
func (b *Buf) Append(p []byte) error {
	dst, err := b.grow(len(p))
	if err != nil {
		return err
	}
	copy(dst, p)
	return nil
}

// Trim shortens the packet to n bytes, dropping bytes at the end (for example
// Ethernet padding once the IPv4 total length is known). n greater than Len is
// ErrShort: Trim never grows a packet.
func (b *Buf) Trim(n int) error {
	if b.free {
		return ErrFreed
	}
	if n < 0 {
		return ErrNegative
	}
	if n > b.tail-b.data {
		return ErrShort
	}
	b.tail = b.data + n
	return nil
}

// Bytes returns the packet's valid bytes [data, tail). The slice aliases the
// buffer: it is valid until the next Push, Reset, Reserve or Free. Its capacity
// is its length. A freed Buf returns nil.
func (b *Buf) Bytes() []byte {
	if b.free {
		return nil
	}
	return b.store()[b.data:b.tail:b.tail]
}

// Len returns the number of valid bytes in the packet.
func (b *Buf) Len() int { return b.tail - b.data }

// Headroom returns the number of bytes that can still be pushed.
func (b *Buf) Headroom() int { return b.data }

// Tailroom returns the number of bytes that can still be put.
func (b *Buf) Tailroom() int { return b.Cap() - b.tail }

// Mark records that layer l's header starts at the current front of the
// packet. Call it just before parsing (receive) or just after pushing (send)
// that header.
func (b *Buf) Mark(l Layer) error {
	if b.free {
		return ErrFreed
	}
	if l >= numLayers {
		return ErrBadLayer
	}
	b.mark[l] = b.data + 1
	return nil
}

// Unmark clears layer l's mark.
func (b *Buf) Unmark(l Layer) error {
	if l >= numLayers {
		return ErrBadLayer
	}
	b.mark[l] = 0
	return nil
}

// Offset returns where layer l's header starts, relative to the current front
// of the packet: negative if the header has already been pulled. ok is false if
// l is not marked (or not a layer).
func (b *Buf) Offset(l Layer) (off int, ok bool) {
	if l >= numLayers || b.mark[l] == 0 {
		return 0, false
	}
	return b.mark[l] - 1 - b.data, true
}

// Header returns the bytes from layer l's mark to the end of the packet: that
// layer's header followed by everything it carries. It works after the header
// has been pulled. ErrNoMark if l is unmarked, ErrShort if the mark lies past
// the end of the packet (after a Trim).
func (b *Buf) Header(l Layer) ([]byte, error) {
	if b.free {
		return nil, ErrFreed
	}
	if l >= numLayers {
		return nil, ErrBadLayer
	}
	m := b.mark[l] - 1
	if m < 0 {
		return nil, ErrNoMark
	}
	if m > b.tail {
		return nil, ErrShort
	}
	return b.store()[m:b.tail:b.tail], nil
}

// CopyFrom makes b a copy of src: the same bytes at the same offsets, the same
// Dev and marks. Only the valid bytes are copied (plus any marked headers
// before them), not the whole storage. ErrNoTailroom if src's bytes reach
// past b's storage (src is a larger view).
func (b *Buf) CopyFrom(src *Buf) error {
	if b.free || src.free {
		return ErrFreed
	}
	if src.tail > b.Cap() {
		return ErrNoTailroom
	}
	lo := src.lowest()
	copy(b.store()[lo:src.tail], src.store()[lo:src.tail])
	b.Dev, b.GSOSize = src.Dev, src.GSOSize
	b.data, b.tail = src.data, src.tail
	b.mark = src.mark
	return nil
}

// Clone returns a copy of b (see CopyFrom) in a new buffer from b's pool, or
// from Default if b is not pooled. A view whose bytes reach past
// MaxPacketSize is copied into storage of its size, which the clone owns.
func (b *Buf) Clone() (*Buf, error) {
	if b.free {
		return nil, ErrFreed
	}
	p := b.pool
	if p == nil {
		p = Default
	}
	var c *Buf
	if b.tail > MaxPacketSize {
		c, _ = p.View(make([]byte, b.Cap()), 0, nil) // cannot fail: headroom 0
	} else {
		c = p.Get()
	}
	_ = c.CopyFrom(b) // cannot fail: neither is free, and c is large enough
	return c, nil
}

// noCopy makes go vet's copylocks check report copies of a Buf.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// lowest returns the lowest storage offset that holds meaningful bytes: data,
// or an earlier layer mark.
func (b *Buf) lowest() int {
	lo := b.data
	for _, m := range b.mark {
		if m != 0 && m-1 < lo {
			lo = m - 1
		}
	}
	return lo
}
