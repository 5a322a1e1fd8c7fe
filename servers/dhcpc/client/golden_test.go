package client

import (
	"bufio"
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/dhcpc/dhcp"
)

type goldenLine struct {
	out  bool // sent by the engine
	typ  string
	data []byte
}

func readGolden(t *testing.T, file string) []goldenLine {
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	var out []goldenLine
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<16)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "#") {
			continue
		}
		f := strings.Fields(s.Text())
		require.Len(t, f, 3)
		b, err := hex.DecodeString(f[2])
		require.NoError(t, err)
		out = append(out, goldenLine{out: f[0] == "out", typ: f[1], data: b})
	}
	require.NoError(t, s.Err())
	return out
}

// replayGolden replays recorded exchanges on the fake clock: block i (up
// to and including the engine's i-th RELEASE) runs on a new client with
// config(i, the previous block's harness), which must send exactly the
// recorded messages (the server accepted them) and reach the same states
// from the server's answers. The first probe of block 0 finds a conflict
// when conflict is set. It returns each block's harness.
func replayGolden(t *testing.T, file string, server netip.AddrPort, conflict bool, config func(i int, prev *harness) Config) []*harness {
	lines := readGolden(t, file)
	var blocks [][]goldenLine
	start := 0
	for i, l := range lines {
		if l.out && l.typ == "RELEASE" {
			blocks = append(blocks, lines[start:i+1])
			start = i + 1
		}
	}
	var hs []*harness
	var prev *harness
	for i, block := range blocks {
		h := newHarness(t, config(i, prev), true)
		hs = append(hs, h)
		h.c.Start()
		next, answered := 0, 0
		for j, l := range block {
			if !l.out {
				h.c.Input(l.data, server)
				for ; answered < len(h.probes); answered++ {
					h.c.ProbeResult(h.probes[answered], conflict && i == 0 && answered == 0)
				}
				continue
			}
			if l.typ == "RELEASE" {
				h.released, _ = h.c.Lease()
				require.NoError(t, h.c.Release())
			}
			for k := 0; k < 100 && len(h.sent) <= next; k++ {
				dl, ok := h.c.NextDeadline()
				require.True(t, ok, "block %d line %d: nothing to wait for in %v", i, j, h.c.State())
				if dl.After(h.clock.now) {
					h.clock.now = dl
				}
				h.c.Tick()
			}
			require.Greater(t, len(h.sent), next, "block %d line %d", i, j)
			assert.Equal(t, hex.EncodeToString(l.data), hex.EncodeToString(h.sent[next].Data),
				"block %d line %d: the engine's %s", i, j, l.typ)
			next++
		}
		assert.Equal(t, Stopped, h.c.State())
		rx := h.c.Counters().Rx
		assert.Equal(t, rx.Datagrams, rx.Accepted, "block %d: every server message taken", i)
		prev = h
	}
	return hs
}

// TestDnsmasqGolden replays TestDnsmasq's recorded exchanges.
func TestDnsmasqGolden(t *testing.T) {
	other := Lease{Addr: netip.MustParsePrefix("10.99.8.7/24"), Server: netip.MustParseAddr("10.99.8.1"),
		Duration: time.Hour, Start: t0}
	hs := replayGolden(t, goldenFile, netip.AddrPortFrom(netip.MustParseAddr(dnsmasqServer), ServerPort), true,
		func(i int, prev *harness) Config {
			switch i {
			case 0:
				return Config{MAC: goldenMAC, Hostname: "armos", DeclineWait: time.Second}
			case 1:
				return Config{MAC: goldenMAC, Remember: &prev.released}
			}
			return Config{MAC: goldenMAC, Remember: &other}
		})
	require.Len(t, hs, 3)
	c := hs[0].c.Counters()
	assert.Equal(t, uint64(1), c.Conflicts)
	assert.Equal(t, uint64(2), c.Renewals) // T1 twice: the second REQUEST went to the stopped dnsmasq
	assert.Equal(t, uint64(1), c.Rebinds)
	assert.Equal(t, uint64(2), c.Extended)
	require.Len(t, hs[0].bound, 3)
	l := hs[0].bound[0]
	assert.Equal(t, netip.MustParsePrefix("10.99.7.52/24"), l.Addr)
	assert.Equal(t, netip.MustParseAddr(dnsmasqServer), l.Router)
	assert.Equal(t, 1400, l.MTU)
	assert.Equal(t, []time.Duration{2 * time.Minute, 4 * time.Second, 8 * time.Second}, []time.Duration{l.Duration, l.T1, l.T2})
	assert.Equal(t, uint64(1), hs[1].c.Counters().Reboots)
	assert.Equal(t, hs[0].released.Addr, hs[1].bound[0].Addr)
	assert.Equal(t, uint64(1), hs[2].c.Counters().Naks)
	assert.Len(t, hs[2].bound, 1)
}

