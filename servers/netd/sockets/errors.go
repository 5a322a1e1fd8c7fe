package sockets

import (
	"errors"

	"armos/libsocket/sockproto"
	"armos/servers/netd/stack"
)

// errnoOf maps an error from the stack to the code sent to the client.
func errnoOf(err error) sockproto.Errno {
	var e sockproto.Errno
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, stack.ErrAddrInUse):
		return sockproto.EADDRINUSE
	case errors.Is(err, stack.ErrAddrNotAvailable), errors.Is(err, stack.ErrNoEphemeralPorts):
		return sockproto.EADDRNOTAVAIL
	case errors.Is(err, stack.ErrClosed):
		return sockproto.EBADF
	case errors.Is(err, stack.ErrWouldBlock):
		return sockproto.EAGAIN
	case errors.Is(err, stack.ErrMessageTooLong):
		return sockproto.EMSGSIZE
	case errors.Is(err, stack.ErrBroadcastForbidden):
		return sockproto.EACCES
	case errors.Is(err, stack.ErrNoRoute):
		return sockproto.ENETUNREACH
	case errors.Is(err, stack.ErrInvalidAddr):
		return sockproto.EINVAL
	case errors.Is(err, stack.ErrNotConnected):
		return sockproto.EDESTADDRREQ
	case errors.Is(err, stack.ErrNoBuffer):
		return sockproto.ENOBUFS
	case errors.Is(err, stack.ErrConnRefused):
		return sockproto.ECONNREFUSED
	case errors.Is(err, stack.ErrHostUnreachable):
		return sockproto.EHOSTUNREACH
	}
	return sockproto.EIO
}
