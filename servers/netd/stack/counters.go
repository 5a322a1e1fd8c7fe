package stack

import (
	"fmt"
	"reflect"
	"strings"
)

// Counters is a snapshot of every counter the stack keeps, grouped by layer
// like `netstat -s`. Every packet the stack receives ends in exactly one
// terminal counter: delivered somewhere, or dropped for a named reason. Drop
// counters are named after their reason so `netstat` output explains itself.
//
// Counters are plain uint64 fields: the stack is single-goroutine, so it
// increments them without atomics, and Stack.Counters returns a copy.
type Counters struct {
	Link LinkCounters
	ARP  ARPCounters
	IPv4 IPv4Counters
	ICMP ICMPCounters
	UDP  UDPCounters
}

// LinkCounters counts Ethernet frames.
type LinkCounters struct {
	RxFrames         uint64 // frames handed to Input
	RxBytes          uint64 // bytes in those frames
	RxTruncated      uint64 // drop: shorter than an Ethernet header
	RxNotForUs       uint64 // drop: destination MAC neither ours nor broadcast
	RxOwnSource      uint64 // drop: source MAC is ours (a loop)
	RxUnknownType    uint64 // drop: EtherType neither IPv4 nor ARP
	RxNilBuffer      uint64 // drop: Input called with nil
	TxFrames         uint64 // frames accepted by Link.Transmit
	TxBytes          uint64 // bytes in those frames
	TxErrors         uint64 // drop: Link.Transmit returned an error
	TxNoBuffer       uint64 // drop: no packet buffer for an outgoing frame
	TxHeaderOverflow uint64 // drop: no headroom left for the Ethernet header
}

// ARPCounters counts ARP packets and the neighbour cache's events.
type ARPCounters struct {
	RxPackets        uint64 // ARP packets received (after the Ethernet layer)
	RxMalformed      uint64 // drop: truncated, or not Ethernet/IPv4 ARP
	RxBadOpcode      uint64 // drop: neither request nor reply
	RxBadSender      uint64 // drop: sender is broadcast/multicast/ours
	RxRequests       uint64 // requests received (for anyone)
	RxReplies        uint64 // replies received
	RxNotForUs       uint64 // requests/replies not targeting our address (learnt nothing)
	TxRequests       uint64 // requests sent
	TxReplies        uint64 // replies sent to requests for our address
	Learned          uint64 // entries created from packets targeting our address
	Resolved         uint64 // incomplete entries completed by a reply
	Refreshed        uint64 // reachable/probing entries confirmed again
	GratuitousUpdate uint64 // existing entry changed by a gratuitous ARP
	Expired          uint64 // reachable entries that reached ARPEntryLifetime
	ProbeFailed      uint64 // expired entries removed after unanswered re-requests
	ResolveFailed    uint64 // incomplete entries given up after ARPMaxRetries
	Evictions        uint64 // entries evicted because the cache was full
	RxOffSubnet      uint64 // requests to us from senders outside our subnet: answered, not cached
	NotCached        uint64 // request senders not cached: every entry was protected (gateway, recently used)
	Conflicts        uint64 // ARP packets from another host claiming our address (RFC 5227)
	Defended         uint64 // of those, answered with an announcement (at most one per ARPDefendInterval)
	Probes           uint64 // RFC 5227 probes sent for our address before using it
	ProbeConflicts   uint64 // probing found the address taken (it is not used)
	RateLimited      uint64 // requests not sent because of the rate limit
	QueuedPackets    uint64 // packets queued waiting for resolution
	PendingOverflow  uint64 // drop: per-address or global pending queue full (oldest dropped)
	PendingTimeout   uint64 // drop: queued packets whose resolution failed
	PendingEvicted   uint64 // drop: queued packets whose entry was evicted
}

