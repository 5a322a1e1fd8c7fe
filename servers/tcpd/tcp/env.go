package tcp

// The engine's two dependencies, injected by its owner: time and the IP
// layer.

import (
	"net/netip"
	"time"
)

// Clock is the engine's only source of time, as in netd's stack: every
// timer (retransmission, persist, delayed ACK, keep-alive, TIME-WAIT) is
// computed from Now, so tests drive time with a fake clock
// (stacktest.FakeClock fits) instead of sleeping. Now must never go
// backwards.
type Clock interface {
	Now() time.Time
}

// SystemClock is the Clock of a running tcpd: time.Now, whose monotonic
// reading makes it safe for durations.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// Output is the IP layer under the engine: netd, which routes, resolves
// and fragments. SendSegment sends one TCP segment (header and payload,
// checksum filled in) from src to dst as an IPv4 datagram with protocol 6.
// seg is valid only during the call: an Output that keeps it copies it.
// An error counts the segment as lost (TxErrors); retransmission recovers.
type Output interface {
	SendSegment(src, dst netip.Addr, seg []byte) error
}

// OutputFunc adapts a function to Output.
type OutputFunc func(src, dst netip.Addr, seg []byte) error

// SendSegment calls f.
func (f OutputFunc) SendSegment(src, dst netip.Addr, seg []byte) error { return f(src, dst, seg) }

// OffloadOutput is an Output that also takes offloaded segments (TCP
// segmentation offload: netd, or the NIC under it, does the cutting).
type OffloadOutput interface {
	Output
	// SendOffloaded sends seg, a TCP segment (header and payload) whose
	// payload is longer than mss, for the IP layer (or the device) to
	// cut into segments of at most mss payload bytes: each piece gets
	// the header with the sequence number advanced, PSH and FIN only on
	// the last piece. Its checksum field is not filled in. seg is valid
	// only during the call.
	SendOffloaded(src, dst netip.Addr, seg []byte, mss int) error
}

// GatherOutput is an OffloadOutput that also takes an offloaded segment
// in pieces: hdr, its TCP header, then data, its payload as it lies in
// the send buffer (one to five pieces: the ring's bytes, in two where it
// wraps, and the application's writes queued where they lie,
// Conn.WriteOwned), saving the copy that joins them. The contract is
// SendOffloaded's for the segment they make; the pieces are valid only
// during the call.
type GatherOutput interface {
	OffloadOutput
	SendOffloadedGather(src, dst netip.Addr, hdr []byte, data [][]byte, mss int) error
}
