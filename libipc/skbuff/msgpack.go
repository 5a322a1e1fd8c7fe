package skbuff

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"armos/libipc/mpwrite"
)

// Decoding errors. Errors from the underlying msgpack reader (truncated input)
// are wrapped and also match ErrDecode.
var (
	// ErrDecode is the class of every DecodeMsgpack failure.
	ErrDecode = errors.New("skbuff: bad encoded buffer")
	// ErrOversize means the encoded bytes do not fit in MaxPacketSize.
	ErrOversize = fmt.Errorf("%w: bytes exceed MaxPacketSize", ErrDecode)
	// ErrBadOffset means an encoded offset lies outside the storage or
	// outside the transmitted bytes.
	ErrBadOffset = fmt.Errorf("%w: offset out of range", ErrDecode)
	// ErrBadFormat means the msgpack structure is not the one EncodeMsgpack
	// writes (wrong element count, wrong types, nil where a value belongs).
	ErrBadFormat = fmt.Errorf("%w: malformed", ErrDecode)
)

// encodedFields is the number of elements in an encoded Buf; one with a
// GSOSize has one more, last.
const encodedFields = 7

var (
	_ msgpack.CustomEncoder = (*Buf)(nil)
	_ msgpack.CustomDecoder = (*Buf)(nil)
)

// EncodeMsgpack writes b as a msgpack array of 7 elements:
//
//	[0] dev        uint   Dev
//	[1] start      uint   storage offset of the first transmitted byte
//	[2] data       uint   storage offset of the packet's front (Bytes()[0])
//	[3] link       int    LinkLayer mark as a storage offset, -1 if unset
//	[4] network    int    NetworkLayer mark, -1 if unset
//	[5] transport  int    TransportLayer mark, -1 if unset
//	[6] bytes      bin    storage[start:tail]
//	[7] gso        uint   GSOSize, present only when not zero
//
// start is data, or the lowest layer mark if a marked header has already been
// pulled, so the receiver can still reach it. Keeping absolute offsets means
// the receiver gets the same headroom and can push headers in place. A mark
// that lies beyond the end of the packet (after a Trim) is sent as unset.
func (b *Buf) EncodeMsgpack(enc *msgpack.Encoder) error {
	if b.free {
		return ErrFreed
	}
	start := b.lowest()
	n := encodedFields
	if b.GSOSize != 0 {
		n++
	}
	if err := enc.EncodeArrayLen(n); err != nil {
		return err
	}
	if err := enc.EncodeUint(uint64(b.Dev)); err != nil {
		return err
	}
	if err := enc.EncodeUint(uint64(start)); err != nil {
		return err
	}
	if err := enc.EncodeUint(uint64(b.data)); err != nil {
		return err
	}
	for _, m := range b.mark {
		v := int64(m - 1)
		if m == 0 || m-1 > b.tail {
			v = -1
		}
		if err := enc.EncodeInt(v); err != nil {
			return err
		}
	}
	if err := enc.EncodeBytes(b.store()[start:b.tail]); err != nil {
		return err
	}
	if b.GSOSize != 0 {
		return enc.EncodeUint(uint64(b.GSOSize))
	}
	return nil
}

// DecodeMsgpack replaces b's contents with an encoded Buf (see EncodeMsgpack).
// It is strict: anything EncodeMsgpack would not have written is an error
// matching ErrDecode, and b is left empty (DefaultHeadroom, Dev 0) in that
// case. Decoding into a freed Buf is ErrFreed.
//
// A msgpack nil is handled by the msgpack library before DecodeMsgpack is
// called: it zeroes the target Buf, which leaves an empty Buf that no longer
// belongs to its pool (Free then returns ErrNotPooled and the GC reclaims it).
// Decode only into a Buf you own that is not in a Queue.
func (b *Buf) DecodeMsgpack(dec *msgpack.Decoder) error {
	if b.free {
		return ErrFreed
	}
	if err := b.decode(dec); err != nil {
		_ = b.Reset(DefaultHeadroom)
		return err
	}
	return nil
}

