package libipc

import (
	"context"
	"fmt"
	"reflect"
)

// Waitable is an object a single wait can cover together with others: the
// in-memory endpoint implements it; under the kernel, the wait-on-many system
// call plays this role for channels, interrupts, timers and process exits.
type Waitable interface {
	// Poll reports whether the object is ready (for an endpoint: Recv would
	// not block) and returns a channel closed at its next state change.
	Poll() (ready bool, changed <-chan struct{})
}

// WaitAny blocks until one of ws is ready and returns the index of the first
// ready one, or fails with ctx's error. It lets one goroutine serve many
// endpoints, as a single-threaded server under the kernel does.
func WaitAny(ctx context.Context, ws ...Waitable) (int, error) {
	if len(ws) == 0 {
		return -1, fmt.Errorf("libipc: WaitAny on nothing: %w", ErrInvalid)
	}
	cases := make([]reflect.SelectCase, len(ws)+1)
	cases[len(ws)] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}
	for {
		for i, w := range ws {
			ready, changed := w.Poll()
			if ready {
				return i, nil
			}
			cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(changed)}
		}
		if chosen, _, _ := reflect.Select(cases); chosen == len(ws) {
			return -1, ctx.Err()
		}
	}
}
