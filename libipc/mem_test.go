package libipc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
)

func msg(s string) libipc.Message { return libipc.Message{Data: []byte(s)} }

func TestPairDeliversInOrderBothWays(t *testing.T) {
	a, b := libipc.NewPair(4)
	require.NoError(t, a.TrySend(msg("1")))
	require.NoError(t, a.TrySend(msg("2")))
	require.NoError(t, b.TrySend(msg("x")))
	m, err := b.TryRecv()
	require.NoError(t, err)
	assert.Equal(t, "1", string(m.Data))
	m, err = b.Recv(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, "2", string(m.Data))
	m, err = a.TryRecv()
	require.NoError(t, err)
	assert.Equal(t, "x", string(m.Data))
	_, err = b.TryRecv()
	assert.ErrorIs(t, err, libipc.ErrWouldBlock)
}

func TestSendCopiesData(t *testing.T) {
	a, b := libipc.NewPair(1)
	buf := []byte("abc")
	require.NoError(t, a.TrySend(libipc.Message{Data: buf}))
	buf[0] = 'X' // the sender reuses its buffer at once
	m, err := b.TryRecv()
	require.NoError(t, err)
	assert.Equal(t, "abc", string(m.Data))
}

// TestSendOwnedHandsTheBufferOver: the owned sends give the receiver the
// sender's buffer itself (no copy), and a refused one leaves it with the
// sender.
func TestSendOwnedHandsTheBufferOver(t *testing.T) {
	a, b := libipc.NewPair(1)
	buf := append(make([]byte, 0, 256), "abc"...)
	require.NoError(t, a.TrySendOwned(libipc.Message{Data: buf}))
	assert.ErrorIs(t, a.TrySendOwned(libipc.Message{Data: []byte("full")}), libipc.ErrWouldBlock)
	m, err := b.TryRecv()
	require.NoError(t, err)
	assert.Equal(t, &buf[0], &m.Data[0], "the same bytes")
	require.NoError(t, a.SendOwned(context.Background(), libipc.Message{Data: buf[:2]}))
	m, err = b.TryRecv()
	require.NoError(t, err)
	assert.Equal(t, "ab", string(m.Data))
}

func TestBackPressure(t *testing.T) {
	a, b := libipc.NewPair(2)
	require.NoError(t, a.TrySend(msg("1")))
	require.NoError(t, a.TrySend(msg("2")))
	assert.ErrorIs(t, a.TrySend(msg("3")), libipc.ErrWouldBlock)
	assert.Equal(t, uint64(1), a.Stats().Full)
	assert.Equal(t, 2, b.Queued())

	// The other direction has its own queue.
	require.NoError(t, b.TrySend(msg("reverse")))

	// A blocking send waits for room and proceeds once the peer drains.
	sent := make(chan error, 1)
	go func() { sent <- a.Send(context.Background(), msg("3")) }()
	require.Eventually(t, func() bool { return libipc.HasWaiter(a) }, waitTimeout, time.Millisecond)
	select {
	case err := <-sent:
		t.Fatalf("Send returned %v while the queue was full", err)
	default:
	}
	m, err := b.TryRecv()
	require.NoError(t, err)
	assert.Equal(t, "1", string(m.Data))
	select {
	case err := <-sent:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("blocked Send not released by the drain")
	}
	for _, want := range []string{"2", "3"} {
		m, err := b.TryRecv()
		require.NoError(t, err)
		assert.Equal(t, want, string(m.Data))
	}
}

