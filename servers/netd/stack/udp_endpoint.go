package stack

import (
	"net/netip"

	"armos/libipc/skbuff"
)

// UDPEndpoint is a bound UDP port: the stack's side of a datagram socket. The
// socket service owns one per socket. Like the rest of the stack it is not
// safe for concurrent use: call its methods from the goroutine that drives
// the Stack.
type UDPEndpoint struct {
	s      *Stack
	local  netip.AddrPort // bound address; Addr may be unspecified (0.0.0.0)
	remote netip.AddrPort // connected peer, or invalid
	bcast  bool           // SO_BROADCAST: may send to broadcast addresses
	closed bool

	// Receive queue: a ring of queued datagrams, bounded by limit.
	ring  []udpDatagram
	head  int
	n     int
	limit int
	bytes int // memory held by queued datagrams (see truesize)

	notify func()
	stats  EndpointStats
	err    error // pending asynchronous error (SO_ERROR), from ICMP
}

// udpDatagram is one queued datagram. data is the payload: it aliases buf
// when buf is non-nil (buf is then owned by the queue and freed on dequeue),
// or is a heap slice of a reassembled datagram.
type udpDatagram struct {
	buf  *skbuff.Buf
	data []byte
	from netip.AddrPort
	to   netip.Addr
}

// EndpointStats are one endpoint's counters.
type EndpointStats struct {
	RxDatagrams uint64 // datagrams queued
	RxBytes     uint64 // payload bytes queued
	RxDropped   uint64 // drop: queue full (UDPEndpoint.QueueLen datagrams or UDPMaxQueueBytes)
	RxFiltered  uint64 // drop: from a peer other than the connected one
	TxDatagrams uint64 // datagrams sent
	TxBytes     uint64 // payload bytes sent
	TxErrors    uint64 // sends that returned an error
}

// RecvMeta describes a dequeued datagram.
type RecvMeta struct {
	From netip.AddrPort // sender
	To   netip.Addr     // destination address it was sent to (ours or a broadcast)
	Len  int            // full payload length; more than the bytes copied if truncated
}

// Truncated reports whether the datagram was longer than the buffer it was
// copied into (MSG_TRUNC).
func (m RecvMeta) Truncated(copied int) bool { return m.Len > copied }

// LocalAddr returns the bound address and port (the chosen port if Bind was
// given port 0).
func (ep *UDPEndpoint) LocalAddr() netip.AddrPort { return ep.local }

// RemoteAddr returns the connected peer, or the zero AddrPort.
func (ep *UDPEndpoint) RemoteAddr() netip.AddrPort { return ep.remote }

// SetBroadcast allows or forbids sending to broadcast addresses (SO_BROADCAST).
// It is off by default; SendTo a broadcast address without it fails with
// ErrBroadcastForbidden.
func (ep *UDPEndpoint) SetBroadcast(on bool) { ep.bcast = on }

// Broadcast reports whether sending to broadcast addresses is allowed.
func (ep *UDPEndpoint) Broadcast() bool { return ep.bcast }

// SetNotify sets fn to be called after each datagram is queued on the
// endpoint (nil to stop). fn runs on the stack's goroutine, inside Input; it
// may call the endpoint's methods (Dequeue, SendTo) but should not block.
func (ep *UDPEndpoint) SetNotify(fn func()) { ep.notify = fn }

// Stats returns the endpoint's counters.
func (ep *UDPEndpoint) Stats() EndpointStats { return ep.stats }

// Len returns the number of datagrams queued.
func (ep *UDPEndpoint) Len() int { return ep.n }

// QueueLen returns the receive queue's bound in datagrams.
func (ep *UDPEndpoint) QueueLen() int { return ep.limit }

// SetQueueLen bounds the receive queue to n datagrams (clamped to
// [1, UDPMaxQueueLen]). Datagrams already queued are kept even if they exceed
// the new bound; new ones are dropped until the queue is below it.
func (ep *UDPEndpoint) SetQueueLen(n int) error {
	if ep.closed {
		return opErr("setqueuelen", ep.local, ErrClosed)
	}
	ep.limit = max(1, min(n, UDPMaxQueueLen))
	return nil
}

