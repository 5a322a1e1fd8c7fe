package peertest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Outputs captured from iputils 20221126 and iproute2 6.1 on Debian 12.
const (
	pingOK = `PING 10.98.0.2 (10.98.0.2) 56(84) bytes of data.
64 bytes from 10.98.0.2: icmp_seq=1 ttl=64 time=0.087 ms
64 bytes from 10.98.0.2: icmp_seq=2 ttl=64 time=0.047 ms

--- 10.98.0.2 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 209ms
rtt min/avg/max/mdev = 0.047/0.067/0.087/0.020 ms
`
	pingLost = `PING 10.98.0.9 (10.98.0.9) 56(84) bytes of data.

--- 10.98.0.9 ping statistics ---
2 packets transmitted, 0 received, 100% packet loss, time 204ms

`
	arpingOK = `ARPING 10.98.0.2 from 10.98.0.1 vA
Unicast reply from 10.98.0.2 [8A:49:DF:42:3D:EB]  0.534ms
Unicast reply from 10.98.0.2 [8A:49:DF:42:3D:EB]  0.552ms
Sent 2 probes (1 broadcast(s))
Received 2 response(s)
`
	arpingNone = `ARPING 10.98.0.9 from 10.98.0.1 vA
Sent 1 probes (1 broadcast(s))
Received 0 response(s)
`
	neighJSON = `[{"dst":"10.98.0.2","dev":"vA","lladdr":"8a:49:df:42:3d:eb","state":["REACHABLE"]},` +
		`{"dst":"10.98.0.7","dev":"vA","state":["FAILED"]}]`
)

func TestParsePing(t *testing.T) {
	r, err := ParsePing(pingOK)
	require.NoError(t, err)
	assert.Equal(t, 2, r.Transmitted)
	assert.Equal(t, 2, r.Received)
	require.Len(t, r.Replies, 2)
	assert.Equal(t, netip.MustParseAddr("10.98.0.2"), r.Replies[0].From)
	assert.Equal(t, 1, r.Replies[0].Seq)
	assert.Equal(t, 2, r.Replies[1].Seq)
	assert.Equal(t, 64, r.Replies[1].TTL)
	assert.Equal(t, 87*time.Microsecond, r.Replies[0].RTT)

	r, err = ParsePing(pingLost)
	require.NoError(t, err)
	assert.Equal(t, 2, r.Transmitted)
	assert.Equal(t, 0, r.Received)
	assert.Empty(t, r.Replies)

	_, err = ParsePing("ping: connect: Network is unreachable\n")
	assert.Error(t, err, "no statistics line")
	_, err = ParsePing("1 packets transmitted, 2 received\n")
	assert.Error(t, err, "more received than sent")
}

func TestParseArping(t *testing.T) {
	r, err := ParseArping(arpingOK)
	require.NoError(t, err)
	assert.Equal(t, 2, r.Sent)
	assert.Equal(t, 2, r.Received)
	require.Len(t, r.Replies, 2)
	assert.Equal(t, netip.MustParseAddr("10.98.0.2"), r.Replies[0].IP)
	assert.Equal(t, "8a:49:df:42:3d:eb", r.Replies[1].MAC.String())

	r, err = ParseArping(arpingNone)
	require.NoError(t, err)
	assert.Equal(t, 1, r.Sent)
	assert.Zero(t, r.Received)

	_, err = ParseArping("arping: socket: Operation not permitted\n")
	assert.Error(t, err)
	_, err = ParseArping("Sent 1 probes\nReceived 1 response(s)\n")
	assert.Error(t, err, "summary disagrees with reply lines")
	_, err = ParseArping("Unicast reply from 10.0.0.1 [zz:49:DF:42:3D:EB] 1ms\nSent 1 probes\nReceived 1 response(s)\n")
	assert.Error(t, err, "reply line with a bad MAC is not a reply")
}

func TestParseNeigh(t *testing.T) {
	ns, err := ParseNeigh(neighJSON)
	require.NoError(t, err)
	require.Len(t, ns, 2)
	assert.Equal(t, netip.MustParseAddr("10.98.0.2"), ns[0].IP)
	assert.Equal(t, "vA", ns[0].Dev)
	assert.Equal(t, "8a:49:df:42:3d:eb", ns[0].MAC.String())
	assert.Equal(t, []string{"REACHABLE"}, ns[0].State)
	assert.Nil(t, ns[1].MAC)
	assert.Equal(t, []string{"FAILED"}, ns[1].State)

	ns, err = ParseNeigh("[]")
	require.NoError(t, err)
	assert.Empty(t, ns)
	_, err = ParseNeigh(`[{"dst":"nope"}]`)
	assert.Error(t, err)
	_, err = ParseNeigh(`[{"dst":"10.0.0.1","lladdr":"xx"}]`)
	assert.Error(t, err)
	_, err = ParseNeigh(`{`)
	assert.Error(t, err)
}

func TestPackagesNameEveryTool(t *testing.T) {
	assert.Equal(t, []string{"iproute2", "iputils-arping", "iputils-ping", "socat"}, Packages())
}

func FuzzParsePing(f *testing.F) {
	f.Add(pingOK)
	f.Add(pingLost)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePing(s)
		if err == nil {
			assert.LessOrEqual(t, r.Received, r.Transmitted)
		}
	})
}

func FuzzParseArping(f *testing.F) {
	f.Add(arpingOK)
	f.Add(arpingNone)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseArping(s)
		if err == nil {
			assert.Len(t, r.Replies, r.Received)
			for _, rep := range r.Replies {
				assert.Len(t, rep.MAC, 6)
			}
		}
	})
}

func FuzzParseNeigh(f *testing.F) {
	f.Add(neighJSON)
	f.Add("[]")
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := ParseNeigh(s)
		if err == nil {
			for _, n := range ns {
				assert.True(t, n.IP.IsValid())
			}
		}
	})
}

func TestMissingNamesThePackagesToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no tools at all
	why := Missing()
	for tool, pkg := range Tools {
		assert.Contains(t, why, tool)
		assert.Contains(t, why, pkg)
	}
	assert.Contains(t, why, "apt-get install")
}
