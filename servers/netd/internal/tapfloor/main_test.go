package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	floorMAC = net.HardwareAddr{0x02, 0x00, 0x0a, 0x63, 0x00, 0x02}
	floorIP  = [4]byte{10, 99, 0, 2}
	peerMAC  = net.HardwareAddr{0x0e, 1, 2, 3, 4, 5}
	peerIP   = [4]byte{10, 99, 0, 1}
)

// sum16 is the Internet checksum's folded one's-complement sum.
func sum16(parts ...[]byte) uint16 {
	var s uint32
	for _, p := range parts {
		for i := 0; i+1 < len(p); i += 2 {
			s += uint32(binary.BigEndian.Uint16(p[i:]))
		}
		if len(p)%2 == 1 {
			s += uint32(p[len(p)-1]) << 8
		}
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// udpFrame builds an Ethernet frame carrying a UDP datagram with correct
// IPv4 and UDP checksums.
func udpFrame(srcPort, dstPort uint16, payload []byte) []byte {
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:], floorMAC)
	copy(f[6:], peerMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, 17
	copy(ip[12:], peerIP[:])
	copy(ip[16:], floorIP[:])
	binary.BigEndian.PutUint16(ip[10:], ^sum16(ip[:20]))
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:], srcPort)
	binary.BigEndian.PutUint16(u[2:], dstPort)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	binary.BigEndian.PutUint16(u[6:], ^sum16(ip[12:20], []byte{0, 17}, u[4:6], u))
	return f
}

func TestAnswerTurnsAnEchoAroundWithValidChecksums(t *testing.T) {
	f := udpFrame(40000, 7, []byte("hello, floor"))
	r := answer(f, floorMAC, floorIP)
	require.NotNil(t, r)
	assert.Equal(t, []byte(peerMAC), r[0:6])
	assert.Equal(t, []byte(floorMAC), r[6:12])
	ip := r[14:]
	assert.Equal(t, floorIP[:], ip[12:16])
	assert.Equal(t, peerIP[:], ip[16:20])
	assert.Equal(t, uint16(0xffff), sum16(ip[:20]), "IPv4 header checksum")
	u := ip[20:]
	assert.Equal(t, uint16(7), binary.BigEndian.Uint16(u[0:]))
	assert.Equal(t, uint16(40000), binary.BigEndian.Uint16(u[2:]))
	assert.Equal(t, uint16(0xffff), sum16(ip[12:20], []byte{0, 17}, u[4:6], u), "UDP checksum")
	assert.Equal(t, []byte("hello, floor"), u[8:])
}

func TestAnswerRepliesToARPForItsAddressOnly(t *testing.T) {
	req := func(target [4]byte) []byte {
		f := make([]byte, 14+28)
		copy(f[0:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(f[6:], peerMAC)
		binary.BigEndian.PutUint16(f[12:], 0x0806)
		a := f[14:]
		binary.BigEndian.PutUint16(a[0:], 1)
		binary.BigEndian.PutUint16(a[2:], 0x0800)
		a[4], a[5] = 6, 4
		binary.BigEndian.PutUint16(a[6:], 1)
		copy(a[8:], peerMAC)
		copy(a[14:], peerIP[:])
		copy(a[24:], target[:])
		return f
	}
	r := answer(req(floorIP), floorMAC, floorIP)
	require.NotNil(t, r)
	a := r[14:]
	assert.Equal(t, uint16(2), binary.BigEndian.Uint16(a[6:]), "a reply")
	assert.Equal(t, []byte(floorMAC), a[8:14])
	assert.Equal(t, floorIP[:], a[14:18])
	assert.Equal(t, []byte(peerMAC), a[18:24])
	assert.Equal(t, peerIP[:], a[24:28])
	assert.Equal(t, []byte(peerMAC), r[0:6])
	assert.Nil(t, answer(req([4]byte{10, 99, 0, 3}), floorMAC, floorIP), "another host's address")
}

func TestAnswerIgnoresEverythingElse(t *testing.T) {
	assert.Nil(t, answer(udpFrame(40000, 9, []byte("x")), floorMAC, floorIP), "not port 7")
	assert.Nil(t, answer(udpFrame(40000, 7, nil)[:14+20+4], floorMAC, floorIP), "truncated UDP header")
	assert.Nil(t, answer(make([]byte, 10), floorMAC, floorIP), "shorter than Ethernet")
	tcp := udpFrame(40000, 7, []byte("x"))
	tcp[14+9] = 6
	assert.Nil(t, answer(tcp, floorMAC, floorIP), "not UDP")
}

func FuzzAnswer(f *testing.F) {
	f.Add(udpFrame(1, 7, []byte("seed")))
	f.Add(make([]byte, 42))
	f.Fuzz(func(t *testing.T, frame []byte) {
		in := append([]byte(nil), frame...)
		r := answer(frame, floorMAC, floorIP)
		if r == nil {
			assert.True(t, bytes.Equal(in, frame), "a frame not answered is left alone")
			return
		}
		require.LessOrEqual(t, len(r), len(in))
		if binary.BigEndian.Uint16(in[12:]) == 0x0800 {
			// A UDP reply keeps its checksums: the same words, swapped.
			require.Equal(t, len(in), len(r))
			assert.Equal(t, sum16(in[14:]), sum16(r[14:]))
		}
	})
}
