package link

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"armos/libipc"
	"armos/libipc/skbuff"
)

// The frame protocol between netd and a link provider (a NIC driver such
// as virtionetd, or another netd playing the peer) over an IPC endpoint:
// each Ethernet frame is one one-way libipc message of op OpFrame whose
// body is the msgpack-encoded sk_buff (skbuff.Buf.EncodeMsgpack).

// OpFrame is the op of a frame message.
const OpFrame libipc.Op = 1

// OpLinkInfo is the op of a provider's one-way message describing the
// link (LinkInfo): a NIC driver sends one when netd connects and another
// whenever the link status changes, so netd learns the device's MAC
// address, MTU and carrier without asking.
const OpLinkInfo libipc.Op = 2

// LinkInfo describes a link provider's device.
type LinkInfo struct {
	MAC    []byte `msgpack:"mac"`    // the device's Ethernet address (6 bytes)
	MTU    int    `msgpack:"mtu"`    // the largest IPv4 datagram a frame carries
	Up     bool   `msgpack:"up"`     // carrier
	Driver string `msgpack:"driver"` // who provides it, e.g. "virtio-net (virtio-mmio v1)"
	// TSOMax, when not zero, is the largest IPv4 datagram of a frame with
	// a GSOSize (TCP segmentation offload) the provider takes: the device
	// cuts it into MTU-sized segments. Zero: frames are at most the MTU.
	TSOMax int `msgpack:"tsomax,omitempty"`
}

// MaxTSO is the largest TSOMax: an offloaded frame, with its Ethernet
// header and the frame message's envelope, fits one 64 KiB IPC message.
const MaxTSO = 65000

// ChanCounters counts what a Chan link did.
type ChanCounters struct {
	TxFrames    uint64 // frames sent
	TxQueueFull uint64 // drop: the peer's queue was full (a full transmit ring)
	TxErrors    uint64 // drop: the peer is gone, or the frame did not encode
	RxFrames    uint64 // frames received
	RxMalformed uint64 // drop: not a frame message, or a bad sk_buff
	InfoUpdates uint64 // link descriptions received (OpLinkInfo)
}

// Chan is a link over an IPC endpoint speaking the frame protocol. It is
// a Device (ReadBuf for the pump) and a stack.Link (Transmit).
type Chan struct {
	ep libipc.Endpoint

	tx, txFull, txErr, rx, rxBad, infos atomic.Uint64
	closed                              atomic.Bool

	info   atomic.Pointer[LinkInfo]
	onInfo atomic.Pointer[func(LinkInfo)]
	src    libipc.PostSource // the receive buffers' source (SetPostSource), or nil

	// slots shared by a driver (slots.go): netd's side, or the driver's
	// handler of netd's OpTxSlot
	share    *SlotShare
	mapSlot  func(libipc.Cap, int) ([]byte, error)
	onTxSlot func(TxSlot)
}

// SetPostSource makes the link's kernel endpoint post src's buffers to
// receive into (libipc.KernelEndpoint.SetPostSource: a driver's DMA
// memory), and gives each received message that lies in one of them back
// to src (PutBuf) once it is read, rather than to libipc. It reports
// false, changing nothing, when the endpoint is not a kernel one. Call it
// before the first read.
func (c *Chan) SetPostSource(src libipc.PostSource) bool {
	ke, ok := c.ep.(*libipc.KernelEndpoint)
	if !ok {
		return false
	}
	c.src = src
	ke.SetPostSource(src)
	return true
}

// release gives a message read back: to the post source if it lies in
// one of its buffers, else to libipc.
func (c *Chan) release(m *libipc.Message) {
	if c.src != nil && c.src.Owns(m.Data) {
		c.src.PutBuf(m.Data)
		m.Data = nil
		return
	}
	m.Release()
}

// NewChan runs a link over ep (taking it over).
func NewChan(ep libipc.Endpoint) *Chan { return &Chan{ep: ep} }

// SendInfo sends the link's description to the peer (a provider's side).
func (c *Chan) SendInfo(i LinkInfo) error {
	msg, err := libipc.AppendMessage(nil, libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway, Op: OpLinkInfo}, &i)
	if err != nil {
		return fmt.Errorf("link: encode link info: %w", err)
	}
	if err := c.ep.TrySend(libipc.Message{Data: msg}); err != nil {
		return fmt.Errorf("link: send link info: %w", err)
	}
	return nil
}

