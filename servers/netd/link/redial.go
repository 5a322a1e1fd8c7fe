package link

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"armos/libipc/skbuff"
)

// DialFunc connects to a link provider and returns the link and the
// provider's description of it (ReadInfo's), waiting as long as ctx allows
// for the provider to be there.
type DialFunc func(ctx context.Context) (*Chan, LinkInfo, error)

// Redial is a link to a provider that may restart — a NIC driver — and
// that netd must outlive with its sockets: when the provider's connection
// closes, ReadBuf connects again (dial, which waits for the new provider
// to register) and carries on. Frames netd sends while there is no
// provider are dropped (counted by the Chan and in TxWhileDown).
type Redial struct {
	ctx    context.Context
	dial   DialFunc
	cur    atomic.Pointer[Chan]
	closed atomic.Bool
	onUp   func(LinkInfo)
	share  *SlotShare // SetShare, for reports

	reconnects, txDown, dialFails atomic.Uint64
}

// SetShare names the slot share its dial gives each connection
// (Chan.UseShare), so that Share finds it for reports.
func (r *Redial) SetShare(s *SlotShare) { r.share = s }

// Share returns the slot share SetShare named, or nil.
func (r *Redial) Share() *SlotShare { return r.share }

// NewRedial runs a link over c, reconnecting with dial when the provider
// goes; onUp (if not nil) hears each new provider's description. ctx
// bounds the waits for a new provider.
func NewRedial(ctx context.Context, c *Chan, dial DialFunc, onUp func(LinkInfo)) *Redial {
	r := &Redial{ctx: ctx, dial: dial, onUp: onUp}
	r.cur.Store(c)
	return r
}

// ReadBuf reads the next frame, across provider restarts.
func (r *Redial) ReadBuf(b *skbuff.Buf) error {
	for {
		c := r.cur.Load()
		err := c.ReadBuf(b)
		if err == nil || !errors.Is(err, ErrClosed) || r.closed.Load() {
			return err
		}
		nc, info, err := r.redial()
		if err != nil {
			return err
		}
		r.cur.Store(nc)
		c.Close()
		r.reconnects.Add(1)
		if r.closed.Load() { // closed while dialling
			nc.Close()
			return ErrClosed
		}
		if r.onUp != nil {
			r.onUp(info)
		}
	}
}

// Redial backoff: a dial can fail while the old provider's name is still
// registered (init has not yet seen it end); it is tried again, sooner
// first, until the link closes or its context ends.
const (
	redialMin = 10 * time.Millisecond
	redialMax = time.Second
)

// redial dials until it connects.
func (r *Redial) redial() (*Chan, LinkInfo, error) {
	for delay := redialMin; ; delay = min(2*delay, redialMax) {
		c, info, err := r.dial(r.ctx)
		if err == nil {
			return c, info, nil
		}
		if r.ctx.Err() != nil || r.closed.Load() {
			return nil, LinkInfo{}, err
		}
		r.dialFails.Add(1)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return nil, LinkInfo{}, r.ctx.Err()
		}
	}
}

// Transmit sends b on the current connection (and frees it). While the
// provider is gone the frame is dropped and counted, and Transmit
// succeeds, as a NIC's full transmit ring would: a datagram lost in the
// gap is what an unreliable protocol allows, an error to the application
// is not what it expects from a driver restart.
func (r *Redial) Transmit(b *skbuff.Buf) error {
	err := r.cur.Load().Transmit(b)
	if errors.Is(err, ErrClosed) && !r.closed.Load() {
		r.txDown.Add(1)
		return nil
	}
	return err
}

// RedialCounters count what a Redial did beyond its Chans.
type RedialCounters struct {
	Reconnects  uint64 // new providers connected after the first
	DialFailed  uint64 // connection attempts that failed (and were retried)
	TxWhileDown uint64 // drop: frames sent while no provider was there
	ChanCounters
}

// Counters returns the counters, with the current connection's.
func (r *Redial) Counters() RedialCounters {
	return RedialCounters{Reconnects: r.reconnects.Load(), DialFailed: r.dialFails.Load(), TxWhileDown: r.txDown.Load(),
		ChanCounters: r.cur.Load().Counters()}
}

// Close closes the link; a pending ReadBuf returns ErrClosed.
func (r *Redial) Close() error {
	r.closed.Store(true)
	return r.cur.Load().Close()
}
