package link

import "errors"

// ErrClosed is returned by a link's read or write after Close.
var ErrClosed = errors.New("link: closed")

// ethHeaderLen is the length of an Ethernet II header: two MACs and a type.
const ethHeaderLen = 14