// Info returns the provider's latest description, if one came.
func (c *Chan) Info() (LinkInfo, bool) {
	if p := c.info.Load(); p != nil {
		return *p, true
	}
	return LinkInfo{}, false
}

// ReadInfo reads until the provider's description arrives (a provider
// sends it first) and returns it; anything before it is counted as
// malformed and dropped. Call it before the first ReadBuf.
func (c *Chan) ReadInfo(ctx context.Context) (LinkInfo, error) {
	for {
		m, err := c.ep.Recv(ctx)
		if err != nil {
			return LinkInfo{}, fmt.Errorf("link: waiting for the provider's link description: %w", err)
		}
		for _, h := range m.Caps {
			h.Close()
		}
		h, body, err := libipc.ParseHeader(m.Data)
		ok := err == nil && h.Kind == libipc.KindOneway && h.Op == OpLinkInfo && c.gotInfo(body)
		c.release(&m)
		if ok {
			i, _ := c.Info()
			return i, nil
		}
		c.rxBad.Add(1)
	}
}

// OnInfo sets a function called (on the reader's goroutine) with every
// description after the first.
func (c *Chan) OnInfo(f func(LinkInfo)) { c.onInfo.Store(&f) }

// gotInfo records a description.
func (c *Chan) gotInfo(body []byte) bool {
	var i LinkInfo
	if err := libipc.DecodeBody(body, &i); err != nil || len(i.MAC) != 6 || i.MTU < 68 || i.MTU > MaxMTU ||
		i.TSOMax < 0 || i.TSOMax > MaxTSO || (i.TSOMax != 0 && i.TSOMax <= i.MTU) {
		return false
	}
	c.infos.Add(1)
	first := c.info.Swap(&i) == nil
	if f := c.onInfo.Load(); f != nil && !first {
		(*f)(i)
	}
	return true
}

// frameBufs and bigFrameBufs hold frame-message encode buffers: one pool
// for frames up to an MTU's, one for offloaded (TSO) frames, so that a
// small frame never takes a big buffer and leaves the next big frame to
// allocate (and clear) 64 KB again. frameMsgOverhead is more than the
// envelope and the sk_buff's fields add to the frame's bytes.
var (
	frameBufs    = sync.Pool{New: func() any { b := make([]byte, 0, smallFrameMsg); return &b }}
	bigFrameBufs = sync.Pool{New: func() any { b := make([]byte, 0, bigFrameMsg); return &b }}
)

const (
	frameMsgOverhead = 128
	smallFrameMsg    = 2048
	bigFrameMsg      = 64<<10 + 1024 // an offloaded frame (MaxTSO) and its envelope
)

// Transmit sends b as one frame message and frees b. A full peer queue
// drops the frame (counted), as a NIC with a full transmit ring would.
func (c *Chan) Transmit(b *skbuff.Buf) error {
	if b == nil {
		return skbuff.ErrNilBuf
	}
	defer releaseBuf(b)
	if c.share != nil && c.sendInSlot(b.Bytes(), b.GSOSize) {
		return nil
	}
	h := libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway, Op: OpFrame}
	// The frame's message is encoded around its own bytes when its
	// storage has room (a Buf from the stack always has its headroom):
	// the endpoint's send (the kernel, or the in-memory transport's
	// TrySend) then copies the frame once.
	var head [16]byte
	if msg, err := b.EncodeInPlace(libipc.AppendHeader(head[:0], h)); err == nil && len(msg) <= libipc.MaxMessageSize {
		return c.sendFrame(msg)
	}
	// Otherwise encoded into a reused buffer big enough for the frame at
	// once; appending to nil grew a 64 KB offloaded frame's message
	// through a dozen reallocations.
	pool := &frameBufs
	need := b.Len() + frameMsgOverhead
	if need > smallFrameMsg {
		pool = &bigFrameBufs
	}
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	if cap(*bp) < need {
		*bp = make([]byte, 0, need)
	}
	msg, err := libipc.AppendMessage((*bp)[:0], h, b)
	if err != nil {
		c.txErr.Add(1)
		return fmt.Errorf("link: encode frame: %w", err)
	}
	*bp = msg
	return c.sendFrame(msg)
}

