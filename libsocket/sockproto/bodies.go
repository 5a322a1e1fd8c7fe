package sockproto

import (
	"strconv"

	"armos/libipc"
)

// Handle names a socket on one client connection.
type Handle uint32

// Limits of the protocol.
const (
	// MaxOverhead bounds what a SendToReq or RecvFromResp adds around its
	// payload in an IPC message: envelope, map keys, handle, address,
	// lengths (under 70 bytes; TestMaxDatagramFits checks).
	MaxOverhead = 128
	// MaxDatagram is the largest UDP payload the protocol carries: IPv4's
	// own limit (65,535 - 20 - 8), every legal datagram whole, in one IPC
	// message (libipc.MaxMessageSize leaves room for MaxOverhead; the
	// assertion below keeps it so). Larger sends fail with EMSGSIZE.
	MaxDatagram = 65507
	// MaxSocketsPerConn bounds the sockets one client connection may hold
	// open; the next OpSocket fails with EMFILE.
	MaxSocketsPerConn = 256
)

// Address families and socket types accepted by OpSocket (Linux values).
const (
	AFInet    = 2 // IPv4
	SockDgram = 2 // datagrams (UDP)
	// SockStream is a byte stream (TCP): netd hands it to the stream server
	// that registered IP protocol 6 with the protocol service (SocketResp.
	// Stream, docs/protocol-server.md); with none, OpSocket fails with
	// EPROTONOSUPPORT.
	SockStream = 1
)

// Flags for SendToReq.Flags and RecvFromReq.Flags.
const (
	// MsgDontWait makes one receive non-blocking: EAGAIN if nothing is queued.
	MsgDontWait uint32 = 0x40
	// knownFlags is the set of flags the service accepts.
	knownFlags = MsgDontWait
)

// ValidFlags reports whether f uses only defined flags.
func ValidFlags(f uint32) bool { return f&^knownFlags == 0 }

// SocketReq creates a socket: Family AFInet, Type SockDgram (or SockStream,
// see its comment).
type SocketReq struct {
	Family uint16 `msgpack:"family"`
	Type   uint16 `msgpack:"type"`
}

// SocketResp returns the new socket's handle.
type SocketResp struct {
	Handle Handle `msgpack:"h"`
	// Stream is set for a SockStream socket: netd has handed it to the
	// stream server (docs/protocol-server.md), Handle is 0, and the reply
	// carries one cap, an endpoint connected to that server, on which the
	// application speaks the stream protocol.
	Stream bool `msgpack:"stream,omitempty"`
}

// HandleReq is the body of operations that need only a socket
// (getsockname, getpeername, close).
type HandleReq struct {
	Handle Handle `msgpack:"h"`
}

// BindReq binds a socket to a local address. An unspecified IP (0.0.0.0)
// means every local address; port 0 picks a free ephemeral port.
type BindReq struct {
	Handle Handle `msgpack:"h"`
	Addr   Addr   `msgpack:"addr"`
	// Replay marks a bind that restores a socket into a restarted netd:
	// during netd's grace period only those bind named ports (others wait
	// for its end), so a port goes back to its owner first.
	Replay bool `msgpack:"replay,omitempty"`
}

// ConnectReq fixes a socket's peer: sends without an address go there and
// only datagrams from there are received. An unbound socket is first bound
// to an ephemeral port. A zero Peer dissolves the association.
type ConnectReq struct {
	Handle Handle `msgpack:"h"`
	Peer   Addr   `msgpack:"peer"`
}

// AddrResp returns an address: the local one for bind, connect and
// getsockname, the peer for getpeername.
type AddrResp struct {
	Addr Addr `msgpack:"addr"`
}

// SendToReq sends one datagram. To may be zero on a connected socket; an
// unbound socket is first bound to an ephemeral port.
type SendToReq struct {
	Handle Handle `msgpack:"h"`
	To     Addr   `msgpack:"to"`
	Flags  uint32 `msgpack:"flags"`
	Data   []byte `msgpack:"data"`
	// More holds further datagrams of a batch (sendmmsg), sent in order
	// after the first with the same flags; at most MaxBatch, the whole
	// within one IPC message. Each To may be zero on a connected socket.
	More []SendDgram `msgpack:"more,omitempty"`
}

