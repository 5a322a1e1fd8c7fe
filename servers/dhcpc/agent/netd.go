package agent

import (
	"context"
	"errors"
	"sync"

	"armos/libipc"
	"armos/libsocket/adminproto"
)

// AdminNetd is Netd over adminproto, dialling again after a failed call
// (netd restarted: its admin service comes back under the same name).
type AdminNetd struct{ adminConn }

// adminConn is a connection to an admin service, dialled when needed.
type adminConn struct {
	dial func(ctx context.Context) (*adminproto.Client, error)
	mu   sync.Mutex
	c    *adminproto.Client
}

// NewAdminNetd returns a Netd that connects with dial when it needs to.
func NewAdminNetd(dial func(ctx context.Context) (*adminproto.Client, error)) *AdminNetd {
	return &AdminNetd{adminConn{dial: dial}}
}

// AdminResolved is Resolved over adminproto (resolved.admin), dialling
// again after a failed call (resolved not running yet, or restarted).
type AdminResolved struct{ adminConn }

// NewAdminResolved returns a Resolved that connects with dial when it
// needs to.
func NewAdminResolved(dial func(ctx context.Context) (*adminproto.Client, error)) *AdminResolved {
	return &AdminResolved{adminConn{dial: dial}}
}

// SetUpstream is OpSetUpstream. The channel it returns is the
// connection's Done: closed when the resolved that accepted the list is
// gone (exited, crashed, restarted by init), whose successor starts with
// its -upstream defaults.
func (r *AdminResolved) SetUpstream(ctx context.Context, u *adminproto.Upstream) (<-chan struct{}, error) {
	var got adminproto.Upstream
	c, err := r.doOn(ctx, adminproto.OpSetUpstream, u, &got)
	if err != nil {
		return nil, err
	}
	return c.Done(), nil
}

func (n *adminConn) do(ctx context.Context, op libipc.Op, req, resp any) error {
	_, err := n.doOn(ctx, op, req, resp)
	return err
}

// doOn makes the call and returns the connection it was made on.
func (n *adminConn) doOn(ctx context.Context, op libipc.Op, req, resp any) (*adminproto.Client, error) {
	n.mu.Lock()
	c := n.c
	if c != nil && isDone(c) { // the service went away since: dial its successor
		n.c = nil
		c.Close()
		c = nil
	}
	n.mu.Unlock()
	if c == nil {
		var err error
		if c, err = n.dial(ctx); err != nil {
			return nil, err
		}
		n.mu.Lock()
		if n.c != nil {
			c.Close()
			c = n.c
		} else {
			n.c = c
		}
		n.mu.Unlock()
	}
	err := c.Do(ctx, op, req, resp)
	var re *libipc.RemoteError
	if err != nil && !asRemote(err, &re) && ctx.Err() == nil {
		// The connection failed (not netd's answer): dial again next time.
		n.mu.Lock()
		if n.c == c {
			n.c = nil
		}
		n.mu.Unlock()
		c.Close()
	}
	return c, err
}

// Interface is OpInterface.
func (n *AdminNetd) Interface(ctx context.Context) (*adminproto.Interface, error) {
	var i adminproto.Interface
	if err := n.do(ctx, adminproto.OpInterface, &adminproto.Empty{}, &i); err != nil {
		return nil, err
	}
	return &i, nil
}

// Configure is OpConfigure.
func (n *AdminNetd) Configure(ctx context.Context, req *adminproto.Configure) (*adminproto.Configured, error) {
	var r adminproto.Configured
	if err := n.do(ctx, adminproto.OpConfigure, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Close closes the connection.
func (n *adminConn) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.c != nil {
		n.c.Close()
		n.c = nil
	}
}

func asRemote(err error, re **libipc.RemoteError) bool { return errors.As(err, re) }

func isDone(c *adminproto.Client) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}