// TestSlirpGolden replays TestSlirp's recorded exchanges.
func TestSlirpGolden(t *testing.T) {
	other := Lease{Addr: netip.MustParsePrefix("10.0.3.7/24"), Server: netip.MustParseAddr("10.0.3.2"),
		Duration: time.Hour, Start: t0}
	hs := replayGolden(t, slirpGoldenFile, netip.AddrPortFrom(netip.MustParseAddr("10.0.2.2"), ServerPort), false,
		func(i int, prev *harness) Config {
			cfg := slirpConfig()
			switch i {
			case 1:
				cfg.Remember = &prev.released
			case 2:
				cfg.Remember = &other
			}
			return cfg
		})
	require.Len(t, hs, 3)
	l := hs[0].bound[0]
	assert.Equal(t, netip.MustParsePrefix("10.0.2.15/24"), l.Addr)
	assert.Equal(t, netip.MustParseAddr("10.0.2.2"), l.Router)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.2.3")}, l.DNS)
	assert.Equal(t, 24*time.Hour, l.Duration)
	assert.Equal(t, uint64(1), hs[0].c.Counters().Extended)
	assert.Equal(t, uint64(1), hs[1].c.Counters().Reboots)
	assert.Equal(t, uint64(1), hs[2].c.Counters().Naks)
}

// TestDnsmasqGoldenMessages checks dnsmasq's messages field by field.
func TestDnsmasqGoldenMessages(t *testing.T) {
	for _, l := range readGolden(t, goldenFile) {
		m, err := dhcp.Parse(l.data)
		require.NoError(t, err)
		assert.Equal(t, l.typ, m.Type().String())
		if l.out {
			continue
		}
		assert.Equal(t, uint8(dhcp.BootReply), m.Op)
		assert.Equal(t, goldenMAC[:], m.HardwareAddr())
		sid, ok := m.Options.Addr(dhcp.OptServerID)
		assert.True(t, ok)
		assert.Equal(t, netip.MustParseAddr(dnsmasqServer), sid)
		if m.Type() == dhcp.Nak {
			continue
		}
		d, _ := m.Options.Duration(dhcp.OptLeaseTime)
		t1, _ := m.Options.Duration(dhcp.OptRenewalTime)
		t2, _ := m.Options.Duration(dhcp.OptRebindingTime)
		assert.Equal(t, []time.Duration{2 * time.Minute, 4 * time.Second, 8 * time.Second}, []time.Duration{d, t1, t2})
		bits, _ := m.Options.PrefixLen()
		assert.Equal(t, 24, bits)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr(dnsmasqServer)}, m.Options.Addrs(dhcp.OptRouter))
		assert.Equal(t, []netip.Addr{netip.MustParseAddr(dnsmasqServer)}, m.Options.Addrs(dhcp.OptDNS))
		mtu, _ := m.Options.Uint16(dhcp.OptMTU)
		assert.Equal(t, uint16(1400), mtu)
	}
}