// SendDgram is one further datagram of a batched send.
type SendDgram struct {
	To   Addr   `msgpack:"to"`
	Data []byte `msgpack:"data"`
}

// MsgSizeHint is about the encoded size (libipc.SizeHinter).
func (r *SendToReq) MsgSizeHint() int {
	n := len(r.Data) + 48
	for i := range r.More {
		n += len(r.More[i].Data) + 32
	}
	return n
}

// SendToResp reports the bytes accepted of the first datagram (always the
// whole datagram) and, for a batch, how many of More were sent: all, or
// those before the first that failed, whose error is then not reported
// (as sendmmsg(2) does; netd counts it). A failure of the first datagram
// fails the whole call.
type SendToResp struct {
	N    int `msgpack:"n"`
	Sent int `msgpack:"sent,omitempty"`
}

// RecvFromReq receives one datagram.
//
// Blocking is decided by, in order: Flags&MsgDontWait or the socket's
// OptNonBlock (answer at once, EAGAIN if empty); Timeout > 0 (this call
// waits at most Timeout nanoseconds, then ETIMEDOUT); the socket's
// OptRecvTimeout if non-zero; otherwise the call waits until a datagram
// arrives or the socket is closed.
//
// Tag, when non-zero, names this call for OpCancel; the client keeps tags
// unique among its parked receives on the socket.
type RecvFromReq struct {
	Handle  Handle `msgpack:"h"`
	Max     uint32 `msgpack:"max"` // largest payload wanted; the rest is cut (Truncated)
	Flags   uint32 `msgpack:"flags"`
	Timeout int64  `msgpack:"timeout"` // nanoseconds, 0 = socket default
	Tag     uint32 `msgpack:"tag"`
	// Count, when above 1, asks for up to that many datagrams at once
	// (recvmmsg): the reply carries the first in its own fields and the
	// others, already queued when it is sent, in More, each cut to Max.
	// At most MaxBatch; the reply also stops before it would outgrow one
	// IPC message. The call still waits (or not) only for the first.
	Count uint32 `msgpack:"count,omitempty"`
}

// MaxBatch bounds RecvFromReq.Count (and so RecvFromResp.More).
const MaxBatch = 64

// CancelReq ends the parked recvfrom with the given Tag on a socket: it is
// answered with ECANCELED unless a datagram or timeout answered it first.
// A client that gives up waiting (a context ends, a deadline moves) sends
// it and then still waits for the receive's reply, so a datagram that raced
// with the cancel is returned rather than lost. Cancelling a tag that is
// not parked is not an error.
type CancelReq struct {
	Handle Handle `msgpack:"h"`
	Tag    uint32 `msgpack:"tag"`
}

// RecvFromResp carries a received datagram. Size is the datagram's full
// length; Truncated says Data holds only its first Max bytes.
type RecvFromResp struct {
	From      Addr   `msgpack:"from"`
	Data      []byte `msgpack:"data"`
	Size      int    `msgpack:"size"`
	Truncated bool   `msgpack:"trunc"`
	// More holds the further datagrams of a batch (RecvFromReq.Count),
	// oldest first; their own More is always empty.
	More []RecvFromResp `msgpack:"more,omitempty"`
}

// MsgSizeHint is about the encoded size (libipc.SizeHinter).
func (r *RecvFromResp) MsgSizeHint() int {
	n := len(r.Data) + 48
	for i := range r.More {
		n += len(r.More[i].Data) + 48
	}
	return n
}

// Opt is a socket option.
type Opt uint16

