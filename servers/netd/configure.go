package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"armos/libipc"
	"armos/libsocket/adminproto"
	"armos/servers/netd/stack"
)

// Run-time configuration (adminproto.OpConfigure, docs/dhcp.md): dhcpc
// hands netd its lease. Only a netd started with -dhcp accepts it; any
// client that can reach netd.admin may then call it (init does not yet
// tell a service who its client is: see docs/dhcp.md, "Who may
// configure").

// maxLeaseDNS bounds a lease's DNS servers (dhcpc keeps at most 4).
const maxLeaseDNS = 4

// errNotDHCP refuses OpConfigure on a netd started without -dhcp.
var errNotDHCP = fmt.Errorf("netd was not started with -dhcp: its address is static: %w", libipc.ErrPermission)

// configState is the run-time configuration's state, on the event loop.
type configState struct {
	allowed   bool                                 // -dhcp
	linkMTU   int                                  // the device's MTU: a lease's is clamped to it
	lease     *adminproto.Lease                    // where the address came from; nil: static or none
	pending   *libipc.Reply[adminproto.Configured] // a configure waiting for its probe
	pendLease *adminproto.Lease
	changes   uint64 // OpConfigure requests applied
	refused   uint64 // OpConfigure requests refused (not -dhcp, invalid)
}

// parseConfigure checks a request strictly and turns it into the stack's
// configuration (MTU 0: the link's; larger than the link's: clamped).
func parseConfigure(req *adminproto.Configure, linkMTU int) (stack.Config, error) {
	bad := func(format string, args ...any) (stack.Config, error) {
		return stack.Config{}, fmt.Errorf("configure: "+format+": %w", append(args, libipc.ErrInvalid)...)
	}
	if req.Clear {
		if req.Addr != "" || req.Gateway != "" || req.MTU != 0 || req.Probe || req.Lease != nil {
			return bad("clear takes no other field")
		}
		return stack.Config{}, nil
	}
	var cfg stack.Config
	var err error
	if cfg.Addr, err = netip.ParsePrefix(req.Addr); err != nil || !cfg.Addr.Addr().Is4() {
		return bad("address %q: want an IPv4 address and prefix length", req.Addr)
	}
	a := cfg.Addr.Addr()
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || cfg.Addr.Bits() == 0 {
		return bad("address %q: not a host address", req.Addr)
	}
	if req.Gateway != "" {
		if cfg.Gateway, err = netip.ParseAddr(req.Gateway); err != nil || !cfg.Gateway.Is4() || !cfg.Addr.Contains(cfg.Gateway) || cfg.Gateway == a {
			return bad("gateway %q: want another IPv4 address inside %v", req.Gateway, cfg.Addr.Masked())
		}
	}
	switch {
	case req.MTU == 0:
		cfg.MTU = linkMTU
	case req.MTU < stack.MinMTU:
		return bad("mtu %d: below %d", req.MTU, stack.MinMTU)
	default:
		cfg.MTU = min(req.MTU, linkMTU, stack.MaxMTU)
	}
	if l := req.Lease; l != nil {
		if s, err := netip.ParseAddr(l.Server); err != nil || !s.Is4() {
			return bad("lease server %q: want an IPv4 address", l.Server)
		}
		if l.Expiry < 0 || l.Seconds < 0 || len(l.DNS) > maxLeaseDNS {
			return bad("lease: negative time or more than %d DNS servers", maxLeaseDNS)
		}
		for _, d := range l.DNS {
			if a, err := netip.ParseAddr(d); err != nil || !a.Is4() {
				return bad("lease DNS server %q: want an IPv4 address", d)
			}
		}
	}
	cfg.Probe = req.Probe
	return cfg, nil
}

