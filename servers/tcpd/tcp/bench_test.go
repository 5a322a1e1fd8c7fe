package tcp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack/stacktest"
	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
	"armos/servers/tcpd/tcp/wire"
)

// The receive path — two in-order segments in, their ACK out, the data
// read — allocates nothing once the buffers have grown (building the
// segments to inject is outside the measured function).
func TestDataPathAllocatesNothing(t *testing.T) {
	clock := stacktest.NewFakeClock()
	s, err := tcp.New(tcp.Config{Secret: []byte("bench")}, tcp.OutputFunc(func(netip.Addr, netip.Addr, []byte) error { return nil }), clock)
	require.NoError(t, err)
	us, peer := netip.AddrPortFrom(ourAddr, 80), netip.AddrPortFrom(peerAddr, 40000)
	l, err := s.Listen(us, 1)
	require.NoError(t, err)
	s.Input(peerAddr, ourAddr, tcptest.Segment(peer, us, wire.Repr{Seq: 1, Flags: wire.FlagSYN, Window: 65535,
		Options: wire.Options{MSS: 1460}}, nil))
	iss := s.Conns()[0].ISS
	s.Input(peerAddr, ourAddr, tcptest.Segment(peer, us, wire.Repr{Seq: 2, Ack: iss + 1, Flags: wire.FlagACK, Window: 65535}, nil))
	c, err := l.Accept()
	require.NoError(t, err)
	const n = 200
	segs := make([][]byte, n)
	seq := uint32(2)
	for i := range segs {
		segs[i] = tcptest.Segment(peer, us, wire.Repr{Seq: seq, Ack: iss + 1, Flags: wire.FlagACK, Window: 65535}, make([]byte, 1460))
		seq += 1460
	}
	buf := make([]byte, 4096)
	i := 0
	step := func() {
		s.Input(peerAddr, ourAddr, segs[i])
		s.Input(peerAddr, ourAddr, segs[i+1])
		i += 2
		for {
			if n, _ := c.Read(buf); n == 0 {
				break
			}
		}
	}
	for range 20 { // grow the receive buffer's storage
		step()
	}
	allocs := testing.AllocsPerRun(n/2-21, step)
	require.Zero(t, allocs)
	require.Equal(t, uint64(n), s.Counters().RxDataBytes/1460)
}

// BenchmarkTransfer measures a 16 MiB transfer through the simulated link
// (both engines, the link and the application loops), clean and with 2%
// loss: wall time per transfer and MB/s of payload.
func BenchmarkTransfer(b *testing.B) {
	data := pattern(16<<20, 1)
	for _, c := range []struct {
		name string
		f    tcptest.Faults
	}{
		{"clean", tcptest.Faults{Delay: 5 * time.Millisecond}},
		{"loss2%", tcptest.Faults{Delay: 5 * time.Millisecond, Loss: 0.02}},
		{"all", faultKinds[len(faultKinds)-1].f},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var fake time.Duration
			for b.Loop() {
				c.f.Seed++
				fake = runTransfer(b, c.f, data, tcp.Config{}, 24*time.Hour).fake
			}
			b.ReportMetric(fake.Seconds()-tcp.DefaultTimeWait.Seconds(), "fake-s")
		})
	}
}
