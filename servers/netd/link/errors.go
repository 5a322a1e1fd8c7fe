package link

import "errors"

// ErrClosed is returned by a link's read or write after Close.
var ErrClosed = errors.New("link: closed")

// ethHeaderLen is the length of an Ethernet II header: two MACs and a type.
const ethHeaderLen = 14

// ErrBadSlots: a driver shared slots out of order, too many, or of a bad
// size (OpSlots).
var ErrBadSlots = errors.New("link: bad shared slots")
