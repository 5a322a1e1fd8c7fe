package echo

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wait bounds every blocking step of these tests.
const wait = 5 * time.Second

// startLoopback runs a Server on a Linux UDP socket bound to 127.0.0.1.
func startLoopback(t *testing.T) (*Server, net.Addr, func() error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	srv := New(conn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(wait):
			t.Fatal("Run did not return after cancel")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return srv, conn.LocalAddr(), stop
}

func TestEchoReturnsEachDatagramToItsSender(t *testing.T) {
	srv, addr, stop := startLoopback(t)
	clients := make([]net.PacketConn, 2)
	for i := range clients {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		require.NoError(t, err)
		defer c.Close()
		clients[i] = c
	}
	sizes := []int{0, 1, 64, 1472, 1473, 9000, MaxDatagram}
	total := 0
	for _, size := range sizes {
		for i, c := range clients {
			msg := bytes.Repeat([]byte{byte(size), byte(i)}, size/2+1)[:size]
			_, err := c.WriteTo(msg, addr)
			require.NoError(t, err)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
			buf := make([]byte, MaxDatagram+1)
			n, from, err := c.ReadFrom(buf)
			require.NoError(t, err, "size %d", size)
			assert.Equal(t, msg, buf[:n], "size %d client %d", size, i)
			assert.Equal(t, addr.String(), from.String())
			total += size
		}
	}
	// The server counts an echo after sending it, so the client can read
	// the last reply before it is counted.
	var st Stats
	require.Eventually(t, func() bool { st = srv.Stats(); return st.Echoed == uint64(2*len(sizes)) }, wait, time.Millisecond)
	assert.Equal(t, uint64(2*len(sizes)), st.Echoed)
	assert.Equal(t, uint64(total), st.Bytes)
	assert.Zero(t, st.WriteErrors)
	assert.NoError(t, stop(), "cancelling is a clean stop")
}

func TestEchoStopsWithErrorWhenConnCloses(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), conn) }()
	require.NoError(t, conn.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(wait):
		t.Fatal("Run did not return after Close")
	}
}

// failingConn is a PacketConn whose writes fail, to show that a lost reply
// is counted and does not stop the service.
type failingConn struct {
	net.PacketConn
}

func (failingConn) WriteTo([]byte, net.Addr) (int, error) { return 0, net.ErrWriteToConnected }

func TestEchoCountsFailedRepliesAndCarriesOn(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()
	srv := New(failingConn{conn})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer c.Close()
	for i := 0; i < 3; i++ {
		_, err = c.WriteTo([]byte("x"), conn.LocalAddr())
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return srv.Stats().WriteErrors == 3 }, wait, time.Millisecond)
	assert.Zero(t, srv.Stats().Echoed)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("Run did not return after cancel")
	}
}

func BenchmarkEchoLoopback(b *testing.B) {
	conn, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Run(ctx, conn)
	c, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer c.Close()
	msg := make([]byte, 64)
	buf := make([]byte, 128)
	b.ReportAllocs()
	for b.Loop() {
		c.WriteTo(msg, conn.LocalAddr())
		c.ReadFrom(buf)
	}
}

// TestGapTracker keeps the n longest gaps between replies, whatever their
// order.
func TestGapTracker(t *testing.T) {
	s := New(nil)
	s.TrackGaps(3)
	at := time.Unix(100, 0)
	for _, d := range []time.Duration{5, 40, 5, 7, 90, 5, 30, 6, 12} {
		at = at.Add(d * time.Millisecond)
		s.gaps.reply(at)
	}
	assert.Equal(t, []time.Duration{30 * time.Millisecond, 40 * time.Millisecond, 90 * time.Millisecond}, s.Gaps())
	assert.Nil(t, New(nil).Gaps(), "not tracked")
}
