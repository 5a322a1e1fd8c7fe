package client

import (
	"errors"
	"net/netip"
	"time"

	"armos/servers/dhcpc/dhcp"
)

// Defaults and bounds.
const (
	// RetransmitBase and RetransmitMax: the delay before the first
	// retransmission, doubled each time up to the maximum, each with
	// ±RetransmitJitter (RFC 2131 section 4.1: 4, 8, 16, 32, 64 s ±1 s).
	RetransmitBase   = 4 * time.Second
	RetransmitMax    = 64 * time.Second
	RetransmitJitter = time.Second
	// RenewRetransmitMin is the least wait between requests in RENEWING
	// and REBINDING (RFC 2131 section 4.4.5: half the time left, down to
	// 60 s).
	RenewRetransmitMin = 60 * time.Second
	// DefaultRequestTries: REQUESTs sent in REQUESTING, and in
	// REBOOTING, before giving up and starting again from INIT.
	DefaultRequestTries = 4
	// DefaultDeclineWait: the wait after a DECLINE before starting again
	// (RFC 2131 section 3.1 step 5: at least ten seconds).
	DefaultDeclineWait = 10 * time.Second
	// DefaultProbeTimeout: how long the Prober may take to answer; past
	// it the address is taken as free (counted).
	DefaultProbeTimeout = 15 * time.Second
	// DefaultNakWait: the wait after a NAK, or after giving up on a
	// server, before the next DISCOVER: bounds the rate of a client that
	// a server keeps refusing.
	DefaultNakWait = 2 * time.Second
	// MinLeaseTime: OFFERs and ACKs with a shorter lease are dropped
	// (counted): a lease that expires at once would make the client loop.
	MinLeaseTime = 10 * time.Second
	// MaxDNS bounds the DNS servers a Lease keeps.
	MaxDNS = 4
	// Default T1 and T2 as fractions of the lease (RFC 2131 section 4.4.5).
	t1Num, t1Den = 1, 2
	t2Num, t2Den = 7, 8
)

// Config configures a Client.
type Config struct {
	// MAC is the interface's Ethernet address (chaddr).
	MAC [6]byte
	// ClientID is option 61; nil means hardware type 1 and MAC.
	ClientID []byte
	// Hostname, when set, is sent as option 12.
	Hostname string
	// StartDelay: the first DISCOVER waits a random time in [0,
	// StartDelay) (RFC 2131 section 4.4.1 suggests 1 to 10 s, to spread
	// clients after a power failure); 0 sends at once.
	StartDelay time.Duration
	// T1 and T2, when set, replace the server's renewal and rebinding
	// times (kept below the lease time; for tests and short renewals).
	T1, T2 time.Duration
	// Remember is the last lease (from a previous run): Start tries to
	// keep it (INIT-REBOOT) if it has not expired.
	Remember *Lease
	// NoBroadcastFlag clears the BROADCAST flag: the owner can receive
	// unicast datagrams to an address it has not configured yet.
	NoBroadcastFlag bool
	// MaxMessageSize is option 57 (0: dhcp.MaxMessageLen).
	MaxMessageSize uint16
	// RequestTries (0: DefaultRequestTries), DeclineWait (0:
	// DefaultDeclineWait), ProbeTimeout (0: DefaultProbeTimeout), NakWait
	// (0: DefaultNakWait).
	RequestTries int
	DeclineWait  time.Duration
	ProbeTimeout time.Duration
	NakWait      time.Duration
}

// ErrConfig is returned by New for an invalid Config.
var ErrConfig = errors.New("dhcpc: invalid config")

func (c *Config) setDefaults() error {
	if c.MAC == [6]byte{} || c.MAC[0]&1 != 0 {
		return ErrConfig
	}
	if c.ClientID == nil {
		c.ClientID = append([]byte{dhcp.HTypeEthernet}, c.MAC[:]...)
	}
	if len(c.ClientID) < 2 || len(c.ClientID) > 255 || len(c.Hostname) > 255 {
		return ErrConfig
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = dhcp.MaxMessageLen
	}
	if c.MaxMessageSize < 576 || c.StartDelay < 0 || c.T1 < 0 || c.T2 < 0 {
		return ErrConfig
	}
	if c.RequestTries <= 0 {
		c.RequestTries = DefaultRequestTries
	}
	if c.DeclineWait <= 0 {
		c.DeclineWait = DefaultDeclineWait
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.NakWait <= 0 {
		c.NakWait = DefaultNakWait
	}
	return nil
}

// Lease is what an ACK granted.
type Lease struct {
	Addr   netip.Prefix // the address and the subnet's prefix length
	Router netip.Addr   // the first router (option 3), or invalid
	DNS    []netip.Addr // option 6, at most MaxDNS
	MTU    int          // option 26, or 0
	Server netip.Addr   // the server identifier (option 54)
	// Duration is the lease time (dhcp.Infinite for ever); T1 and T2
	// the renewal and rebinding times; all counted from Start, when the
	// REQUEST was first sent (RFC 2131 section 4.4.1).
	Duration, T1, T2 time.Duration
	Start            time.Time
}

// Infinite reports whether the lease never expires.
func (l Lease) Infinite() bool { return l.Duration >= dhcp.Infinite }

// Expiry returns when the lease ends (the zero time if never).
func (l Lease) Expiry() time.Time {
	if l.Infinite() {
		return time.Time{}
	}
	return l.Start.Add(l.Duration)
}

// Reason says why a lease was lost.
type Reason uint8

const (
	Expired  Reason = iota + 1 // the lease time ran out (REBINDING unanswered)
	Nakked                     // a server refused it in RENEWING, REBINDING
	Released                   // Release
)

func (r Reason) String() string {
	switch r {
	case Expired:
		return "expired"
	case Nakked:
		return "NAK"
	case Released:
		return "released"
	}
	return "?"
}
