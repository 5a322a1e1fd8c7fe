// Package sockproto is the socket protocol spoken between libsocket (the
// client library linked into applications) and the socket service inside
// netd (servers/netd/sockets).
//
// Everything both sides must agree on is defined here, once: the operation
// codes (Op), the msgpack body struct of every request and reply, the
// address encoding (Addr), socket options (Opt) and the errno-like error
// codes (Errno) a reply can carry.
//
// Each request is a libipc envelope whose op is one of the Op constants and
// whose body is the matching *Req struct; the reply body is the matching
// *Resp struct, or an error reply carrying an Errno (see ReplyError).
// Sockets are named by a Handle that is meaningful only on the client
// connection that created it: the same number on another connection is a
// different socket (or none, which is EBADF).
//
// The protocol is deliberately close to the BSD calls so that a Linux
// syscall shim can map onto it one to one; Errno values use the Linux arm64
// numbers for the same reason.
//
// See docs/sockets.md for the blocking semantics and the full table.
package sockproto
