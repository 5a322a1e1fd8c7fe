package main

import (
	"bytes"
	"context"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libproto"
	"armos/servers/netd/link"
	"armos/servers/netd/link/peertest"
	"armos/servers/netd/stack"
)

// TestRealPeerProtocolServer: a protocol server on netd's protocol
// service, with the Linux kernel as the peer across a TAP. Linux owns no
// protocol 253: a datagram larger than the MTU (fragmented by netd,
// reassembled by Linux) is answered with protocol unreachable, which netd
// hands to the owner with the quote. A 253 datagram Linux sends from a raw
// socket, fragmented by Linux, reaches the owner reassembled.
func TestRealPeerProtocolServer(t *testing.T) {
	peertest.Require(t)
	ns := peertest.NewNS(t)
	ns.AddTap(t, peerDev, linuxSide)
	var tap *link.TAP
	require.NoError(t, ns.Do(func() (err error) {
		tap, err = link.OpenTAP(peerDev)
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	cfg := stack.Config{MAC: stack.MAC{0x02, 0, 10, 99, 0, 2}, Addr: netip.MustParsePrefix(netdCIDR), Dev: 1}
	n, err := start(ctx, cfg, stack.SystemClock{}, tap, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cancel(); n.wait(ctx); n.stop() })

	wctx, wcancel := context.WithTimeout(ctx, toolTimeout)
	defer wcancel()
	c, err := libproto.Dial(wctx, n.broker)
	require.NoError(t, err)
	defer c.Close()
	p, err := c.Register(wctx, 253)
	require.NoError(t, err)
	linux := netip.MustParsePrefix(linuxSide).Addr()

	t.Run("protocol unreachable from Linux", func(t *testing.T) {
		msg := payload(7, 3000)
		require.NoError(t, p.Send(wctx, &libproto.Datagram{Dst: linux, Payload: msg}))
		select {
		case e := <-p.Errors():
			assert.Equal(t, linux, e.From)
			assert.Equal(t, uint8(3), e.Type)
			assert.Equal(t, uint8(2), e.Code, "protocol unreachable")
			q := e.QuotedPayload()
			require.NotEmpty(t, q)
			assert.Equal(t, msg[:len(q)], q)
			t.Logf("Linux quoted %d bytes of the datagram", len(e.Quote))
		case <-time.After(toolTimeout):
			t.Fatal("no ICMP error from Linux")
		}
	})

	t.Run("datagram from Linux", func(t *testing.T) {
		msg := payload(9, 4000)
		require.NoError(t, ns.Do(func() error {
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, 253)
			if err != nil {
				return err
			}
			defer syscall.Close(fd)
			if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, syscall.IP_PMTUDISC_DONT); err != nil {
				return err
			}
			return syscall.Sendto(fd, msg, 0, &syscall.SockaddrInet4{Addr: netip.MustParseAddr(netdIP).As4()})
		}))
		select {
		case d := <-p.Datagrams():
			assert.Equal(t, linux, d.Src)
			assert.Equal(t, netip.MustParseAddr(netdIP), d.Dst)
			assert.True(t, bytes.Equal(msg, d.Payload), "reassembled intact (%d bytes)", len(d.Payload))
			assert.Equal(t, 1500, d.MTU)
		case <-time.After(toolTimeout):
			t.Fatal("no datagram from Linux")
		}
		c, err := n.counters(wctx)
		require.NoError(t, err)
		assert.NotZero(t, c.IPv4.Reassembled)
	})
}
