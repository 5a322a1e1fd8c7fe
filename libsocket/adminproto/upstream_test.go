package adminproto

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseUpstream(t *testing.T) {
	got, err := ParseUpstream(&Upstream{Servers: []string{"10.0.2.3", "10.0.2.4:5353", "2001:db8::1", "[2001:db8::2]:53"}, Source: "dhcp"})
	require.NoError(t, err)
	require.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("10.0.2.3:53"), netip.MustParseAddrPort("10.0.2.4:5353"),
		netip.MustParseAddrPort("[2001:db8::1]:53"), netip.MustParseAddrPort("[2001:db8::2]:53")}, got)
	nine := make([]string, 9)
	for i := range nine {
		nine[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}).String()
	}
	for _, bad := range []*Upstream{
		nil, {}, {Servers: []string{}},
		{Servers: nine},
		{Servers: []string{"example.com"}},
		{Servers: []string{"10.0.2.3:0"}},
		{Servers: []string{"0.0.0.0"}},
		{Servers: []string{"255.255.255.255"}},
		{Servers: []string{"224.0.0.251"}},
		{Servers: []string{"::"}},
		{Servers: []string{"fe80::1%eth0"}},
		{Servers: []string{"::ffff:10.0.2.3"}},
		{Servers: []string{""}},
		{Servers: []string{" 10.0.2.3"}},
		{Servers: []string{"10.0.2.3", "10.0.2.3:53"}},
		{Servers: []string{"10.0.2.3"}, Source: "two words"},
		{Servers: []string{"10.0.2.3"}, Source: strings.Repeat("x", 33)},
	} {
		_, err := ParseUpstream(bad)
		require.Error(t, err, "%+v", bad)
	}
}

// FuzzParseUpstream: whatever ParseUpstream accepts is 1..MaxUpstream
// distinct unicast servers whose strings parse back to the same.
func FuzzParseUpstream(f *testing.F) {
	f.Add("10.0.2.3", "[2001:db8::1]:53", "dhcp")
	f.Add("10.0.2.3:0", "", "")
	f.Fuzz(func(t *testing.T, s1, s2, src string) {
		u := &Upstream{Servers: []string{s1}, Source: src}
		if s2 != "" {
			u.Servers = append(u.Servers, s2)
		}
		got, err := ParseUpstream(u)
		if err != nil {
			return
		}
		if len(got) != len(u.Servers) {
			t.Fatalf("%d servers from %d", len(got), len(u.Servers))
		}
		for _, ap := range got {
			if !ap.IsValid() || ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() {
				t.Fatalf("accepted %v", ap)
			}
			back, err := ParseUpstream(&Upstream{Servers: []string{ap.String()}})
			if err != nil || back[0] != ap {
				t.Fatalf("%v does not parse back: %v", ap, err)
			}
		}
	})
}
