package libsocket

import (
	"context"
	"errors"
	"fmt"

	"armos/libipc"
)

// ErrNoInit is FromInit's error when the process was not started by
// armos's init (no bootstrap channel): on a Linux host, say, where a
// program uses the system's sockets instead.
var ErrNoInit = errors.New("libsocket: not started by init (no bootstrap channel)")

// FromInit connects to the socket service named service (usually
// sockproto.ServiceName) through init's name service, waiting for it to be
// registered: an app may start before netd is ready, or while it
// restarts, and a reconnection after a netd restart waits the same way.
func FromInit(ctx context.Context, service string) (*Client, error) {
	boot, err := libipc.Bootstrap()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoInit, err)
	}
	return DialService(ctx, WaitDialer(boot), service)
}

// WaitDialer returns a Dialer that connects through init by name, waiting
// for the name to be registered (FromInit's, and libproto's).
func WaitDialer(boot *libipc.InitClient) libipc.Dialer { return waitDialer{boot} }

// waitDialer connects by name, waiting for the name to be registered.
type waitDialer struct{ c *libipc.InitClient }

func (d waitDialer) Connect(ctx context.Context, name string) (libipc.Endpoint, error) {
	return d.c.ConnectWait(ctx, name)
}