// configure applies an OpConfigure request on the event loop and answers
// it: at once, or once probing ends (ready or conflict).
func (n *instance) configure(req *adminproto.Configure, reply *libipc.Reply[adminproto.Configured]) {
	cs := &n.cfgState
	if !cs.allowed {
		cs.refused++
		_ = reply.Fail(errNotDHCP)
		return
	}
	cfg, err := parseConfigure(req, cs.linkMTU)
	if err == nil {
		err = n.st.Reconfigure(cfg)
	}
	if err != nil {
		cs.refused++
		if !errors.Is(err, libipc.ErrInvalid) {
			err = fmt.Errorf("configure: %v: %w", err, libipc.ErrInvalid)
		}
		_ = reply.Fail(err)
		return
	}
	cs.changes++
	if cs.pending != nil { // superseded before its probe ended
		_ = cs.pending.Fail(fmt.Errorf("configure: superseded by a newer request: %w", libipc.ErrCanceled))
		cs.pending = nil
	}
	n.st.SetConflictHandler(n.conflict)
	if n.st.Ready() {
		cs.lease = req.Lease
		if !cfg.Addr.IsValid() {
			cs.lease = nil
		}
		fmt.Printf("netd: configured %s\n", describeConfig(n.st.Config(), cs.lease))
		n.proto.Reconfigured()
		_ = reply.OK(&adminproto.Configured{Interface: n.iface()})
		return
	}
	cs.pending, cs.pendLease = reply, req.Lease
	n.st.SetReadyHandler(func() {
		if cs.pending != reply {
			return
		}
		cs.pending, cs.lease = nil, cs.pendLease
		fmt.Printf("netd: configured %s (probed)\n", describeConfig(n.st.Config(), cs.lease))
		n.proto.Reconfigured()
		_ = reply.OK(&adminproto.Configured{Interface: n.iface()})
	})
}

// conflict is the stack's conflict handler once the interface is
// configured at run time: a conflict found while probing a configured
// address removes it (netd goes back to unconfigured: a DHCP client then
// declines it and sends from 0.0.0.0 again) and answers the request.
func (n *instance) conflict(c stack.AddressConflict) {
	reportConflict(n.st, c)
	cs := &n.cfgState
	if !c.Probing || cs.pending == nil {
		return
	}
	reply := cs.pending
	cs.pending, cs.lease = nil, nil
	_ = n.st.Reconfigure(stack.Config{})
	n.proto.Reconfigured()
	_ = reply.OK(&adminproto.Configured{Interface: n.iface(), Conflict: true, ConflictMAC: net.HardwareAddr(c.MAC[:]).String()})
}

// describeConfig is the console line's description of a configuration.
func describeConfig(cfg stack.Config, l *adminproto.Lease) string {
	if !cfg.Addr.IsValid() {
		return "no address"
	}
	s := fmt.Sprintf("ip %v", cfg.Addr)
	if cfg.Gateway.IsValid() {
		s += fmt.Sprintf(" gw %v", cfg.Gateway)
	}
	s += fmt.Sprintf(" mtu %d", cfg.MTU)
	if l != nil {
		s += fmt.Sprintf(" dhcp server %s lease %v", l.Server, time.Duration(l.Seconds)*time.Second)
	}
	return s
}

// iface describes the interface (OpInterface); on the event loop.
func (n *instance) iface() adminproto.Interface {
	cfg, c := n.st.Config(), n.st.Counters()
	i := adminproto.Interface{Link: n.where, MAC: net.HardwareAddr(cfg.MAC[:]).String(),
		MTU: cfg.MTU, Ready: n.st.Configured() && n.st.Ready(), RxFrames: c.Link.RxFrames, TxFrames: c.Link.TxFrames, RxBytes: c.Link.RxBytes, TxBytes: c.Link.TxBytes}
	if cfg.Addr.IsValid() {
		i.Addr = cfg.Addr.String()
	}
	if cfg.Gateway.IsValid() {
		i.Gateway = cfg.Gateway.String()
	}
	if l := n.cfgState.lease; l != nil {
		cp := *l
		i.Lease = &cp
	}
	return i
}
