package ping_test

import (
	"bytes"
	"context"
	"net/netip"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/apps/ping/ping"
	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/sockproto"
	"armos/servers/netd/link"
	"armos/servers/netd/sockets"
	"armos/servers/netd/stack"
)

var (
	ourNet  = netip.MustParsePrefix("10.99.0.1/24")
	peerNet = netip.MustParsePrefix("10.99.0.2/24")
)

// startNetd wires one netd as servers/netd does (stack, socket service on
// its event loop, link pump, a broker standing in for init) on dev, on the
// system clock; it stops when the test ends.
func startNetd(t *testing.T, p netip.Prefix, dev *link.Mem) *libipc.Broker {
	a := p.Addr().As4()
	st, err := stack.New(stack.Config{MAC: stack.MAC{0x02, 0, a[0], a[1], a[2], a[3]}, Addr: p, Dev: 1}, dev, stack.SystemClock{})
	require.NoError(t, err)
	svc := sockets.New(st, stack.SystemClock{})
	broker := libipc.NewBroker()
	broker.Register(sockproto.ServiceName, svc.Accept)
	pump := link.NewPump(dev, st, svc.Post)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = svc.Run(ctx) }()
	go func() { defer wg.Done(); _ = pump.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return broker
}

// TestHostedPing runs the command against a real netd stack pinging a
// second one across the in-memory link: replies with netd's TTL and times,
// Linux's statistics, then a silent address (100% loss, status 1).
func TestHostedPing(t *testing.T) {
	a, b := link.NewMemPair(nil)
	broker := startNetd(t, ourNet, a)
	startNetd(t, peerNet, b)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := func(ctx context.Context, service string) (ping.Pinger, error) {
		require.Equal(t, sockproto.ServiceName, service)
		c, err := libsocket.Dial(ctx, broker)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	}

	var out, errs bytes.Buffer
	status := ping.Main(ctx, []string{"-c", "3", "-i", "0.05", "-s", "2000", "10.99.0.2"}, sockproto.ServiceName,
		ping.Env{Stdout: &out, Stderr: &errs}, connect)
	assert.Equal(t, 0, status, "%s%s", &out, &errs)
	assert.Empty(t, errs.String())
	assert.Regexp(t, regexp.MustCompile(`^PING 10\.99\.0\.2 \(10\.99\.0\.2\) 2000\(2028\) bytes of data\.
2008 bytes from 10\.99\.0\.2: icmp_seq=1 ttl=64 time=[0-9.]+ ms
2008 bytes from 10\.99\.0\.2: icmp_seq=2 ttl=64 time=[0-9.]+ ms
2008 bytes from 10\.99\.0\.2: icmp_seq=3 ttl=64 time=[0-9.]+ ms

--- 10\.99\.0\.2 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time \d+ms
rtt min/avg/max/mdev = [0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+ ms
$`), out.String(), "2000 bytes: fragmented both ways")

	out.Reset()
	errs.Reset()
	status = ping.Main(ctx, []string{"-c", "2", "-i", "0.01", "-W", "0.2", "-q", "10.99.0.9"}, sockproto.ServiceName,
		ping.Env{Stdout: &out, Stderr: &errs}, connect)
	assert.Equal(t, 1, status)
	assert.Empty(t, errs.String())
	assert.Regexp(t, regexp.MustCompile(`^PING 10\.99\.0\.9 \(10\.99\.0\.9\) 56\(84\) bytes of data\.

--- 10\.99\.0\.9 ping statistics ---
2 packets transmitted, 0 received, 100% packet loss, time 2\d\dms

$`), out.String(), "nobody answers for 10.99.0.9")
}