// grow enlarges the ring (which starts empty and doubles up to the limit,
// so idle endpoints cost little and a busy one stops allocating once its
// ring has reached its working size).
func (ep *UDPEndpoint) grow() {
	size := min(max(4, 2*len(ep.ring)), max(ep.limit, ep.n+1))
	ring := make([]udpDatagram, size)
	for i := range ep.n {
		ring[i] = ep.ring[(ep.head+i)%len(ep.ring)]
	}
	ep.ring, ep.head = ring, 0
}

// NextLen returns the payload length of the oldest queued datagram, or -1 if
// the queue is empty (to size a receive buffer).
func (ep *UDPEndpoint) NextLen() int {
	if ep.n == 0 {
		return -1
	}
	return len(ep.ring[ep.head].data)
}

// Dequeue removes the oldest datagram, copies its payload into p and
// returns the bytes copied. A datagram longer than p is truncated: the rest
// is discarded and meta.Len tells the full length. On an empty queue it
// returns ErrWouldBlock; on a closed endpoint, ErrClosed.
func (ep *UDPEndpoint) Dequeue(p []byte) (n int, meta RecvMeta, err error) {
	if ep.closed {
		return 0, RecvMeta{}, ErrClosed
	}
	if ep.n == 0 {
		return 0, RecvMeta{}, ErrWouldBlock
	}
	d := &ep.ring[ep.head]
	n = copy(p, d.data)
	meta = RecvMeta{From: d.from, To: d.to, Len: len(d.data)}
	ep.pop()
	return n, meta, nil
}

// DequeueFunc removes the oldest datagram and hands its payload to fn
// without copying it: the slice is the packet buffer's and valid only
// during fn (the socket service encodes its reply from it). Errors as
// Dequeue; fn is not called then.
func (ep *UDPEndpoint) DequeueFunc(fn func(payload []byte, meta RecvMeta)) error {
	if ep.closed {
		return ErrClosed
	}
	if ep.n == 0 {
		return ErrWouldBlock
	}
	d := &ep.ring[ep.head]
	fn(d.data, RecvMeta{From: d.from, To: d.to, Len: len(d.data)})
	ep.pop()
	return nil
}

// PeekFunc hands the payload and metadata of the i-th oldest queued
// datagram (0 is the oldest) to fn without dequeuing or copying it (the
// slice is valid during fn), and reports whether there is one. With
// Discard it lets a caller encode several datagrams into one reply before
// letting them go (the socket service's batched receive).
func (ep *UDPEndpoint) PeekFunc(i int, fn func(payload []byte, meta RecvMeta)) bool {
	if ep.closed || i < 0 || i >= ep.n {
		return false
	}
	d := &ep.ring[(ep.head+i)%len(ep.ring)]
	fn(d.data, RecvMeta{From: d.from, To: d.to, Len: len(d.data)})
	return true
}

// NthLen returns the payload length of the i-th oldest queued datagram,
// or -1 if there is none.
func (ep *UDPEndpoint) NthLen(i int) int {
	if i < 0 || i >= ep.n {
		return -1
	}
	return len(ep.ring[(ep.head+i)%len(ep.ring)].data)
}

// Discard dequeues the n oldest datagrams (at most the queue's length),
// freeing their buffers, as if each had been received.
func (ep *UDPEndpoint) Discard(n int) {
	for ; n > 0 && ep.n > 0; n-- {
		ep.pop()
	}
}

// pop drops the oldest datagram, freeing its buffer.
func (ep *UDPEndpoint) pop() {
	d := &ep.ring[ep.head]
	ep.bytes -= truesize(d.buf, d.data)
	if d.buf != nil {
		_ = d.buf.Free()
	}
	*d = udpDatagram{}
	ep.head = (ep.head + 1) % len(ep.ring)
	ep.n--
}

// Connect sets the default destination for Send and restricts received
// datagrams to those from remote (connect(2) on a datagram socket). A zero
// AddrPort disconnects.
func (ep *UDPEndpoint) Connect(remote netip.AddrPort) error {
	if ep.closed {
		return opErr("connect", remote, ErrClosed)
	}
	if remote == (netip.AddrPort{}) {
		ep.remote = remote
		return nil
	}
	if !remote.Addr().Is4() || remote.Addr().IsUnspecified() || remote.Port() == 0 {
		return opErr("connect", remote, ErrInvalidAddr)
	}
	ep.remote = remote
	ep.err = nil
	return nil
}

