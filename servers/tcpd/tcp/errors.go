package tcp

import (
	"errors"
	"fmt"
	"net/netip"
)

// Errors of the API and of connections. They are sentinel values (compare
// with errors.Is); API errors that carry an address wrap them in *OpError.
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

// OpError describes a failed API call in the style of net.OpError: the
// operation ("listen", "connect"), the address involved and the cause.
type OpError struct {
	Op   string
	Addr netip.AddrPort
	Err  error
}

// Error formats the error as "op addr: cause".
func (e *OpError) Error() string {
	if !e.Addr.IsValid() {
		return fmt.Sprintf("tcp %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("tcp %s %s: %v", e.Op, e.Addr, e.Err)
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

func opErr(op string, addr netip.AddrPort, err error) error {
	return &OpError{Op: op, Addr: addr, Err: err}
}
