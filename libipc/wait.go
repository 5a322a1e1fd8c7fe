package libipc

import (
	"context"
	"fmt"
)

// Waitable is an object a single wait can cover together with others:
// in-memory and kernel endpoints implement it.
type Waitable interface {
	// Watch reports whether the object is ready now (for an endpoint:
	// Recv would not block) and, when it is not, arranges for wake to get
	// a token (a non-blocking send) when it may have become ready, until
	// stop is called.
	Watch(wake chan<- struct{}) (ready bool, stop func())
}

// WaitAny blocks until one of ws is ready and returns the index of the first
// ready one, or fails with ctx's error. It lets one goroutine serve many
// endpoints, as a single-threaded server does.
func WaitAny(ctx context.Context, ws ...Waitable) (int, error) {
	if len(ws) == 0 {
		return -1, fmt.Errorf("libipc: WaitAny on nothing: %w", ErrInvalid)
	}
	wake := make(chan struct{}, 1)
	stops := make([]func(), 0, len(ws))
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	for {
		for i, w := range ws {
			ready, stop := w.Watch(wake)
			if stop != nil {
				stops = append(stops, stop)
			}
			if ready {
				return i, nil
			}
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
		for _, stop := range stops {
			stop()
		}
		stops = stops[:0]
	}
}
