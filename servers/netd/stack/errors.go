package stack

import (
	"errors"
	"fmt"
	"net/netip"
)

// Errors returned by the stack's API. They are sentinel values (compare with
// errors.Is); API errors that carry an address wrap them in *OpError.
var (
	ErrAddrInUse          = errors.New("address already in use")
	ErrAddrNotAvailable   = errors.New("cannot assign requested address")
	ErrNoEphemeralPorts   = errors.New("no free ephemeral port")
	ErrClosed             = errors.New("endpoint closed")
	ErrWouldBlock         = errors.New("operation would block")
	ErrMessageTooLong     = errors.New("message too long")
	ErrBroadcastForbidden = errors.New("broadcast not enabled on endpoint")
	ErrNoRoute            = errors.New("no route to host")
	ErrInvalidAddr        = errors.New("invalid address")
	ErrNotConnected       = errors.New("endpoint not connected")
	ErrProtocolInUse      = errors.New("IP protocol number already registered")
	ErrInvalidConfig      = errors.New("invalid stack configuration")
	ErrNoBuffer           = errors.New("no packet buffer available")
	ErrConnRefused        = errors.New("connection refused")
	ErrHostUnreachable    = errors.New("no route to host (ICMP unreachable)")
	ErrBadOffload         = errors.New("invalid segmentation offload request")
)

// OpError describes a failed API operation, in the style of net.OpError:
// the operation ("bind", "sendto", ...), the address involved, and the cause.
type OpError struct {
	Op   string
	Addr netip.AddrPort
	Err  error
}

// Error formats the error as "op addr: cause".
func (e *OpError) Error() string {
	if !e.Addr.IsValid() {
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Addr, e.Err)
}

// Unwrap returns the cause, so errors.Is(err, ErrAddrInUse) works.
func (e *OpError) Unwrap() error { return e.Err }

func opErr(op string, addr netip.AddrPort, err error) error {
	return &OpError{Op: op, Addr: addr, Err: err}
}
