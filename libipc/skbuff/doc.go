// Package skbuff provides Buf, the packet buffer that carries every frame through
// armos's network path: from the virtio-net driver, across IPC, through netd's
// protocol layers and back out. It is the Go form of the handbook's sk_buff
// (chapter 36.2): a view of storage with a headroom so headers can be
// prepended in place, and push/pull/reserve/put operations.
//
// # Layout
//
// A Buf is a view of storage it does not own: MaxPacketSize bytes carved
// from its pool's slabs (Get), or bytes someone else owns (Pool.View: a
// driver's DMA buffer, an IPC message, shared memory, of any size; the
// Owner gets them back when the Buf is freed). Cap is the storage's size.
// The valid packet bytes are the window [data, tail); everything before it is headroom (free space to Push
// headers into, or headers already consumed by Pull), everything after it is
// tailroom (free space to Put payload into):
//
//	 0 (head)               data                          tail            Cap() (end)
//	 |<------ headroom ----->|<--------- Len() ---------->|<-- tailroom -->|
//	 +-----------------------+-----------+----------------+----------------+
//	 | free / pulled headers | headers.. | payload ...    | free           |
//	 +-----------------------+-----------+----------------+----------------+
//	                 <- Push(n)  Pull(n) ->           Trim(n) <-  -> Put(n)
//
//	Reserve(n) (empty Buf only): data = tail = n
//	Push(n):  data -= n   (prepend a header; ErrNoHeadroom if data < n)
//	Pull(n):  data += n   (consume a header; ErrShort if Len() < n)
//	Put(n):   tail += n   (append payload;   ErrNoTailroom if past the end)
//	Trim(n):  tail = data + n (drop trailing bytes such as Ethernet padding)
//
// On transmit a sender Gets a Buf (which comes with DefaultHeadroom reserved),
// Puts its payload, and each layer below Pushes its header. On receive the
// driver Puts the whole frame and each layer Pulls its header after parsing it.
// A layer may Mark where its header starts (LinkLayer, NetworkLayer,
// TransportLayer) so a later layer can find it again: ICMP "port unreachable"
// quotes the original IPv4 header, which has been pulled by then.
//
// # Ownership and pooling
//
// Buffers come from a Pool (Get, or View over foreign storage) and go back
// with Free. The pool keeps bounded free lists (DefaultPoolFree buffers, and
// as many view headers) so the steady-state packet path does not allocate;
// buffers freed beyond that bound are left to the garbage collector and
// counted. Freeing a view hands its storage back to its Owner, exactly once,
// so a driver can lend its receive buffers to the stack without copying and
// refill its ring when they come back. Exactly one owner holds a Buf at a time; whoever holds it last
// frees it. A second Free of the same Buf returns ErrDoubleFree and is counted
// in PoolStats, and every operation on a freed Buf returns ErrFreed, so misuse
// is reported instead of corrupting a buffer that someone else now owns (as far
// as that is detectable: a stale pointer to a Buf that has since been handed
// out again by Get cannot be told apart from the new owner's).
//
// Misuse never panics: every operation checks its bounds and returns one of the
// package's sentinel errors, which are plain values so the check allocates
// nothing.
//
// # IPC encoding
//
// *Buf implements msgpack.CustomEncoder and msgpack.CustomDecoder: a Buf
// crosses IPC as its bytes plus the metadata the receiver needs (device, where
// the data starts, layer marks). See EncodeMsgpack for the exact wire form.
// Decoding is strict: oversize data, offsets outside the storage or outside the
// transmitted bytes, and wrong element counts are errors.
//
// # Queues
//
// Queue is a bounded FIFO of Bufs (the handbook's next pointer) for ARP pending
// packets and socket receive queues; it counts what it refuses.
package skbuff
