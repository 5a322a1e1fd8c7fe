package tcp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/netd/stack/stacktest"
	ipwire "armos/servers/netd/wire"
	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
)

// icmpAbout builds the ICMP error a router would send about segment s
// (one the engine sent): the IPv4 header and the segment's first 8 bytes.
func icmpAbout(s tcptest.Sent, typ ipwire.ICMPv4Type, code ipwire.ICMPv4Code, mtu uint16) []byte {
	orig := stacktest.IPv4(ipwire.IPv4Repr{Src: s.Src, Dst: s.Dst, Protocol: ipwire.IPProtocolTCP, TTL: 64,
		PayloadLen: len(s.Seg)}, s.Seg)
	return stacktest.ICMP(ipwire.ICMPv4Repr{Type: typ, Code: code, MTU: mtu}, orig[:28])
}

// connectThenICMP opens a connection and answers its SYN with an ICMP
// destination unreachable of the given code.
func connectThenICMP(t *testing.T, code ipwire.ICMPv4Code) (*fixture, *tcp.Conn) {
	f := newFixture(t, tcp.Config{})
	c, err := f.s.Connect(f.us, f.peer)
	require.NoError(t, err)
	f.s.ICMPError(icmpAbout(f.take()[0], ipwire.ICMPv4DstUnreachable, code, 0))
	return f, c
}

// Port unreachable answering our SYN refuses the connection (a hard
// error, RFC 1122 4.2.3.9).
func TestICMPPortUnreachableRefuses(t *testing.T) {
	f, c := connectThenICMP(t, ipwire.ICMPv4PortUnreachable)
	assert.Equal(t, tcp.Closed, c.State())
	assert.ErrorIs(t, c.Err(), tcp.ErrConnRefused)
	assert.Equal(t, uint64(1), f.s.Counters().ICMPHard)
}

// Host unreachable is soft: the attempt goes on, and if it times out the
// error reported is the ICMP one.
func TestICMPSoftErrorReportedOnTimeout(t *testing.T) {
	f, c := connectThenICMP(t, ipwire.ICMPv4HostUnreachable)
	assert.Equal(t, tcp.SynSent, c.State())
	assert.Equal(t, uint64(1), f.s.Counters().ICMPSoft)
	f.advance(10 * time.Minute)
	assert.Equal(t, tcp.Closed, c.State())
	assert.ErrorIs(t, c.Err(), tcp.ErrHostUnreachable)
}

// On an established connection even a hard error is soft (RFC 5461).
func TestICMPEstablishedIsSoft(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.write(c, "data")
	s := f.take()[0]
	f.s.ICMPError(icmpAbout(s, ipwire.ICMPv4DstUnreachable, ipwire.ICMPv4PortUnreachable, 0))
	assert.Equal(t, tcp.Established, c.State())
	assert.NoError(t, c.Err())
}

// Errors that do not quote an outstanding sequence number of a known
// connection are ignored (RFC 5927 4.1), as are malformed messages and
// other protocols.
func TestICMPIgnored(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.write(c, "data")
	s := f.take()[0]
	f.pAck += 4
	f.send(ACK, "") // acknowledged: the quote is now old
	f.s.ICMPError(icmpAbout(s, ipwire.ICMPv4DstUnreachable, ipwire.ICMPv4PortUnreachable, 0))
	bad := icmpAbout(s, ipwire.ICMPv4DstUnreachable, ipwire.ICMPv4PortUnreachable, 0)
	bad[2] ^= 1
	f.s.ICMPError(bad)
	f.s.ICMPError(icmpAbout(s, ipwire.ICMPv4SourceQuench, 0, 0))
	f.s.ICMPError([]byte{3, 3})
	udp := stacktest.IPv4(ipwire.IPv4Repr{Src: ourAddr, Dst: peerAddr, Protocol: ipwire.IPProtocolUDP, TTL: 64, PayloadLen: 8}, make([]byte, 8))
	f.s.ICMPError(stacktest.ICMP(ipwire.ICMPv4Repr{Type: ipwire.ICMPv4DstUnreachable, Code: 3}, udp))
	counters := f.s.Counters()
	assert.Equal(t, uint64(5), counters.ICMPErrors)
	assert.Equal(t, uint64(5), counters.ICMPIgnored)
	assert.Equal(t, tcp.Established, c.State())
}

// "Fragmentation needed" lowers the send MSS to the next-hop MTU less 40
// and resends what is outstanding at the new size (RFC 1191).
func TestICMPFragmentationNeeded(t *testing.T) {
	f := newFixture(t, tcp.Config{})
	c := f.active()
	f.write(c, strings.Repeat("p", 3*1460))
	segs := f.take()
	require.Len(t, segs, 3)
	f.s.ICMPError(icmpAbout(segs[0], ipwire.ICMPv4DstUnreachable, ipwire.ICMPv4FragmentationNeeded, 1000))
	assert.Equal(t, 960, c.Info().SndMSS)
	segs = f.take()
	require.NotEmpty(t, segs)
	for _, s := range segs {
		assert.LessOrEqual(t, len(s.Payload), 960)
	}
	assert.Equal(t, f.pAck, segs[0].Repr.Seq)
	assert.Equal(t, uint64(1), f.s.Counters().PMTUUpdates)
	// A larger MTU, or none, changes nothing.
	f.s.ICMPError(icmpAbout(segs[0], ipwire.ICMPv4DstUnreachable, ipwire.ICMPv4FragmentationNeeded, 1400))
	f.s.ICMPError(icmpAbout(segs[0], ipwire.ICMPv4DstUnreachable, ipwire.ICMPv4FragmentationNeeded, 0))
	assert.Equal(t, 960, c.Info().SndMSS)
	f.take()
	// And the transfer completes at the new size.
	f.pAck += 3 * 1460
	f.send(ACK, "")
	assert.Equal(t, 0, c.Info().SendQueued)
}
