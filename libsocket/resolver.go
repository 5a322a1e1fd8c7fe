package libsocket

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"armos/libipc"
	"armos/libsocket/adminproto"
)

// DNSServer is where armos's resolver (servers/resolved) answers: UDP port
// 53 on loopback (netd delivers loopback traffic to resolved's 0.0.0.0:53
// socket, and resolved answers loopback clients only).
var DNSServer = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 53)

// Resolver returns a net.Resolver whose queries go to resolved
// (DNSServer) over this client's UDP sockets:
//
//	r := client.Resolver()
//	addrs, err := r.LookupHost(ctx, "example.com")
//
// It is Go's own resolver (PreferGo), which builds the queries (A and
// AAAA in parallel, each over a socket of its own), reads /etc/hosts,
// /etc/resolv.conf and /etc/nsswitch.conf when present (the boot image
// carries them), retries, and parses the answers; only its Dial is ours.
func (c *Client) Resolver() *net.Resolver { return c.ResolverAt(DNSServer) }

// ResolverAt is Resolver asking server instead (nslookup's SERVER).
// Whatever nameserver /etc/resolv.conf names, the queries go to server.
func (c *Client) ResolverAt(server netip.AddrPort) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return c.DialDNS(ctx, network, server)
	}}
}

// SetDefaultResolver makes net.DefaultResolver c.Resolver(), so that
// net.LookupHost, net.Dial with names and the other package-level lookups
// use resolved through this client.
func (c *Client) SetDefaultResolver() { net.DefaultResolver = c.Resolver() }

// DialDNS is a net.Resolver's Dial to server: for "udp" a UDP socket
// connected to it, as a PacketConn, which is both a net.Conn and a
// net.PacketConn, so Go's resolver sends one message per write (no TCP
// length framing); for "tcp" (Go's resolver after a truncated answer) a
// TCP connection through tcpd.
func (c *Client) DialDNS(ctx context.Context, network string, server netip.AddrPort) (net.Conn, error) {
	if strings.HasPrefix(network, "tcp") {
		return c.DialTCP(ctx, server)
	}
	s, err := c.DialUDP(ctx, server)
	if err != nil {
		return nil, err
	}
	return NewPacketConn(s), nil
}

// WaitTCP waits until tcpd serves (it registers adminproto.TCPService
// with init once it owns IP protocol 6): what a program started at boot
// beside it does before its first stream socket, which netd refuses
// (EPROTONOSUPPORT) until then. It fails outside init, and when ctx ends
// first.
func WaitTCP(ctx context.Context) error {
	boot, err := libipc.Bootstrap()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoInit, err)
	}
	ep, err := boot.ConnectWait(ctx, adminproto.TCPService)
	if err != nil {
		return fmt.Errorf("libsocket: waiting for tcpd: %w", err)
	}
	return ep.Close()
}

// WaitResolved waits until resolved serves (it registers
// adminproto.ResolvedService with init once its socket is bound): what a
// program started at boot beside it does before its first lookup, so that
// the query does not meet a closed port. It fails outside init, and when
// ctx ends first (no resolved configured, say).
func WaitResolved(ctx context.Context) error {
	boot, err := libipc.Bootstrap()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoInit, err)
	}
	ep, err := boot.ConnectWait(ctx, adminproto.ResolvedService)
	if err != nil {
		return fmt.Errorf("libsocket: waiting for resolved: %w", err)
	}
	return ep.Close()
}
