package main

import (
	"io"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-tap", "tap0", "-ip", "10.99.0.2/24", "-apps", "echo"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "tap0", o.tap)
	assert.Equal(t, netip.MustParsePrefix("10.99.0.2/24"), o.addr)
	assert.False(t, o.gw.IsValid())
	assert.Equal(t, "02:00:0a:63:00:02", o.mac.String(), "default MAC derives from the address")
	assert.Equal(t, []string{"echo"}, o.apps)
	assert.Zero(t, o.mtu)

	o, err = parseOptions([]string{"-tap", "t", "-ip", "10.0.2.15/24", "-gw", "10.0.2.2", "-mac", "52:54:00:12:34:56", "-mtu", "1400", "-apps", "echo, echo"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("10.0.2.2"), o.gw)
	assert.Equal(t, "52:54:00:12:34:56", o.mac.String())
	assert.Equal(t, 1400, o.mtu)
	assert.Equal(t, []string{"echo"}, o.apps, "duplicates collapse")
	assert.Equal(t, "netd.sockets", o.service)

	// Inside armos: an IPC link through init, another service name.
	o, err = parseOptions([]string{"-link", "connect:lan0", "-ip", "10.99.0.1/24", "-service", "peer.sockets"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "connect:lan0", o.link)
	assert.Empty(t, o.tap)
	assert.Equal(t, "peer.sockets", o.service)
	_, err = parseOptions([]string{"-link", "serve:lan0", "-ip", "10.99.0.2/24"}, io.Discard)
	require.NoError(t, err)
	// On a NIC driver: its MAC wins unless -mac names one.
	o, err = parseOptions([]string{"-link", "nic:net0", "-ip", "10.0.2.15/24", "-gw", "10.0.2.2"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "net0", linkName(o.link))
	assert.False(t, o.macSet)
	o, err = parseOptions([]string{"-link", "nic:net0", "-ip", "10.0.2.15/24", "-mac", "02:00:00:00:00:09"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, o.macSet)
	assert.Equal(t, "02:00:00:00:00:09", o.mac.String())
}

// TestParseOptionsDHCP: with -dhcp the address is optional (none until
// dhcpc's lease); the MAC is then random and locally administered.
func TestParseOptionsDHCP(t *testing.T) {
	o, err := parseOptions([]string{"-tap", "tap0", "-dhcp"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, o.dhcp)
	assert.False(t, o.addr.IsValid())
	require.Len(t, o.mac, 6)
	assert.Equal(t, byte(0x02), o.mac[0], "unicast, locally administered")
	o, err = parseOptions([]string{"-link", "nic:net0", "-dhcp", "-ip", "10.0.2.15/24", "-gw", "10.0.2.2"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, o.dhcp)
	assert.Equal(t, netip.MustParsePrefix("10.0.2.15/24"), o.addr)
	o, err = parseOptions([]string{"-tap", "tap0", "-ip", "10.0.2.15/24"}, io.Discard)
	require.NoError(t, err)
	assert.False(t, o.dhcp)
}

func TestParseOptionsRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"-ip", "10.99.0.2/24"},                                              // no tap
		{"-tap", "tap0"},                                                     // no address
		{"-tap", "tap0", "-ip", "10.99.0.2"},                                 // no prefix length
		{"-tap", "tap0", "-ip", "fe80::1/64"},                                // not IPv4
		{"-tap", "tap0", "-ip", "10.99.0.2/24", "-gw", "10.1.1.1"},           // gateway off-subnet
		{"-tap", "tap0", "-ip", "10.99.0.2/24", "-mac", "01:00:5e:00:00:01"}, // multicast MAC
		{"-tap", "tap0", "-ip", "10.99.0.2/24", "-mac", "nope"},
		{"-tap", "tap0", "-ip", "10.99.0.2/24", "-apps", "telnetd"},
		{"-tap", "tap0", "-ip", "10.99.0.2/24", "-mtu", "-1"},
		{"-tap", "tap0", "-ip", "10.99.0.2/24", "extra"},
		{"-tap", "tap0", "-link", "serve:lan0", "-ip", "10.99.0.2/24"}, // both
		{"-link", "lan0", "-ip", "10.99.0.2/24"},                       // no serve:/connect:
		{"-link", "connect:", "-ip", "10.99.0.2/24"},                   // no name
		{"-link", "serve:x", "-ip", "10.99.0.2/24", "-service", ""},
		{"-ip", "10.99.0.2/24", "-link", "dial:x"},
		{"-ip", "10.99.0.2/24", "-link", "nic: "}, // no name
		{"-nosuchflag"},
		{"-tap", "tap0", "-dhcp", "-gw", "10.99.0.1"}, // a gateway needs an address
		{"-tap", "tap0", "-dhcp", "-ip", "0.0.0.0/0"}, // not a host address
	} {
		_, err := parseOptions(args, io.Discard)
		assert.Error(t, err, "%q", args)
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add("-tap tap0 -ip 10.99.0.2/24 -apps echo")
	f.Add("-tap t -ip 10.0.2.15/24 -gw 10.0.2.2 -mac 52:54:00:12:34:56 -mtu 1400")
	f.Add("-tap tap0 -ip 10.99.0.2/24 -mac 01:00:5e:00:00:01")
	f.Fuzz(func(t *testing.T, line string) {
		o, err := parseOptions(strings.Fields(line), io.Discard)
		if err != nil {
			return
		}
		assert.True(t, o.tap != "" || o.link != "", "a device")
		assert.NotEmpty(t, o.service)
		assert.True(t, o.addr.Addr().Is4())
		require.Len(t, o.mac, 6)
		assert.Zero(t, o.mac[0]&1, "unicast MAC")
		// The MTU is what -mtu said (the last one given), or 0 without it.
		wantMTU := 0
		fields := strings.Fields(line)
		for i, w := range fields {
			if (w == "-mtu" || w == "--mtu") && i+1 < len(fields) {
				wantMTU, _ = strconv.Atoi(fields[i+1])
			} else if v, ok := strings.CutPrefix(strings.TrimPrefix(w, "-"), "-mtu="); ok {
				wantMTU, _ = strconv.Atoi(v)
			} else if v, ok := strings.CutPrefix(w, "-mtu="); ok {
				wantMTU, _ = strconv.Atoi(v)
			}
		}
		assert.Equal(t, wantMTU, o.mtu)
		if o.gw.IsValid() {
			assert.True(t, o.addr.Contains(o.gw))
		}
		for _, a := range o.apps {
			assert.Contains(t, knownApps, a)
		}
	})
}