func (b *Buf) decode(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return wrapDecode(err)
	}
	if n != encodedFields && n != encodedFields+1 {
		return ErrBadFormat
	}
	dev, err := decodeInt(dec, 0, 1<<16-1)
	if err != nil {
		return err
	}
	capacity := b.Cap()
	start, err := decodeInt(dec, 0, capacity)
	if err != nil {
		return err
	}
	data, err := decodeInt(dec, 0, capacity)
	if err != nil {
		return err
	}
	var marks [numLayers]int
	for i := range marks {
		m, err := decodeInt(dec, -1, capacity)
		if err != nil {
			return err
		}
		marks[i] = m
	}
	if c, err := dec.PeekCode(); err != nil {
		return wrapDecode(err)
	} else if c != msgpcode.Bin8 && c != msgpcode.Bin16 && c != msgpcode.Bin32 {
		return ErrBadFormat
	}
	size, err := dec.DecodeBytesLen()
	if err != nil {
		return wrapDecode(err)
	}
	if size > capacity-start {
		return ErrOversize
	}
	tail := start + size
	if data < start || data > tail {
		return ErrBadOffset
	}
	for _, m := range marks {
		if m != -1 && (m < start || m > tail) {
			return ErrBadOffset
		}
	}
	if err := dec.ReadFull(b.store()[start:tail]); err != nil {
		return wrapDecode(err)
	}
	gso := 0
	if n == encodedFields+1 {
		if gso, err = decodeInt(dec, 1, 1<<16-1); err != nil {
			return err
		}
	}
	b.Dev, b.GSOSize = DevID(dev), uint16(gso)
	b.data, b.tail = data, tail
	for i, m := range marks {
		b.mark[i] = m + 1
	}
	return nil
}

// decodeInt reads one integer and checks lo <= v <= hi. Nil and non-integers
// are ErrBadFormat.
func decodeInt(dec *msgpack.Decoder, lo, hi int) (int, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return 0, wrapDecode(err)
	}
	if !msgpcode.IsFixedNum(c) && (c < msgpcode.Uint8 || c > msgpcode.Int64) {
		return 0, ErrBadFormat
	}
	v, err := dec.DecodeInt64()
	if err != nil {
		return 0, wrapDecode(err)
	}
	if v < int64(lo) || v > int64(hi) {
		return 0, ErrBadOffset
	}
	return int(v), nil
}

func wrapDecode(err error) error {
	return fmt.Errorf("%w: %w", ErrDecode, err)
}

// maxEncodedPrefix bounds what EncodeInPlace writes before the packet's
// bytes, after head: the array header, three uints, three ints and the
// bin header, each at most 9 bytes.
const maxEncodedPrefix = 1 + 3*9 + 3*9 + 5

// EncodeInPlace encodes b as EncodeMsgpack does, after head (a message
// envelope), around the packet's own bytes: head and the fields before
// the bytes go into b's headroom, the GSOSize after them into its
// tailroom, and the result is that stretch of b's storage. The packet is
// not copied: the IPC send that follows copies it once. The bytes are
// exactly those AppendMessage-style encoding (head, then EncodeMsgpack)
// would produce.
//
// It overwrites b's storage outside the packet, so call it only on a Buf
// that is about to be freed, over storage no one else reads (the pool's,
// or a view whose owner gets the storage back on Free). ErrNoHeadroom or
// ErrNoTailroom when b has not room for them (encode it the usual way
// then); ErrFreed for a freed Buf.
func (b *Buf) EncodeInPlace(head []byte) ([]byte, error) {
	if b.free {
		return nil, ErrFreed
	}
	start := b.lowest()
	n := encodedFields
	if b.GSOSize != 0 {
		n++
	}
	var pre [maxEncodedPrefix]byte
	p := mpwrite.ArrayHeader(pre[:0], n)
	p = mpwrite.Uint(p, uint64(b.Dev))
	p = mpwrite.Uint(p, uint64(start))
	p = mpwrite.Uint(p, uint64(b.data))
	for _, m := range b.mark {
		v := int64(m - 1)
		if m == 0 || m-1 > b.tail {
			v = -1
		}
		p = mpwrite.Int(p, v)
	}
	p = mpwrite.BinHeader(p, b.tail-start)
	var post [9]byte
	q := post[:0]
	if b.GSOSize != 0 {
		q = mpwrite.Uint(q, uint64(b.GSOSize))
	}
	st := b.store()
	from := start - len(head) - len(p)
	if from < 0 {
		return nil, ErrNoHeadroom
	}
	if b.tail+len(q) > len(st) {
		return nil, ErrNoTailroom
	}
	copy(st[from:], head)
	copy(st[from+len(head):], p)
	copy(st[b.tail:], q)
	return st[from : b.tail+len(q)], nil
}
