package wire

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Golden frames, captured from Linux 6.18 (tcpdump -w on a veth in a private
// network namespace; the .pcap files are in testdata/ and TestLinuxCaptures
// walks all of them). Topology:
//
//	netns A  n1va 02:00:00:00:00:01 10.99.0.1/24
//	netns B  n1vb 02:00:00:00:00:02 10.99.0.2/24  (forwarding on; 10.99.1.0/24
//	         behind it, reached by A via 10.99.0.2)
//
// Captured on A's side (testdata/linux-veth-1.pcap) while running in A:
//
//	ping -c1 -p 61726d6f73 -s 16 10.99.0.2        ARP request/reply, echo request/reply
//	python3: UDP 10.99.0.1:40000 -> 10.99.0.2:7 "hello armos\n"  (B answers port unreachable)
//	python3: the same from port 40001 with SO_NO_CHECK: "no checksum", UDP checksum 0
//	ping -c1 -t1 -s 8 10.99.1.5                  (B: net unreachable)
//	ping -c1 -R -s 8 10.99.0.2                   record-route option, IHL 15
//	ping -c1 -s 1600 -M dont 10.99.0.2           fragmented request (last fragment kept)
//
// and testdata/linux-veth-2.pcap, with a third namespace at 10.99.1.2 behind B:
//
//	ping -c1 -t1 -s 8 10.99.1.2                  (B: time exceeded in transit)
//
// Transmit checksum offload was switched off on both veths first (SIOCETHTOOL
// ETHTOOL_STXCSUM = 0): otherwise veth hands over CHECKSUM_PARTIAL packets and
// the captured UDP checksum is only the pseudo-header sum. Veth does not pad
// short frames, so the ARP frames are 42 bytes here; the padded case is tested
// separately.
var (
	arpRequest = h("ffffffffffff020000000001080600010800060400010200000000010a630001" +
		"0000000000000a630002")
	arpReply = h("020000000001020000000002080600010800060400020200000000020a630002" +
		"0200000000010a630001")
	echoRequest = h("02000000000202000000000108004500002c03774000400122920a6300010a63" +
		"000208004f1b61910001afb6066b0000000086300b0000000000")
	echoReply = h("02000000000102000000000208004500002c289d000040013d6c0a6300020a63" +
		"00010000571b61910001afb6066b0000000086300b0000000000")
	udpToPort7 = h("020000000002020000000001080045000028b0bb4000401175410a6300010a63" +
		"00029c4000070014c8d768656c6c6f2061726d6f730a")
	portUnreachable = h("020000000001020000000002080045c0004428fa000040013c370a6300020a63" +
		"0001030311eb0000000045000028b0bb4000401175410a6300010a6300029c40" +
		"00070014c8d768656c6c6f2061726d6f730a")
	udpNoChecksum = h("020000000002020000000001080045000027b12f4000401174ce0a6300010a63" +
		"00029c410007001300006e6f20636865636b73756d")
	netUnreachable = h("020000000001020000000002080045c0004029e0000040013b550a6300020a63" +
		"00010300fcff0000000045000024610140000101030d0a6300010a6301050800" +
		"89ed620100010001020304050607")
	echoRequestRR = h("02000000000202000000000108004f00004c054b40004001e42a0a6300010a63" +
		"0002010727080a63000100000000000000000000000000000000000000000000" +
		"00000000000000000000080089ec620200010001020304050607")
	echoReplyRR = h("02000000000102000000000208004f00004c29e600004001ecbc0a6300020a63" +
		"00010727100a6300010a6300020a630002000000000000000000000000000000" +
		"00000000000000000000000091ec620200010001020304050607")
	fragmentLast = h("020000000002020000000001080045000094055100b940015f970a6300010a63" +
		"0002c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdd" +
		"dedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfd" +
		"feff000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d" +
		"1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d" +
		"3e3f")
	echoRequestTTL1 = h("020000000002020000000001080045000024c0d240000101a33e0a6300010a63" +
		"010208009f2a4cc400010001020304050607")
	timeExceeded = h("020000000001020000000002080045c000405f1b00004001061a0a6300020a63" +
		"00010b00f4ff0000000045000024c0d240000101a33e0a6300010a6301020800" +
		"9f2a4cc400010001020304050607")
)

// Addresses in the golden frames.
var (
	macA = MAC{0x02, 0, 0, 0, 0, 0x01}
	macB = MAC{0x02, 0, 0, 0, 0, 0x02}
	ipA  = netip.MustParseAddr("10.99.0.1")
	ipB  = netip.MustParseAddr("10.99.0.2")
)

// h decodes hex, for golden bytes written as text.
func h(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// layers splits a golden Ethernet/IPv4 frame: IPv4 packet and its payload.
func layers(t testing.TB, frame []byte) (IPv4, []byte) {
	t.Helper()
	eth, err := ParseEthernet(frame)
	require.NoError(t, err)
	require.Equal(t, EtherTypeIPv4, eth.Type())
	ip, err := ParseIPv4(eth.Payload())
	require.NoError(t, err)
	return ip, ip.Payload()
}

// readPcap returns the frames of a classic little-endian pcap file.
func readPcap(t testing.TB, path string) [][]byte {
	t.Helper()
	d, err := os.ReadFile(path)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(d), 24)
	require.Equal(t, uint32(0xa1b2c3d4), binary.LittleEndian.Uint32(d), "pcap magic")
	require.Equal(t, uint32(1), binary.LittleEndian.Uint32(d[20:]), "link type Ethernet")
	var frames [][]byte
	for off := 24; off < len(d); {
		require.LessOrEqual(t, off+16, len(d))
		n := int(binary.LittleEndian.Uint32(d[off+8:]))
		off += 16
		require.LessOrEqual(t, off+n, len(d))
		frames = append(frames, d[off:off+n])
		off += n
	}
	return frames
}

// TestLinuxCaptures parses every frame Linux sent in the captures down to the
// transport layer, verifying every checksum, and re-emits each header to the
// exact captured bytes.
func TestLinuxCaptures(t *testing.T) {
	for _, path := range []string{"testdata/linux-veth-1.pcap", "testdata/linux-veth-2.pcap"} {
		for i, frame := range readPcap(t, path) {
			name := path[strings.LastIndex(path, "/")+1:] + "#" + string(rune('0'+i))
			t.Run(name, func(t *testing.T) {
				eth, err := ParseEthernet(frame)
				require.NoError(t, err)
				out := make([]byte, len(frame))
				require.NoError(t, eth.Repr().Emit(out))
				switch eth.Type() {
				case EtherTypeARP:
					a, err := ParseARP(eth.Payload())
					require.NoError(t, err)
					require.NoError(t, a.Repr().Emit(out[EthernetHeaderLen:]))
				case EtherTypeIPv4:
					ip, err := ParseIPv4(eth.Payload())
					require.NoError(t, err)
					ipOut := out[EthernetHeaderLen:]
					copy(ipOut, ip)
					r := ip.Repr()
					r.Options = append([]byte(nil), r.Options...)
					require.NoError(t, r.Emit(ipOut))
					if ip.IsFragment() && ip.FragmentOffset() != 0 {
						break // no transport header in a trailing fragment
					}
					switch ip.Protocol() {
					case IPProtocolICMP:
						if ip.IsFragment() {
							break // checksum covers the whole reassembled message
						}
						m, err := ParseICMPv4(ip.Payload())
						require.NoError(t, err)
						require.NoError(t, m.Repr().Emit(ipOut[ip.HeaderLen():]))
					case IPProtocolUDP:
						u, err := ParseUDP(ip.Payload())
						require.NoError(t, err)
						require.NoError(t, u.VerifyChecksum(ip.Src(), ip.Dst()))
						require.NoError(t, u.Repr().Emit(ipOut[ip.HeaderLen():], ip.Src(), ip.Dst()))
					default:
						t.Fatalf("unexpected protocol %v", ip.Protocol())
					}
				default:
					t.Fatalf("unexpected EtherType %v", eth.Type())
				}
				require.Equal(t, frame, out, "re-emitted frame differs")
			})
		}
	}
}
