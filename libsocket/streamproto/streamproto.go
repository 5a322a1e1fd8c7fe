// Package streamproto is the stream protocol: what an application (through
// libsocket's TCPConn and TCPListener) and the stream server (tcpd) say on
// the endpoint netd hands over for a SOCK_STREAM socket
// (sockproto.SocketResp.Stream, docs/protocol-server.md). One endpoint is
// one socket; closing it closes the socket.
//
// # Requests (application → server, answered)
//
//	OpConnect  ConnectReq  -> AddrsResp   answered once the handshake ends (or fails)
//	OpListen   ListenReq   -> AddrsResp   the socket becomes a listener
//	OpShutdown Empty       -> Empty       a FIN after the data written so far
//	OpOption   OptionReq   -> Empty       TCP_NODELAY, SO_KEEPALIVE
//
// # Data and credit (one-way, both directions)
//
// Bytes flow as OpData messages, each within the credit its receiver has
// granted with OpCredit (bytes and messages). The server grants the
// application InitialSendCredit when it takes the socket and gives credit
// back as the data enters the connection's send buffer; the application
// grants its read buffer once connected (or accepted) and gives credit back
// as it reads. So no queue on either side can overflow: a sender without
// credit waits (a write deadline can end the wait), and a receiver that
// stops reading stops the TCP window, not a message queue. Messages sent
// beyond the credit are a protocol violation: the server aborts the
// connection (counted), the application fails the socket.
//
// # Events (one-way, server → application)
//
//	OpData     Data       bytes received, in order
//	OpEOF      Empty      the peer's FIN, after its data
//	OpError    ErrorMsg   the connection failed (ECONNRESET, ETIMEDOUT, ...): final
//	OpAccepted Accepted   (listener) a new connection; the message's one cap is its endpoint
//
// A listener receives OpAccepted only as far as the application asked with
// OpAccept (one-way, AcceptMsg{N}): connections wait in the server's accept
// queue (bounded by the backlog) until the application wants them.
package streamproto

import (
	"strconv"

	"armos/libipc"
	"armos/libipc/mpread"
	"armos/libsocket/sockproto"
)

// Op is a stream-protocol operation.
type Op = libipc.Op

// Operations.
const (
	OpConnect  Op = 1 + iota // ConnectReq -> AddrsResp
	OpListen                 // ListenReq -> AddrsResp
	OpShutdown               // Empty -> Empty
	OpOption                 // OptionReq -> Empty
	OpData                   // one-way Data, both ways
	OpCredit                 // one-way Credit, both ways
	OpAccept                 // one-way AcceptMsg, application → server
	OpAccepted               // one-way Accepted + 1 cap, server → application
	OpEOF                    // one-way Empty, server → application
	OpError                  // one-way ErrorMsg, server → application
)

// opNames are for logs and errors.
var opNames = [...]string{"", "connect", "listen", "shutdown", "option", "data", "credit", "accept", "accepted", "eof", "error"}

// OpName returns op's name ("op N" for an unknown one).
func OpName(op Op) string {
	if int(op) < len(opNames) && op > 0 {
		return opNames[op]
	}
	return "op " + strconv.Itoa(int(op))
}

// Bounds of the protocol.
const (
	// MaxChunk bounds the bytes of one OpData message.
	MaxChunk = 32 << 10
	// InitialSendCredit is the credit the server grants an application's
	// socket when it takes it: bytes the application may have in flight
	// towards the server's send buffer. It is all a receiver may grant
	// (MaxCreditBytes): a bulk writer's 32 KiB writes then earn their
	// credit back every third write, which the server returns half at a
	// time, where 128 KiB took a credit message every other write.
	InitialSendCreditBytes = MaxCreditBytes
	InitialSendCreditMsgs  = 16
	// MaxCreditMsgs bounds a receiver's message credit, so that a credit's
	// worth of OpData always fits in libipc's receive queue
	// (libipc.RecvQueueLen) with room for the events and replies.
	MaxCreditMsgs = 16
	// MaxCreditBytes bounds a receiver's byte credit: what it allows in
	// flight, with the framing, must fit the queue of a kernel channel
	// (abi.QueueBytes, 256 KiB), or the sender would find it full.
	MaxCreditBytes = 192 << 10
	// MaxBacklog bounds ListenReq.Backlog.
	MaxBacklog = 1024
	// MaxAcceptWant bounds the connections an application may want at once.
	MaxAcceptWant = 64
)

// Empty is the body of requests and events with nothing to say.
type Empty = libipc.Empty

// ConnectReq opens a connection to Addr (an IPv4 address and a port) from
// an ephemeral port of the interface's address.
type ConnectReq struct {
	Addr sockproto.Addr `msgpack:"addr"`
}

// ListenReq makes the socket a listener on Addr (0.0.0.0 for any local
// address; the port must not be 0) with an accept queue of Backlog
// (1..MaxBacklog; 0 means the default).
type ListenReq struct {
	Addr    sockproto.Addr `msgpack:"addr"`
	Backlog int            `msgpack:"backlog"`
}

// AddrsResp gives a socket's addresses (Remote is zero for a listener).
type AddrsResp struct {
	Local  sockproto.Addr `msgpack:"local"`
	Remote sockproto.Addr `msgpack:"remote"`
}

// OptionReq sets options; a nil field is left as it is.
type OptionReq struct {
	NoDelay   *bool `msgpack:"nodelay,omitempty"`
	KeepAlive *bool `msgpack:"keepalive,omitempty"`
}

// Data carries bytes of the stream (1..MaxChunk).
type Data struct {
	Data []byte `msgpack:"d"`
}

// MsgSizeHint is about the encoded size (libipc.SizeHinter).
func (d *Data) MsgSizeHint() int { return len(d.Data) + 16 }

// Credit grants its receiver more bytes and messages of OpData.
type Credit struct {
	Bytes int `msgpack:"bytes"`
	Msgs  int `msgpack:"msgs"`
}

// AcceptMsg asks a listener for N more connections (1..MaxAcceptWant in
// all).
type AcceptMsg struct {
	N int `msgpack:"n"`
}

// Accepted announces a connection taken from the listener's accept queue.
// The message carries one cap: the connection's endpoint, on which the
// same protocol continues (the server grants its send credit there).
type Accepted struct {
	Local  sockproto.Addr `msgpack:"local"`
	Remote sockproto.Addr `msgpack:"remote"`
}

// ErrorMsg ends a connection with an error code (sockproto.Errno values:
// ECONNRESET, ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH,
// ECONNABORTED).
type ErrorMsg struct {
	Code sockproto.Errno `msgpack:"code"`
}

// ParseData decodes an OpData body as msgpack-go writes it (a map of one
// "d" key and its bin) without copying: the data aliases body. It reports
// false for anything else; the caller then decodes the body the general
// way. tcpd's stream path uses it: a 64 KiB chunk's next copy is into the
// connection's send buffer.
func ParseData(body []byte) ([]byte, bool) {
	if len(body) < 3 || body[0] != 0x81 || body[1] != 0xa1 || body[2] != 'd' {
		return nil, false
	}
	d, rest, ok := mpread.Bin(body[3:])
	if !ok || len(rest) != 0 {
		return nil, false
	}
	return d, true
}
