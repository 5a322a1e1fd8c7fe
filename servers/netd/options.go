package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"armos/libsocket/sockproto"
)

// knownApps are the applications hosted netd can start in-process.
var knownApps = []string{"echo"}

// options are netd's command-line settings.
type options struct {
	tap     string       // TAP device to attach to
	link    string       // or an IPC link: "serve:NAME" or "connect:NAME" (through init)
	service string       // the name of the socket service
	noProbe bool         // use the address at once (no RFC 5227 probing)
	dhcp    bool         // OpConfigure allowed (dhcpc configures the interface)
	addr    netip.Prefix // our IPv4 address and subnet; invalid: unconfigured (-dhcp)
	gw      netip.Addr   // default gateway; invalid for none
	mac     net.HardwareAddr
	macSet  bool          // -mac was given (else a NIC's own address wins)
	mtu     int           // 0: the device's MTU
	arpLife time.Duration // 0: stack.ARPEntryLifetime
	apps    []string      // apps to run in-process
	cpuProf string        // write a CPU profile here until netd stops (hosted diagnostics)
}

// parseOptions parses args (without the program name). Errors name the bad
// flag; usage goes to out.
func parseOptions(args []string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("netd", flag.ContinueOnError)
	fs.SetOutput(out)
	tap := fs.String("tap", "", "Linux TAP device to run on (hosted mode), e.g. tap0")
	lnk := fs.String("link", "", "an IPC link through init instead of -tap: nic:NAME (the NIC driver NAME, e.g. virtionetd's net0: its MAC and MTU are used), serve:NAME (be the link provider NAME, for a peer netd) or connect:NAME (a peer netd's link)")
	service := fs.String("service", sockproto.ServiceName, "the name the socket service is registered under")
	noProbe := fs.Bool("noprobe", false, "use the address at once instead of probing it first (RFC 5227; tests)")
	ip := fs.String("ip", "", "IPv4 address and prefix length, e.g. 10.99.0.2/24 (with -dhcp optional: until the first lease)")
	dhcp := fs.Bool("dhcp", false, "let a local client (dhcpc) set the address, gateway and MTU at run time (admin OpConfigure; docs/dhcp.md)")
	gw := fs.String("gw", "", "default gateway, e.g. 10.99.0.1 (optional)")
	mac := fs.String("mac", "", "Ethernet address (default 02:00 followed by the IPv4 address)")
	// Decimal, as ip(8) reads it: flag.Int would take "010" as octal 8.
	var mtu int
	fs.Func("mtu", "IP MTU in bytes, decimal (default: the device's)", func(s string) error {
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("want a decimal number of bytes")
		}
		mtu = v
		return nil
	})
	arpLife := fs.Duration("arplifetime", 0, "how long a resolved ARP entry stays valid (default 60s; tests shorten it)")
	cpuProf := fs.String("cpuprofile", "", "write a Go CPU profile to this file until netd stops (go tool pprof reads it; needs a netd built with -tags netdprof)")
	apps := fs.String("apps", "", "comma-separated apps to run in-process: "+strings.Join(knownApps, ", "))
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var o options
	var err error
	o.tap, o.link, o.service, o.noProbe, o.cpuProf = *tap, *lnk, *service, *noProbe, *cpuProf
	switch {
	case o.tap == "" && o.link == "":
		return o, errors.New("-tap or -link is required (hosted netd runs on a Linux TAP device, netd in armos on an IPC link)")
	case o.tap != "" && o.link != "":
		return o, errors.New("-tap and -link exclude each other")
	case o.link != "" && linkName(o.link) == "":
		return o, fmt.Errorf("-link %q: want nic:NAME, serve:NAME or connect:NAME", o.link)
	case o.service == "":
		return o, errors.New("-service: the name is empty")
	}
	o.dhcp = *dhcp
	switch {
	case *ip == "" && o.dhcp:
		// unconfigured until dhcpc's first lease
	case *ip == "":
		return o, errors.New("-ip is required (or -dhcp: dhcpc sets the address)")
	default:
		if o.addr, err = netip.ParsePrefix(*ip); err != nil || !o.addr.Addr().Is4() || o.addr.Addr().IsUnspecified() {
			return o, fmt.Errorf("-ip %q: want an IPv4 address with prefix length, e.g. 10.99.0.2/24", *ip)
		}
	}
	if *gw != "" && !o.addr.IsValid() {
		return o, fmt.Errorf("-gw %q: needs -ip", *gw)
	}
	if *gw != "" {
		if o.gw, err = netip.ParseAddr(*gw); err != nil || !o.gw.Is4() || !o.addr.Contains(o.gw) {
			return o, fmt.Errorf("-gw %q: want an IPv4 address inside %v", *gw, o.addr.Masked())
		}
	}
	o.macSet = *mac != ""
	if *mac == "" && !o.addr.IsValid() {
		// No address to derive it from (-dhcp): a random locally
		// administered one (a NIC's own address replaces it).
		o.mac = net.HardwareAddr{0x02, 0x00, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(o.mac[2:], rand.Uint32())
	} else if *mac == "" {
		a := o.addr.Addr().As4()
		o.mac = net.HardwareAddr{0x02, 0x00, a[0], a[1], a[2], a[3]}
	} else if o.mac, err = net.ParseMAC(*mac); err != nil || len(o.mac) != 6 || o.mac[0]&1 != 0 {
		return o, fmt.Errorf("-mac %q: want a unicast Ethernet address, e.g. 02:00:0a:63:00:02", *mac)
	}
	if o.mtu = mtu; o.mtu < 0 {
		return o, fmt.Errorf("-mtu %d: must be positive", o.mtu)
	}
	if o.arpLife = *arpLife; o.arpLife < 0 {
		return o, fmt.Errorf("-arplifetime %v: must be positive", o.arpLife)
	}
	for _, a := range strings.Split(*apps, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !slices.Contains(knownApps, a) {
			return o, fmt.Errorf("-apps: unknown app %q (known: %s)", a, strings.Join(knownApps, ", "))
		}
		if !slices.Contains(o.apps, a) {
			o.apps = append(o.apps, a)
		}
	}
	return o, nil
}

// linkName returns the name of -link's service ("" when the kind is
// unknown or the name missing).
func linkName(l string) string {
	for _, kind := range []string{"nic:", "serve:", "connect:"} {
		if n, ok := strings.CutPrefix(l, kind); ok {
			return strings.TrimSpace(n)
		}
	}
	return ""
}
