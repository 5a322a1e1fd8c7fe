package libsocket_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libsocket"
	"armos/libsocket/sockproto"
	"armos/servers/netd/sockets/sockettest"
)

// TestReadBatchTakesWhatIsQueuedInOneRoundTrip: datagrams queued in netd
// come back several per ReadBatch, in order and byte-exact, each with its
// sender; a batch never waits for more than the first; a datagram longer
// than the shortest buffer is cut (and says so); netd counts the datagrams
// that rode in batches.
func TestReadBatchTakesWhatIsQueuedInOneRoundTrip(t *testing.T) {
	h := sockettest.New(t)
	pc := listenPacket(t, h)
	const n = 20
	for i := range n {
		h.SendUDP(netip.AddrPortFrom(sockettest.PeerIP, uint16(6000+i)), ourEcho, []byte(fmt.Sprintf("datagram %02d", i)))
	}
	// All 20 queued before the first read (the harness injects on the
	// loop): wait until netd holds them.
	require.Eventually(t, func() bool { return queued(t, h) == n }, 5*time.Second, time.Millisecond)

	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 64)
	}
	res := make([]libsocket.RecvResult, len(bufs))
	var got []string
	calls := 0
	for len(got) < n {
		k, err := pc.ReadBatch(bufs, res)
		require.NoError(t, err)
		require.Positive(t, k)
		calls++
		for i := range k {
			require.False(t, res[i].Truncated)
			assert.Equal(t, uint16(6000+len(got)), res[i].From.Port(), "sender of datagram %d", len(got))
			got = append(got, string(bufs[i][:res[i].N]))
		}
	}
	for i, g := range got {
		assert.Equal(t, fmt.Sprintf("datagram %02d", i), g)
	}
	assert.Equal(t, 3, calls, "8 + 8 + 4 datagrams, one round trip each")
	assert.Equal(t, uint64(n-3), h.Service().Stats().Batched)

	// Only one queued: the batch returns it without waiting for more.
	h.SendUDP(peerAddr, ourEcho, []byte("alone"))
	k, err := pc.ReadBatch(bufs, res)
	require.NoError(t, err)
	require.Equal(t, 1, k)
	assert.Equal(t, "alone", string(bufs[0][:res[0].N]))

	// Cut to the shortest buffer.
	h.SendUDP(peerAddr, ourEcho, []byte("0123456789"))
	h.SendUDP(peerAddr, ourEcho, []byte("abcdefghij"))
	require.Eventually(t, func() bool { return queued(t, h) == 2 }, 5*time.Second, time.Millisecond)
	short := [][]byte{make([]byte, 64), make([]byte, 4)}
	k, err = pc.ReadBatch(short, res)
	require.NoError(t, err)
	require.Equal(t, 2, k)
	assert.Equal(t, "0123", string(short[0][:res[0].N]))
	assert.Equal(t, "abcd", string(short[1][:res[1].N]))
	assert.True(t, res[0].Truncated)
	assert.Equal(t, 10, res[1].Size)

	// A deadline ends a batch that waits for its first datagram.
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = pc.ReadBatch(bufs, res)
	requireTimeout(t, err, "read")

	// Bad arguments.
	_, err = pc.ReadBatch(nil, res)
	require.ErrorIs(t, err, sockproto.EINVAL)
	_, err = pc.ReadBatch(bufs, res[:2])
	require.ErrorIs(t, err, sockproto.EINVAL)
}

// queued returns the datagrams waiting on the harness's port 7.
func queued(t *testing.T, h *sockettest.Netd) int {
	t.Helper()
	n := 0
	h.OnLoop(func() {
		st, _ := h.Netd()
		for _, e := range st.UDPEndpoints() {
			if e.Local.Port() == 7 {
				n = e.Queued
			}
		}
	})
	return n
}

// TestWriteBatchSendsInOrderAndStopsAtAFailure: a batch goes out in order
// in one round trip; a datagram that fails (too long, or to a broadcast
// address without SO_BROADCAST, which netd refuses inside the batch)
// stops it: WriteBatch returns the count before it and its error, netd
// counts the cut batch, and the rest can be sent after it.
func TestWriteBatchSendsInOrderAndStopsAtAFailure(t *testing.T) {
	h := sockettest.New(t)
	pc := listenPacket(t, h)
	send := func(n int) ([][]byte, []netip.AddrPort) {
		bufs := make([][]byte, n)
		to := make([]netip.AddrPort, n)
		for i := range n {
			bufs[i] = []byte(fmt.Sprintf("batch %02d", i))
			to[i] = netip.AddrPortFrom(sockettest.PeerIP, uint16(8000+i))
		}
		return bufs, to
	}
	expect := func(bufs [][]byte, to []netip.AddrPort) {
		t.Helper()
		for i := range bufs {
			d := h.Expect()
			assert.Equal(t, string(bufs[i]), string(d.Payload))
			assert.Equal(t, to[i], d.Dst)
		}
	}
	// Warm ARP with one datagram (netd holds few while resolving).
	n, err := pc.WriteBatch([][]byte{[]byte("warm")}, []netip.AddrPort{peerAddr})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	h.Expect()

	bufs, to := send(12)
	n, err = pc.WriteBatch(bufs, to)
	require.NoError(t, err)
	require.Equal(t, 12, n)
	expect(bufs, to)
	assert.Equal(t, uint64(11), h.Service().Stats().BatchSent)

	// A broadcast destination in the middle: netd stops there.
	bufs, to = send(6)
	to[3] = netip.AddrPortFrom(sockettest.BcastIP, 9)
	n, err = pc.WriteBatch(bufs, to)
	require.ErrorIs(t, err, sockproto.EACCES)
	require.Equal(t, 3, n)
	expect(bufs[:3], to[:3])
	assert.Equal(t, uint64(1), h.Service().Stats().BatchSendsCut)
	n, err = pc.WriteBatch(bufs[4:], to[4:])
	require.NoError(t, err)
	require.Equal(t, 2, n)
	expect(bufs[4:], to[4:])

	// Too long for a datagram: not sent, and what came before went.
	bufs, to = send(4)
	bufs[2] = make([]byte, sockproto.MaxDatagram+1)
	n, err = pc.WriteBatch(bufs, to)
	require.ErrorIs(t, err, sockproto.EMSGSIZE)
	require.Equal(t, 2, n)
	expect(bufs[:2], to[:2])

	// Bad arguments, and a passed write deadline.
	_, err = pc.WriteBatch(bufs, to[:1])
	require.ErrorIs(t, err, sockproto.EINVAL)
	require.NoError(t, pc.SetWriteDeadline(time.Now().Add(-time.Second)))
	_, err = pc.WriteBatch(bufs[:1], to[:1])
	requireTimeout(t, err, "write")
	h.Quiet()
}
