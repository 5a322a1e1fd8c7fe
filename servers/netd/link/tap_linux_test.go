package link

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc/skbuff"
	"armos/servers/netd/link/peertest"
)

// tapWait bounds every wait for a frame in the TAP tests.
const tapWait = 5 * time.Second

var (
	linuxIP = netip.MustParseAddr("10.99.0.1")
	ourIP   = netip.MustParseAddr("10.99.0.2")
	ourMAC  = net.HardwareAddr{0x02, 0, 0, 0x99, 0, 0x02}
)

// openTestTAP creates a namespace with tap0 (Linux side 10.99.0.1/24) and
// attaches a TAP driver to it from inside the namespace.
func openTestTAP(t *testing.T) (*peertest.NS, *TAP) {
	ns := peertest.NewNS(t)
	ns.AddTap(t, "tap0", "10.99.0.1/24")
	var tap *TAP
	require.NoError(t, ns.Do(func() (err error) {
		tap, err = OpenTAP("tap0")
		return err
	}))
	t.Cleanup(func() { tap.Close() })
	return ns, tap
}

// frames reads frames from tap in a goroutine until the TAP is closed.
func frames(tap *TAP) <-chan []byte {
	ch := make(chan []byte, 64)
	go func() {
		defer close(ch)
		for {
			b := skbuff.Get()
			if err := tap.ReadBuf(b); err != nil {
				b.Free()
				return
			}
			ch <- bytes.Clone(b.Bytes())
			b.Free()
		}
	}()
	return ch
}

// waitFrame returns the first frame for which match is true.
func waitFrame(t *testing.T, ch <-chan []byte, what string, match func([]byte) bool) []byte {
	t.Helper()
	deadline := time.After(tapWait)
	for {
		select {
		case f, ok := <-ch:
			require.True(t, ok, "TAP closed while waiting for %s", what)
			if match(f) {
				return f
			}
		case <-deadline:
			t.Fatalf("no %s within %v", what, tapWait)
		}
	}
}

func isARPRequestFor(ip netip.Addr) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0806 &&
			binary.BigEndian.Uint16(f[20:]) == 1 && netip.AddrFrom4([4]byte(f[38:42])) == ip
	}
}

// arpReply builds the Ethernet+ARP reply "ip is at mac" addressed to the
// requester described by the request frame req.
func arpReply(req []byte, mac net.HardwareAddr, ip netip.Addr) []byte {
	f := make([]byte, 42)
	copy(f[0:6], req[6:12]) // to the requester
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	binary.BigEndian.PutUint16(f[14:], 1)      // hardware: Ethernet
	binary.BigEndian.PutUint16(f[16:], 0x0800) // protocol: IPv4
	f[18], f[19] = 6, 4
	binary.BigEndian.PutUint16(f[20:], 2) // reply
	copy(f[22:28], mac)
	a := ip.As4()
	copy(f[28:32], a[:])
	copy(f[32:38], req[22:28]) // requester's MAC and IP
	copy(f[38:42], req[28:32])
	return f
}

func TestTAPReportsDeviceParameters(t *testing.T) {
	ns, tap := openTestTAP(t)
	assert.Equal(t, "tap0", tap.Name())
	assert.Equal(t, 1500, tap.MTU())

	out, err := ns.Run(context.Background(), "ip", "-j", "link", "show", "tap0")
	require.NoError(t, err, out)
	var links []struct {
		Address string `json:"address"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &links))
	require.Len(t, links, 1)
	assert.Equal(t, links[0].Address, tap.HostMAC().String())
}

// TestTAPExchangesFramesWithLinux answers the Linux kernel's ARP request
// through the TAP, then sees the kernel use the answer: the neighbour table
// holds our MAC and the ICMP echo request Linux sends is addressed to it.
func TestTAPExchangesFramesWithLinux(t *testing.T) {
	ns, tap := openTestTAP(t)
	ch := frames(tap)

	ctx, cancel := context.WithTimeout(context.Background(), tapWait)
	ping := ns.Command(ctx, "ping", "-c", "1", "-W", "3", ourIP.String())
	require.NoError(t, ping.Start())
	defer func() { cancel(); _ = ping.Wait() }() // nobody answers the echo

	req := waitFrame(t, ch, "ARP request for "+ourIP.String(), isARPRequestFor(ourIP))
	assert.Equal(t, "ff:ff:ff:ff:ff:ff", net.HardwareAddr(req[0:6]).String())
	assert.Equal(t, tap.HostMAC().String(), net.HardwareAddr(req[6:12]).String())
	assert.Equal(t, linuxIP, netip.AddrFrom4([4]byte(req[28:32])))

	reply := skbuff.Get() // Transmit frees it
	require.NoError(t, reply.Append(arpReply(req, ourMAC, ourIP)))
	require.NoError(t, tap.Transmit(reply))

	echo := waitFrame(t, ch, "ICMP echo request", func(f []byte) bool {
		return len(f) >= 34 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[23] == 1 && f[34] == 8
	})
	assert.Equal(t, ourMAC.String(), net.HardwareAddr(echo[0:6]).String(), "Linux used the MAC we told it")
	assert.Equal(t, ourIP, netip.AddrFrom4([4]byte(echo[30:34])))

	out, err := ns.Run(context.Background(), "ip", "-j", "neigh", "show", "dev", "tap0")
	require.NoError(t, err, out)
	neigh, err := peertest.ParseNeigh(out)
	require.NoError(t, err)
	require.Len(t, neigh, 1)
	assert.Equal(t, ourIP, neigh[0].IP)
	assert.Equal(t, ourMAC.String(), neigh[0].MAC.String())
}

func TestTAPCloseUnblocksRead(t *testing.T) {
	_, tap := openTestTAP(t)
	done := make(chan error, 1)
	go func() {
		var p [MaxFrame]byte
		for {
			if _, err := tap.ReadFrame(p[:]); err != nil {
				done <- err
				return
			}
		}
	}()
	require.NoError(t, tap.Close())
	select {
	case err := <-done:
		assert.True(t, errors.Is(err, ErrClosed), "got %v", err)
	case <-time.After(tapWait):
		t.Fatal("ReadFrame still blocked after Close")
	}
	assert.ErrorIs(t, tap.WriteFrame(make([]byte, 60)), ErrClosed)
}

func TestTAPRejectsBadInput(t *testing.T) {
	_, err := OpenTAP("")
	assert.Error(t, err)
	_, err = OpenTAP("a-name-far-too-long-for-linux")
	assert.Error(t, err)

	_, tap := openTestTAP(t)
	assert.Error(t, tap.WriteFrame([]byte{1, 2, 3}), "runt frame")
	assert.Error(t, tap.Transmit(nil))
	full := skbuff.Get()
	defer full.Free()
	require.NoError(t, full.Append([]byte{1}))
	assert.ErrorIs(t, tap.ReadBuf(full), skbuff.ErrNotEmpty)
}
