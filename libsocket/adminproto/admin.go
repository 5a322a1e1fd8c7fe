// Package adminproto is the operators' protocol of the network servers:
// what the serial shell's ifconfig, arp and netstat ask netd (service
// "netd.admin") and virtionetd ("NAME.admin", e.g. "net0.admin") over
// libipc. Requests and replies are msgpack, as every IPC message.
package adminproto

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"armos/libipc"
)

// Service names.
const (
	NetdService = "netd.admin"
	// ResolvedService is the DNS resolver's (servers/resolved): OpReport,
	// OpSetUpstream.
	ResolvedService = "resolved.admin"
	// TCPService is the TCP server's (servers/tcpd): OpReport. tcpd
	// registers it once it owns IP protocol 6, so a program waiting for
	// it (libsocket.WaitTCP) can then open stream sockets.
	TCPService = "tcpd.admin"
	// DriverSuffix follows a NIC driver's link name ("net0.admin").
	DriverSuffix = ".admin"
)

// Operations.
const (
	OpInterface libipc.Op = 1 // Empty -> Interface (netd)
	OpARP       libipc.Op = 2 // Empty -> ARPTable (netd)
	OpARPFlush  libipc.Op = 3 // Empty -> ARPTable: what was flushed (netd)
	OpReport    libipc.Op = 4 // Empty -> Report (netd and drivers)
	// Packet capture (netd): a capture copies the frames netd receives
	// and sends (those its filter matches) into a bounded ring drained
	// as a pcap stream to a console port (servers/virtioconsd).
	OpCaptureStart  libipc.Op = 5 // CaptureStart -> CaptureStatus
	OpCaptureStop   libipc.Op = 6 // Empty -> CaptureStatus: the final figures
	OpCaptureStatus libipc.Op = 7 // Empty -> CaptureStatus
	// OpConfigure sets or clears netd's address, prefix, gateway and MTU
	// at run time (docs/dhcp.md): dhcpc's lease. netd refuses it
	// (EPERM-like error) unless it was started with -dhcp.
	OpConfigure libipc.Op = 8 // Configure -> Configured
	// OpSetUpstream replaces resolved's upstream DNS servers (docs/dns.md):
	// dhcpc sends a lease's DNS servers. The reply is the list now in use.
	OpSetUpstream libipc.Op = 9 // Upstream -> Upstream (resolved)
)

// MaxUpstream bounds Upstream.Servers (resolver.MaxServers).
const MaxUpstream = 8

// Upstream is OpSetUpstream's request and reply: 1..MaxUpstream servers,
// each an IPv4 or IPv6 address with an optional port ("10.0.2.3",
// "10.0.2.3:53", "[2001:db8::1]:53"; no port means 53), and where they
// came from ("dhcp"; "flags" for resolved's -upstream defaults).
type Upstream struct {
	Servers []string `msgpack:"servers"`
	Source  string   `msgpack:"source"`
}

// ParseUpstream checks u strictly and returns its servers: at least one,
// at most MaxUpstream, each a unicast (not unspecified, multicast or
// broadcast) address with a port other than 0, no duplicates; Source at
// most 32 printable ASCII characters.
func ParseUpstream(u *Upstream) ([]netip.AddrPort, error) {
	if u == nil || len(u.Servers) == 0 {
		return nil, errors.New("no upstream server")
	}
	if len(u.Servers) > MaxUpstream {
		return nil, fmt.Errorf("%d upstream servers: at most %d", len(u.Servers), MaxUpstream)
	}
	if len(u.Source) > 32 {
		return nil, errors.New("source longer than 32 bytes")
	}
	for _, r := range u.Source {
		if r < 0x21 || r > 0x7e {
			return nil, fmt.Errorf("source %q: printable ASCII without spaces only", u.Source)
		}
	}
	out := make([]netip.AddrPort, 0, len(u.Servers))
	for _, s := range u.Servers {
		ap, err := parseServer(s)
		if err != nil {
			return nil, err
		}
		for _, o := range out {
			if o == ap {
				return nil, fmt.Errorf("upstream server %v twice", ap)
			}
		}
		out = append(out, ap)
	}
	return out, nil
}

func parseServer(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return ap, fmt.Errorf("upstream server %q: not an address or address:port", s)
		}
		ap = netip.AddrPortFrom(a, 53)
	}
	a := ap.Addr()
	if a.Zone() != "" || a.Is4In6() {
		return ap, fmt.Errorf("upstream server %q: no zone or IPv4-mapped address", s)
	}
	if ap.Port() == 0 || a.IsUnspecified() || a.IsMulticast() || (a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return ap, fmt.Errorf("upstream server %q: not a unicast address and port", s)
	}
	return ap, nil
}

// Empty is a request without arguments.
type Empty struct{}