// Socket options. Values are int64; booleans are 0 or 1; durations are
// nanoseconds.
const (
	// OptRecvQueue (SO_RCVBUF, counted in datagrams) bounds the receive
	// queue; datagrams arriving when it is full are dropped and counted in
	// OptRecvDrops. 1..MaxRecvQueue.
	OptRecvQueue Opt = 1 + iota
	// OptBroadcast (SO_BROADCAST) allows sending to broadcast addresses;
	// without it such sends fail with EACCES.
	OptBroadcast
	// OptRecvTimeout (SO_RCVTIMEO) is the default blocking-receive timeout
	// in nanoseconds; 0 waits forever.
	OptRecvTimeout
	// OptNonBlock (O_NONBLOCK) makes every receive non-blocking.
	OptNonBlock
	// OptRecvDrops (read-only, like SO_RXQ_OVFL) counts datagrams dropped
	// because the receive queue was full.
	OptRecvDrops
	// OptRecvQueued (read-only, like SIOCINQ in datagrams) is the number of
	// datagrams waiting in the receive queue.
	OptRecvQueued
	// OptError (SO_ERROR, read-only) returns and clears the socket's pending
	// asynchronous error as an Errno number (0 for none): ECONNREFUSED or
	// EHOSTUNREACH after an ICMP error answered a connected socket's send.
	OptError
	optEnd
)

// MaxRecvQueue is the largest receive queue a socket may ask for.
const MaxRecvQueue = 1024

// MaxRecvTimeout bounds OptRecvTimeout and RecvFromReq.Timeout (one day).
const MaxRecvTimeout = int64(24 * 60 * 60 * 1e9)

var optNames = [...]string{
	OptRecvQueue:   "recvqueue",
	OptBroadcast:   "broadcast",
	OptRecvTimeout: "recvtimeout",
	OptNonBlock:    "nonblock",
	OptRecvDrops:   "recvdrops",
	OptRecvQueued:  "recvqueued",
	OptError:       "error",
}

// Valid reports whether o is a defined option.
func (o Opt) Valid() bool { return o >= OptRecvQueue && o < optEnd }

// ReadOnly reports whether o can only be read.
func (o Opt) ReadOnly() bool { return o == OptRecvDrops || o == OptRecvQueued || o == OptError }

// String returns the option's name.
func (o Opt) String() string {
	if o.Valid() {
		return optNames[o]
	}
	return "opt(" + strconv.Itoa(int(o)) + ")"
}

// SetSockOptReq sets an option.
type SetSockOptReq struct {
	Handle Handle `msgpack:"h"`
	Opt    Opt    `msgpack:"opt"`
	Value  int64  `msgpack:"v"`
}

// GetSockOptReq reads an option.
type GetSockOptReq struct {
	Handle Handle `msgpack:"h"`
	Opt    Opt    `msgpack:"opt"`
}

// GetSockOptResp returns an option's value.
type GetSockOptResp struct {
	Value int64 `msgpack:"v"`
}

// Empty is the reply body of operations that return nothing.
type Empty = libipc.Empty

// PingReq sends one ICMP echo request to Dst (port ignored) with Size
// bytes of data and sequence number Seq; the answer waits for the echo
// reply, at most Timeout nanoseconds (0: MaxPingTimeout).
type PingReq struct {
	Dst     Addr   `msgpack:"dst"`
	Seq     uint16 `msgpack:"seq"`
	Size    uint32 `msgpack:"size"`
	Timeout int64  `msgpack:"timeout"`
}

// PingResp reports the echo reply: who answered, the round-trip time by
// netd's clock (ns), the reply's data length and IPv4 TTL.
type PingResp struct {
	From Addr   `msgpack:"from"`
	Seq  uint16 `msgpack:"seq"`
	RTT  int64  `msgpack:"rtt"`
	Len  uint32 `msgpack:"len"`
	TTL  uint8  `msgpack:"ttl"`
}

// Ping bounds.
const (
	MaxPingSize    = 65507                 // data bytes in one echo request
	MaxPingTimeout = int64(60_000_000_000) // a minute
	MaxPings       = 64                    // outstanding pings per netd (ENOBUFS beyond)
)

// The largest datagram and its envelope fit one IPC message.
var _ [libipc.MaxMessageSize - MaxOverhead - MaxDatagram]struct{}
