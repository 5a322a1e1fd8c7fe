package tcp

import (
	"fmt"
	"reflect"
	"strings"
)

// Counters is a snapshot of the engine's counters, netstat -s style. Every
// segment Input receives ends in exactly one of the terminal counters (the
// Rx ones marked "terminal"), so RxSegments is their sum; the others count
// events. Plain uint64 fields: the engine is single-goroutine.
type Counters struct {
	RxSegments uint64 // segments handed to Input

	// Terminal: each received segment lands in exactly one of these.
	RxMalformed       uint64 // drop: truncated, bad data offset or unwalkable options
	RxBadChecksum     uint64 // drop: checksum wrong
	RxBadAddress      uint64 // drop: non-unicast or non-IPv4 address, or port 0
	RxNoConnection    uint64 // no connection or listener: answered with RST unless a RST
	RxListenSYN       uint64 // SYN to a listener: a half-open connection made
	RxListenOverflow  uint64 // drop: SYN to a listener whose accept queue is full
	RxSynQueueFull    uint64 // drop: SYN to a listener whose SYN queue is full
	RxListenOther     uint64 // not a SYN, to a listener: RST ignored, ACK answered with RST
	RxSynSentDrop     uint64 // drop: in SYN-SENT, neither SYN nor acceptable RST (bad ACK answered with RST)
	RxOutOfWindow     uint64 // drop: sequence number outside the window (ACK sent unless a RST)
	RxBadACK          uint64 // drop: acknowledgment of unsent or ancient data (ACK or RST sent)
	RxNoACK           uint64 // drop: no ACK bit in a synchronized state
	RxChallenged      uint64 // drop: in-window RST not at RCV.NXT, or SYN: challenge ACK (RFC 5961)
	RxReset           uint64 // RST accepted: the connection ended
	RxTimeWaitRST     uint64 // drop: RST in TIME-WAIT, ignored (RFC 1337)
	RxAfterClose      uint64 // data for a connection its user closed: answered with RST
	RxAcceptQueueFull uint64 // drop: handshake's last ACK while the accept queue is full
	RxSynRetransmit   uint64 // peer's SYN again in SYN-RECEIVED: SYN-ACK sent again
	RxPAWS            uint64 // drop: timestamp older than the last one in sequence (RFC 7323 PAWS): ACK sent
	RxAccepted        uint64 // processed by a connection

	// Received data and ACKs.
	RxDataBytes   uint64 // payload bytes added in order to receive buffers
	RxOutOfOrder  uint64 // segments held out of order
	RxOOODropped  uint64 // drop: out-of-order segment needing more than maxOutOfOrder runs
	RxTrimmed     uint64 // segments partly outside the window, trimmed
	RxDupACKs     uint64 // duplicate ACKs (RFC 5681 definition)
	RxWindowProbe uint64 // data received at a zero window (probes): ACKed, not kept

	// ICMP errors (ICMPError).
	ICMPErrors  uint64 // ICMP messages handed to ICMPError
	ICMPIgnored uint64 // not a TCP error, no connection, sequence outside the window, or unhandled type
	ICMPHard    uint64 // hard errors that ended a connection attempt
	ICMPSoft    uint64 // soft errors recorded (reported if the connection times out)
	PMTUUpdates uint64 // "fragmentation needed": send MSS lowered

	// Sent.
	TxSegments       uint64 // segments given to Output
	TxDataBytes      uint64 // payload bytes sent (first transmissions)
	TxOffloaded      uint64 // segments of more than one MSS handed to an OffloadOutput (in TxSegments)
	TxGatherCopied   uint64 // of those, copied for a GatherOutput: they lay in more pieces of the send buffer than a gather takes
	TxOwnedWrites    uint64 // writes queued where they lie (Conn.WriteOwned)
	TxOffloadedBytes uint64 // their payload bytes
	TxRetransSegs    uint64 // segments retransmitted (timeout, fast retransmit, PMTU)
	TxRetransBytes   uint64 // payload bytes retransmitted
	TxRSTs           uint64 // RSTs sent
	TxACKs           uint64 // segments that were only an ACK
	TxSACKs          uint64 // of those, ACKs carrying SACK blocks (RFC 2018)
	TxHeld           uint64 // times data waited for a full offloaded segment (two in flight: holdForFullSegment)
	TxDelayedACKs    uint64 // ACKs sent by the delayed-ACK timer
	TxWindowUpdates  uint64 // ACKs sent because the application read and the window opened
	TxChallengeACKs  uint64 // challenge ACKs sent (RFC 5961)
	ChallengeLimited uint64 // challenge ACKs not sent: ChallengeACKsPerSecond reached
	InvalidLimited   uint64 // ACKs to out-of-window segments without data not sent: InvalidACKInterval
	RTTFromEcho      uint64 // round trips measured from a timestamp's echo where Karn's rule timed nothing (RFC 7323 4)
	TxWindowProbes   uint64 // zero-window probes sent
	TxKeepAlives     uint64 // keep-alive probes sent
	TxErrors         uint64 // segments Output refused

	// Connections.
	ActiveOpens         uint64 // Connect calls that sent a SYN
	PassiveOpens        uint64 // handshakes completed by a listener
	AttemptFails        uint64 // connection attempts ended (refused, reset, timed out, unreachable)
	EstabResets         uint64 // synchronized connections ended by a RST received
	Aborts              uint64 // connections ended by their user with a RST (Abort, Close with unread data)
	Timeouts            uint64 // retransmission timer expiries
	SACKRetransmits     uint64 // segments retransmitted because SACK blocks showed them lost (RFC 6675), in TxRetransSegs
	SACKIgnored         uint64 // SACK blocks not recorded: the scoreboard's maxOutOfOrder runs were in use
	SACKReneging        uint64 // the peer dropped data it had SACKed: scoreboard cleared
	TxTailProbes        uint64 // tail loss probes sent (RFC 8985 7), in TxSegments
	TailProbeRecoveries uint64 // probes whose SACK showed the tail lost: SACK recovery started
	FastRetransmits     uint64 // fast retransmits (each starts a NewReno fast recovery)
	PartialACKs         uint64 // partial ACKs in fast recovery (RFC 6582)
	ConnTimeouts        uint64 // connections ended by retransmission or probe timeouts
	KeepAliveTimeouts   uint64 // connections ended by unanswered keep-alives
	SynAckTimeouts      uint64 // half-open connections dropped after DefaultSynAckRetries
	TimeWaitExpired     uint64 // TIME-WAIT connections ended after 2*MSL
	TimeWaitReopened    uint64 // TIME-WAIT connections replaced by a new SYN (RFC 1122 4.2.2.13)
	FinWait2Timeouts    uint64 // closed connections whose peer never sent FIN
	CurrEstab           uint64 // now: connections in ESTABLISHED or CLOSE-WAIT (a gauge)
}

