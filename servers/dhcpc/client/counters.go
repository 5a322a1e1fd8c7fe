package client

import (
	"errors"

	"armos/servers/dhcpc/dhcp"
)

// Counters is a snapshot of a Client's counters: plain uint64 fields, one
// per event and per drop reason, grouped like netd's.
type Counters struct {
	Rx RxCounters
	Tx TxCounters

	Offers        uint64 // OFFERs taken (SELECTING → REQUESTING)
	Acks          uint64 // ACKs taken
	Naks          uint64 // NAKs taken (→ INIT)
	Leases        uint64 // new leases bound
	Extended      uint64 // leases extended in RENEWING or REBINDING
	Renewals      uint64 // T1 reached: RENEWING entered
	Rebinds       uint64 // T2 reached: REBINDING entered
	Expired       uint64 // leases that ran out (→ INIT)
	Reboots       uint64 // INIT-REBOOT with a remembered lease
	Retransmits   uint64 // DISCOVERs and REQUESTs sent again
	GaveUp        uint64 // REQUESTING or REBOOTING unanswered: → INIT
	Probes        uint64 // ACKed addresses given to the Prober
	Conflicts     uint64 // probes that found the address in use (→ DECLINE)
	ProbeTimeouts uint64 // probes unanswered in ProbeTimeout (address taken)
	ProbeStale    uint64 // ProbeResult calls for no probe in progress
	NoMask        uint64 // ACKs without a (usable) subnet mask: classful prefix
}

// RxCounters: every datagram passed to Input ends in Accepted or one drop.
type RxCounters struct {
	Datagrams uint64 // Input calls
	Accepted  uint64 // messages that moved the state machine

	// Malformed (dhcp.Parse refused it), by reason.
	Short           uint64
	TooLong         uint64
	BadOp           uint64
	BadHLen         uint64
	BadCookie       uint64
	TruncatedOption uint64
	NoEnd           uint64
	OverloadLoop    uint64
	BadOverload     uint64
	BadOption       uint64

	WrongPort     uint64 // not from port 67
	NotReply      uint64 // op BOOTREQUEST (another client's message)
	WrongCHAddr   uint64 // for another hardware address
	NoMessageType uint64 // BOOTP, no option 53
	WrongType     uint64 // not OFFER, ACK or NAK
	WrongState    uint64 // a type not expected now (an OFFER while BOUND, ...)
	WrongXID      uint64 // transaction ID not ours (late, or another exchange)
	NoServerID    uint64 // an OFFER without a usable server identifier
	WrongServer   uint64 // an ACK or NAK from a server other than the one asked
	BadAddress    uint64 // yiaddr unusable, or not the address requested
	BadLeaseTime  uint64 // no lease time, or under MinLeaseTime
}

// Malformed returns the sum of the parse drops.
func (r RxCounters) Malformed() uint64 {
	return r.Short + r.TooLong + r.BadOp + r.BadHLen + r.BadCookie + r.TruncatedOption +
		r.NoEnd + r.OverloadLoop + r.BadOverload + r.BadOption
}

// Dropped returns the sum of every drop.
func (r RxCounters) Dropped() uint64 {
	return r.Malformed() + r.WrongPort + r.NotReply + r.WrongCHAddr + r.NoMessageType +
		r.WrongType + r.WrongState + r.WrongXID + r.NoServerID + r.WrongServer +
		r.BadAddress + r.BadLeaseTime
}

func (r *RxCounters) countParse(err error) {
	for _, x := range []struct {
		err error
		n   *uint64
	}{
		{dhcp.ErrShort, &r.Short}, {dhcp.ErrTooLong, &r.TooLong}, {dhcp.ErrBadOp, &r.BadOp},
		{dhcp.ErrBadHLen, &r.BadHLen}, {dhcp.ErrBadCookie, &r.BadCookie},
		{dhcp.ErrTruncatedOption, &r.TruncatedOption}, {dhcp.ErrNoEnd, &r.NoEnd},
		{dhcp.ErrOverloadLoop, &r.OverloadLoop}, {dhcp.ErrBadOverload, &r.BadOverload},
	} {
		if errors.Is(err, x.err) {
			*x.n++
			return
		}
	}
	r.BadOption++
}

// TxCounters counts messages sent, by type.
type TxCounters struct {
	Discover uint64
	Request  uint64
	Decline  uint64
	Release  uint64
	Errors   uint64 // Output.Send (or marshalling) failed
}
