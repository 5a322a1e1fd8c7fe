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

// PumpStats counts the pump's work.
type PumpStats struct {
	RxFrames    uint64 // frames handed to the stack
	RxQueueFull uint64 // drop: frame read while RxQueueLen frames were waiting
	Drains      uint64 // drains posted to the loop
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

	rxFrames, rxQueueFull, drains atomic.Uint64
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

// Stats returns a snapshot of the pump's counters; safe from any goroutine.
func (p *Pump) Stats() PumpStats {
	return PumpStats{RxFrames: p.rxFrames.Load(), RxQueueFull: p.rxQueueFull.Load(), Drains: p.drains.Load()}
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
			p.signal()
		default:
			p.rxQueueFull.Add(1)
			releaseBuf(b)
		}
	}
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
		p.signal()
	}
}
