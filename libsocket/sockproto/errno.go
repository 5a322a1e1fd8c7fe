package sockproto

import (
	"os"
	"strconv"
	"syscall"

	"armos/libipc"
)

// Errno is an error code carried in a socket reply. The values are the Linux
// (arm64) errno numbers, so that a syscall shim can pass them through.
//
// Errno values are sentinels: libsocket wraps them in *net.OpError, and
// callers test them with errors.Is(err, sockproto.EADDRINUSE).
type Errno uint16

// Error codes used by the socket protocol.
const (
	EIO             Errno = 5   // a stack failure with no better code
	EBADF           Errno = 9   // bad socket handle
	EAGAIN          Errno = 11  // non-blocking receive found nothing queued
	EPIPE           Errno = 32  // stream: write after shutdown or close
	EACCES          Errno = 13  // send to a broadcast address without OptBroadcast
	EMFILE          Errno = 24  // too many sockets on this connection
	EINVAL          Errno = 22  // invalid argument (bad address, bad option value, already bound)
	ENFILE          Errno = 23  // netd holds too many client connections; this one was refused
	ENOSYS          Errno = 38  // unknown operation
	EBADMSG         Errno = 74  // malformed request (undecodable envelope or body)
	EDESTADDRREQ    Errno = 89  // send without a destination on an unconnected socket
	EMSGSIZE        Errno = 90  // datagram larger than MaxDatagram
	ENOPROTOOPT     Errno = 92  // unknown socket option
	EPROTONOSUPPORT Errno = 93  // socket type other than datagram (stream: no stream server registered)
	EOPNOTSUPP      Errno = 95  // stream socket: this netd cannot hand sockets to a stream server
	EAFNOSUPPORT    Errno = 97  // address family other than IPv4
	EADDRINUSE      Errno = 98  // local address already bound
	EADDRNOTAVAIL   Errno = 99  // bind to an address that is not ours, or no free ephemeral port
	ENETUNREACH     Errno = 101 // no route to the destination
	ECONNABORTED    Errno = 103 // stream: the connection was aborted locally (the stream server gave it up)
	ECONNRESET      Errno = 104 // stream: the peer reset the connection
	ENOBUFS         Errno = 105 // the stack could not queue the datagram
	EISCONN         Errno = 106 // operation not allowed on a connected socket
	ENOTCONN        Errno = 107 // getpeername/send without address on an unconnected socket
	ETIMEDOUT       Errno = 110 // blocking receive timed out
	ECONNREFUSED    Errno = 111 // ICMP port unreachable answered a connected socket's datagram
	EHOSTUNREACH    Errno = 113 // another ICMP destination unreachable answered it
	ECANCELED       Errno = 125 // a parked recvfrom ended by OpCancel
)

var errnoText = map[Errno]string{
	EIO:             "input/output error",
	EBADF:           "bad socket handle",
	EAGAIN:          "resource temporarily unavailable",
	EPIPE:           "broken pipe",
	EACCES:          "permission denied (broadcast not enabled)",
	EMFILE:          "too many open sockets",
	EINVAL:          "invalid argument",
	ENFILE:          "too many client connections to netd",
	ENOSYS:          "function not implemented (unknown operation)",
	EBADMSG:         "bad message (malformed request)",
	EDESTADDRREQ:    "destination address required",
	EMSGSIZE:        "message too long",
	ENOPROTOOPT:     "protocol not available (unknown option)",
	EPROTONOSUPPORT: "protocol not supported",
	EOPNOTSUPP:      "operation not supported",
	EAFNOSUPPORT:    "address family not supported",
	EADDRINUSE:      "address already in use",
	EADDRNOTAVAIL:   "cannot assign requested address",
	ENETUNREACH:     "network is unreachable",
	ECONNABORTED:    "software caused connection abort",
	ECONNRESET:      "connection reset by peer",
	ENOBUFS:         "no buffer space available",
	EISCONN:         "socket is already connected",
	ENOTCONN:        "socket is not connected",
	ETIMEDOUT:       "timed out",
	ECONNREFUSED:    "connection refused",
	EHOSTUNREACH:    "no route to host",
	ECANCELED:       "operation canceled",
}

// Error returns the conventional text for the code.
func (e Errno) Error() string {
	if s, ok := errnoText[e]; ok {
		return s
	}
	return "errno " + strconv.Itoa(int(e))
}

// Known reports whether e is one of the codes defined by this package.
func (e Errno) Known() bool {
	_, ok := errnoText[e]
	return ok
}

// Timeout reports whether the error is a timeout, as syscall.Errno does:
// true for EAGAIN and ETIMEDOUT. It makes a wrapping *net.OpError satisfy
// net.Error's Timeout().
func (e Errno) Timeout() bool { return e == EAGAIN || e == ETIMEDOUT }

// Temporary is part of net.Error; it reports the same as Timeout.
//
// Deprecated: as in package net, prefer Timeout or errors.Is.
func (e Errno) Temporary() bool { return e.Timeout() }

// Is makes ETIMEDOUT match os.ErrDeadlineExceeded, so Go code that checks
// errors.Is(err, os.ErrDeadlineExceeded) treats a receive timeout (socket
// option OptRecvTimeout) like a deadline. It also matches the libipc.Code
// and the syscall.Errno of the same number (all use Linux errno values), so
// errors.Is(err, libipc.ErrAddrInUse) and errors.Is(err,
// syscall.ECONNREFUSED) hold for EADDRINUSE and ECONNREFUSED.
func (e Errno) Is(target error) bool {
	switch t := target.(type) {
	case libipc.Code:
		return uint16(t) == uint16(e)
	case syscall.Errno:
		return uint16(t) == uint16(e) // errors.Is(err, syscall.ECONNREFUSED), as code written for Linux tests
	}
	return e == ETIMEDOUT && target == os.ErrDeadlineExceeded
}

// As lets libipc.CodeOf (and errors.As with a *libipc.Code) see e as the
// libipc.Code of the same number, so a server can answer Request.Fail(e)
// and the reply carries e's number and text.
func (e Errno) As(target any) bool {
	if p, ok := target.(*libipc.Code); ok {
		*p = libipc.Code(e)
		return true
	}
	return false
}

// Code returns e as the libipc error code sent in an error reply.
func (e Errno) Code() libipc.Code { return libipc.Code(e) }

// ErrnoOf returns the Errno for an error-reply code.
func ErrnoOf(c libipc.Code) Errno { return Errno(c) }
