package main

import (
	"net"
	"testing"

	"armos/servers/netd/link/peertest"
	"armos/servers/netd/stack"
)

// echoRTT sends 64-byte datagrams to the echo app one at a time; an op is
// one round trip (two datagrams through each netd), also reported as echoed
// datagrams per second.
func echoRTT(b *testing.B, pc net.PacketConn, to net.Addr) {
	msg := make([]byte, 64)
	buf := make([]byte, 2048)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := pc.WriteTo(msg, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := pc.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "echoes/s")
}

// BenchmarkHostedEchoRTT: a libsocket client in one hosted netd, the echo
// app in another, an in-memory Ethernet link between them.
func BenchmarkHostedEchoRTT(b *testing.B) {
	client, _, _ := hostedPair(b, stack.SystemClock{})
	pc := dialClient(b, client)
	echoRTT(b, pc, echoUDP)
}

// BenchmarkRealPeerEchoRTT: a Linux UDP socket in the test's namespace, the
// echo app in hosted netd across a TAP device (needs root).
func BenchmarkRealPeerEchoRTT(b *testing.B) {
	peertest.Require(b)
	bin := buildNetd(b)
	ns := peertest.NewNS(b)
	ns.AddTap(b, peerDev, linuxSide)
	startNetd(b, ns, bin, "-tap", peerDev, "-ip", netdCIDR, "-apps", "echo")
	var pc net.PacketConn
	if err := ns.Do(func() (err error) {
		pc, err = net.ListenPacket("udp4", "10.99.0.1:0")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	echoRTT(b, pc, &net.UDPAddr{IP: net.ParseIP(netdIP), Port: 7})
}
