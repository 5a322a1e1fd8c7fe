package libsocket

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"armos/libipc"
	"armos/libsocket/sockproto"
)

// errRefused is the error of every call on a connection netd refused
// because it holds sockets.MaxClients connections. It matches ENFILE (and
// libipc.ErrPeerClosed: netd closed the connection) but, unlike a
// connection lost to a netd restart, is not retried.
var errRefused = fmt.Errorf("libsocket: %s refused the connection: %w (%w)", sockproto.ServiceName, sockproto.ENFILE, libipc.ErrPeerClosed)

// watchedEndpoint is the endpoint of a connection to netd, watched for
// netd's refusal: an error report (an error reply with ID 0) with code
// ENFILE, sent just before netd closes a connection it cannot take. Once it
// has been seen, the connection's end is reported as errRefused instead of
// libipc.ErrPeerClosed, so the Client does not reconnect in a loop and the
// application gets ENFILE.
type watchedEndpoint struct {
	libipc.Endpoint

	refused atomic.Bool
	ended   chan struct{} // closed when a receive has failed (everything was read)
	endOnce sync.Once
}

// watch wraps ep, a new connection to netd.
func watch(ep libipc.Endpoint) *watchedEndpoint {
	return &watchedEndpoint{Endpoint: ep, ended: make(chan struct{})}
}

// Recv receives the next message, noting a refusal report.
func (w *watchedEndpoint) Recv(ctx context.Context) (libipc.Message, error) {
	m, err := w.Endpoint.Recv(ctx)
	return m, w.received(m, err)
}

// TryRecv receives without waiting, noting a refusal report.
func (w *watchedEndpoint) TryRecv() (libipc.Message, error) {
	m, err := w.Endpoint.TryRecv()
	return m, w.received(m, err)
}

// Send sends m; if netd has closed the connection it reports a refusal.
func (w *watchedEndpoint) Send(ctx context.Context, m libipc.Message) error {
	return w.sent(ctx, w.Endpoint.Send(ctx, m))
}

// TrySend sends m without waiting; if netd has closed the connection it
// reports a refusal.
func (w *watchedEndpoint) TrySend(m libipc.Message) error {
	return w.sent(context.Background(), w.Endpoint.TrySend(m))
}

// received inspects one receive's outcome.
func (w *watchedEndpoint) received(m libipc.Message, err error) error {
	if err == nil {
		h, body, herr := libipc.ParseHeader(m.Data)
		if herr == nil && h.Kind == libipc.KindError && h.ID == 0 {
			var eb libipc.ErrorBody
			if libipc.DecodeBody(body, &eb) == nil && sockproto.ErrnoOf(eb.Code) == sockproto.ENFILE {
				w.refused.Store(true)
			}
		}
		return nil
	}
	if errors.Is(err, libipc.ErrWouldBlock) {
		return err
	}
	w.endOnce.Do(func() { close(w.ended) })
	if errors.Is(err, libipc.ErrPeerClosed) && w.refused.Load() {
		return errRefused
	}
	return err
}

// sent turns a send that failed because netd closed the connection into
// errRefused when netd refused it. The refusal report is queued before the
// close, so it waits (bounded by ctx) for the connection's reader to have
// read everything.
func (w *watchedEndpoint) sent(ctx context.Context, err error) error {
	if err == nil || !errors.Is(err, libipc.ErrPeerClosed) {
		return err
	}
	select {
	case <-w.ended:
	case <-ctx.Done():
		return err
	}
	if w.refused.Load() {
		return errRefused
	}
	return err
}
