// Package wire holds armos's on-the-wire packet formats: Ethernet II, ARP
// (Ethernet/IPv4), IPv4, ICMPv4 and UDP, one file per header, plus the RFC 1071
// internet checksum and the IANA numbers (EtherTypes, IP protocol numbers, ICMP
// types and codes, ARP opcodes) with String methods for debugging.
//
// # Design
//
// Each header has two faces, after gVisor's header package and smoltcp's wire
// module:
//
//   - A checked view: a named byte-slice type (Ethernet, ARP, IPv4, ICMPv4,
//     UDP) returned by ParseX(b). ParseX does the one length and validity
//     check; after it succeeds no accessor of the view can panic, and the view
//     aliases b (no copy). A view is sliced to the header's own length where
//     the header states one (IPv4 total length, UDP length), so trailing
//     Ethernet padding is dropped.
//
//   - A Repr: a small struct of the header's fields (EthernetRepr, ARPRepr,
//     IPv4Repr, ICMPv4Repr, UDPRepr). view.Repr() reads one out; repr.Emit(b)
//     writes the header into a caller-provided slice, typically one returned by
//     skbuff.Buf.Push, computing lengths and checksums. For every Repr,
//     parsing what Emit wrote yields the same Repr.
//
// ParseX verifies everything that can be verified from b alone: lengths,
// version, header length and, for IPv4 and ICMPv4, the checksum. The UDP
// checksum covers the IPv4 pseudo-header, so it is checked separately with
// UDP.VerifyChecksum(src, dst).
//
// Views should only be made by ParseX: converting an arbitrary slice with a
// type conversion (wire.IPv4(b)) skips the check that makes accessors safe.
//
// Parse, accessors and Emit allocate nothing (addresses are netip.Addr built
// with netip.AddrFrom4). Errors are the sentinel values in errors.go, so the
// stack can count drops per reason by comparing errors.
package wire
