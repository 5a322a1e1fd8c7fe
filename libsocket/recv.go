package libsocket

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"time"

	"armos/libipc"
	"armos/libsocket/sockproto"
)

// RecvResult describes one received datagram.
type RecvResult struct {
	N         int            // bytes copied into the buffer
	From      netip.AddrPort // sender
	Size      int            // the datagram's full length
	Truncated bool           // Size > N: the rest was discarded (MSG_TRUNC)
}

// RecvFrom receives one datagram into b, waiting as the socket's options
// say: until one arrives (the default), at most the SetRecvTimeout duration
// (then ETIMEDOUT), or not at all (SetNonBlocking: EAGAIN). A datagram
// longer than b is truncated, as recvfrom(2) does. Cancelling ctx ends the
// wait with ctx's error.
func (s *Socket) RecvFrom(ctx context.Context, b []byte) (int, netip.AddrPort, error) {
	r, err := s.Recv(ctx, b, 0, 0)
	return r.N, r.From, err
}

// RecvFromTimeout is RecvFrom waiting at most d (measured by netd's clock):
// ETIMEDOUT when nothing arrived in time. d must be positive and at most
// sockproto.MaxRecvTimeout (a day), else EINVAL.
func (s *Socket) RecvFromTimeout(ctx context.Context, b []byte, d time.Duration) (int, netip.AddrPort, error) {
	if d <= 0 {
		return 0, netipZero, opError("recvfrom", s.LocalAddr(), netipZero, sockproto.EINVAL)
	}
	r, err := s.Recv(ctx, b, 0, d)
	return r.N, r.From, err
}

// TryRecvFrom is the non-blocking RecvFrom (MSG_DONTWAIT): EAGAIN when
// nothing is queued.
func (s *Socket) TryRecvFrom(ctx context.Context, b []byte) (int, netip.AddrPort, error) {
	r, err := s.Recv(ctx, b, sockproto.MsgDontWait, 0)
	return r.N, r.From, err
}

// Recv is the general receive: flags are sockproto.Msg* flags, timeout > 0
// overrides the socket's receive timeout for this call (0 keeps it).
//
// The request parks in netd until it can be answered (a deferred IPC
// reply). If ctx ends first, Recv asks netd to cancel it and still waits
// for the answer, so a datagram that arrived meanwhile is returned rather
// than lost; otherwise the error wraps ctx's error.
func (s *Socket) Recv(ctx context.Context, b []byte, flags uint32, timeout time.Duration) (RecvResult, error) {
	r, _, err := s.recv(ctx, b, nil, nil, flags, timeout)
	return r, err
}

// RecvBatch receives up to len(bufs) datagrams in one round trip to netd
// (recvmmsg): it waits for the first as Recv does (flags and timeout as
// there), then takes the datagrams already queued behind it, each into the
// next buffer of bufs, and describes them in res (which needs len(bufs)
// entries). It returns how many it received, at least one unless it
// fails. Each datagram is cut to the shortest buffer's length; at most
// sockproto.MaxBatch are taken, and fewer when they would not fit one IPC
// message. Under load this is one IPC round trip per batch instead of one
// per datagram.
func (s *Socket) RecvBatch(ctx context.Context, bufs [][]byte, res []RecvResult, flags uint32, timeout time.Duration) (int, error) {
	n, err := recvBatch(bufs, res, func(b []byte, more [][]byte, moreRes []RecvResult) (RecvResult, int, error) {
		return s.recv(ctx, b, more, moreRes, flags, timeout)
	})
	if err == errBadBatch {
		err = opError("recvmmsg", s.LocalAddr(), netipZero, sockproto.EINVAL)
	}
	return n, err
}

// errBadBatch is recvBatch's answer to bad arguments; its callers name the
// operation.
var errBadBatch = errors.New("libsocket: bad batch")

// recvBatch checks a batch's arguments (a buffer at least, a result for
// each, at most sockproto.MaxBatch taken) and receives with recv into the
// first buffer and the others; it returns how many datagrams came.
func recvBatch(bufs [][]byte, res []RecvResult, recv func(b []byte, more [][]byte, moreRes []RecvResult) (RecvResult, int, error)) (int, error) {
	if len(bufs) == 0 || len(res) < len(bufs) {
		return 0, errBadBatch
	}
	bufs = bufs[:min(len(bufs), sockproto.MaxBatch)]
	r, n, err := recv(bufs[0], bufs[1:], res[1:])
	if err != nil {
		return 0, err
	}
	res[0] = r
	return 1 + n, nil
}