// IPv4Counters counts IPv4 datagrams, including fragmentation and reassembly.
type IPv4Counters struct {
	RxPackets          uint64 // IPv4 packets received (after the Ethernet layer)
	RxTruncated        uint64 // drop: shorter than 20 bytes or than the header length
	RxBadVersion       uint64 // drop: version field not 4
	RxBadHeaderLen     uint64 // drop: IHL below 5
	RxBadTotalLen      uint64 // drop: total length below IHL*4 or beyond the frame
	RxBadChecksum      uint64 // drop: header checksum wrong
	RxBadSource        uint64 // drop: source is broadcast, multicast or ours (martian)
	RxNotForUs         uint64 // drop: destination not ours (netd does not forward)
	RxTentative        uint64 // drop: received while our address was being probed (RFC 5227)
	RxDHCPUnconfigured uint64 // unicast UDP to port 68 taken while unconfigured (configure.go)
	Reconfigured       uint64 // run-time configuration changes (Reconfigure)
	RxUnknownProtocol  uint64 // drop: no handler for the protocol number
	RxDelivered        uint64 // datagrams handed to ICMP, UDP or a registered protocol
	RxFragments        uint64 // fragments received (each is then held or dropped)
	Reassembled        uint64 // datagrams completed from fragments
	ReasmTimeout       uint64 // drop: reassemblies abandoned after ReasmTimeout
	ReasmOverlap       uint64 // drop: reassemblies discarded for overlapping fragments
	ReasmDuplicate     uint64 // drop: exact duplicate fragments ignored
	ReasmTooBig        uint64 // drop: fragments reaching past 65535 bytes
	ReasmBadFragment   uint64 // drop: a fragment with no data (after trimming a non-last one to 8-byte units)
	ReasmInconsistent  uint64 // drop: reassemblies with conflicting last fragments
	ReasmNoMemory      uint64 // drop: fragments refused because of ReasmMaxBytes/ReasmMaxDatagrams
	ReasmEvicted       uint64 // drop: incomplete datagrams of the heaviest source dropped to make room
	ReasmFragsDropped  uint64 // drop: fragments thrown away with a failed reassembly
	TxPackets          uint64 // datagrams sent (before fragmentation)
	TxFragmented       uint64 // datagrams that needed fragmentation
	TxFragments        uint64 // fragments sent
	TxNoRoute          uint64 // drop: no route (unspecified destination or no gateway)
	TxTentative        uint64 // drop: sends refused while our address was being probed
	TxTooBig           uint64 // drop: payload beyond the 65515-byte IPv4 limit
	TxNoBuffer         uint64 // drop: no packet buffer for a fragment
	TxLoopback         uint64 // datagrams to our own address, delivered internally
	TxLoopbackDrop     uint64 // drop: loopback queue full (LoopbackQueueLen)
	TxTSO              uint64 // TCP segments with segmentation offload handed to the device whole
	TxInPlace          uint64 // of those, frames built around the segment in the buffer it came in (Datagram.Buf): not copied
	TxTSOSoftware      uint64 // TCP segments with segmentation offload cut by netd (no device offload)
	TxTSOPieces        uint64 // the segments netd cut them into
	TxTSOBad           uint64 // drop: an offload request that is not a TCP segment netd can cut
}

// ICMPCounters counts ICMPv4 messages.
type ICMPCounters struct {
	RxMessages         uint64 // ICMP messages received
	RxTruncated        uint64 // drop: shorter than the ICMP header
	RxBadChecksum      uint64 // drop: checksum wrong
	RxEchoRequests     uint64 // echo requests received (and answered unless dropped)
	RxEchoReplies      uint64 // echo replies received
	RxEchoUnmatched    uint64 // echo replies matching no outstanding ping
	RxDestUnreachable  uint64 // destination-unreachable errors received
	RxTimeExceeded     uint64 // time-exceeded errors received
	RxParamProblem     uint64 // parameter-problem errors received
	RxProtoErrors      uint64 // errors quoting a registered protocol's datagram, handed to its owner
	RxOtherTypes       uint64 // messages of other types (ignored)
	RxEchoBroadcast    uint64 // drop: echo requests to a broadcast address (like Linux icmp_echo_ignore_broadcasts)
	TxEchoRequests     uint64 // echo requests sent (ping)
	TxEchoReplies      uint64 // echo replies sent
	TxDestUnreachable  uint64 // port/protocol unreachable errors sent
	TxTimeExceeded     uint64 // reassembly-time-exceeded errors sent
	ErrPeerRateLimited uint64 // errors not sent because of the per-destination limit
	ErrRateLimited     uint64 // errors not sent because of the global limit
	ErrSuppressed      uint64 // errors not sent by rule: broadcast, ICMP error, bad source
	PingTableFull      uint64 // outstanding pings forgotten because the table was full
}

