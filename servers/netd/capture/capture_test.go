package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frame builds an Ethernet frame: IPv4 with proto from src to dst, and for
// UDP the ports, or ARP when proto is 0.
func frame(proto byte, src, dst string, sport, dport uint16, payload int) []byte {
	f := make([]byte, 14)
	if proto == 0 {
		binary.BigEndian.PutUint16(f[12:], etherTypeARP)
		return append(f, make([]byte, 28)...)
	}
	binary.BigEndian.PutUint16(f[12:], etherTypeIPv4)
	ip := make([]byte, 20)
	ip[0] = 0x45
	ip[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	f = append(f, ip...)
	if proto == protoUDP {
		u := make([]byte, 8)
		binary.BigEndian.PutUint16(u, sport)
		binary.BigEndian.PutUint16(u[2:], dport)
		f = append(f, u...)
	}
	return append(f, make([]byte, payload)...)
}

func TestParseFilter(t *testing.T) {
	for in, want := range map[string]Filter{
		"":                       {},
		"udp port 7":             {Proto: "udp", Port: 7},
		"host 10.0.2.2 icmp":     {Proto: "icmp", Host: netip.MustParseAddr("10.0.2.2")},
		"port 53 host 10.99.0.1": {Host: netip.MustParseAddr("10.99.0.1"), Port: 53},
		"arp":                    {Proto: "arp"},
		"ip host 10.0.2.15":      {Proto: "ip", Host: netip.MustParseAddr("10.0.2.15")},
	} {
		f, err := ParseFilter(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, f, in)
		again, err := ParseFilter(f.String())
		require.NoError(t, err)
		assert.Equal(t, f, again, "String parses back")
	}
	for _, bad := range []string{"tcp", "udp udp", "port", "port 0", "port 70000", "host", "host ::1", "host x",
		"arp port 7", "icmp port 7", "arp host 10.0.0.1", "port 7 port 8"} {
		_, err := ParseFilter(bad)
		assert.Error(t, err, bad)
	}
}

func TestMatch(t *testing.T) {
	echo := frame(protoUDP, "10.99.0.1", "10.99.0.2", 40000, 7, 16)
	dns := frame(protoUDP, "10.99.0.2", "10.0.2.3", 5353, 53, 16)
	ping := frame(protoICMP, "10.99.0.1", "10.99.0.2", 0, 0, 56)
	arp := frame(0, "", "", 0, 0, 0)
	f := func(s string) Filter { x, err := ParseFilter(s); require.NoError(t, err); return x }
	for _, c := range []struct {
		filter string
		frame  []byte
		want   bool
	}{
		{"", arp, true}, {"", echo, true},
		{"udp", echo, true}, {"udp", ping, false}, {"udp", arp, false},
		{"udp port 7", echo, true}, {"udp port 7", dns, false}, {"port 53", dns, true},
		{"icmp", ping, true}, {"icmp", echo, false},
		{"arp", arp, true}, {"arp", ping, false},
		{"host 10.99.0.1", echo, true}, {"host 10.99.0.1", dns, false}, {"host 10.0.2.3", dns, true},
		{"ip", ping, true}, {"ip", arp, false},
		{"udp", echo[:20], false}, {"port 7", echo[:14+20+2], false},
	} {
		assert.Equal(t, c.want, f(c.filter).Match(c.frame), "%q", c.filter)
	}
	// A later fragment has no UDP header: a port filter passes it over.
	frag := bytes.Clone(echo)
	binary.BigEndian.PutUint16(frag[14+6:], 185) // offset 185*8
	assert.False(t, f("port 7").Match(frag))
}

// readPcap parses a pcap stream: the header's snap length and link type,
// then each record's original length and data.
func readPcap(t *testing.T, b []byte) (snap, link uint32, recs [][]byte, orig []uint32) {
	require.GreaterOrEqual(t, len(b), 24)
	require.Equal(t, uint32(0xa1b2c3d4), binary.LittleEndian.Uint32(b))
	require.Equal(t, uint16(2), binary.LittleEndian.Uint16(b[4:]))
	require.Equal(t, uint16(4), binary.LittleEndian.Uint16(b[6:]))
	snap, link = binary.LittleEndian.Uint32(b[16:]), binary.LittleEndian.Uint32(b[20:])
	for b = b[24:]; len(b) > 0; {
		require.GreaterOrEqual(t, len(b), 16)
		incl, o := binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:])
		require.GreaterOrEqual(t, len(b), 16+int(incl))
		assert.Less(t, binary.LittleEndian.Uint32(b[4:]), uint32(1e6), "microseconds")
		recs = append(recs, b[16:16+incl])
		orig = append(orig, o)
		b = b[16+incl:]
	}
	return
}

