package stack_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

var (
	ourMAC  = wire.MAC{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	ourAddr = netip.MustParseAddr("10.0.2.15")
	subnet  = netip.MustParsePrefix("10.0.2.15/24")
	gwAddr  = netip.MustParseAddr("10.0.2.2")
	bcast   = netip.MustParseAddr("10.0.2.255")
	allOnes = netip.MustParseAddr("255.255.255.255")

	peer    = stacktest.Host{MAC: wire.MAC{0x02, 0, 0, 0, 0, 0x20}, Addr: netip.MustParseAddr("10.0.2.20")}
	peer2   = stacktest.Host{MAC: wire.MAC{0x02, 0, 0, 0, 0, 0x21}, Addr: netip.MustParseAddr("10.0.2.21")}
	gateway = stacktest.Host{MAC: wire.MAC{0x02, 0, 0, 0, 0, 0x02}, Addr: gwAddr}
	remote  = netip.MustParseAddr("192.0.2.7") // beyond the gateway
)

// fixture is a stack on a test link with a fake clock.
type fixture struct {
	t     testing.TB
	s     *stack.Stack
	link  *stacktest.Link
	clock *stacktest.FakeClock
}

func newFixture(t testing.TB, mtu int) *fixture {
	t.Helper()
	f := &fixture{t: t, link: &stacktest.Link{}, clock: stacktest.NewFakeClock()}
	s, err := stack.New(stack.Config{MAC: ourMAC, Addr: subnet, Gateway: gwAddr, MTU: mtu}, f.link, f.clock)
	require.NoError(t, err)
	f.s = s
	return f
}

// inject hands a frame to the stack as the driver would.
func (f *fixture) inject(frame []byte) { f.s.Input(stacktest.Buf(frame)) }

// next returns the next transmitted frame, failing if there is none.
func (f *fixture) next() []byte {
	f.t.Helper()
	fr := f.link.Read()
	require.NotNil(f.t, fr, "expected a transmitted frame")
	return fr
}

// quiet asserts that nothing was transmitted.
func (f *fixture) quiet() {
	f.t.Helper()
	require.Zero(f.t, f.link.Len(), "unexpected transmitted frames")
}

// learn teaches the stack h's address through an ARP request from h, and
// consumes the stack's reply.
func (f *fixture) learn(h stacktest.Host) {
	f.t.Helper()
	f.inject(h.ARPRequest(ourAddr))
	stacktest.Frame(f.t, f.next(), stacktest.HasARP(wire.ARPReply, ourMAC, ourAddr, h.MAC, h.Addr))
}

// tick advances the clock by d and runs the timers.
func (f *fixture) tick(d time.Duration) {
	f.clock.Advance(d)
	f.s.Tick()
}

// counter returns one counter by "layer.Name".
func (f *fixture) counter(name string) uint64 {
	f.t.Helper()
	v, ok := f.s.Counters().Get(name)
	require.True(f.t, ok, "no counter %q", name)
	return v
}

// bind binds a UDP endpoint or fails the test.
func (f *fixture) bind(ap string) *stack.UDPEndpoint {
	f.t.Helper()
	ep, err := f.s.BindUDP(netip.MustParseAddrPort(ap))
	require.NoError(f.t, err)
	return ep
}

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

func netipUnspecified() netip.Addr { return netip.IPv4Unspecified() }
