package sockets

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"armos/libsocket/sockproto"
	"armos/servers/netd/stack"
)

func TestErrnoOfStackErrors(t *testing.T) {
	for err, want := range map[error]sockproto.Errno{
		stack.ErrAddrInUse:          sockproto.EADDRINUSE,
		stack.ErrAddrNotAvailable:   sockproto.EADDRNOTAVAIL,
		stack.ErrNoEphemeralPorts:   sockproto.EADDRNOTAVAIL,
		stack.ErrClosed:             sockproto.EBADF,
		stack.ErrWouldBlock:         sockproto.EAGAIN,
		stack.ErrMessageTooLong:     sockproto.EMSGSIZE,
		stack.ErrBroadcastForbidden: sockproto.EACCES,
		stack.ErrNoRoute:            sockproto.ENETUNREACH,
		stack.ErrInvalidAddr:        sockproto.EINVAL,
		stack.ErrNotConnected:       sockproto.EDESTADDRREQ,
		stack.ErrNoBuffer:           sockproto.ENOBUFS,
		stack.ErrConnRefused:        sockproto.ECONNREFUSED,
		stack.ErrHostUnreachable:    sockproto.EHOSTUNREACH,
		errors.New("link on fire"):  sockproto.EIO,
		sockproto.ETIMEDOUT:         sockproto.ETIMEDOUT,
	} {
		wrapped := &stack.OpError{Op: "sendto", Addr: netip.MustParseAddrPort("10.0.2.2:7"), Err: err}
		assert.Equal(t, want, errnoOf(wrapped), "%v", err)
		assert.Equal(t, want, errnoOf(fmt.Errorf("x: %w", err)), "%v", err)
	}
}
