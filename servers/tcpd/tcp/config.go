package tcp

import (
	"crypto/rand"
	"time"

	"armos/servers/tcpd/tcp/wire"
)

// Defaults: what a zero Config field means. Each cites where it comes from.
const (
	// DefaultMTU is the MTU of the interface under netd when Config.MTU is
	// zero; the MSS tcpd announces is the MTU less 40 (IPv4 and TCP
	// headers without options).
	DefaultMTU = 1500
	// MinMTU is the smallest MTU accepted (RFC 791's 68 bytes).
	MinMTU = 68
	// MaxMTU bounds Config.MTU (the largest datagram IPv4 can carry).
	MaxMTU = 65535
	// DefaultMSS is the send MSS assumed when a SYN carries no MSS option
	// (RFC 9293 3.7.1: 536).
	DefaultMSS = 536
	// MinMSS is the smallest send MSS an ICMP "fragmentation needed"
	// can lower a connection to (a 68-byte MTU less 40).
	MinMSS = MinMTU - 40

	// DefaultSendBuffer and DefaultRecvBuffer bound each connection's
	// buffers (Linux's tcp_wmem/tcp_rmem defaults are 16 KiB and 128 KiB,
	// growing to 4 and 6 MiB by autotuning, which tcpd does not do).
	DefaultSendBuffer = 256 << 10
	DefaultRecvBuffer = 256 << 10
	// MaxBuffer bounds either buffer: a window scale of 14 covers 1 GiB,
	// but a server process has better uses for its memory.
	MaxBuffer = 16 << 20
	// MinBuffer is the smallest buffer accepted.
	MinBuffer = 1024

	// DefaultInitialRTO is the RTO before any round-trip measurement
	// (RFC 6298 2.1: 1 s). DefaultMinRTO is RFC 6298's lower bound (2.4:
	// 1 s; Linux uses 200 ms). DefaultMaxRTO is its upper bound (2.5:
	// at least 60 s).
	DefaultInitialRTO = time.Second
	DefaultMinRTO     = time.Second
	DefaultMaxRTO     = 60 * time.Second

	// DefaultMaxRetries is how many times a data segment (or FIN) is
	// retransmitted by timeout before the connection fails with
	// ErrTimedOut: with RFC 6298's bounds the retransmissions go 1, 3, 7,
	// 15, 31, 63, 123 and 183 s after the first transmission and the
	// connection gives up at the next timeout, 243 s (RFC 1122 4.2.3.5: R2
	// at least 100 s). It also bounds unanswered zero-window probes.
	DefaultMaxRetries = 8
	// DefaultSynRetries is how many times a SYN is retransmitted; the
	// attempt fails 1+2+4+...+32+60+60 = 183 s after the first SYN (RFC
	// 1122 4.2.3.5: at least 3 minutes).
	DefaultSynRetries = 7
	// DefaultSynAckRetries is how many times a listener retransmits a
	// SYN-ACK before forgetting the half-open connection (Linux
	// tcp_synack_retries: 5).
	DefaultSynAckRetries = 5

	// DefaultDelayedACK is how long an ACK may wait for a second segment
	// or data to ride on (RFC 9293 3.8.6.3: under 0.5 s; 200 ms, the
	// traditional BSD value and Linux's upper bound).
	DefaultDelayedACK = 200 * time.Millisecond

	// Keep-alive (RFC 9293 3.8.4, RFC 1122 4.2.3.6; Linux's defaults): the
	// first probe after KeepAliveIdle without traffic, then one every
	// KeepAliveInterval; KeepAliveProbes unanswered ones end the
	// connection.
	DefaultKeepAliveIdle     = 2 * time.Hour
	DefaultKeepAliveInterval = 75 * time.Second
	DefaultKeepAliveProbes   = 9

	// DefaultTimeWait is 2*MSL with MSL = 30 s, Linux's TCP_TIMEWAIT_LEN
	// (RFC 9293 takes MSL = 2 min "for engineering purposes"; Linux's
	// shorter wait is what the peers tcpd meets expect).
	DefaultTimeWait = 60 * time.Second
	// DefaultFinWait2Timeout ends a connection whose user has closed it
	// and whose peer never sends its FIN (Linux tcp_fin_timeout).
	DefaultFinWait2Timeout = 60 * time.Second

	// DefaultSynBacklog bounds a listener's half-open connections
	// (SYN-RECEIVED) when Config.SynBacklog is zero (Linux
	// tcp_max_syn_backlog is 128 per listener at minimum).
	DefaultSynBacklog = 128
	// MaxBacklog caps Listen's backlog (Linux somaxconn: 4096).
	MaxBacklog = 4096

	// ChallengeACKsPerSecond limits the challenge ACKs the stack sends
	// (RFC 5961 section 7; Linux tcp_challenge_ack_limit: 1000).
	ChallengeACKsPerSecond = 1000
	// InvalidACKInterval spaces the ACKs one connection sends in answer to
	// out-of-window segments (Linux tcp_invalid_ratelimit: 500 ms), so two
	// confused ends cannot ACK each other in a loop.
	InvalidACKInterval = 500 * time.Millisecond

	// DupACKThreshold is the number of duplicate ACKs that triggers fast
	// retransmit (RFC 5681 3.2).
	DupACKThreshold = 3

	// EphemeralFirst and EphemeralLast are the ports Connect picks from
	// for local port 0 (Linux ip_local_port_range).
	EphemeralFirst = 32768
	EphemeralLast  = 60999
)