// Interface is netd's interface.
type Interface struct {
	Link    string `msgpack:"link"`    // what netd runs on, e.g. "nic:net0 (virtio-net, virtio-mmio v1, link up)"
	Addr    string `msgpack:"addr"`    // address and prefix
	Gateway string `msgpack:"gateway"` // "" for none
	MAC     string `msgpack:"mac"`
	MTU     int    `msgpack:"mtu"`
	Ready   bool   `msgpack:"ready"` // the address is in use (probed)
	// Lease is set when the address came from DHCP (OpConfigure);
	// Addr is "" while netd has no address.
	Lease                                *Lease `msgpack:"lease"`
	RxFrames, TxFrames, RxBytes, TxBytes uint64
}

// Configure is OpConfigure's request. Clear removes the address (and
// gateway): every other field must then be empty. Otherwise Addr is
// required ("10.0.2.15/24"), Gateway optional (inside Addr's subnet), MTU
// 0 for the link's (else at least 68, at most the link's: larger is
// clamped). Probe checks a new address first (RFC 5227): the reply comes
// once it is in use, or says Conflict (netd then has no address). The
// Lease fields describe where the address came from, for ifconfig.
type Configure struct {
	Clear   bool   `msgpack:"clear"`
	Addr    string `msgpack:"addr"`
	Gateway string `msgpack:"gateway"`
	MTU     int    `msgpack:"mtu"`
	Probe   bool   `msgpack:"probe"`
	Lease   *Lease `msgpack:"lease"` // nil: a static address
}

// Lease is a DHCP lease as netd shows it (ifconfig).
type Lease struct {
	Server  string   `msgpack:"server"`  // the DHCP server
	Expiry  int64    `msgpack:"expiry"`  // Unix seconds; 0 for an infinite lease
	Seconds int64    `msgpack:"seconds"` // the lease time granted
	DNS     []string `msgpack:"dns"`
}

// Configured is OpConfigure's reply: the interface as it now is.
type Configured struct {
	Interface Interface `msgpack:"interface"`
	// Conflict: probing found the address in use (by ConflictMAC); it was
	// not configured and netd has no address.
	Conflict    bool   `msgpack:"conflict"`
	ConflictMAC string `msgpack:"conflict_mac"`
}

// ARPTable is the neighbour cache, one line per entry.
type ARPTable struct {
	Entries []string `msgpack:"entries"`
}

// Report is every counter, netstat style (indented "Name value" lines
// under "layer:" headings).
type Report struct {
	Text string `msgpack:"text"`
}

// CaptureStart starts a packet capture.
type CaptureStart struct {
	Filter  string `msgpack:"filter"`  // capture.ParseFilter's syntax; "" for every frame
	SnapLen int    `msgpack:"snaplen"` // bytes kept of each frame; 0 for the default
	Port    string `msgpack:"port"`    // the console port service; "" for consproto.DefaultPort
}

// CaptureStatus describes the current (or, after a stop, the last)
// capture.
type CaptureStatus struct {
	Running  bool   `msgpack:"running"`
	Filter   string `msgpack:"filter"`
	SnapLen  int    `msgpack:"snaplen"`
	Port     string `msgpack:"port"`
	Appended bool   `msgpack:"appended"` // the port's stream had a pcap header already
	Captured uint64 `msgpack:"captured"` // frames kept
	Filtered uint64 `msgpack:"filtered"` // frames the filter passed over
	Dropped  uint64 `msgpack:"dropped"`  // frames lost: the ring was full (the port was slow)
	Written  uint64 `msgpack:"written"`  // frames written to the port
	Bytes    uint64 `msgpack:"bytes"`    // bytes written to the port
	Error    string `msgpack:"error"`    // why writing stopped, if it did
}

// Client calls one admin service.
type Client struct{ conn *libipc.Conn }

// Dial connects to the admin service name through init.
func Dial(ctx context.Context, boot *libipc.InitClient, name string) (*Client, error) {
	ep, err := boot.Connect(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Client{conn: libipc.NewConn(ep)}, nil
}

// Call makes one request.
func (c *Client) Call(ctx context.Context, op libipc.Op, resp any) error {
	return c.conn.Call(ctx, op, &Empty{}, resp)
}

// Do makes one request with arguments.
func (c *Client) Do(ctx context.Context, op libipc.Op, req, resp any) error {
	return c.conn.Call(ctx, op, req, resp)
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Done is closed when the connection has ended: the service's process
// exited, crashed or was restarted (or Close was called).
func (c *Client) Done() <-chan struct{} { return c.conn.Done() }

// NewClient calls the admin service at the other end of ep (a
// connection made by other means than Dial: a test's broker).
func NewClient(ep libipc.Endpoint) *Client { return &Client{conn: libipc.NewConn(ep)} }
