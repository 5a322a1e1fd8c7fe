package stacktest

import (
	"errors"

	"armos/libipc/skbuff"
)

// ErrLinkDown is returned by Link.Transmit while the link is marked down.
var ErrLinkDown = errors.New("stacktest: link down")

// Link is an in-memory link for stack tests (gVisor's channel endpoint): it
// records every frame the stack transmits, in order, and lets the test read
// them back. It satisfies stack.Link. Transmit copies the frame and frees the
// buffer, as a real driver would after the device took it.
//
// Inbound frames are injected with Buf (which builds a packet buffer the
// stack's Input takes ownership of).
type Link struct {
	sent [][]byte
	// Down makes Transmit fail (and still free the buffer).
	Down bool
	// Discard makes Transmit count and free frames without recording them,
	// for benchmarks.
	Discard bool
	// GSOSizes has each recorded frame's skbuff.Buf.GSOSize, in order
	// (Read and Drain leave it alone).
	GSOSizes []uint16
	// Transmitted counts frames given to Transmit, recorded or not.
	Transmitted int
	// OnTransmit, if set, is called with each frame's bytes (valid only
	// during the call) before the buffer is freed.
	OnTransmit func(frame []byte)
	// Fault, if set, is the fault injector (smoltcp's FaultInjector): it
	// sees each frame (and may corrupt it in place) and returns true to
	// drop it silently, as a lossy wire would. Dropped counts those.
	Fault   func(frame []byte) (drop bool)
	Dropped int
}

// Transmit records a copy of b's bytes and frees b.
func (l *Link) Transmit(b *skbuff.Buf) error {
	defer func() { _ = b.Free() }()
	l.Transmitted++
	if l.Down {
		return ErrLinkDown
	}
	if l.Fault != nil && l.Fault(b.Bytes()) {
		l.Dropped++
		return nil
	}
	if l.OnTransmit != nil {
		l.OnTransmit(b.Bytes())
	}
	if !l.Discard {
		l.sent = append(l.sent, append([]byte(nil), b.Bytes()...))
		l.GSOSizes = append(l.GSOSizes, b.GSOSize)
	}
	return nil
}

// Len returns the number of recorded frames not yet read.
func (l *Link) Len() int { return len(l.sent) }

// Read removes and returns the oldest recorded frame, or nil if none.
func (l *Link) Read() []byte {
	if len(l.sent) == 0 {
		return nil
	}
	f := l.sent[0]
	l.sent = l.sent[1:]
	return f
}

// Drain removes and returns every recorded frame.
func (l *Link) Drain() [][]byte {
	out := l.sent
	l.sent = nil
	return out
}

// Buf returns a pooled packet buffer holding a copy of frame, as a driver
// would hand a received frame to the stack.
func Buf(frame []byte) *skbuff.Buf {
	b := skbuff.Get()
	_ = b.Reserve(0)
	if err := b.Append(frame); err != nil {
		// Oversize frames are cut to the buffer, as a NIC would refuse them.
		_ = b.Append(frame[:b.Tailroom()])
	}
	return b
}
