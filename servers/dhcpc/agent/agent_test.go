package agent

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libsocket/adminproto"
	"armos/servers/dhcpc/client"
	"armos/servers/dhcpc/dhcp"
)

// TestConfigureRequest: what netd is told for a lease: a router outside
// the subnet is left out, an infinite lease has no expiry.
func TestConfigureRequest(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	l := client.Lease{Addr: netip.MustParsePrefix("10.0.2.15/24"), Router: netip.MustParseAddr("10.0.2.2"), MTU: 1400,
		DNS: []netip.Addr{netip.MustParseAddr("10.0.2.3")}, Server: netip.MustParseAddr("10.0.2.2"), Duration: time.Hour, Start: start}
	assert.Equal(t, &adminproto.Configure{Addr: "10.0.2.15/24", Gateway: "10.0.2.2", MTU: 1400,
		Lease: &adminproto.Lease{Server: "10.0.2.2", Seconds: 3600, Expiry: start.Add(time.Hour).Unix(), DNS: []string{"10.0.2.3"}}}, configureRequest(l))

	l.Router = netip.MustParseAddr("192.0.2.1")
	l.Duration = dhcp.Infinite
	r := configureRequest(l)
	assert.Empty(t, r.Gateway, "a router outside the subnet")
	assert.Zero(t, r.Lease.Expiry, "infinite")
}

type fakeNetd struct{}

func (fakeNetd) Interface(context.Context) (*adminproto.Interface, error) {
	return &adminproto.Interface{}, nil
}

func (fakeNetd) Configure(context.Context, *adminproto.Configure) (*adminproto.Configured, error) {
	return &adminproto.Configured{}, nil
}

// fakeResolved records OpSetUpstream's calls; it fails while down;
// restart ends the incarnation that accepted them.
type fakeResolved struct {
	down  bool
	calls []adminproto.Upstream
	gone  chan struct{} // the running incarnation's
}

func (r *fakeResolved) SetUpstream(_ context.Context, u *adminproto.Upstream) (<-chan struct{}, error) {
	if r.down {
		return nil, errors.New("resolved.admin: not found")
	}
	if _, err := adminproto.ParseUpstream(u); err != nil {
		return nil, err
	}
	r.calls = append(r.calls, *u)
	if r.gone == nil {
		r.gone = make(chan struct{})
	}
	return r.gone, nil
}

// restart ends the running incarnation; the next one is down until up.
func (r *fakeResolved) restart() {
	if r.gone != nil {
		close(r.gone)
		r.gone = nil
	}
	r.down = true
}

// A bound lease's DNS servers go to resolved once (not again on a renewal
// with the same list, again when it changes); a resolved not running is
// counted and retried by the watch; losing the lease tells it nothing.
func TestLeaseDNSToResolved(t *testing.T) {
	res := &fakeResolved{down: true}
	a, err := New(context.Background(), Config{Client: client.Config{MAC: [6]byte{2, 0, 0, 0, 0, 1}}, Resolved: res}, nil, fakeNetd{})
	require.NoError(t, err)
	l := client.Lease{Addr: netip.MustParsePrefix("10.0.2.15/24"), Server: netip.MustParseAddr("10.0.2.2"), Duration: time.Hour, Start: time.Now(),
		DNS: []netip.Addr{netip.MustParseAddr("10.0.2.3"), netip.MustParseAddr("10.0.2.3")}}

	a.Bound(l)
	assert.Empty(t, res.calls)
	assert.EqualValues(t, 1, a.Counters().DNSErrors, "not running: counted")
	a.watch(context.Background())
	assert.EqualValues(t, 2, a.Counters().DNSErrors, "retried by the watch")

	res.down = false // resolved appears
	a.watch(context.Background())
	require.Equal(t, []adminproto.Upstream{{Servers: []string{"10.0.2.3"}, Source: "dhcp"}}, res.calls, "duplicates left out")
	a.watch(context.Background())
	a.Bound(l) // a renewal, same servers
	assert.Len(t, res.calls, 1, "nothing new to say")

	l.DNS = []netip.Addr{netip.MustParseAddr("10.0.2.4"), netip.MustParseAddr("2001:db8::53")}
	a.Bound(l)
	require.Len(t, res.calls, 2)
	assert.Equal(t, adminproto.Upstream{Servers: []string{"10.0.2.4", "2001:db8::53"}, Source: "dhcp"}, res.calls[1])

	a.Unbound(l, client.Expired)
	a.watch(context.Background())
	assert.Len(t, res.calls, 2, "lease loss leaves resolved alone")

	l.DNS = nil
	a.Bound(l)
	assert.Len(t, res.calls, 2, "a lease without DNS servers leaves resolved alone")
	c := a.Counters()
	assert.EqualValues(t, 2, c.DNSUpdates)
	assert.EqualValues(t, 2, c.DNSErrors)
}

// A resolved restarted during the lease (it comes back with its -upstream
// defaults) is given the lease's servers again once it is up, though the
// list has not changed; its predecessor's calls are not repeated while it
// lives.
func TestLeaseDNSAfterResolvedRestart(t *testing.T) {
	res := &fakeResolved{}
	a, err := New(context.Background(), Config{Client: client.Config{MAC: [6]byte{2, 0, 0, 0, 0, 1}}, Resolved: res}, nil, fakeNetd{})
	require.NoError(t, err)
	l := client.Lease{Addr: netip.MustParsePrefix("10.0.2.15/24"), Server: netip.MustParseAddr("10.0.2.2"), Duration: time.Hour, Start: time.Now(),
		DNS: []netip.Addr{netip.MustParseAddr("10.0.2.3")}}
	a.Bound(l)
	require.Len(t, res.calls, 1)
	a.watch(context.Background())
	a.Bound(l)
	assert.Len(t, res.calls, 1, "the same resolved, the same list: nothing sent")

	res.restart()
	a.watch(context.Background()) // not up yet: counted, retried
	assert.Len(t, res.calls, 1)
	c := a.Counters()
	assert.EqualValues(t, 1, c.ResolvedGone)
	assert.EqualValues(t, 1, c.DNSErrors)
	res.down = false
	a.watch(context.Background())
	require.Len(t, res.calls, 2, "the new resolved gets the unchanged list")
	assert.Equal(t, res.calls[0], res.calls[1])
	a.watch(context.Background())
	assert.Len(t, res.calls, 2)

	res.restart() // and once more, while the lease is lost: nothing to give
	res.down = false
	a.Unbound(l, client.Expired)
	a.watch(context.Background())
	assert.Len(t, res.calls, 2)
	c = a.Counters()
	assert.EqualValues(t, 2, c.DNSUpdates)
	assert.EqualValues(t, 1, c.ResolvedGone, "noticed at the next lease only")
	a.Bound(l)
	assert.Len(t, res.calls, 3)
	assert.EqualValues(t, 2, a.Counters().ResolvedGone)
}
