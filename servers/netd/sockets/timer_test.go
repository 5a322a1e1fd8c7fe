package sockets_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libsocket"
	"armos/servers/netd/sockets"
	"armos/servers/netd/sockets/sockettest"
	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
)

// TestTimerFiresOnItsOwn runs the service on the system clock with nobody
// calling Kick: the loop's own timer must end a parked receive at its
// timeout.
func TestTimerFiresOnItsOwn(t *testing.T) {
	st, err := stack.New(stack.Config{MAC: sockettest.OurMAC, Addr: sockettest.OurNet}, &stacktest.Link{}, stack.SystemClock{})
	require.NoError(t, err)
	svc := sockets.New(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	}()

	cl, sv := libipc.NewPair(libipc.DefaultQueueLen)
	svc.Accept(sv)
	c := libsocket.NewClient(libipc.NewConn(cl))
	defer c.Close()
	s, err := c.ListenUDP(bg, echoPort)
	require.NoError(t, err)

	start := time.Now()
	_, _, err = s.RecvFromTimeout(bg, make([]byte, 10), 30*time.Millisecond)
	require.ErrorIs(t, err, libsocket.ETIMEDOUT)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	assert.EqualValues(t, 1, svc.Stats().Timeouts)
	assert.NotZero(t, svc.Stats().Ticks)

	// Several deadlines: each receive ends at its own.
	errs := make(chan time.Duration, 3)
	for _, d := range []time.Duration{60 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond} {
		go func() {
			t0 := time.Now()
			_, _, err := s.RecvFromTimeout(bg, make([]byte, 10), d)
			if assert.ErrorIs(t, err, libsocket.ETIMEDOUT) {
				assert.GreaterOrEqual(t, time.Since(t0), d)
			}
			errs <- d
		}()
	}
	for range 3 {
		<-errs
	}
	assert.EqualValues(t, 4, svc.Stats().Timeouts)
}
