// Package stack is netd's protocol engine: Ethernet, ARP, IPv4 (with
// fragmentation and reassembly), ICMPv4 and UDP for one interface, plus a
// registration point so another server can own an IP protocol number (TCP in
// tcpd). It implements chapter 36 of the handbook as a user-space library.
//
// # Design
//
// The stack is passive and single-goroutine, in the manner of smoltcp: it
// owns no goroutines and no timers, and never reads the wall clock. Its owner
// (netd's event loop) calls
//
//   - Input(frame) for every frame the link receives,
//   - Tick() whenever NextDeadline() has passed (ARP retries and expiry,
//     reassembly timeouts),
//   - the API — BindUDP and the UDPEndpoint methods, Ping, SendIP,
//     RegisterProtocol, Counters, ARPTable — all from the same goroutine.
//
// Outgoing frames leave through the Link interface; time comes from the
// injected Clock, so tests drive ARP expiry, retransmissions and round-trip
// times with a fake clock instead of sleeping (see package stacktest).
//
// # Layers
//
//	Input ─► ethernet.go ─┬─► arp.go      (answer, learn, resolve; arpcache.go)
//	                      └─► ipv4.go ─┬─► reasm.go (fragments)
//	                                   ├─► icmp.go  (echo, errors, ping)
//	                                   ├─► udp.go   (port table: udp_table.go,
//	                                   │             endpoints: udp_endpoint.go)
//	                                   └─► proto.go (registered protocols)
//
// Sending runs the other way: a transport builds its segment (newSegment),
// ipv4.go prepends the IPv4 header or fragments the segment to the MTU,
// routes it (our subnet, the gateway, broadcast or our own address), and
// arp.go resolves the next hop — queueing the packet while it waits — before
// ethernet.go hands the frame to the Link.
//
// # Buffer ownership
//
// Packets travel in skbuff.Buf. Exactly one owner holds a Buf at a time:
//
//   - Input takes ownership of the frame. The stack frees it when the packet
//     is consumed or dropped, or keeps it on a UDP endpoint's receive queue
//     (the payload is not copied) until Dequeue copies it out and frees it.
//   - Link.Transmit takes ownership of every frame it is given, on success
//     and on error; the link frees it.
//   - Packets waiting for ARP sit in their neighbour entry's bounded queue and
//     are freed if resolution fails or the entry is evicted.
//   - API calls copy caller data (SendTo, Ping, SendIP); callbacks receive
//     data valid only during the call (IPPacket for protocol handlers).
//
// # Bounds and counters
//
// Every queue, cache and retry count is a named constant in limits.go, and
// everything a bound refuses is counted. Counters() returns a snapshot with a
// counter per drop reason per layer (netstat -s style, see Counters.String),
// so every received frame is accounted for exactly once.
package stack
