package dhcp

import (
	"errors"
	"fmt"
)

// Reasons a message is rejected. ParseError wraps them: test with errors.Is.
var (
	// ErrShort: shorter than the fixed header and the magic cookie (240
	// bytes).
	ErrShort = errors.New("dhcp: message truncated")
	// ErrTooLong: longer than MaxMessageLen (parse or marshal).
	ErrTooLong = errors.New("dhcp: message too long")
	// ErrBadOp: op is neither BOOTREQUEST nor BOOTREPLY.
	ErrBadOp = errors.New("dhcp: bad op")
	// ErrBadHLen: a hardware address length over 16.
	ErrBadHLen = errors.New("dhcp: bad hardware address length")
	// ErrBadCookie: no DHCP magic cookie (a plain BOOTP message).
	ErrBadCookie = errors.New("dhcp: bad magic cookie")
	// ErrTruncatedOption: an option's length byte, or its data, runs past
	// the end of its area.
	ErrTruncatedOption = errors.New("dhcp: option truncated")
	// ErrNoEnd: an option area without the End option.
	ErrNoEnd = errors.New("dhcp: option area without End")
	// ErrOverloadLoop: an overload option inside file or sname (it would
	// send the parser back into an area), or more than one in the
	// options field.
	ErrOverloadLoop = errors.New("dhcp: option overload loop")
	// ErrBadOverload: an overload option whose length is not 1 or whose
	// value is not 1, 2 or 3.
	ErrBadOverload = errors.New("dhcp: bad option overload")
	// ErrBadOption: a known option with the wrong length or a bad value
	// (a message type outside 1..8, an MTU under 68, a non-contiguous
	// subnet mask, ...).
	ErrBadOption = errors.New("dhcp: bad option")
	// ErrNoMessageType: no DHCP message type option (Parse accepts it;
	// callers that need one use this reason).
	ErrNoMessageType = errors.New("dhcp: no message type")
	// ErrOptionTooLong: a single-instance option longer than 255 bytes
	// to marshal where splitting is not allowed (Pad, End, Overload).
	ErrOptionTooLong = errors.New("dhcp: option too long")
)

// ParseError says where a message was found wrong.
type ParseError struct {
	Area   string // "header", "options", "file" or "sname"
	Option int    // the option code, or -1
	Offset int    // byte offset in the message
	Err    error  // one of the Err* values
}

func (e *ParseError) Error() string {
	if e.Option >= 0 {
		return fmt.Sprintf("%v (%s, option %d, offset %d)", e.Err, e.Area, e.Option, e.Offset)
	}
	return fmt.Sprintf("%v (%s, offset %d)", e.Err, e.Area, e.Offset)
}

func (e *ParseError) Unwrap() error { return e.Err }
