package libipc

import "context"

// Bounds of one message, the same for every transport. The kernel's channel
// objects enforce the same numbers.
const (
	// MaxMessageSize is the largest message, envelope included, in bytes:
	// the kernel's bound (abi.MaxMessageBytes), room for a whole 65,507-byte
	// UDP datagram with its envelope.
	MaxMessageSize = 72 << 10
	// MaxCaps is the most caps (handles) one message may carry.
	MaxCaps = 4
)

// Handle is a transferable reference to a transport object. For the
// in-memory transport a handle is an Endpoint; a kernel-backed transport will
// wrap a handle number. Caps sent in a message move to the receiver; a
// message that is dropped undelivered has its handles closed, so the far end
// of an endpoint lost in transit sees ErrPeerClosed rather than hanging.
type Cap interface {
	Close() error
}

// Message is one unit of transport: up to MaxMessageSize bytes plus up to
// MaxCaps caps. Sending copies Data (the caller may reuse its buffer at
// once) and moves Caps; a received Message is owned by the receiver.
type Message struct {
	Data []byte
	Caps []Cap
}

// Endpoint is one end of a bidirectional message channel with kernel-channel
// semantics: each direction is a bounded queue; the TryX calls never block
// and report ErrWouldBlock; the blocking calls wait until they can proceed or
// ctx ends. When one end is closed, the other end's sends fail with
// ErrPeerClosed at once, its receives drain what is already queued and then
// fail with ErrPeerClosed, and its blocked calls wake up. Operations on an end
// that is itself closed fail with ErrClosed. Errors wrap these sentinels.
//
// An Endpoint is safe for concurrent use. It is also a Cap, so an endpoint
// can travel inside a message (this is how connections are brokered).
type Endpoint interface {
	Cap
	// TrySend queues m for the peer without blocking: ErrWouldBlock if the
	// peer's queue is full, ErrTooLarge if m exceeds the bounds.
	TrySend(m Message) error
	// Send queues m for the peer, waiting while the queue is full.
	Send(ctx context.Context, m Message) error
	// TryRecv takes the next message without blocking: ErrWouldBlock if none.
	TryRecv() (Message, error)
	// Recv takes the next message, waiting until one arrives.
	Recv(ctx context.Context) (Message, error)
}

// Dialer connects to a named service; Broker implements it for hosted tests,
// and init's connect service will implement it under the kernel.
type Dialer interface {
	Connect(ctx context.Context, service string) (Endpoint, error)
}
