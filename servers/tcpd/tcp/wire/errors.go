package wire

import (
	"errors"

	ipwire "armos/servers/netd/wire"
)

// Sentinel errors of Parse and Emit. Where the reason is one netd's wire
// package already names, the value is the same, so either package's
// sentinel matches with errors.Is.
var (
	// ErrTruncated: fewer than 20 bytes, or fewer than the data offset
	// claims.
	ErrTruncated = ipwire.ErrTruncated
	// ErrBadHeaderLength: a data offset below 5 words.
	ErrBadHeaderLength = ipwire.ErrBadHeaderLength
	// ErrBadChecksum: the checksum over the pseudo-header and segment does
	// not verify.
	ErrBadChecksum = ipwire.ErrBadChecksum
	// ErrBadLength: a segment too long for an IPv4 datagram (emit only).
	ErrBadLength = ipwire.ErrBadLength
	// ErrBadAddress: an address that is not IPv4.
	ErrBadAddress = ipwire.ErrBadAddress
	// ErrShortBuffer: the slice given to Emit cannot hold the header.
	ErrShortBuffer = ipwire.ErrShortBuffer
	// ErrBadOption: an option whose length byte is below 2 or runs past the
	// end of the header; options after it cannot be found.
	ErrBadOption = errors.New("wire: malformed TCP option")
	// ErrOptionsTooLong: options that need more than the 40 bytes a
	// header has for them (emit only).
	ErrOptionsTooLong = errors.New("wire: TCP options longer than 40 bytes")
)