// TestPcapStream: frames come out in order, byte-exact up to the snap
// length, with their original lengths; successive WriteTo calls make one
// stream (one header).
func TestPcapStream(t *testing.T) {
	c := New(Filter{Proto: "udp"}, 64)
	at := time.Unix(1700000000, 123456000)
	a := frame(protoUDP, "10.99.0.1", "10.99.0.2", 1, 7, 10)
	big := frame(protoUDP, "10.99.0.2", "10.99.0.1", 7, 1, 500)
	c.Add(at, a)
	c.Add(at, frame(protoICMP, "10.99.0.1", "10.99.0.2", 0, 0, 8)) // filtered
	var out bytes.Buffer
	_, err := c.WriteTo(&out)
	require.NoError(t, err)
	c.Add(at.Add(time.Millisecond), big)
	_, err = c.WriteTo(&out)
	require.NoError(t, err)
	snap, link, recs, orig := readPcap(t, out.Bytes())
	assert.Equal(t, uint32(HeaderSnapLen), snap, "the header states the largest snap length, records are cut at the capture's")
	assert.Equal(t, uint32(1), link, "LINKTYPE_ETHERNET")
	require.Len(t, recs, 2)
	assert.Equal(t, a, recs[0])
	assert.Equal(t, big[:64], recs[1], "cut at the snap length")
	assert.Equal(t, []uint32{uint32(len(a)), uint32(len(big))}, orig)
	assert.Equal(t, uint32(1700000000), binary.LittleEndian.Uint32(out.Bytes()[24:]))
	assert.Equal(t, uint32(123456), binary.LittleEndian.Uint32(out.Bytes()[28:]))
	assert.Equal(t, Stats{Captured: 2, Filtered: 1, Written: 2}, c.Stats())
}

// TestContinue: a capture appended to an earlier one's stream writes no
// second file header, so the two make one valid pcap stream.
func TestContinue(t *testing.T) {
	at := time.Unix(1700000000, 0)
	a := frame(protoUDP, "10.99.0.1", "10.99.0.2", 1, 7, 10)
	b := frame(protoICMP, "10.99.0.2", "10.99.0.1", 0, 0, 100)
	var out bytes.Buffer
	first := New(Filter{}, 0)
	first.Add(at, a)
	_, err := first.WriteTo(&out)
	require.NoError(t, err)
	second := New(Filter{}, 40)
	second.Continue()
	second.Add(at, b)
	_, err = second.WriteTo(&out)
	require.NoError(t, err)
	_, _, recs, orig := readPcap(t, out.Bytes())
	require.Len(t, recs, 2)
	assert.Equal(t, a, recs[0])
	assert.Equal(t, b[:40], recs[1])
	assert.Equal(t, []uint32{uint32(len(a)), uint32(len(b))}, orig)
}

