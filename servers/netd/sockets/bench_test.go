package sockets_test

import (
	"fmt"
	"testing"

	"armos/servers/netd/sockets/sockettest"
	"armos/servers/netd/stack/stacktest"
)

// BenchmarkUDPEcho measures the seed's echo exercise end to end: a datagram
// injected on the simulated link goes up netd's stack, is received by the
// echo app through libsocket and the in-memory IPC transport (a parked,
// deferred recvfrom), sent back through libsocket, and leaves on the link.
// One op is one echoed datagram; allocs/op counts every allocation on that
// path, the simulated peer's included (it copies each frame it sees).
func BenchmarkUDPEcho(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(sizeName(size), func(b *testing.B) {
			h := sockettest.New(b)
			startEcho(b, h)
			frame := sockettest.UDPFrame(sockettest.PeerMAC, sockettest.OurMAC, peerAddr, ourEcho, make([]byte, size))
			st, svc := h.Netd()
			h.SendUDP(peerAddr, ourEcho, []byte("warm up ARP"))
			h.Expect()
			h.WaitParked(1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				svc.Post(func() { st.Input(stacktest.Buf(frame)) })
				<-h.Datagrams()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "datagrams/s")
		})
	}
}

// BenchmarkSendTo measures an application's send path alone: libsocket,
// IPC, the socket service and the stack's UDP/IPv4/Ethernet output.
func BenchmarkSendTo(b *testing.B) {
	h := sockettest.New(b)
	s, err := h.Client().ListenUDP(bg, anyPort)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.SendTo(bg, []byte("warm up ARP"), peerAddr); err != nil {
		b.Fatal(err)
	}
	h.Expect()
	payload := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.SendTo(bg, payload, peerAddr); err != nil {
			b.Fatal(err)
		}
		<-h.Datagrams()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "datagrams/s")
}

func sizeName(n int) string { return fmt.Sprintf("%dB", n) }
