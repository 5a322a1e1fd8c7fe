package libipc

import (
	"os"
	"reflect"
	"sync"
	"unsafe"
)

// Waiting for readiness without forgetting it.
//
// os.File's RawConn.Read clears the descriptor's "ready to read" mark in
// the Go runtime's network poller before it calls its function
// (internal/poll's prepareRead), so the function must look for itself
// before anything waits: an edge the poller collected earlier is gone.
// That is why a receive loop on RawConn.Read alone makes one receive
// that fails with EAGAIN per message. KernelEndpoint.Recv skips that
// receive when the previous one said the queue was empty (abi.RecvMore
// clear) and instead waits for the mark as the poller keeps it, with
// pollWaiter.wait; then it receives through RawConn.Read as before.
//
// This reaches into the runtime: internal/poll.runtime_pollWait (which
// waits for the mark and consumes it, without clearing it first) and the
// runtime context of the file's poll descriptor, found through
// reflection on os.File's fields (file.pfd.pd.runtimeCtx). Anything that
// does not look as expected disables the skip: Recv then makes the extra
// receive as before, which is always correct.

//go:linkname runtimePollWait internal/poll.runtime_pollWait
func runtimePollWait(ctx uintptr, mode int) int

// pollLayout locates a poll descriptor's runtime context in os.File:
// fileOff is the offset of os.File's *file field, ctxOff that of
// pfd.pd.runtimeCtx in the file, sysfdOff that of pfd.Sysfd (a check).
type pollLayout struct {
	fileOff, ctxOff, sysfdOff uintptr
	ok                        bool
}

var osFileLayout = sync.OnceValue(func() pollLayout {
	var l pollLayout
	ft, ok := reflect.TypeFor[os.File]().FieldByName("file")
	if !ok || ft.Type.Kind() != reflect.Pointer || ft.Type.Elem().Kind() != reflect.Struct {
		return l
	}
	pfd, ok := ft.Type.Elem().FieldByName("pfd")
	if !ok || pfd.Type.PkgPath() != "internal/poll" || pfd.Type.Name() != "FD" {
		return l
	}
	sysfd, ok := pfd.Type.FieldByName("Sysfd")
	if !ok || sysfd.Type.Kind() != reflect.Int {
		return l
	}
	pd, ok := pfd.Type.FieldByName("pd")
	if !ok || pd.Type.PkgPath() != "internal/poll" || pd.Type.Name() != "pollDesc" {
		return l
	}
	ctx, ok := pd.Type.FieldByName("runtimeCtx")
	if !ok || ctx.Type.Kind() != reflect.Uintptr {
		return l
	}
	return pollLayout{fileOff: ft.Offset, ctxOff: pfd.Offset + pd.Offset + ctx.Offset,
		sysfdOff: pfd.Offset + sysfd.Offset, ok: true}
})

// pollWaiter waits for a file's read readiness as the poller keeps it.
type pollWaiter struct {
	ctx *uintptr      // the poll descriptor's runtime context, nil: no skip
	fn  func(uintptr) // wait's callback for rc.Control, made once (a closure per wait was an allocation per message)
}

// newPollWaiter returns the waiter of f, which holds descriptor fd (the
// zero waiter if f's layout is not the expected one).
func newPollWaiter(f *os.File, fd int) pollWaiter {
	l := osFileLayout()
	if !l.ok {
		return pollWaiter{}
	}
	file := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(f), l.fileOff))
	if file == nil || *(*int)(unsafe.Add(file, l.sysfdOff)) != fd {
		return pollWaiter{}
	}
	ctx := (*uintptr)(unsafe.Add(file, l.ctxOff))
	return pollWaiter{ctx: ctx, fn: func(uintptr) {
		if c := *ctx; c != 0 {
			runtimePollWait(c, 'r')
		}
	}}
}

// usable reports whether wait can be used.
func (w pollWaiter) usable() bool { return w.ctx != nil }

// wait waits until the poller has marked the file readable since the
// mark was last consumed, or its read deadline passed, or it is being
// closed; it consumes the mark. It runs inside rc.Control, whose
// reference keeps the poll descriptor alive (Close unblocks the wait).
// The caller then looks with RawConn.Read, which reports the deadline or
// the close.
func (w pollWaiter) wait(rc interface{ Control(func(uintptr)) error }) {
	if w.fn != nil {
		rc.Control(w.fn)
	}
}