// Config sets the engine's parameters. The zero value of each field means
// its default (the Default constants above); negative values are invalid.
type Config struct {
	MTU        int // interface MTU; the announced MSS is MTU-40
	SendBuffer int // bytes per connection send buffer
	RecvBuffer int // bytes per connection receive buffer (the largest window)

	InitialRTO, MinRTO, MaxRTO time.Duration

	MaxRetries    int // timeouts of a data segment before ErrTimedOut
	SynRetries    int // SYN retransmissions before ErrTimedOut
	SynAckRetries int // SYN-ACK retransmissions before a half-open connection is dropped

	DelayedACK time.Duration // delayed ACK timeout

	KeepAliveIdle     time.Duration
	KeepAliveInterval time.Duration
	KeepAliveProbes   int

	TimeWait        time.Duration // 2*MSL
	FinWait2Timeout time.Duration // closed connections waiting for the peer's FIN

	SynBacklog int // half-open connections per listener

	// NoTimestamps and NoSACK stop the engine offering, or accepting, the
	// timestamps option (RFC 7323: round-trip measurement on every ACK,
	// PAWS) and selective acknowledgments (RFC 2018). Both are on by
	// default, as in Linux: without them a sender that loses a
	// retransmission can only time out again, its RTO doubling each time.
	NoTimestamps, NoSACK bool

	// Offload, when not zero, is the largest segment (header and data)
	// the engine may hand an OffloadOutput to be cut into MSS-sized
	// segments (Stack.SetOffload); it must exceed MTU-20 and be at most
	// wire.MaxSegmentLen.
	Offload int

	// Secret keys the initial sequence numbers (RFC 6528) and ephemeral
	// port choice (RFC 6056); nil draws 16 random bytes. Tests set it for
	// reproducible runs.
	Secret []byte
}

// validOffload reports whether max is a usable Config.Offload for mtu.
func validOffload(max, mtu int) bool {
	return max == 0 || (max > mtu-20 && max <= wire.MaxSegmentLen)
}

// withDefaults checks c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	for _, v := range []int{c.MTU, c.SendBuffer, c.RecvBuffer, c.MaxRetries, c.SynRetries,
		c.SynAckRetries, c.KeepAliveProbes, c.SynBacklog} {
		if v < 0 {
			return c, ErrInvalidConfig
		}
	}
	for _, d := range []time.Duration{c.InitialRTO, c.MinRTO, c.MaxRTO, c.DelayedACK,
		c.KeepAliveIdle, c.KeepAliveInterval, c.TimeWait, c.FinWait2Timeout} {
		if d < 0 {
			return c, ErrInvalidConfig
		}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MTU, DefaultMTU)
	def(&c.SendBuffer, DefaultSendBuffer)
	def(&c.RecvBuffer, DefaultRecvBuffer)
	def(&c.MaxRetries, DefaultMaxRetries)
	def(&c.SynRetries, DefaultSynRetries)
	def(&c.SynAckRetries, DefaultSynAckRetries)
	def(&c.KeepAliveProbes, DefaultKeepAliveProbes)
	def(&c.SynBacklog, DefaultSynBacklog)
	defd(&c.InitialRTO, DefaultInitialRTO)
	defd(&c.MinRTO, DefaultMinRTO)
	defd(&c.MaxRTO, DefaultMaxRTO)
	defd(&c.DelayedACK, DefaultDelayedACK)
	defd(&c.KeepAliveIdle, DefaultKeepAliveIdle)
	defd(&c.KeepAliveInterval, DefaultKeepAliveInterval)
	defd(&c.TimeWait, DefaultTimeWait)
	defd(&c.FinWait2Timeout, DefaultFinWait2Timeout)
	if c.MTU < MinMTU || c.MTU > MaxMTU ||
		c.SendBuffer < MinBuffer || c.SendBuffer > MaxBuffer ||
		c.RecvBuffer < MinBuffer || c.RecvBuffer > MaxBuffer ||
		c.MinRTO > c.MaxRTO || c.InitialRTO > c.MaxRTO || !validOffload(c.Offload, c.MTU) {
		return c, ErrInvalidConfig
	}
	if c.Secret == nil {
		c.Secret = make([]byte, 16)
		if _, err := rand.Read(c.Secret); err != nil {
			panic("tcp: no randomness for the ISN secret: " + err.Error())
		}
	}
	return c, nil
}
