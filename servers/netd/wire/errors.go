package wire

import "errors"

// Sentinel errors returned by the parsers and emitters. They are plain values:
// compare them with errors.Is (or ==) to count drops per reason.
var (
	// ErrTruncated: the buffer is shorter than the header, or shorter than
	// the length the header claims.
	ErrTruncated = errors.New("wire: truncated packet")
	// ErrBadChecksum: a checksum does not verify.
	ErrBadChecksum = errors.New("wire: bad checksum")
	// ErrBadLength: a length field is inconsistent (IPv4 total length below
	// the header length, UDP length below 8, a payload too large to encode).
	ErrBadLength = errors.New("wire: bad length field")
	// ErrBadVersion: the IPv4 version field is not 4.
	ErrBadVersion = errors.New("wire: bad IP version")
	// ErrBadHeaderLength: the IPv4 IHL is below 5, or options are not a
	// multiple of 4 bytes or longer than 40.
	ErrBadHeaderLength = errors.New("wire: bad header length")
	// ErrUnsupported: a well-formed packet of a kind this package does not
	// handle (ARP for anything but Ethernet/IPv4).
	ErrUnsupported = errors.New("wire: unsupported format")
	// ErrBadAddress: an address that cannot be encoded (not IPv4).
	ErrBadAddress = errors.New("wire: bad address")
	// ErrBadFragment: a fragment offset that is not a multiple of 8 or does
	// not fit in 13 bits (emit only).
	ErrBadFragment = errors.New("wire: bad fragment offset")
	// ErrShortBuffer: the slice given to Emit is too small for the header
	// (and payload, where Emit checksums it).
	ErrShortBuffer = errors.New("wire: buffer too small to emit into")
)