// CounterRow is one counter: Name and Value.
type CounterRow struct {
	Name  string
	Value uint64
}

// Rows lists the counters in declaration order (for netstat and IPC).
func (c Counters) Rows() []CounterRow {
	v := reflect.ValueOf(c)
	rows := make([]CounterRow, v.NumField())
	for i := range rows {
		rows[i] = CounterRow{Name: v.Type().Field(i).Name, Value: v.Field(i).Uint()}
	}
	return rows
}

// Get returns the counter with the given field name and whether it exists.
func (c Counters) Get(name string) (uint64, bool) {
	f := reflect.ValueOf(c).FieldByName(name)
	if !f.IsValid() {
		return 0, false
	}
	return f.Uint(), true
}

// String formats the non-zero counters one per line under a "tcp:" heading.
func (c Counters) String() string {
	var sb strings.Builder
	sb.WriteString("tcp:\n")
	for _, r := range c.Rows() {
		if r.Value != 0 {
			fmt.Fprintf(&sb, "    %-18s %d\n", r.Name, r.Value)
		}
	}
	return sb.String()
}

// terminal returns the sum of the terminal counters, which equals
// RxSegments.
func (c Counters) terminal() uint64 {
	return c.RxMalformed + c.RxBadChecksum + c.RxBadAddress + c.RxNoConnection +
		c.RxListenSYN + c.RxListenOverflow + c.RxSynQueueFull + c.RxListenOther +
		c.RxSynSentDrop + c.RxOutOfWindow + c.RxBadACK + c.RxNoACK + c.RxChallenged +
		c.RxReset + c.RxTimeWaitRST + c.RxAfterClose + c.RxAcceptQueueFull +
		c.RxSynRetransmit + c.RxPAWS + c.RxAccepted
}
