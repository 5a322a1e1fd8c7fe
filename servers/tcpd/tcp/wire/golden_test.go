package wire

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	ipwire "armos/servers/netd/wire"
)

// Golden frames captured from Linux 6.18 with an AF_PACKET socket on one end
// of a veth pair, the other end in a second network namespace; transmit
// checksum offload was switched off on both ends first (SIOCETHTOOL
// ETHTOOL_STXCSUM = 0) so the captured checksums are complete. Topology and
// traffic (Python sockets):
//
//	netns A  va 10.99.0.1/24: listens on 7000, echoes what it reads in
//	         upper case, closes
//	netns B  vb 10.99.0.2/24: connects from port 40000, sends
//	         "hello armos\n", reads, closes; then connects from 40001 to
//	         the closed port 7001
//
// Each frame is Ethernet + IPv4 (20 bytes) + TCP.
var (
	linuxSYN = h("7e88a6aae4b21edf15dced8208004500003c03914000400622630a6300020a630001" +
		"9c401b58859303a000000000a002faf0db2a0000020405b40402080ab3da6872000000000103030a")
	linuxSYNACK = h("1edf15dced827e88a6aae4b208004500003c00004000400625f40a6300010a630002" +
		"1b589c404eab9916859303a1a012fe88172b0000020405b40402080a9dc13ad3b3da68720103030a")
	linuxACK = h("7e88a6aae4b21edf15dced82080045000034039240004006226a0a6300020a630001" +
		"9c401b58859303a14eab99178010003f444400000101080ab3da68729dc13ad3")
	linuxData = h("7e88a6aae4b21edf15dced82080045000040039340004006225d0a6300020a630001" +
		"9c401b58859303a14eab99178018003fbe5100000101080ab3da68729dc13ad3" +
		"68656c6c6f2061726d6f730a")
	linuxFINACK = h("1edf15dced827e88a6aae4b208004500003429fa40004006fc010a6300010a630002" +
		"1b589c404eab9923859303ad8011004042fd00000101080a9dc13c00b3da6872")
	linuxRSTACK = h("666ebb69d368521f806f257408004500002800004000400626080a6300010a630002" +
		"1b599c4100000000c8efd3b55014000046c80000")
)

// Addresses in the golden frames.
var (
	ipA = netip.MustParseAddr("10.99.0.1")
	ipB = netip.MustParseAddr("10.99.0.2")
)

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// tcpOf returns the IPv4 source, destination and TCP bytes of a captured
// frame, parsed with netd's wire package.
func tcpOf(t testing.TB, frame []byte) (src, dst netip.Addr, seg []byte) {
	t.Helper()
	eth, err := ipwire.ParseEthernet(frame)
	require.NoError(t, err)
	ip, err := ipwire.ParseIPv4(eth.Payload())
	require.NoError(t, err)
	require.Equal(t, ipwire.IPProtocolTCP, ip.Protocol())
	return ip.Src(), ip.Dst(), ip.Payload()
}

// goldenSegments are the captured segments with the fields read by hand
// from the RFC 9293 3.1 layout.
var goldenSegments = []struct {
	name    string
	frame   []byte
	repr    Repr
	payload string
}{
	{"SYN", linuxSYN, Repr{
		SrcPort: 40000, DstPort: 7000, Seq: 0x859303a0, Flags: FlagSYN, Window: 64240,
		Options: Options{MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 0xb3da6872,
			HasWindowScale: true, WindowScale: 10},
	}, ""},
	{"SYN-ACK", linuxSYNACK, Repr{
		SrcPort: 7000, DstPort: 40000, Seq: 0x4eab9916, Ack: 0x859303a1, Flags: FlagSYN | FlagACK, Window: 65160,
		Options: Options{MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 0x9dc13ad3, TSEcr: 0xb3da6872,
			HasWindowScale: true, WindowScale: 10},
	}, ""},
	{"ACK", linuxACK, Repr{
		SrcPort: 40000, DstPort: 7000, Seq: 0x859303a1, Ack: 0x4eab9917, Flags: FlagACK, Window: 63,
		Options: Options{HasTimestamps: true, TSVal: 0xb3da6872, TSEcr: 0x9dc13ad3},
	}, ""},
	{"data", linuxData, Repr{
		SrcPort: 40000, DstPort: 7000, Seq: 0x859303a1, Ack: 0x4eab9917, Flags: FlagPSH | FlagACK, Window: 63,
		Options: Options{HasTimestamps: true, TSVal: 0xb3da6872, TSEcr: 0x9dc13ad3},
	}, "hello armos\n"},
	{"FIN-ACK", linuxFINACK, Repr{
		SrcPort: 7000, DstPort: 40000, Seq: 0x4eab9923, Ack: 0x859303ad, Flags: FlagFIN | FlagACK, Window: 64,
		Options: Options{HasTimestamps: true, TSVal: 0x9dc13c00, TSEcr: 0xb3da6872},
	}, ""},
	{"RST-ACK", linuxRSTACK, Repr{
		SrcPort: 7001, DstPort: 40001, Seq: 0, Ack: 0xc8efd3b5, Flags: FlagRST | FlagACK,
	}, ""},
}

func TestParseGolden(t *testing.T) {
	for _, g := range goldenSegments {
		t.Run(g.name, func(t *testing.T) {
			src, dst, b := tcpOf(t, g.frame)
			s, err := Parse(b)
			require.NoError(t, err)
			require.NoError(t, s.VerifyChecksum(src, dst))
			require.Equal(t, g.repr, s.Repr())
			require.Equal(t, g.payload, string(s.Payload()))
			require.Equal(t, g.repr.HeaderLen(), s.HeaderLen())
		})
	}
}

// Emitting each captured segment's Repr in front of its payload gives back
// Linux's bytes, options layout and checksum included.
func TestEmitGolden(t *testing.T) {
	for _, g := range goldenSegments {
		t.Run(g.name, func(t *testing.T) {
			src, dst, want := tcpOf(t, g.frame)
			b := make([]byte, g.repr.HeaderLen()+len(g.payload))
			copy(b[g.repr.HeaderLen():], g.payload)
			require.NoError(t, g.repr.Emit(b, src, dst))
			require.Equal(t, want, b)
		})
	}
}
