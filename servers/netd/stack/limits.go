package stack

import "time"

// Every bound in the stack is one of these named constants; whatever a bound
// refuses is counted (see Counters).
const (
	// ARPEntryLifetime is how long a resolved neighbour stays valid
	// (the handbook's 60 s). An entry used during its lifetime is then
	// re-requested (probed) while its old address stays in use; an unused one
	// is forgotten.
	ARPEntryLifetime = 60 * time.Second
	// ARPRetransmit is the interval between requests for one address
	// (Linux retrans_time_ms: 1 s). It also rate-limits requests per address.
	ARPRetransmit = time.Second
	// ARPMaxRetries is how many requests are sent for an address before its
	// queued packets are dropped (Linux mcast_solicit: 3).
	ARPMaxRetries = 3
	// ARPCacheSize bounds the number of neighbour entries (complete or not).
	// A full cache evicts its oldest entry (counted).
	ARPCacheSize = 128
	// ARPKeepRecent protects an entry that carried traffic this recently
	// from eviction by an unsolicited one (a request from a stranger).
	ARPKeepRecent = 5 * time.Second
	// ARPPendingPerAddr bounds the packets queued for one unresolved address:
	// enough for the 45 fragments of a 65535-byte datagram at MTU 1500;
	// on overflow the oldest is dropped, as Linux does.
	ARPPendingPerAddr = 48
	// ARPPendingTotal bounds the packets queued for all unresolved addresses.
	ARPPendingTotal = 256
	// ARPRequestBurst and ARPRequestsPerSecond form the global token bucket
	// that rate-limits outgoing ARP requests across all addresses.
	ARPRequestBurst      = 16
	ARPRequestsPerSecond = 8

	// ReasmTimeout is how long an incomplete datagram's fragments are kept
	// (Linux ipfrag_time: 30 s).
	ReasmTimeout = 30 * time.Second
	// ReasmMaxDatagrams bounds the datagrams being reassembled at once.
	ReasmMaxDatagrams = 64
	// ReasmMaxBytes bounds the memory held by all reassemblies (Linux's
	// ipfrag_high_thresh, scaled down): fragments beyond it are dropped.
	ReasmMaxBytes = 256 << 10

	// ICMPErrorBurst and ICMPErrorsPerSecond form the token bucket limiting
	// the ICMP errors the stack sends (Linux icmp_msgs_burst/icmp_msgs_per_sec).
	ICMPErrorBurst      = 50
	ICMPErrorsPerSecond = 1000
	// ICMPPeerBurst and ICMPPeerPerSecond limit the errors sent to any one
	// destination (Linux icmp_ratelimit: 1 s, with a burst of 6), tracked
	// for the last ICMPPeerTable destinations.
	ICMPPeerBurst     = 6
	ICMPPeerPerSecond = 1
	ICMPPeerTable     = 64
	// PingOutstanding bounds the echo requests remembered for round-trip
	// times; the oldest is forgotten when it is full (counted).
	PingOutstanding = 64

	// UDPDefaultQueueLen is an endpoint's receive queue length in datagrams
	// until SetQueueLen changes it; UDPMaxQueueLen caps SetQueueLen.
	UDPDefaultQueueLen = 64
	UDPMaxQueueLen     = 4096
	// UDPMaxQueueBytes bounds the memory one endpoint's queue holds (like
	// Linux's rmem_default, 208 KiB): reassembled datagrams can be 64 KiB
	// each. A datagram is always accepted into an empty queue.
	UDPMaxQueueBytes = 256 << 10
	// EphemeralFirst and EphemeralLast are the ports Bind picks from for port
	// 0 (Linux ip_local_port_range).
	EphemeralFirst = 32768
	EphemeralLast  = 60999

	// LoopbackQueueLen bounds the datagrams to our own address waiting to
	// be delivered.
	LoopbackQueueLen = 64

	// DefaultTTL is the TTL of datagrams the stack originates (Linux
	// ip_default_ttl).
	DefaultTTL = 64
	// DefaultMTU is used when Config.MTU is zero.
	DefaultMTU = 1500
	// MinMTU is the smallest MTU the stack accepts (RFC 791: every host must
	// handle 68-byte datagrams).
	MinMTU = 68
	// MaxUDPPayload is the largest UDP payload: 65535 - 20 (IPv4) - 8 (UDP).
	MaxUDPPayload = 65507
)