// UDPCounters counts UDP datagrams. Per-endpoint counts are in EndpointStats.
type UDPCounters struct {
	RxDatagrams    uint64 // UDP datagrams received
	RxTruncated    uint64 // drop: shorter than the UDP header
	RxBadLength    uint64 // drop: length field below 8 or beyond the IP payload
	RxBadChecksum  uint64 // drop: checksum wrong
	RxNoPort       uint64 // drop: no endpoint bound (port unreachable may be sent)
	RxNoPortBcast  uint64 // drop: no endpoint bound, broadcast (never answered)
	RxFiltered     uint64 // drop: endpoint connected to another peer
	RxQueueFull    uint64 // drop: endpoint receive queue full, by count or bytes (sum over endpoints)
	RxDelivered    uint64 // datagrams queued on an endpoint
	RxICMPErrors   uint64 // ICMP unreachable errors reported to a connected endpoint
	TxDatagrams    uint64 // datagrams sent
	TxErrors       uint64 // sends that failed in the layers below
	TxUnconfigured uint64 // broadcasts sent from 0.0.0.0 while unconfigured (DHCP; configure.go)
}

// CounterRow is one line of the netstat table: Layer ("link", "arp", "ipv4",
// "icmp", "udp"), counter Name and Value.
type CounterRow struct {
	Layer string
	Name  string
	Value uint64
}

// Rows flattens the snapshot into rows in declaration order, for `netstat`.
func (c Counters) Rows() []CounterRow {
	var rows []CounterRow
	v := reflect.ValueOf(c)
	t := v.Type()
	for i := range t.NumField() {
		layer := strings.ToLower(t.Field(i).Name)
		lv := v.Field(i)
		lt := lv.Type()
		for j := range lt.NumField() {
			rows = append(rows, CounterRow{Layer: layer, Name: lt.Field(j).Name, Value: lv.Field(j).Uint()})
		}
	}
	return rows
}

// Get returns the counter named "layer.Name" (for example "ipv4.RxBadChecksum")
// and whether it exists.
func (c Counters) Get(name string) (uint64, bool) {
	for _, r := range c.Rows() {
		if r.Layer+"."+r.Name == name {
			return r.Value, true
		}
	}
	return 0, false
}

// String formats the snapshot as a netstat-like table: one line per non-zero
// counter, grouped under a heading per layer. A layer with no traffic shows
// only its heading.
func (c Counters) String() string {
	var sb strings.Builder
	layer := ""
	for _, r := range c.Rows() {
		if r.Layer != layer {
			layer = r.Layer
			fmt.Fprintf(&sb, "%s:\n", layer)
		}
		if r.Value != 0 {
			fmt.Fprintf(&sb, "    %-20s %d\n", r.Name, r.Value)
		}
	}
	return sb.String()
}

// Sub returns c - old field by field: the counts since the snapshot old.
func (c Counters) Sub(old Counters) Counters {
	out := c
	ov := reflect.ValueOf(old)
	nv := reflect.ValueOf(&out).Elem()
	for i := range nv.NumField() {
		for j := range nv.Field(i).NumField() {
			f := nv.Field(i).Field(j)
			f.SetUint(f.Uint() - ov.Field(i).Field(j).Uint())
		}
	}
	return out
}
