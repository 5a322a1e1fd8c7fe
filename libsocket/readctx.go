package libsocket

import (
	"context"
	"sync"
	"time"
)

// readCtx is the context of one PacketConn reader, kept across reads while
// it is never cancelled. It is a context.Context whose AfterFunc method
// registers the one function Recv hands it without allocating (the
// standard library's context.AfterFunc allocates per call, and a read
// registers one per datagram), and whose cancellation carries a cause.
type readCtx struct {
	mu     sync.Mutex
	done   chan struct{}
	why    error  // set once, when cancelled
	f      func() // the registered AfterFunc, if any
	stopFn func() bool
}

func newReadCtx() *readCtx {
	c := &readCtx{done: make(chan struct{})}
	c.stopFn = c.stop
	return c
}

func (*readCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *readCtx) Done() <-chan struct{}     { return c.done }
func (*readCtx) Value(any) any               { return nil }

func (c *readCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.why != nil {
		return context.Canceled
	}
	return nil
}

// cause is why the context was cancelled (nil while it is not).
func (c *readCtx) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.why
}

// AfterFunc arranges for f to run in its own goroutine once c is
// cancelled (at once if it is already), as context.AfterFunc does, which
// calls this method. One function at a time: a second replaces the first.
// The returned stop reports whether it kept f from running.
func (c *readCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	if c.why != nil {
		c.mu.Unlock()
		go f()
		return c.stopFn
	}
	c.f = f
	c.mu.Unlock()
	return c.stopFn
}

func (c *readCtx) stop() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	stopped := c.f != nil
	c.f = nil
	return stopped
}

// cancel ends the context with why (non-nil); later calls do nothing.
func (c *readCtx) cancel(why error) {
	c.mu.Lock()
	if c.why != nil {
		c.mu.Unlock()
		return
	}
	c.why = why
	close(c.done)
	f := c.f
	c.f = nil
	c.mu.Unlock()
	if f != nil {
		go f()
	}
}
