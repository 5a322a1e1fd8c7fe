package link

import (
	"fmt"

	"armos/libipc/skbuff"
)

// MaxFrame is the longest Ethernet frame (header + payload, no FCS) a Buf
// from skbuff.Get can receive: its storage minus the default headroom.
const MaxFrame = skbuff.MaxPacketSize - skbuff.DefaultHeadroom

// MaxMTU is the largest device MTU the drivers accept: MaxFrame minus the
// Ethernet header, so a full-size frame always fits a receive buffer.
const MaxMTU = MaxFrame - ethHeaderLen

// frameReader is the receive half shared by the drivers.
type frameReader interface {
	ReadFrame(p []byte) (int, error)
}

// readBuf reads one frame from r into the tailroom of b (which must be empty)
// and trims b to the frame's length.
func readBuf(r frameReader, b *skbuff.Buf) error {
	if b == nil {
		return skbuff.ErrNilBuf
	}
	if b.Len() != 0 {
		return fmt.Errorf("link: receive into a non-empty buffer: %w", skbuff.ErrNotEmpty)
	}
	room := b.Tailroom()
	p, err := b.Put(room)
	if err != nil {
		return fmt.Errorf("link: receive: %w", err)
	}
	n, err := r.ReadFrame(p)
	if err != nil {
		_ = b.Trim(0)
		return err
	}
	return b.Trim(n)
}

// releaseBuf frees a transmitted buffer. Errors are ignored on purpose: a
// double free is already counted by the pool, and a Buf that did not come
// from a pool (ErrNotPooled) simply stays with whoever allocated it.
func releaseBuf(b *skbuff.Buf) { _ = b.Free() }
