package libsocket

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadCtx: a reader's context behaves as a cancellable context for
// Recv: a registered function runs once when it is cancelled (at once if
// it already was), stop keeps it from running, the cause is kept, and
// registering allocates nothing.
func TestReadCtx(t *testing.T) {
	c := newReadCtx()
	var ctx context.Context = c
	require.NoError(t, ctx.Err())
	ran := make(chan struct{}, 2)
	stop := c.AfterFunc(func() { ran <- struct{}{} })
	assert.True(t, stop(), "stopped before cancel")
	assert.False(t, stop(), "a second stop stops nothing")

	stop = c.AfterFunc(func() { ran <- struct{}{} })
	why := errors.New("deadline moved")
	c.cancel(why)
	c.cancel(errors.New("later"))
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the registered function did not run")
	}
	assert.False(t, stop(), "too late to stop")
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	assert.Equal(t, why, c.cause())
	<-ctx.Done()

	c.AfterFunc(func() { ran <- struct{}{} }) // already cancelled: runs at once
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("a function registered after cancel did not run")
	}

	fresh := newReadCtx()
	fn := func() {}
	allocs := testing.AllocsPerRun(100, func() { fresh.AfterFunc(fn)() })
	assert.Zero(t, allocs)
}