func TestBlockingSendHonoursContext(t *testing.T) {
	a, _ := libipc.NewPair(1)
	require.NoError(t, a.TrySend(msg("fill")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, a.Send(ctx, msg("more")), context.DeadlineExceeded)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	_, err := libipc.NewConn(a).Recv(ctx2)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestSizeBounds(t *testing.T) {
	a, b := libipc.NewPair(2)
	assert.ErrorIs(t, a.TrySend(libipc.Message{Data: make([]byte, libipc.MaxMessageSize+1)}), libipc.ErrTooLarge)
	assert.ErrorIs(t, a.Send(testCtx(t), libipc.Message{Data: make([]byte, libipc.MaxMessageSize+1)}), libipc.ErrTooLarge)
	caps := make([]libipc.Cap, libipc.MaxCaps+1)
	for i := range caps {
		caps[i], _ = libipc.NewPair(1)
	}
	assert.ErrorIs(t, a.TrySend(libipc.Message{Caps: caps}), libipc.ErrTooLarge)
	require.NoError(t, a.TrySend(libipc.Message{Data: make([]byte, libipc.MaxMessageSize), Caps: caps[:libipc.MaxCaps]}))
	m, err := b.TryRecv()
	require.NoError(t, err)
	assert.Len(t, m.Data, libipc.MaxMessageSize)
	assert.Len(t, m.Caps, libipc.MaxCaps)
}

func TestCloseSemantics(t *testing.T) {
	a, b := libipc.NewPair(4)
	require.NoError(t, a.TrySend(msg("before close")))
	require.NoError(t, b.TrySend(msg("to a, never read")))
	require.NoError(t, b.TrySend(msg("also never read")))
	require.NoError(t, a.Close())

	// a's unread queue is dropped and counted.
	assert.Equal(t, uint64(2), a.Stats().Dropped)
	// b drains what a sent before closing, then sees peer closed.
	m, err := b.TryRecv()
	require.NoError(t, err)
	assert.Equal(t, "before close", string(m.Data))
	_, err = b.TryRecv()
	assert.ErrorIs(t, err, libipc.ErrPeerClosed)
	_, err = b.Recv(testCtx(t))
	assert.ErrorIs(t, err, libipc.ErrPeerClosed)
	assert.ErrorIs(t, b.TrySend(msg("x")), libipc.ErrPeerClosed)
	assert.ErrorIs(t, b.Send(testCtx(t), msg("x")), libipc.ErrPeerClosed)

	// a itself is closed.
	assert.ErrorIs(t, a.TrySend(msg("x")), libipc.ErrClosed)
	_, err = a.TryRecv()
	assert.ErrorIs(t, err, libipc.ErrClosed)
	assert.ErrorIs(t, a.Close(), libipc.ErrClosed)
}

func TestCloseWakesBlockedCalls(t *testing.T) {
	a, b := libipc.NewPair(1)
	require.NoError(t, a.TrySend(msg("fill")))
	sendErr := make(chan error, 1)
	go func() { sendErr <- a.Send(context.Background(), msg("blocked")) }()
	recvA, _ := libipc.NewPair(1)
	recvErr := make(chan error, 1)
	go func() { _, err := recvA.Recv(context.Background()); recvErr <- err }()
	require.Eventually(t, func() bool { return libipc.HasWaiter(a) && libipc.HasWaiter(recvA) }, waitTimeout, time.Millisecond,
		"both calls blocked before the Close that must wake them")
	require.NoError(t, b.Close())
	require.NoError(t, recvA.Close())
	for _, ch := range []chan error{sendErr, recvErr} {
		select {
		case err := <-ch:
			assert.Error(t, err)
		case <-time.After(waitTimeout):
			t.Fatal("blocked call not woken by Close")
		}
	}
	assert.ErrorIs(t, a.TrySend(msg("x")), libipc.ErrPeerClosed)
}

func TestDroppedMessageClosesItsCaps(t *testing.T) {
	a, b := libipc.NewPair(2)
	inner, innerPeer := libipc.NewPair(1)
	require.NoError(t, a.TrySend(libipc.Message{Data: []byte("here is an endpoint"), Caps: []libipc.Cap{inner}}))
	require.NoError(t, b.Close()) // b never reads it
	_, err := innerPeer.Recv(testCtx(t))
	assert.ErrorIs(t, err, libipc.ErrPeerClosed, "the endpoint lost in transit is closed")
}

func TestWaitAny(t *testing.T) {
	a1, b1 := libipc.NewPair(1)
	a2, b2 := libipc.NewPair(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := libipc.WaitAny(ctx, b1, b2)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	got := make(chan int, 1)
	go func() {
		i, err := libipc.WaitAny(testCtx(t), b1, b2)
		if err != nil {
			i = -1
		}
		got <- i
	}()
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, a2.TrySend(msg("on the second")))
	select {
	case i := <-got:
		assert.Equal(t, 1, i)
	case <-time.After(waitTimeout):
		t.Fatal("WaitAny not woken")
	}
	require.NoError(t, a1.Close())
	i, err := libipc.WaitAny(testCtx(t), b1)
	require.NoError(t, err)
	assert.Equal(t, 0, i, "peer closed counts as ready")
	_, err = libipc.WaitAny(testCtx(t))
	assert.ErrorIs(t, err, libipc.ErrInvalid)
}

// TestMemReceiversWakeOnlyForTheirOwnMessages: with both ends parked in
// Recv (a client and a server reader), a message to one end wakes that end
// only, and taking it wakes nobody: the other reader stays parked, its
// wake-up channel still registered, instead of waking to find nothing.
func TestMemReceiversWakeOnlyForTheirOwnMessages(t *testing.T) {
	a, b := libipc.NewPair(4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 2)
	for _, e := range []*libipc.MemEndpoint{a, b} {
		go func() {
			m, err := e.Recv(ctx)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(m.Data)
		}()
	}
	require.Eventually(t, func() bool { return libipc.Waiters(a) == 2 }, 5*time.Second, time.Millisecond)
	require.NoError(t, a.TrySend(libipc.Message{Data: []byte("to b")}))
	select {
	case s := <-got:
		assert.Equal(t, "to b", s)
	case <-time.After(5 * time.Second):
		t.Fatal("b's Recv did not return")
	}
	require.NoError(t, b.TrySend(libipc.Message{Data: []byte("to a")}))
	select {
	case s := <-got:
		assert.Equal(t, "to a", s)
	case <-time.After(5 * time.Second):
		t.Fatal("a's Recv did not return")
	}
	assert.Equal(t, uint64(1), a.Stats().Wakes, "a's Recv woke once, for its message, not for b's")
	assert.Equal(t, uint64(1), b.Stats().Wakes, "b's Recv woke once, for its message")
}
