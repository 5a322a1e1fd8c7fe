package tcp_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
)

// faultKinds are the link conditions every transfer size runs under. The
// delay is a LAN-ish 5 ms each way; each fault is heavy enough to fire
// hundreds of times in the larger transfers.
var faultKinds = []struct {
	name string
	f    tcptest.Faults
}{
	{"clean", tcptest.Faults{Delay: 5 * time.Millisecond}},
	{"loss", tcptest.Faults{Delay: 5 * time.Millisecond, Loss: 0.02}},
	{"reorder", tcptest.Faults{Delay: 5 * time.Millisecond, Reorder: 0.05}},
	{"duplicate", tcptest.Faults{Delay: 5 * time.Millisecond, Duplicate: 0.05}},
	{"corrupt", tcptest.Faults{Delay: 5 * time.Millisecond, Corrupt: 0.02}},
	{"delay", tcptest.Faults{Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond}},
	{"bottleneck", tcptest.Faults{Delay: 5 * time.Millisecond, Rate: 10 << 20, QueueBytes: 64 << 10}},
	{"all", tcptest.Faults{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.01,
		Reorder: 0.02, Duplicate: 0.02, Corrupt: 0.01}},
}

// Transfers of 0 B, 1 B, 1 MiB and 16 MiB arrive byte-exact under each
// fault, and both ends close cleanly: with SACK and timestamps (the
// default, RFC 6675 recovery) and without either (NewReno, Karn).
func TestTransferUnderFaults(t *testing.T) {
	sizes := []int{0, 1, 1 << 20, 16 << 20}
	for _, opts := range []struct {
		name string
		cfg  tcp.Config
	}{
		{"sack", tcp.Config{}},
		{"plain", tcp.Config{NoSACK: true, NoTimestamps: true}},
	} {
		for _, fk := range faultKinds {
			for _, size := range sizes {
				t.Run(fmt.Sprintf("%s/%s/%d", opts.name, fk.name, size), func(t *testing.T) {
					f := fk.f
					f.Seed = uint64(size) + 1
					r := runTransfer(t, f, pattern(size, uint64(size)), opts.cfg, 24*time.Hour)
					t.Logf("wall %v, fake %v; link %+v; sender: retrans %d (by SACK %d), fast %d, timeouts %d; receiver: bad checksum %d, out of order %d",
						r.wall.Round(time.Millisecond), r.fake.Round(time.Millisecond), r.link,
						r.a.TxRetransSegs, r.a.SACKRetransmits, r.a.FastRetransmits, r.a.Timeouts, r.b.RxBadChecksum, r.b.RxOutOfOrder)
					switch fk.name {
					case "corrupt":
						if size >= 1<<20 {
							require.NotZero(t, r.a.RxBadChecksum+r.b.RxBadChecksum, "corruption caught by the checksum")
						}
					case "loss":
						if size >= 1<<20 {
							require.NotZero(t, r.a.TxRetransSegs)
							if opts.cfg.NoSACK {
								require.Zero(t, r.b.TxSACKs+r.a.SACKRetransmits)
							} else {
								require.NotZero(t, r.b.TxSACKs, "the receiver SACKs")
							}
						}
					}
				})
			}
		}
	}
}

// A transfer whose sequence numbers cross 2^32 on both ends: the clock is
// moved so that the sender's ISN (RFC 6528: a 4 µs clock plus a keyed
// hash) falls just below the wrap, and the sender's bytes wrap the
// receiver's RCV.NXT with them.
func TestTransferAcrossSequenceWrap(t *testing.T) {
	local := netip.AddrPortFrom(addrA, 50000)
	var iss uint32
	r := runTransferFrom(t, tcptest.Faults{Delay: 5 * time.Millisecond, Loss: 0.01, Seed: 11}, pattern(1<<20, 11),
		tcp.Config{}, time.Hour, func(l *tcptest.Link, a, b *tcp.Stack) netip.AddrPort {
			l.Tap = func(tcptest.Packet) bool { return false }
			probe, err := a.Connect(local, netip.AddrPortFrom(addrB, portB))
			require.NoError(t, err)
			iss = probe.Info().ISS
			probe.Abort()
			l.Tap = nil
			ticks := uint32(1<<32-300000) - iss // 300,000 below the wrap
			l.Clock.Advance(time.Duration(ticks) * 4 * time.Microsecond)
			return local
		})
	assert.Equal(t, uint32(1<<32-300000), r.infoA.ISS)
	assert.Less(t, r.infoA.SndMax, r.infoA.ISS, "SND.MAX had wrapped when the last byte was written")
}
