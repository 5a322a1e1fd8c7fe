package sockets

import (
	"errors"

	"armos/libsocket/sockproto"
	"armos/servers/netd/stack"
)

// stackErrnos maps the stack's errors to the codes sent to clients, in
// the order they are tried.
var stackErrnos = []struct {
	err error
	e   sockproto.Errno
}{
	{stack.ErrAddrInUse, sockproto.EADDRINUSE},
	{stack.ErrAddrNotAvailable, sockproto.EADDRNOTAVAIL},
	{stack.ErrNoEphemeralPorts, sockproto.EADDRNOTAVAIL},
	{stack.ErrClosed, sockproto.EBADF},
	{stack.ErrWouldBlock, sockproto.EAGAIN},
	{stack.ErrMessageTooLong, sockproto.EMSGSIZE},
	{stack.ErrBroadcastForbidden, sockproto.EACCES},
	{stack.ErrNoRoute, sockproto.ENETUNREACH},
	{stack.ErrInvalidAddr, sockproto.EINVAL},
	{stack.ErrBadOffload, sockproto.EINVAL},
	{stack.ErrNotConnected, sockproto.EDESTADDRREQ},
	{stack.ErrNoBuffer, sockproto.ENOBUFS},
	{stack.ErrConnRefused, sockproto.ECONNREFUSED},
	{stack.ErrHostUnreachable, sockproto.EHOSTUNREACH},
}

// errnoOf maps an error from the stack to the code sent to the client (EIO
// when no better code is known).
func errnoOf(err error) sockproto.Errno {
	var e sockproto.Errno
	if errors.As(err, &e) {
		return e
	}
	for _, m := range stackErrnos {
		if errors.Is(err, m.err) {
			return m.e
		}
	}
	return sockproto.EIO
}

// ErrnoOf maps an error from the stack to the code a client is sent (EIO
// when no better code is known): the socket service's mapping, shared with
// netd's protocol service.
func ErrnoOf(err error) sockproto.Errno { return errnoOf(err) }