// sendFrame sends an encoded frame message without waiting.
func (c *Chan) sendFrame(msg []byte) error {
	err := c.ep.TrySend(libipc.Message{Data: msg})
	switch {
	case err == nil:
		c.tx.Add(1)
		return nil
	case errors.Is(err, libipc.ErrWouldBlock):
		c.txFull.Add(1)
		return nil
	case errors.Is(err, libipc.ErrPeerClosed), errors.Is(err, libipc.ErrClosed):
		c.txErr.Add(1)
		return ErrClosed
	}
	c.txErr.Add(1)
	return fmt.Errorf("link: send frame: %w", err)
}

// ReadBuf waits for the next frame and puts it into b (which must be
// empty). Malformed messages are counted and skipped. When the peer is
// gone or the link closed it returns ErrClosed.
func (c *Chan) ReadBuf(b *skbuff.Buf) error {
	if b == nil {
		return skbuff.ErrNilBuf
	}
	if b.Len() != 0 {
		return fmt.Errorf("link: receive into a non-empty buffer: %w", skbuff.ErrNotEmpty)
	}
	for {
		m, err := c.next()
		if err != nil {
			return err
		}
		if c.decodeFrame(m, b) {
			return nil
		}
	}
}

// ReadFrameInPlace waits for the next frame and calls fn with its bytes
// and GSO size: in place in the message where the frame is in the usual
// encoding (skbuff.ParseFrame, as if decoded into a Buf of b's capacity),
// else decoded into b (which must be empty; it is reset afterwards). The
// bytes are valid only during fn. Errors as ReadBuf's. A NIC driver's
// transmit path uses it: the frame's next copy is into the device's
// buffer.
func (c *Chan) ReadFrameInPlace(b *skbuff.Buf, fn func(frame []byte, gso uint16)) error {
	if b == nil {
		return skbuff.ErrNilBuf
	}
	for {
		m, err := c.next()
		if err != nil {
			return err
		}
		if h, body, err := libipc.ParseHeader(m.Data); err == nil && h.Kind == libipc.KindOneway && h.Op == OpFrame {
			if frame, gso, ok := skbuff.ParseFrame(body, b.Cap()); ok {
				c.rx.Add(1)
				fn(frame, gso)
				c.release(&m)
				return nil
			}
		}
		if c.decodeFrame(m, b) {
			fn(b.Bytes(), b.GSOSize)
			_ = b.Reset(skbuff.DefaultHeadroom)
			return nil
		}
	}
}

// next waits for the next message that is not a link description (those
// are taken on the way) and returns it for the caller to release. When
// the peer is gone or the link closed it returns ErrClosed.
func (c *Chan) next() (libipc.Message, error) {
	for {
		m, err := c.ep.Recv(context.Background())
		if err != nil {
			if c.closed.Load() || errors.Is(err, libipc.ErrPeerClosed) || errors.Is(err, libipc.ErrClosed) {
				return libipc.Message{}, ErrClosed
			}
			return libipc.Message{}, fmt.Errorf("link: receive: %w", err)
		}
		h, body, err := libipc.ParseHeader(m.Data)
		if err == nil && h.Kind == libipc.KindOneway && c.takeSlotMsg(h, body, m.Caps) {
			c.release(&m)
			continue
		}
		for _, h := range m.Caps {
			h.Close()
		}
		if err == nil && h.Kind == libipc.KindOneway && h.Op == OpLinkInfo {
			if !c.gotInfo(body) {
				c.rxBad.Add(1)
			}
			c.release(&m)
			continue
		}
		return m, nil
	}
}

// decodeFrame decodes frame message m into b (empty) and releases m. A
// message that is not a frame is counted as malformed, b left empty, and
// false returned.
func (c *Chan) decodeFrame(m libipc.Message, b *skbuff.Buf) bool {
	h, err := libipc.DecodeMessage(m.Data, b)
	c.release(&m)
	if err != nil || h.Kind != libipc.KindOneway || h.Op != OpFrame {
		c.rxBad.Add(1)
		_ = b.Reset(skbuff.DefaultHeadroom)
		return false
	}
	c.rx.Add(1)
	return true
}

// Counters returns the link's counters.
func (c *Chan) Counters() ChanCounters {
	return ChanCounters{TxFrames: c.tx.Load(), TxQueueFull: c.txFull.Load(), TxErrors: c.txErr.Load(),
		RxFrames: c.rx.Load(), RxMalformed: c.rxBad.Load(), InfoUpdates: c.infos.Load()}
}

// Close closes the endpoint; a pending ReadBuf returns ErrClosed.
func (c *Chan) Close() error {
	c.closed.Store(true)
	return c.ep.Close()
}
