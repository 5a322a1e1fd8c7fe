package tcp

import (
	"errors"
	"net"
	"net/netip"
)

// Errors of the API and of connections. They are sentinel values (compare
// with errors.Is); API errors wrap them in a *net.OpError.
var (
	ErrAddrInUse        = errors.New("address already in use")
	ErrInvalidAddr      = errors.New("invalid address")
	ErrNoEphemeralPorts = errors.New("no free ephemeral port")
	ErrInvalidConfig    = errors.New("invalid TCP configuration")
	// ErrWouldBlock: Read with nothing to read, Write with a full send
	// buffer, Accept with no connection waiting.
	ErrWouldBlock = errors.New("operation would block")
	// ErrClosed: the connection or listener was closed by its user, or
	// Write after CloseWrite (EPIPE).
	ErrClosed = errors.New("use of closed connection")
	// ErrNotConnected: an operation that needs a synchronized connection.
	ErrNotConnected = errors.New("connection not established")
	// Connection errors, reported by Err and by Read and Write.
	ErrConnRefused     = errors.New("connection refused")
	ErrConnReset       = errors.New("connection reset by peer")
	ErrTimedOut        = errors.New("connection timed out")
	ErrHostUnreachable = errors.New("no route to host")
	ErrNetUnreachable  = errors.New("network is unreachable")
)

// opErr wraps an API error in a *net.OpError naming the operation
// ("listen", "connect", "accept") and the address, as package net does:
// "listen tcp 10.0.2.15:80: address already in use".
func opErr(op string, addr netip.AddrPort, err error) error {
	e := &net.OpError{Op: op, Net: "tcp", Err: err}
	if addr.IsValid() {
		e.Addr = net.TCPAddrFromAddrPort(addr)
	}
	return e
}
