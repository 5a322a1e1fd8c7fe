package libipc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Code is an errno-like error code carried in error replies. Its values are
// the Linux errno numbers, so a client can map a code to syscall.Errno when it
// wants to, and protocol packages (sockproto, ...) share one code space.
//
// A Code is itself an error, and the Err* constants below are the sentinels
// of the whole IPC layer: local failures (a full queue, a closed peer) are
// returned as these codes (usually wrapped), and a *RemoteError unwraps to its
// code, so errors.Is(err, libipc.ErrAddrInUse) works the same for an error
// produced locally and for one that crossed IPC.
type Code uint16

// Codes used by libipc itself and by the services built on it. The numbers
// are Linux errno values (see errno(3)).
const (
	ErrPermission   Code = 1   // EPERM: operation not permitted
	ErrNotFound     Code = 2   // ENOENT: no such service or object
	ErrInternal     Code = 5   // EIO: the handler failed in a way with no better code
	ErrClosed       Code = 9   // EBADF: this side of the endpoint/connection is closed
	ErrWouldBlock   Code = 11  // EAGAIN: queue full (send) or empty (receive)
	ErrNoMemory     Code = 12  // ENOMEM
	ErrBusy         Code = 16  // EBUSY
	ErrExists       Code = 17  // EEXIST
	ErrInvalid      Code = 22  // EINVAL: invalid argument
	ErrPeerClosed   Code = 32  // EPIPE: the other end went away
	ErrUnknownOp    Code = 38  // ENOSYS: the server has no handler for this op
	ErrMalformed    Code = 74  // EBADMSG: undecodable message
	ErrTooLarge     Code = 90  // EMSGSIZE: message over the size/handle bound
	ErrBadVersion   Code = 93  // EPROTONOSUPPORT: unknown envelope version
	ErrAFNoSupport  Code = 97  // EAFNOSUPPORT
	ErrAddrInUse    Code = 98  // EADDRINUSE
	ErrAddrNotAvail Code = 99  // EADDRNOTAVAIL
	ErrNetUnreach   Code = 101 // ENETUNREACH
	ErrConnReset    Code = 104 // ECONNRESET
	ErrNoBufs       Code = 105 // ENOBUFS: a bounded queue is full
	ErrIsConn       Code = 106 // EISCONN
	ErrNotConn      Code = 107 // ENOTCONN
	ErrTimeout      Code = 110 // ETIMEDOUT
	ErrConnRefused  Code = 111 // ECONNREFUSED
	ErrHostUnreach  Code = 113 // EHOSTUNREACH
	ErrCanceled     Code = 125 // ECANCELED
)

var codeNames = map[Code]string{
	ErrPermission:   "permission denied",
	ErrNotFound:     "not found",
	ErrInternal:     "internal error",
	ErrClosed:       "use of closed endpoint",
	ErrWouldBlock:   "would block",
	ErrNoMemory:     "out of memory",
	ErrBusy:         "busy",
	ErrExists:       "already exists",
	ErrInvalid:      "invalid argument",
	ErrPeerClosed:   "peer closed",
	ErrUnknownOp:    "unknown operation",
	ErrMalformed:    "malformed message",
	ErrTooLarge:     "message too large",
	ErrBadVersion:   "unsupported envelope version",
	ErrAFNoSupport:  "address family not supported",
	ErrAddrInUse:    "address already in use",
	ErrAddrNotAvail: "address not available",
	ErrNetUnreach:   "network unreachable",
	ErrConnReset:    "connection reset",
	ErrNoBufs:       "no buffer space",
	ErrIsConn:       "already connected",
	ErrNotConn:      "not connected",
	ErrTimeout:      "timed out",
	ErrConnRefused:  "connection refused",
	ErrHostUnreach:  "host unreachable",
	ErrCanceled:     "canceled",
}

// Error returns "libipc: " followed by the code's description.
func (c Code) Error() string {
	if s, ok := codeNames[c]; ok {
		return "libipc: " + s
	}
	return "libipc: error code " + strconv.Itoa(int(c))
}

// CodeOf maps an error to the code sent in an error reply: the first Code
// found in err's chain (so wrapped sentinels and *RemoteError keep their
// code), ErrCanceled/ErrTimeout for context errors, ErrInternal otherwise.
// CodeOf(nil) is 0.
func CodeOf(err error) Code {
	if err == nil {
		return 0
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ErrCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	}
	return ErrInternal
}

// RemoteError is an error reply received from the peer: the server's code
// and message for the request with operation Op. It unwraps to its Code, so
// errors.Is(err, libipc.ErrUnknownOp) and friends work on it.
type RemoteError struct {
	Op   Op
	Code Code
	Msg  string
}

// Error describes the remote failure.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("libipc: %v: remote error %d: %s", e.Op, e.Code, e.Msg)
}

// Unwrap returns the error code, for errors.Is/As.
func (e *RemoteError) Unwrap() error { return e.Code }

// Reason classifies a decoding failure (see FrameError).
type Reason uint8

// Decoding failure classes.
const (
	ReasonTruncated  Reason = iota + 1 // input ends inside a value
	ReasonTrailing                     // bytes left after the body value
	ReasonWrongType                    // a value of the wrong msgpack type, or an unknown struct field
	ReasonTooLarge                     // input over MaxMessageSize, or a length/depth over its bound
	ReasonBadHeader                    // the envelope is not a 4-element array of unsigned integers
	ReasonBadVersion                   // envelope version other than Version
	ReasonBadKind                      // envelope kind outside KindRequest..KindOneway
	ReasonUnknownOp                    // no handler (server) or unexpected op (client)
)

var reasonNames = [...]string{
	ReasonTruncated:  "truncated input",
	ReasonTrailing:   "trailing bytes after body",
	ReasonWrongType:  "wrong type",
	ReasonTooLarge:   "too large",
	ReasonBadHeader:  "bad envelope",
	ReasonBadVersion: "unsupported version",
	ReasonBadKind:    "bad message kind",
	ReasonUnknownOp:  "unknown op",
}

// String names the reason.
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Code is the error code a server replies with for this reason.
func (r Reason) Code() Code {
	switch r {
	case ReasonTooLarge:
		return ErrTooLarge
	case ReasonBadVersion:
		return ErrBadVersion
	case ReasonUnknownOp:
		return ErrUnknownOp
	}
	return ErrMalformed
}

// FrameError is a decoding failure: what went wrong (Reason), at which byte
// offset of the message, for which op (when the envelope was readable), and
// the underlying msgpack error if any. It matches errors.Is against the
// reason's Code (ErrMalformed, ErrTooLarge, ErrBadVersion, ErrUnknownOp) and
// against its underlying error.
type FrameError struct {
	Reason Reason
	Op     Op
	Offset int
	Err    error
}

// Error describes the failure.
func (e *FrameError) Error() string {
	s := fmt.Sprintf("libipc: decode %v: %v at byte %d", e.Op, e.Reason, e.Offset)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the reason's code and the underlying error.
func (e *FrameError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason.Code()}
	}
	return []error{e.Reason.Code(), e.Err}
}
