package main

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

// TestHostilePeer: a third host on the echo side's segment (frames written
// straight onto the link, as a raw socket would) attacks the echo netd —
// spoofed ARP requests from 300 addresses to flush its cache, a flood of
// bogus fragments that never complete, an oversize reassembly, martian
// sources — while the legitimate client keeps talking to it. Every attack
// is counted, and the client's datagrams, fragmented ones included, still
// come back. (The fake clock never moves: nothing here waits for a timer.)
func TestHostilePeer(t *testing.T) {
	client, server, clientEnd := hostedPair(t, stacktest.NewFakeClock())
	pc := dialClient(t, client)
	echoMAC := wire.MAC(hostedConfig(echoAddr).MAC)
	clientIP := clientAddr.Addr()
	// Warm up: ARP resolved both ways, a fragmented echo works.
	got, err := roundTrip(t, pc, payload(1, 3000), 1, hostedWait)
	require.NoError(t, err)
	require.Len(t, got, 3000)

	attacker := stacktest.Host{MAC: wire.MAC{0x02, 0x66, 0, 0, 0, 1}, Addr: netip.MustParseAddr("10.99.0.66")}
	inject := func(frame []byte) { require.NoError(t, clientEnd.WriteFrame(frame)) }
	// drained waits until the echo side has taken everything injected so
	// far: the link is FIFO, so once an echo of ours comes back, all that
	// came before it has been processed (or dropped at the full queue,
	// like a NIC's ring, counted).
	drained := func() {
		_, err := roundTrip(t, pc, payload(9, 16), 50, 200*time.Millisecond)
		require.NoError(t, err)
	}

	// 1. Spoofed ARP requests from 300 addresses of the subnet.
	for i := 0; i < 300; i++ {
		a := netip.AddrFrom4([4]byte{10, 99, 0, byte(10 + i%240)})
		if a == clientIP || a == echoAddr.Addr() {
			continue
		}
		inject(stacktest.ARP(wire.ARPRequest, wire.MAC{0x02, 0x66, 1, 0, byte(i >> 8), byte(i)}, a, wire.MAC{}, echoAddr.Addr()))
	}
	// 2. Bogus fragments that never complete, from one attacker.
	for i := 0; i < 3000; i++ {
		frag := stacktest.IPv4(wire.IPv4Repr{Src: attacker.Addr, Dst: echoAddr.Addr(), Protocol: wire.IPProtocolUDP,
			ID: uint16(i), MoreFragments: true, FragmentOffset: 8 * (1 + i%1000)}, make([]byte, 1000))
		inject(stacktest.Ethernet(echoMAC, attacker.MAC, wire.EtherTypeIPv4, frag))
	}
	drained()
	// 3. An oversize reassembly, from another host: a 60-byte first
	// header (40 bytes of NOP options), then 20-byte-header fragments up
	// to 65,515 bytes of payload. Paced, so the link's queue takes them all.
	other := stacktest.Host{MAC: wire.MAC{0x02, 0x67, 0, 0, 0, 1}, Addr: netip.MustParseAddr("10.99.0.67")}
	opts := make([]byte, 40)
	for i := range opts {
		opts[i] = 1
	}
	const chunk = 1440
	for off := 0; off < 65515; off += chunk {
		n := min(chunk, 65515-off)
		r := wire.IPv4Repr{Src: other.Addr, Dst: echoAddr.Addr(), Protocol: wire.IPProtocolUDP, ID: 0xbeef,
			MoreFragments: off+n < 65515, FragmentOffset: off}
		if off == 0 {
			r.Options = opts
		}
		inject(stacktest.Ethernet(echoMAC, other.MAC, wire.EtherTypeIPv4, stacktest.IPv4(r, make([]byte, n))))
	}
	drained()
	// 4. Martian sources.
	for _, src := range []string{"0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.5", "240.0.0.1", "255.255.255.255", "10.99.0.2"} {
		h := stacktest.Host{MAC: attacker.MAC, Addr: netip.MustParseAddr(src)}
		inject(h.UDPFrame(echoMAC, 9, netip.AddrPortFrom(echoAddr.Addr(), 7), []byte("martian")))
	}

	// The client's traffic still works, fragmented too.
	for i, size := range []int{64, 1473, 3000, 8000} {
		msg := payload(uint32(100+i), size)
		got, err := roundTrip(t, pc, msg, 3, hostedWait)
		require.NoError(t, err, "size %d after the attacks", size)
		assert.Equal(t, msg, got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), hostedWait)
	defer cancel()
	var c stack.Counters
	require.Eventually(t, func() bool {
		c, err = server.counters(ctx)
		return err == nil && c.IPv4.RxBadSource >= 7
	}, hostedWait, time.Millisecond)
	assert.EqualValues(t, 7, c.IPv4.RxBadSource, "every martian counted")
	assert.Positive(t, c.IPv4.ReasmNoMemory+c.IPv4.ReasmEvicted, "the flood met the bounds")
	assert.Positive(t, c.IPv4.ReasmTooBig, "the oversize reassembly was refused; counters:\n%v\nlink: %+v", c, clientEnd.Counters())
	assert.Positive(t, c.ARP.Learned, "strangers on the subnet were cached...")
	found := false
	for _, e := range serverARP(t, server) {
		if e.Addr == clientIP {
			found = true
		}
	}
	assert.True(t, found, "...but the client, in use, was never evicted")
}

// serverARP reads the echo netd's ARP table on its event loop.
func serverARP(t *testing.T, n *instance) []stack.ARPEntry {
	ch := make(chan []stack.ARPEntry, 1)
	require.True(t, n.svc.Post(func() { ch <- n.st.ARPTable() }))
	select {
	case tab := <-ch:
		return tab
	case <-time.After(hostedWait):
		t.Fatal("event loop stuck")
		return nil
	}
}
