// Package dns parses and builds DNS messages (RFC 1035, with AAAA from RFC
// 3596, the clarifications of RFC 2181 and EDNS0's OPT record from RFC
// 6891). It is the wire layer of resolved, armos's caching resolver.
//
// Parse is strict and bounded: every length is checked against the
// message, names are at most 255 bytes with labels of at most 63,
// compression pointers must point to a prior occurrence, before the name
// being read (so they cannot loop), and a name may follow at most
// MaxPointers of them. Any violation is a *ParseError naming the section
// and record, wrapping one of the Err* values, so callers count drops per
// reason. Nothing panics on any input (FuzzParseMessage).
//
// Records keep their data as bytes (RR.Data). The names inside the data of
// the types that may be compressed (RFC 3597 section 4: NS, CNAME, SOA,
// PTR, MX and the other RFC 1035 types, and SRV, RP, AFSDB, RT, PX, NAPTR)
// are expanded when parsed, so every RR is self-contained and can be put
// into another message as it is. A, AAAA, CNAME and SOA have accessors and
// constructors; every other type is carried opaquely.
//
// Message.Pack builds a message, compressing owner names and the names in
// the data of RFC 1035 types (case-exactly, so names keep their case).
package dns
