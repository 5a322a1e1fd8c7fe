// Command tapfloor is the least a user-space stack can do per UDP echo on a
// TAP: read a frame, answer ARP requests for its address, turn a UDP
// datagram to port 7 around in place (addresses and ports swapped, so no
// checksum changes), write it back. One goroutine, no IPC, no queues.
// BenchmarkRealPeerEchoWindow runs it beside netd as the floor of what any
// netd could cost on the same machine in the same run.
//
//	tapfloor -tap tap0 -ip 10.99.0.2
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"armos/servers/netd/link"
)

func main() {
	tapName := flag.String("tap", "tap0", "TAP device")
	ipFlag := flag.String("ip", "10.99.0.2/24", "IPv4 address to answer for (a prefix length is ignored)")
	flag.String("apps", "echo", "ignored: netd's flag (tapfloor always echoes on UDP port 7)")
	flag.Bool("noprobe", true, "ignored: netd's flag (tapfloor never probes)")
	flag.Parse()
	ip, err := netip.ParseAddr(strings.Split(*ipFlag, "/")[0])
	if err != nil || !ip.Is4() {
		fmt.Fprintf(os.Stderr, "tapfloor: bad -ip %q\n", *ipFlag)
		os.Exit(2)
	}
	tap, err := link.OpenTAP(*tapName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tapfloor:", err)
		os.Exit(1)
	}
	mac := net.HardwareAddr{0x02, 0x00, 0x0a, 0x63, 0x00, 0x02}
	fmt.Printf("netd: ready on %s ip %s mac %s (tapfloor)\n", *tapName, ip, mac)
	ip4 := ip.As4()
	buf := make([]byte, 2048)
	for {
		n, err := tap.ReadFrame(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tapfloor:", err)
			os.Exit(1)
		}
		if f := answer(buf[:n], mac, ip4); f != nil {
			if err := tap.WriteFrame(f); err != nil {
				fmt.Fprintln(os.Stderr, "tapfloor:", err)
				os.Exit(1)
			}
		}
	}
}

// answer turns f into its reply in place, or returns nil.
func answer(f []byte, mac net.HardwareAddr, ip [4]byte) []byte {
	if len(f) < 14 {
		return nil
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0806: // ARP request for ip: reply
		a := f[14:]
		if len(a) < 28 || binary.BigEndian.Uint16(a[6:]) != 1 || !bytes.Equal(a[24:28], ip[:]) {
			return nil
		}
		copy(f[0:6], f[6:12])
		copy(f[6:12], mac)
		binary.BigEndian.PutUint16(a[6:], 2)
		var sha [6]byte
		var spa [4]byte
		copy(sha[:], a[8:14])
		copy(spa[:], a[14:18])
		copy(a[8:14], mac)
		copy(a[14:18], ip[:])
		copy(a[18:24], sha[:])
		copy(a[24:28], spa[:])
		return f[:14+28]
	case 0x0800:
		p := f[14:]
		if len(p) < 20 || p[0]>>4 != 4 || p[9] != 17 || !bytes.Equal(p[16:20], ip[:]) {
			return nil
		}
		hl := int(p[0]&15) * 4
		if len(p) < hl+8 || binary.BigEndian.Uint16(p[hl+2:]) != 7 {
			return nil
		}
		var m [6]byte
		copy(m[:], f[0:6])
		copy(f[0:6], f[6:12])
		copy(f[6:12], m[:])
		var a [4]byte
		copy(a[:], p[12:16])
		copy(p[12:16], p[16:20])
		copy(p[16:20], a[:])
		u := p[hl:]
		sp := binary.BigEndian.Uint16(u[0:])
		binary.BigEndian.PutUint16(u[0:], 7)
		binary.BigEndian.PutUint16(u[2:], sp)
		return f
	}
	return nil
}