// Send sends payload to the connected peer.
func (ep *UDPEndpoint) Send(payload []byte) error {
	if !ep.remote.IsValid() {
		return opErr("send", ep.local, ErrNotConnected)
	}
	return ep.SendTo(payload, ep.remote)
}

// SendTo sends payload as one datagram to dst, fragmenting it if it exceeds
// the MTU. The payload is copied: the caller keeps it. A datagram waiting for
// ARP resolution counts as sent (like Linux, a later resolution failure is
// only visible in the ARP counters). Errors: ErrClosed, ErrInvalidAddr (not
// IPv4, unspecified, or port 0), ErrMessageTooLong (over MaxUDPPayload),
// ErrBroadcastForbidden, ErrNoRoute, ErrNoBuffer or the link's error.
func (ep *UDPEndpoint) SendTo(payload []byte, dst netip.AddrPort) error {
	if ep.closed {
		return opErr("sendto", dst, ErrClosed)
	}
	err := ep.s.sendUDP(ep, payload, dst)
	if err != nil {
		ep.stats.TxErrors++
		return opErr("sendto", dst, err)
	}
	ep.stats.TxDatagrams++
	ep.stats.TxBytes += uint64(len(payload))
	return nil
}

// TakeError returns and clears the endpoint's pending asynchronous error,
// like getsockopt(SO_ERROR): ErrConnRefused or ErrHostUnreachable after an
// ICMP destination-unreachable answered a datagram this connected endpoint
// sent (the notify callback runs when one arrives), else nil.
func (ep *UDPEndpoint) TakeError() error {
	err := ep.err
	ep.err = nil
	return err
}

// Close unbinds the endpoint and frees its queued datagrams. Further calls
// return ErrClosed; closing twice is harmless.
func (ep *UDPEndpoint) Close() error {
	if ep.closed {
		return nil
	}
	for ep.n > 0 {
		_, _, _ = ep.Dequeue(nil)
	}
	ep.closed = true
	ep.notify = nil
	if ep.s.udp[ep.local.Port()] == ep {
		delete(ep.s.udp, ep.local.Port())
	}
	return nil
}

// deliver queues a received datagram, taking ownership of buf (which may be
// nil for a reassembled datagram held in data). It reports whether the
// datagram was queued; if not, buf has been freed and the drop counted.
func (ep *UDPEndpoint) deliver(buf *skbuff.Buf, data []byte, from netip.AddrPort, to netip.Addr) bool {
	if ep.remote.IsValid() && from != ep.remote {
		ep.stats.RxFiltered++
		ep.s.c.UDP.RxFiltered++
		freeBuf(buf)
		return false
	}
	size := truesize(buf, data)
	if ep.n >= ep.limit || (ep.n > 0 && ep.bytes+size > UDPMaxQueueBytes) {
		ep.stats.RxDropped++
		ep.s.c.UDP.RxQueueFull++
		freeBuf(buf)
		return false
	}
	if ep.n == len(ep.ring) {
		ep.grow()
	}
	ep.ring[(ep.head+ep.n)%len(ep.ring)] = udpDatagram{buf: buf, data: data, from: from, to: to}
	ep.n++
	ep.bytes += size
	ep.stats.RxDatagrams++
	ep.stats.RxBytes += uint64(len(data))
	ep.s.c.UDP.RxDelivered++
	if ep.notify != nil {
		ep.notify()
	}
	return true
}

func freeBuf(b *skbuff.Buf) {
	if b != nil {
		_ = b.Free()
	}
}

// truesize is the memory a queued datagram holds, charged against
// UDPMaxQueueBytes: a whole packet buffer (its storage, a view's too), or a
// reassembled datagram's heap slice (Linux charges skb->truesize the same
// way).
func truesize(buf *skbuff.Buf, data []byte) int {
	if buf != nil {
		return buf.Cap()
	}
	return cap(data)
}
