package ipc

import (
	"context"
	"sync"
)

// Reply is the one-shot reply capability of a call, after seL4's reply
// Object. Call sends its request with a fresh Reply inside; the receiver
// gets a handle to it (RecvResult.Reply, rights write|transfer, never
// duplicable) and answers with Table.Reply, now or later (deferred reply:
// a server keeps the handle, or passes it to a worker in a message, and
// answers when the data is there). The caller blocks on the Reply, not on
// a channel queue, so a reply never competes with other traffic and never
// fails with EAGAIN.
//
// Outcomes: replied (the caller gets the message); the reply handle closed
// without an answer, the request dropped undelivered, or the server died
// (the caller gets EPIPE); the caller gave up (its context ended; a later
// Reply gets EPIPE and the reply is dropped and counted).
type Reply struct {
	objBase
	done chan struct{} // cap 1: the caller's wake-up

	mu     sync.Mutex
	state  replyState // guarded by mu
	msg    *message   // the answer, once replied
	bufCap int        // caller's reply buffer
	hCap   int        // caller's handle buffer (slots reserved in its table)
}

type replyState uint8

const (
	replyWaiting replyState = iota
	replyDone
	replyFailed    // no answer will come: EPIPE for the caller
	replyAbandoned // the caller left: EPIPE for the server
)

func (r *Reply) objType() Type { return TypeReply }

func (r *Reply) lastClose() {
	r.mu.Lock()
	if r.state == replyWaiting {
		r.state = replyFailed
		r.done <- struct{}{}
	}
	r.mu.Unlock()
	r.freed(TypeReply)
}

// Call sends req with handles hs on channel endpoint h, like Send, and
// waits for the answer, which is copied to rbuf with its handles installed
// in t and stored in rhbuf. One operation each way: the request goes to a
// receiver already blocked in RecvWait directly (hand-off), and the reply
// wakes the caller directly. The reply may be at most len(rbuf) bytes and
// len(rhbuf) handles (Table.Reply refuses a larger one with EMSGSIZE);
// the caller's table reserves those slots for the duration of the call.
// Errors: those of Send (nothing sent), EPIPE when the request or the
// reply capability is dropped unanswered, ETIMEDOUT/ECANCELED when ctx ends
// first.
func (t *Table) Call(ctx context.Context, h Handle, req []byte, hs []Handle, rbuf []byte, rhbuf []Handle) (RecvResult, Errno) {
	hCap := min(len(rhbuf), MaxMessageHandles)
	t.mu.Lock()
	if t.dead || t.room() < hCap {
		e := EMFILE
		if t.dead {
			e = EBADF
		}
		t.mu.Unlock()
		return RecvResult{}, e
	}
	t.reserved += hCap
	t.mu.Unlock()
	unreserve := func() {
		t.mu.Lock()
		t.reserved -= hCap
		t.mu.Unlock()
	}

	r := &Reply{done: make(chan struct{}, 1), bufCap: len(rbuf), hCap: hCap}
	r.init(t.k, TypeReply)
	if e := t.send(h, req, hs, r); e != OK {
		unreserve()
		release(r) // never sent: nobody else has it
		return RecvResult{}, e
	}

	select {
	case <-r.done:
	case <-ctx.Done():
		r.mu.Lock()
		if r.state == replyWaiting {
			r.state = replyAbandoned
			r.mu.Unlock()
			unreserve()
			return RecvResult{}, ctxErrno(ctx)
		}
		r.mu.Unlock() // answered meanwhile: take it
	}

	r.mu.Lock()
	m, st := r.msg, r.state
	r.msg = nil
	r.mu.Unlock()
	if st != replyDone {
		unreserve()
		return RecvResult{}, EPIPE
	}
	t.k.xfer.RLock()
	t.mu.Lock()
	t.reserved -= hCap
	if t.dead {
		t.mu.Unlock()
		t.k.xfer.RUnlock()
		m.drop()
		return RecvResult{}, EBADF
	}
	res := RecvResult{N: copy(rbuf, m.data), NHandles: m.nh}
	t.moveInLocked(m.refs[:m.nh], rhbuf, true)
	t.mu.Unlock()
	t.k.xfer.RUnlock()
	m.recycle()
	return res, OK
}

// Reply answers the call whose reply capability is rh (RightWrite) with
// data and the handles hs moved out of t, and closes rh. EMSGSIZE when the
// answer exceeds the caller's buffers (rh stays open so the server can
// send a smaller error answer); EPIPE when the caller gave up (rh is
// closed, hs stay in t, the drop is counted in Stats.DroppedReplies).
func (t *Table) Reply(rh Handle, data []byte, hs []Handle) Errno {
	if len(data) > MaxMessageBytes || len(hs) > MaxMessageHandles {
		return EMSGSIZE
	}
	m := newMessage(data)
	if len(hs) > 0 {
		t.k.xfer.RLock()
		defer t.k.xfer.RUnlock()
	}
	t.mu.Lock()
	s, idx, e := t.lookupLocked(rh, TypeReply, RightWrite)
	if e == OK {
		e = t.checkTransferLocked(hs, rh)
	}
	if e != OK {
		t.mu.Unlock()
		m.recycle()
		return e
	}
	r := s.obj.(*Reply)
	r.mu.Lock()
	if r.state != replyWaiting {
		r.mu.Unlock()
		t.removeLocked(idx)
		t.mu.Unlock()
		release(r)
		m.recycle()
		t.k.droppedRepl.Add(1)
		return EPIPE
	}
	if len(data) > r.bufCap || len(hs) > r.hCap {
		r.mu.Unlock()
		t.mu.Unlock()
		m.recycle()
		return EMSGSIZE
	}
	t.moveOutLocked(hs, m.refs[:], true)
	m.nh = len(hs)
	m.direct = true
	r.msg = m
	r.state = replyDone
	r.done <- struct{}{}
	r.mu.Unlock()
	t.removeLocked(idx)
	t.mu.Unlock()
	release(r)
	return OK
}
