package link

import (
	"context"
	"errors"
	"fmt"
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

// ChanCounters counts what a Chan link did.
type ChanCounters struct {
	TxFrames    uint64 // frames sent
	TxQueueFull uint64 // drop: the peer's queue was full (a full transmit ring)
	TxErrors    uint64 // drop: the peer is gone, or the frame did not encode
	RxFrames    uint64 // frames received
	RxMalformed uint64 // drop: not a frame message, or a bad sk_buff
}

// Chan is a link over an IPC endpoint speaking the frame protocol. It is
// a Device (ReadBuf for the pump) and a stack.Link (Transmit).
type Chan struct {
	ep libipc.Endpoint

	tx, txFull, txErr, rx, rxBad atomic.Uint64
	closed                       atomic.Bool
}

// NewChan runs a link over ep (taking it over).
func NewChan(ep libipc.Endpoint) *Chan { return &Chan{ep: ep} }

// Transmit sends b as one frame message and frees b. A full peer queue
// drops the frame (counted), as a NIC with a full transmit ring would.
func (c *Chan) Transmit(b *skbuff.Buf) error {
	if b == nil {
		return skbuff.ErrNilBuf
	}
	defer releaseBuf(b)
	msg, err := libipc.AppendMessage(nil, libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway, Op: OpFrame}, b)
	if err != nil {
		c.txErr.Add(1)
		return fmt.Errorf("link: encode frame: %w", err)
	}
	err = c.ep.TrySend(libipc.Message{Data: msg})
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
		m, err := c.ep.Recv(context.Background())
		if err != nil {
			if c.closed.Load() || errors.Is(err, libipc.ErrPeerClosed) || errors.Is(err, libipc.ErrClosed) {
				return ErrClosed
			}
			return fmt.Errorf("link: receive: %w", err)
		}
		for _, h := range m.Caps {
			h.Close()
		}
		h, err := libipc.DecodeMessage(m.Data, b)
		m.Release()
		if err != nil || h.Kind != libipc.KindOneway || h.Op != OpFrame {
			c.rxBad.Add(1)
			_ = b.Reset(skbuff.DefaultHeadroom)
			continue
		}
		c.rx.Add(1)
		return nil
	}
}

// Counters returns the link's counters.
func (c *Chan) Counters() ChanCounters {
	return ChanCounters{TxFrames: c.tx.Load(), TxQueueFull: c.txFull.Load(), TxErrors: c.txErr.Load(),
		RxFrames: c.rx.Load(), RxMalformed: c.rxBad.Load()}
}

// Close closes the endpoint; a pending ReadBuf returns ErrClosed.
func (c *Chan) Close() error {
	c.closed.Store(true)
	return c.ep.Close()
}
