package link

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"armos/libipc/skbuff"
)

// Bounds of the pump between a device and netd's event loop.
const (
	// RxQueueLen bounds frames read from the device that the stack has not
	// taken yet (the receive ring). Frames arriving at a full queue are
	// dropped and counted in PumpStats.RxQueueFull.
	RxQueueLen = 256
	// RxBatch is the most frames one posted drain hands to the stack, so a
	// flood of frames cannot starve the IPC requests queued behind it.
	RxBatch = 32
)

// Device is a link driver as the pump sees it: TAP and Mem satisfy it.
type Device interface {
	ReadBuf(b *skbuff.Buf) error
	Close() error
}

// Stack is the part of netd's protocol stack the pump drives. Input is only
// ever called on the event loop's goroutine (through the PostFunc).
type Stack interface {
	// Input processes one received frame and takes ownership of b.
	Input(b *skbuff.Buf)
}

// PostFunc runs fn on netd's single event-loop goroutine, waiting while the
// loop's queue is full, and reports false if the loop has stopped. The socket
// service's Post (which re-arms the stack's timers after fn) has this
// signature, as does libipc.Server.Post.
type PostFunc func(fn func()) bool

// TryPostFunc queues fn on netd's event loop without waiting, failing
// when the loop's queue is full or the loop has stopped
// (libipc.Server.TryPost has this signature).
type TryPostFunc func(fn func()) error

// PumpStats counts the pump's work.
type PumpStats struct {
	RxFrames    uint64 // frames handed to the stack
	RxQueueFull uint64 // drop: frame read while RxQueueLen frames were waiting
	Drains      uint64 // drains posted to the loop
	// DirectDrains counts the drains the reader posted itself (Direct);
	// the others were posted by the pump goroutine.
	DirectDrains uint64
}

// Pump connects a Device to a Stack through an event loop: a reader
// goroutine moves received frames into a bounded queue, and the pump posts
// drains of that queue to the loop, so the stack only ever runs on the
// loop's goroutine, interleaved with IPC requests. Timers are not the pump's
// business: the loop (the socket service) runs the stack's Tick.
type Pump struct {
	dev   Device
	stack Stack
	post  PostFunc

	rx      chan *skbuff.Buf
	wake    chan struct{} // cap 1: frames are waiting
	drainFn func()        // p.drain, made once: a method value allocates

	// Direct posting (Direct): the reader queues drains on the loop
	// itself, skipping the pump goroutine's wake-up.
	tryPost TryPostFunc
	after   func()      // runs on the loop after each drain (re-arm timers)
	queued  atomic.Bool // a drain is queued on the loop and has not started

	rxFrames, rxQueueFull, drains, directDrains atomic.Uint64
}

// NewPump returns a pump from dev to stack posting to post. Run starts it.
func NewPump(dev Device, stack Stack, post PostFunc) *Pump {
	p := &Pump{
		dev: dev, stack: stack, post: post,
		rx:   make(chan *skbuff.Buf, RxQueueLen),
		wake: make(chan struct{}, 1),
	}
	p.drainFn = p.drain
	return p
}

// Direct lets the reader goroutine queue drains on the loop itself with
// try, which never waits, so that a frame reaches the stack after one
// wake-up (the loop's) instead of two (the pump goroutine's, then the
// loop's). When try fails (the loop's queue is full) the pump goroutine
// posts the drain as before, waiting for room, and the reader goes on
// reading. after runs on the loop at the end of every drain: the socket
// service's Rearm, which PostFunc would otherwise queue after the drain.
// Call it before Run.
func (p *Pump) Direct(try TryPostFunc, after func()) {
	p.tryPost, p.after = try, after
}

// Stats returns a snapshot of the pump's counters; safe from any goroutine.
func (p *Pump) Stats() PumpStats {
	return PumpStats{RxFrames: p.rxFrames.Load(), RxQueueFull: p.rxQueueFull.Load(),
		Drains: p.drains.Load(), DirectDrains: p.directDrains.Load()}
}

// Run pumps until ctx ends (returning nil), the device fails (returning its
// error) or the event loop stops (returning nil). The pump owns the device:
// Run closes it before returning, which also stops the reader goroutine.
func (p *Pump) Run(ctx context.Context) error {
	readErr := make(chan error, 1)
	go p.read(readErr)
	defer p.shutdown()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			if errors.Is(err, ErrClosed) && ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("link: receive: %w", err)
		case <-p.wake:
			p.drains.Add(1)
			if !p.post(p.drainFn) {
				return nil
			}
		}
	}
}

// shutdown closes the device and frees frames nobody will process.
func (p *Pump) shutdown() {
	p.dev.Close()
	for {
		select {
		case b := <-p.rx:
			releaseBuf(b)
		default:
			return
		}
	}
}

// read is the reader goroutine: device -> rx queue.
func (p *Pump) read(errc chan<- error) {
	for {
		b := skbuff.Get()
		if err := p.dev.ReadBuf(b); err != nil {
			releaseBuf(b)
			errc <- err
			return
		}
		select {
		case p.rx <- b:
			p.kick()
		default:
			p.rxQueueFull.Add(1)
			releaseBuf(b)
		}
	}
}

// kick makes sure a drain will run for the frames queued now. Without
// Direct it wakes the pump goroutine. With it, unless a drain is already
// queued and not yet started (it will take these frames too), the caller
// queues one itself; only if the loop's queue is full does it fall back to
// the pump goroutine. No frame is stranded: a drain clears queued before
// it looks at the queue, so a frame that arrives after that look finds
// queued clear and queues a new drain.
func (p *Pump) kick() {
	if p.tryPost == nil {
		p.signal()
		return
	}
	if !p.queued.CompareAndSwap(false, true) {
		return
	}
	if p.tryPost(p.drainFn) == nil {
		p.directDrains.Add(1)
		return
	}
	p.queued.Store(false)
	p.signal()
}

// signal wakes the pump goroutine without blocking.
func (p *Pump) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// drain runs on the loop: hand up to RxBatch queued frames to the stack. If
// frames are left, it wakes the pump to post another drain (it must not post
// itself: the loop would wait on its own full queue).
func (p *Pump) drain() {
	p.queued.Store(false)
	defer p.finish()
	for range RxBatch {
		select {
		case b := <-p.rx:
			p.rxFrames.Add(1)
			p.stack.Input(b)
		default:
			return
		}
	}
	if len(p.rx) > 0 {
		p.signal() // not kick: from the loop, TryPost could find its own queue full
	}
}

// finish runs Direct's after function at the end of a drain.
func (p *Pump) finish() {
	if p.after != nil {
		p.after()
	}
}