// TestRingBounded: a reader that does not come drops new frames (counted)
// instead of growing or stalling the packet path; reading makes room.
func TestRingBounded(t *testing.T) {
	c := New(Filter{}, 0)
	f := frame(protoUDP, "10.0.0.1", "10.0.0.2", 1, 2, 100)
	for range MaxRecords + 10 {
		c.Add(time.Now(), f)
	}
	assert.Equal(t, uint64(MaxRecords), c.Stats().Captured)
	assert.Equal(t, uint64(10), c.Stats().Dropped)
	_, err := c.WriteTo(&bytes.Buffer{})
	require.NoError(t, err)
	c.Add(time.Now(), f)
	assert.Equal(t, uint64(MaxRecords+1), c.Stats().Captured, "room again after a read")

	big := New(Filter{}, 65535)
	jumbo := make([]byte, 9000)
	for range MaxBytes/9000 + 5 {
		big.Add(time.Now(), jumbo)
	}
	assert.Equal(t, uint64(MaxBytes/9000), big.Stats().Captured, "the byte bound")
	assert.Equal(t, uint64(5), big.Stats().Dropped)
}

// TestReadPcap: what WriteTo writes reads back record for record; broken
// streams are refused with an error, not a panic.
func TestReadPcap(t *testing.T) {
	c := New(Filter{}, 30)
	at := time.Unix(1700000000, 250000000)
	a := frame(protoUDP, "10.99.0.1", "10.99.0.2", 1, 7, 10)
	c.Add(at, a)
	c.Add(at, frame(protoICMP, "10.99.0.2", "10.99.0.1", 0, 0, 8))
	var out bytes.Buffer
	_, err := c.WriteTo(&out)
	require.NoError(t, err)
	recs, err := ReadPcap(out.Bytes())
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, a[:30], recs[0].Data)
	assert.Equal(t, len(a), recs[0].OrigLen)
	assert.True(t, at.Equal(recs[0].At))
	for _, bad := range [][]byte{nil, out.Bytes()[:23], out.Bytes()[:30], out.Bytes()[:len(out.Bytes())-1]} {
		_, err := ReadPcap(bad)
		assert.Error(t, err, "%d bytes", len(bad))
	}
	wrong := bytes.Clone(out.Bytes())
	wrong[20] = 101 // link type raw IP
	_, err = ReadPcap(wrong)
	assert.ErrorContains(t, err, "link type 101")
}

// FuzzReadPcap: any bytes are read or refused without a panic; a stream
// that reads back holds records within its bounds.
func FuzzReadPcap(f *testing.F) {
	c := New(Filter{}, 0)
	c.Add(time.Unix(1, 0), frame(protoUDP, "10.99.0.1", "10.99.0.2", 1, 7, 10))
	var out bytes.Buffer
	_, _ = c.WriteTo(&out)
	f.Add(out.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := ReadPcap(b)
		if err != nil {
			return
		}
		total := 24
		for _, r := range recs {
			assert.LessOrEqual(t, len(r.Data), r.OrigLen)
			total += 16 + len(r.Data)
		}
		assert.Equal(t, len(b), total)
	})
}

// FuzzFilter: any filter text parses or is refused without a panic; a
// parsed filter prints to text that parses to the same filter; Match takes
// any bytes.
func FuzzFilter(f *testing.F) {
	f.Add("udp port 7", []byte{})
	f.Add("host 10.0.2.2 icmp", frame(protoICMP, "10.0.2.2", "10.0.2.15", 0, 0, 4))
	f.Add("port 53", frame(protoUDP, "10.0.2.15", "10.0.2.3", 1000, 53, 0))
	f.Fuzz(func(t *testing.T, s string, data []byte) {
		flt, err := ParseFilter(s)
		if err != nil {
			return
		}
		again, err := ParseFilter(flt.String())
		require.NoError(t, err)
		assert.Equal(t, flt, again)
		_ = flt.Match(data)
		c := New(flt, 100)
		c.Add(time.Unix(0, 0), data)
		var b bytes.Buffer
		_, err = c.WriteTo(&b)
		require.NoError(t, err)
		_, _, recs, _ := readPcap(t, b.Bytes())
		assert.LessOrEqual(t, len(recs), 1)
	})
}
