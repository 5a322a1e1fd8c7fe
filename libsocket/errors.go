package libsocket

import (
	"errors"
	"net"
	"net/netip"

	"armos/libipc"
	"armos/libsocket/sockproto"
)

// The error codes of the socket protocol, re-exported so applications need
// only this package: errors.Is(err, libsocket.EADDRINUSE).
const (
	EADDRINUSE    = sockproto.EADDRINUSE
	EADDRNOTAVAIL = sockproto.EADDRNOTAVAIL
	EAGAIN        = sockproto.EAGAIN
	ETIMEDOUT     = sockproto.ETIMEDOUT
	EBADF         = sockproto.EBADF
	EINVAL        = sockproto.EINVAL
	EMSGSIZE      = sockproto.EMSGSIZE
	ENOTCONN      = sockproto.ENOTCONN
	EDESTADDRREQ  = sockproto.EDESTADDRREQ
	EACCES        = sockproto.EACCES
	ECONNREFUSED  = sockproto.ECONNREFUSED
	EHOSTUNREACH  = sockproto.EHOSTUNREACH
	EMFILE        = sockproto.EMFILE
	ENFILE        = sockproto.ENFILE
	ENETUNREACH   = sockproto.ENETUNREACH
)

// netName is the Net field of every error: the only socket type is UDP.
const netName = "udp"

// udpAddr converts for net.OpError, which wants a nil interface (not a typed
// nil) when there is no address.
func udpAddr(ap netip.AddrPort) net.Addr {
	if !ap.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(ap)
}

// cause turns an error from libipc into what the application tests: an
// error reply from netd becomes its sockproto.Errno; a context error or a
// local IPC failure (libipc.ErrPeerClosed, ...) is kept as is.
func cause(err error) error {
	var re *libipc.RemoteError
	if errors.As(err, &re) {
		return sockproto.ErrnoOf(re.Code)
	}
	return err
}

// opError wraps err as a *net.OpError for op on a socket whose local
// address is local, involving the remote address remote (either may be
// invalid).
func opError(op string, local, remote netip.AddrPort, err error) error {
	return &net.OpError{Op: op, Net: netName, Source: udpAddr(local), Addr: udpAddr(remote), Err: cause(err)}
}
