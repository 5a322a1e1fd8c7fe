// Package libsocket is the socket library of armos applications: UDP sockets
// whose protocol work is done by netd, reached over libipc with the socket
// protocol of package sockproto.
//
// A Client is one IPC connection to netd's socket service; a Socket is one
// datagram socket on it, with the BSD calls as methods (Bind, Connect,
// SendTo, RecvFrom, LocalAddr, SetOption, Close). Addresses are
// netip.AddrPort. Every method takes a context: cancelling it abandons the
// call (a parked receive is cancelled in netd, and a datagram that raced
// with the cancellation is still returned, never lost).
//
// Errors are *net.OpError values, {Op: "bind", Net: "udp", Source: the
// socket's local address, Addr: the remote address, Err: cause}, whose Err
// is a sockproto.Errno for every failure netd reports, so callers test them
// with errors.Is(err, sockproto.EADDRINUSE) (the same names are re-exported
// here: libsocket.EADDRINUSE). Timeouts satisfy net.Error's Timeout() and
// errors.Is(err, os.ErrDeadlineExceeded).
//
// PacketConn adapts a Socket to net.PacketConn, with Go's deadline
// semantics, so ordinary Go code runs unchanged on armos sockets.
//
// Restart: the Client remembers, per socket, what the application asked for
// (the bound address, the connected peer, the options it set). When netd dies
// and a Dialer was given, the next call that sees the connection gone
// reconnects through the Dialer and replays that state into the new netd
// (same port, same peer, same options), then retries the call; the
// application sees no error. Datagrams queued in the old netd are lost; the
// Client counts reconnects and replays in Stats. See docs/sockets.md.
//
// Client and Socket are safe for concurrent use.
package libsocket