// recv is Recv, also taking up to len(more) further queued datagrams into
// more's buffers, described in moreRes; it returns the first and how many
// more.
func (s *Socket) recv(ctx context.Context, b []byte, more [][]byte, moreRes []RecvResult, flags uint32, timeout time.Duration) (RecvResult, int, error) {
	op := "recvfrom"
	max := len(b)
	if len(more) > 0 {
		op = "recvmmsg"
		for _, m := range more {
			max = min(max, len(m))
		}
	}
	tag := s.c.tags.Add(1)
	if tag == 0 {
		tag = s.c.tags.Add(1)
	}
	rc := recvCalls.Get().(*recvCall)
	rc.req = sockproto.RecvFromReq{Max: uint32(min(max, sockproto.MaxDatagram)), Flags: flags, Timeout: int64(timeout), Tag: tag}
	if len(more) > 0 {
		rc.req.Count = uint32(1 + len(more))
	}
	// The timeout is a deadline: a receive repeated in a restarted netd
	// waits only for what is left of it.
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				rc.release()
				return RecvResult{}, 0, opError(op, s.LocalAddr(), netipZero, sockproto.ETIMEDOUT)
			}
			rc.req.Timeout = int64(left)
		}
		conn, h, gen, err := s.live(ctx)
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			rc.release()
			return RecvResult{}, 0, opError(op, s.LocalAddr(), netipZero, err)
		}
		if rc.inUse { // an earlier round's cancel may still read rc
			rc = &recvCall{req: rc.req}
		}
		rc.req.Handle = h
		rc.resp = sockproto.RecvFromResp{Data: b[:0]}
		if len(more) > 0 {
			// Decode the batch's payloads straight into more's buffers:
			// the decoder fills More's array from the start, over the
			// elements already there (an empty More, with them beyond
			// its length, so that a reply without "more" leaves it empty).
			rc.more = slices.Grow(rc.more[:0], len(more))[:len(more)]
			for i, m := range more {
				rc.more[i] = sockproto.RecvFromResp{Data: m[:0]}
			}
			rc.resp.More = rc.more[:0]
		}
		rc.conn, rc.cancel = conn, sockproto.CancelReq{Handle: h, Tag: tag}
		stop := alwaysStopped
		if af, ok := ctx.(afterFuncer); ok { // a PacketConn's reader: no allocation
			stop = af.AfterFunc(rc.cancelFnValue())
		} else if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, rc.cancelFnValue())
		}
		err = conn.Call(context.Background(), libipc.Op(sockproto.OpRecvFrom), &rc.req, &rc.resp)
		if !stop() {
			rc.inUse = true // the cancel being sent reads rc: do not pool it
		}
		if err == nil {
			r := result(b, &rc.resp)
			k := min(len(rc.resp.More), len(more)) // a netd sending more than asked is cut short
			for i := range k {
				moreRes[i] = result(more[i], &rc.resp.More[i])
			}
			rc.release()
			return r, k, nil
		}
		if errors.Is(cause(err), sockproto.ECANCELED) && ctx.Err() != nil {
			err = ctx.Err()
		} else if s.c.canRetry(err) {
			s.c.stats.retries.Add(1)
			if rerr := s.c.reconnect(ctx, gen); rerr != nil {
				rc.release()
				return RecvResult{}, 0, opError(op, s.LocalAddr(), netipZero, rerr)
			}
			continue
		}
		rc.release()
		return RecvResult{}, 0, opError(op, s.LocalAddr(), netipZero, s.closedErr(err))
	}
}

// result describes a received datagram, copied into b (where the decoder
// already put it unless the reply overflowed b).
func result(b []byte, resp *sockproto.RecvFromResp) RecvResult {
	n := copy(b, resp.Data)
	return RecvResult{N: n, From: resp.From.AddrPort(), Size: resp.Size, Truncated: resp.Truncated || resp.Size > n}
}

// recvCall holds one receive's request and reply bodies, pooled so that a
// receive does not allocate them.
type recvCall struct {
	req    sockproto.RecvFromReq
	resp   sockproto.RecvFromResp
	more   []sockproto.RecvFromResp // a batch's further datagrams, kept across uses
	conn   *libipc.Conn
	cancel sockproto.CancelReq
	inUse  bool // a cancel may still read conn and cancel
	// cancelFn is rc.sendCancel as a func value, made once per recvCall
	// and kept across pool uses (AfterFunc takes a func value).
	cancelFn func()
}

// cancelFnValue returns rc.sendCancel as a func value made once.
func (rc *recvCall) cancelFnValue() func() {
	if rc.cancelFn == nil {
		rc.cancelFn = rc.sendCancel
	}
	return rc.cancelFn
}

// afterFuncer is a context that registers a function to run when it ends
// (readCtx); context.AfterFunc would allocate on every call.
type afterFuncer interface {
	AfterFunc(func()) func() bool
}

// alwaysStopped is the stop of a context that never ends.
func alwaysStopped() bool { return true }

var recvCalls = sync.Pool{New: func() any { return new(recvCall) }}

// sendCancel asks netd to end the parked receive (run by context.AfterFunc).
func (rc *recvCall) sendCancel() {
	rc.conn.Call(context.Background(), libipc.Op(sockproto.OpCancel), &rc.cancel, nil)
}

func (rc *recvCall) release() {
	if rc.inUse {
		return // left to the GC
	}
	fn, more := rc.cancelFn, rc.more
	clear(more) // no app buffers kept alive in the pool
	*rc = recvCall{cancelFn: fn, more: more[:0]}
	recvCalls.Put(rc)
}
