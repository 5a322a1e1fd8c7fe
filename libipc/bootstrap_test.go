package libipc

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInitClientDone: an InitClient connects by name through init while
// the channel lives; when init's end goes, Done closes and every later
// call fails with ErrPeerClosed (a server then exits to be restarted).
func TestInitClientDone(t *testing.T) {
	mine, theirs := NewPair(16)
	c := NewInitClient(mine)
	initConn := NewConn(theirs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { // a one-name init
		for {
			r, err := initConn.Recv(ctx)
			if err != nil {
				return
			}
			var n InitName
			if r.Op != InitConnect || r.Decode(&n) != nil || n.Name != "svc" {
				r.Fail(ErrNotFound)
				continue
			}
			a, _ := NewPair(4)
			r.Reply(&Empty{}, a)
		}
	}()
	ep, err := c.Connect(ctx, "svc")
	require.NoError(t, err)
	ep.Close()
	_, err = c.Connect(ctx, "other")
	require.ErrorIs(t, err, ErrNotFound)
	select {
	case <-c.Done():
		t.Fatal("Done closed while init is there")
	default:
	}

	require.NoError(t, initConn.Close())
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after init's end went")
	}
	_, err = c.Connect(ctx, "svc")
	assert.ErrorIs(t, err, ErrPeerClosed)
}

// TestStartServiceOutsideInit: a service started by hand, not by init,
// gets an error naming it and no InitClient; its stop is usable.
func TestStartServiceOutsideInit(t *testing.T) {
	t.Setenv(BootstrapEnv, "")
	t.Setenv(StandbyEnv, "")
	ctx, stop, boot, err := StartService("tcpd")
	defer stop()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tcpd runs under armos's init")
	assert.Nil(t, boot)
	assert.NoError(t, ctx.Err())
}
