// Package wire is the TCP segment format (RFC 9293 section 3.1): a checked
// view of a received segment, a Repr of the fields a sender chooses, the
// options tcpd uses, and the checksum over the IPv4 pseudo-header.
//
// # Design
//
// It follows netd's wire package (servers/netd/wire), whose checksum and
// pseudo-header it reuses:
//
//   - Segment is a checked view, a named byte slice returned by Parse. Parse
//     does the one length and validity check (20 bytes, a data offset of at
//     least 5 words that fits, options that can be walked); after it succeeds
//     no accessor can panic and the view aliases b. TCP has no length field:
//     the segment is the whole IP payload, so the view is all of b.
//
//   - Repr holds the header's fields; Segment.Repr reads one out and
//     Repr.Emit writes a header (options included) in front of a payload
//     already in place and computes the checksum. Parsing what Emit wrote
//     yields the same Repr.
//
// The checksum covers the IPv4 pseudo-header, so it is checked separately
// with Segment.VerifyChecksum(src, dst), as for UDP.
//
// # Options
//
// Parsed: MSS (kind 2), window scale (3), SACK-permitted (4) and timestamps
// (8). SACK blocks (5) and unknown kinds are skipped by their length. A
// known option with the wrong length is skipped too, as Linux does
// (RFC 9293 3.1 asks only that an illegal length not crash the receiver);
// an option whose length byte is below 2 or runs past the header makes the
// whole segment malformed (ErrBadOption), since nothing after it can be
// trusted. Options are emitted in Linux's order and padding (MSS,
// SACK-permitted with timestamps, NOP-padded window scale), so a Repr parsed
// from a Linux segment emits the same bytes.
//
// Parse, accessors and Emit allocate nothing. Errors are the sentinels in
// errors.go, shared with netd's wire package where the reason is the same.
package wire
