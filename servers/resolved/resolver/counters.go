package resolver

import (
	"fmt"
	"reflect"
	"strings"
)

// Counters is a snapshot of an Engine's counters, grouped like netd's:
// plain uint64 fields, one per event and per drop reason.
type Counters struct {
	Lookups  LookupCounters
	Upstream UpstreamCounters
	Cache    CacheCounters
	Clients  ClientCounters
}

// LookupCounters counts resolutions (Engine.Lookup, and each query that
// Answer passes to it). Every lookup ends in exactly one of FromCache,
// Joined (then with the lookup it joined), Resolved, Negative or Failed*.
type LookupCounters struct {
	Started         uint64 // Lookup calls
	FromCache       uint64 // answered wholly from the cache
	Joined          uint64 // waited on a lookup of the same (name, type) already in flight
	Upstream        uint64 // lookups that asked upstream servers
	Resolved        uint64 // upstream lookups ending with records
	Negative        uint64 // upstream lookups ending with NXDOMAIN or NODATA
	FailedTimeout   uint64 // SERVFAIL: no server answered in time
	FailedServer    uint64 // SERVFAIL: every server failed (SERVFAIL, REFUSED, ...)
	FailedTruncated uint64 // SERVFAIL: the answer was truncated, and none came over TCP (ErrTruncated)
	FailedCNAME     uint64 // SERVFAIL: CNAME chain too long or looping
	FailedSend      uint64 // SERVFAIL: the transport could not send any try
	Overloaded      uint64 // SERVFAIL at once: MaxLookups or MaxWaiters reached
	NotImplemented  uint64 // NOTIMP: a meta type (ANY, AXFR, ...) or a class other than IN
	Requeried       uint64 // a server's answer ended at a CNAME's target: asked again for it
}

// UpstreamCounters counts the engine's queries and what came back. Every
// datagram passed to Input ends in Accepted or one Rx* drop counter.
type UpstreamCounters struct {
	Tries           uint64 // queries sent (each try of each lookup)
	SendErrors      uint64 // the transport refused a query
	Timeouts        uint64 // tries that got no answer in Timeout
	RxDatagrams     uint64 // datagrams passed to Input
	Accepted        uint64 // answers matching a live try
	RxMalformed     uint64 // drop: not a parseable DNS message
	RxUnknown       uint64 // drop: for no live try (late, after its lookup ended)
	RxWrongID       uint64 // drop: ID not the one sent
	RxWrongSource   uint64 // drop: not from the server asked
	RxNotResponse   uint64 // drop: QR clear
	RxBadOpcode     uint64 // drop: opcode not QUERY
	RxWrongQuestion uint64 // drop: question count, name, type or class not the one sent
	RxCaseMismatch  uint64 // drop: question right but for its letters' case (0x20)
	Truncated       uint64 // accepted answers with TC set (asked again over TCP if the transport can)
	TCPTries        uint64 // queries sent over TCP after a truncated answer
	ServFail        uint64 // accepted answers with SERVFAIL
	Refused         uint64 // accepted answers with REFUSED
	OtherRCode      uint64 // accepted answers with FORMERR, NOTIMP or another code
	IgnoredRecords  uint64 // answer records off the CNAME chain, not used or cached
}

// ClientCounters counts the queries passed to Answer. Every one ends in
// Answered or a drop.
type ClientCounters struct {
	Queries     uint64 // messages passed to Answer
	Answered    uint64 // replies sent (any code)
	DropShort   uint64 // drop: shorter than a header, nothing to reply to
	DropNotQry  uint64 // drop: QR set (a response: never answered, no loops)
	FormErr     uint64 // answered FORMERR: unparseable, or not one question
	NotImp      uint64 // answered NOTIMP: opcode not QUERY
	TruncatedTC uint64 // answers too large for the client's UDP size: sent empty with TC
	ServFail    uint64 // answered SERVFAIL
	NXDomain    uint64 // answered NXDOMAIN
	// DropNotAllowed: datagrams Server.ServePacket dropped before Answer
	// (a source its allow function rejected); not in Queries.
	DropNotAllowed uint64
}

// String prints the non-zero counters, one group a line.
func (c Counters) String() string {
	var sb strings.Builder
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		g := v.Field(i)
		var parts []string
		for j := range g.NumField() {
			if n := g.Field(j).Uint(); n != 0 {
				parts = append(parts, fmt.Sprintf("%s=%d", g.Type().Field(j).Name, n))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&sb, "%s: %s\n", strings.ToLower(v.Type().Field(i).Name), strings.Join(parts, " "))
		}
	}
	return sb.String()
}

// Get returns the counter named "group.Field" (e.g. "upstream.RxWrongID").
func (c Counters) Get(name string) (uint64, bool) {
	group, field, ok := strings.Cut(name, ".")
	if !ok {
		return 0, false
	}
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		if strings.EqualFold(v.Type().Field(i).Name, group) {
			f := v.Field(i).FieldByName(field)
			if !f.IsValid() {
				return 0, false
			}
			return f.Uint(), true
		}
	}
	return 0, false
}
